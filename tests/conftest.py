"""Shared test helpers: the system Chromium (Debian's ``chromium``) driven by Playwright."""
from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@dataclass
class PageVisit:
    """What happened while a page was open: console errors and requests to anything but files."""
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)


def _missing(what: str) -> None:
    """Skip a browser test when ``what`` is missing; under CI (``CI`` set), fail it instead."""
    message = f"needs {what} (.ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(f"{message}; the browser tests must run in CI", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """A headless system Chromium (skips when Chromium or Playwright is missing; fails under CI)."""
    if chromium_path() is None:
        _missing("Debian's chromium")
    try:
        from playwright import sync_api
    except ImportError:
        _missing("the playwright package (pip install -e '.[test]')")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield instance
        instance.close()


def open_page(browser: Any, path: Path, width: int = 1280, height: int = 800) -> tuple[Any, PageVisit]:
    """Open a local HTML file and record console errors and non-file requests."""
    visit = PageVisit()
    page = browser.new_page(viewport={"width": width, "height": height})
    page.on("console", lambda m: visit.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: visit.errors.append(str(e)))
    page.on("request", lambda r: visit.requests.append(r.url)
            if not r.url.startswith(("file:", "data:")) else None)
    page.goto(Path(path).resolve().as_uri())
    page.wait_for_load_state("load")
    return page, visit


REPO = Path(__file__).resolve().parents[1]
#: axe-core's browser bundle, fetched by .ci/run (``npm pack axe-core@4``) into a gitignored folder
AXE_JS = Path(os.environ.get("AXE_CORE_JS", REPO / ".cache" / "axe-core" / "axe.min.js"))


@pytest.fixture(scope="session")
def axe_js() -> Path:
    """The axe-core script to inject into a page (skips when missing; fails under CI)."""
    if not AXE_JS.is_file():
        _missing(f"axe-core at {AXE_JS}")
    return AXE_JS


@pytest.fixture(scope="session")
def shipped_project(tmp_path_factory) -> Path:
    """Every shipped review run once by the real pipeline, in a temporary copy of the project.

    Shared by the modules that read the published reports (pipeline behaviour, the page in a
    browser), so the reviews are executed once per test session.
    """
    import io

    from synthesis.cli.run_commands import run_reviews

    root = tmp_path_factory.mktemp("project")
    shutil.copytree(REPO / "reviews", root / "reviews")
    shutil.copytree(REPO / "notebooks", root / "notebooks")
    out = io.StringIO()
    code = run_reviews([], root, [], jobs=2, force=False, out=out)
    assert code == 0, out.getvalue()
    return root


@pytest.fixture(scope="module")
def seed() -> int:
    """A fresh seed per run for the live differential tests, printed by each; fix it with SYNTHESIS_DIFF_SEED."""
    import secrets

    value = os.environ.get("SYNTHESIS_DIFF_SEED")
    return int(value) if value else secrets.randbelow(2**31)
