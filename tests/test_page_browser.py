"""The published pages in a real browser, on a desktop and on a phone (issue 10, "Must show").

Every shipped review's ``report.html`` and the project's ``index.html``, from one run of the
pipeline per session (``shipped_project`` in conftest), opened in Debian's Chromium through
Playwright at 1280x800 and 390x844: no page-level horizontal overflow, no serious or critical
axe-core violation, the answer on the first screen, no console error and no request to
anything but the page itself. Figures keep their text at 11 px or more, and each report
weighs under 300 KB.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, PageVisit

from synthesis.review.loader import list_review_ids

REVIEWS = list_review_ids(REPO)
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 844)}
MAX_REPORT_BYTES = 300_000
MIN_FIGURE_TEXT_PX = 11.0
PAGES = [*REVIEWS, "index"]
ARTIFACTS = REPO / "tests" / "artifacts"  # screenshots to look at (gitignored)
#: axe-core's result reduced to what must be zero: serious and critical violations, with their nodes
AXE_RUN = """async () => {
  const result = await axe.run(document, {resultTypes: ['violations']});
  return result.violations.filter(v => ['serious', 'critical'].includes(v.impact))
    .map(v => `${v.id} (${v.impact}): ${v.help}; ` + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '));
}"""
#: the smallest text of the figures as drawn on screen (font size times the SVG's scale), in CSS px
SMALLEST_FIGURE_TEXT = """() => {
  const sizes = [...document.querySelectorAll('.syn-figure svg text')]
    .filter(t => t.textContent.trim())
    .map(t => { const m = t.getScreenCTM(); return parseFloat(getComputedStyle(t).fontSize) * Math.hypot(m.a, m.b); });
  return sizes.length ? Math.min(...sizes) : null;
}"""


def _page_file(project: Path, name: str) -> Path:
    return project / "reports" / "index.html" if name == "index" else project / "reports" / name / "v1" / "report.html"


def _open_offline(browser: Any, path: Path, width: int, height: int) -> tuple[Any, PageVisit]:
    """Open ``path`` with every request routed: the page itself and data: URIs load, anything else is
    recorded and aborted."""
    visit = PageVisit()
    own = path.resolve().as_uri()
    page = browser.new_page(viewport={"width": width, "height": height})

    def route(request_route: Any) -> None:
        url = request_route.request.url
        if url == own or url.startswith("data:"):
            request_route.continue_()
        else:
            visit.requests.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    page.goto(own)
    page.wait_for_load_state("load")
    return page, visit


def test_every_report_is_small_and_self_contained(shipped_project):
    for rid in REVIEWS:
        page = _page_file(shipped_project, rid)
        html = page.read_text(encoding="utf-8")
        assert page.stat().st_size < MAX_REPORT_BYTES, f"{rid}: report.html is {page.stat().st_size:,} bytes"
        assert "jp-RenderedHTMLCommon {" not in html and "--jp-" not in html, f"{rid}: JupyterLab CSS in the page"
        assert "<svg" in html and "@media print" in html, rid


@pytest.mark.browser
@pytest.mark.parametrize("name,viewport", [pytest.param(n, v)
                                           for n in PAGES for v in VIEWPORTS])
def test_page_in_browser(shipped_project, browser, axe_js, name, viewport):
    width, height = VIEWPORTS[viewport]
    page, visit = _open_offline(browser, _page_file(shipped_project, name), width, height)
    try:
        scroll_width, inner_width = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        answer = page.locator(".syn-answer").bounding_box() if name != "index" else None
        smallest_text = page.evaluate(SMALLEST_FIGURE_TEXT)
        page.add_script_tag(path=str(axe_js))
        violations = page.evaluate(AXE_RUN)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{name}-{viewport}.png"))
    finally:
        page.close()
    assert visit.errors == [], visit.errors
    assert visit.requests == [], f"the page asked for {visit.requests}"
    assert scroll_width <= inner_width, f"the page scrolls sideways: {scroll_width} px wide in {inner_width} px"
    assert violations == [], "\n".join(violations)
    if name != "index":
        assert answer is not None and 0 <= answer["y"] and answer["y"] + answer["height"] <= height, answer
        assert smallest_text is not None and smallest_text >= MIN_FIGURE_TEXT_PX - 0.01, smallest_text
