"""The real pipeline on every shipped review, in a temporary project folder.

One cold run of all reviews (module fixture), then: the four files per version,
the index, an unchanged rerun, an override publishing v2 with v1 untouched,
reproducibility under --force, a corrupted data file, the reports in a real
browser (first screen, console, network) and a hostile study label.
"""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from conftest import open_page

from synthesis.pipeline import store
from synthesis.cli.run_commands import run_reviews
from synthesis.review.loader import list_review_ids

REPO = Path(__file__).resolve().parents[1]
FILES = {"report.html", "analysis.html", "report.ipynb", "manifest.json"}
REVIEWS = list_review_ids(REPO)
ARTIFACTS = REPO / "tests" / "artifacts"


def run(project: Path, ids=(), overrides=(), force=False, jobs=2) -> tuple[int, str]:
    out = io.StringIO()
    code = run_reviews(list(ids), project, list(overrides), jobs=jobs, force=force, out=out)
    return code, out.getvalue()


def snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def project(shipped_project):
    """The cold run of every shipped review (conftest, once per session)."""
    return shipped_project


def test_every_review_published_with_four_files(project):
    assert len(REVIEWS) >= 3
    for rid in REVIEWS:
        folder = project / "reports" / rid / "v1"
        assert {p.name for p in folder.iterdir()} == FILES, rid
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["review_id"] == rid and manifest["version"] == 1
        assert manifest["answer"] and manifest["certainty"] in ("high", "moderate", "low", "very low")
        for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2", "prob_gt_0"):
            assert manifest["headline"][key] is not None, (rid, key)
        assert "pymc" in manifest["packages"] and manifest["fingerprint"]
    soup = BeautifulSoup((project / "reports/index.html").read_text(), "html.parser")
    for rid in REVIEWS:
        assert soup.find("a", href=f"{rid}/v1/report.html") is not None, rid


def test_headline_numbers_are_the_engine_numbers(project):
    # the report's pooled estimate is metafor's REML estimate for the same data
    ref = json.loads((REPO / "tests/data/metafor/baskerville2012_practice_facilitation.json").read_text())
    manifest = json.loads((project / "reports/practice-facilitation/v1/manifest.json").read_text())
    assert manifest["headline"]["estimate"] == pytest.approx(ref["pooled"]["REML"]["estimate"], rel=1e-4)
    assert manifest["headline"]["k"] == 23


def test_simulated_review_is_labelled(project):
    for rid in REVIEWS:
        manifest = json.loads((project / "reports" / rid / "v1" / "manifest.json").read_text())
        soup = BeautifulSoup((project / "reports" / rid / "v1" / "report.html").read_text(), "html.parser")
        banner = soup.find(class_="syn-banner")
        if manifest["simulated"]:
            assert banner is not None and "Simulated data" in banner.get_text(), rid
        else:
            assert banner is None, rid


def test_index_is_the_toolkit_page_across_the_shipped_reviews(project):
    """Each review's row from its manifest's toolkit block, and the ERIC gap view from the strategy reviews."""
    soup = BeautifulSoup((project / "reports/index.html").read_text(), "html.parser")
    rows = {tr.find("a")["href"].split("/")[0]: tr for tr in soup.select("table#toolkit tbody tr")}
    assert set(rows) == set(REVIEWS)
    for rid, tr in rows.items():
        toolkit = json.loads((project / "reports" / rid / "v1/manifest.json").read_text())["results"]["toolkit"]
        cells = {td["data-label"]: td.get_text(" ", strip=True) for td in tr.find_all("td")}
        assert cells["Effect"].startswith(toolkit["effect"]) and toolkit["effect"], rid
        assert cells["Studies"].startswith(f"{toolkit['studies']} studies"), rid
        assert tr["data-level"] in ("high", "moderate", "low", "very low") and tr.find(class_="grade-symbols"), rid
        assert cells["Cost"] == "not assessed", rid  # no shipped source rates costs
    assert " instead of 68 in every 100 offenders" in rows["cbt-offenders-at-scale"].get_text()
    assert "months' progress" in rows["writing-to-learn"].get_text()
    eric = soup.find("h3", string="Expert Recommendations for Implementing Change (ERIC)").find_next("table")
    linked = {a["href"].split("/")[0] for a in eric.find_all("a")}
    assert linked == {"practice-facilitation", "implementation-strategies-illustrative"}
    assert eric.select("td.count") and eric.select("td.gap-cell")
    cbt = soup.find("h3", string=lambda t: t and t.startswith("Cognitive-behavioural")).find_next("table")
    assert [th.get_text() for th in cbt.select("thead th")][3:] == ["in prison", "in the community"]


def test_unchanged_rerun_publishes_nothing(project):
    code, out = run(project)
    assert code == 0 and out.count("up to date") == len(REVIEWS), out
    for rid in REVIEWS:
        assert store.list_versions(project, rid) == [1]


def test_override_publishes_v2_and_leaves_v1_identical(project):
    v1 = project / "reports/practice-facilitation/v1"
    before = snapshot(v1)
    code, out = run(project, ["practice-facilitation"], ["seed=123", "analysis.method=PM"])
    assert code == 0, out
    assert store.list_versions(project, "practice-facilitation") == [1, 2]
    assert snapshot(v1) == before
    manifest = json.loads((project / "reports/practice-facilitation/v2/manifest.json").read_text())
    assert manifest["overrides"] == {"seed": 123, "analysis.method": "PM"}
    assert manifest["headline"]["method"] == "PM"
    html = (project / "reports/practice-facilitation/v2/report.html").read_text()
    assert "analysis.method" in html  # the "what changed" section names the setting


def test_same_fingerprint_gives_identical_numbers(project):
    code, out = run(project, ["writing-to-learn"], force=True)
    assert code == 0, out
    versions = store.list_versions(project, "writing-to-learn")
    first, again = (json.loads((project / f"reports/writing-to-learn/v{v}/manifest.json").read_text())
                    for v in versions[-2:])
    assert first["fingerprint"] == again["fingerprint"]
    assert first["results"] == again["results"]


def test_corrupted_data_fails_clearly_and_publishes_nothing(project):
    data = project / "reviews/cbt-offenders-at-scale/studies.csv"
    original = data.read_text()
    lines = original.splitlines()
    header = lines[0].split(",")
    cells = lines[3].split(",")
    cells[header.index('"n.cbt.rec"')] = "lots"
    lines[3] = ",".join(cells)
    data.write_text("\n".join(lines) + "\n")
    try:
        versions = store.list_versions(project, "cbt-offenders-at-scale")
        code, out = run(project, ["cbt-offenders-at-scale"])
        assert code == 1
        assert "studies.csv" in out and "n.cbt.rec" in out and "lots" in out, out
        assert "Traceback" not in out
        assert store.list_versions(project, "cbt-offenders-at-scale") == versions
    finally:
        data.write_text(original)


@pytest.mark.browser
@pytest.mark.parametrize("rid", REVIEWS)
def test_report_in_browser(project, browser, rid):
    page_file = project / "reports" / rid / "v1" / "report.html"
    page, visit = open_page(browser, page_file)
    answer = page.locator(".syn-answer")
    assert answer.count() == 1
    box = answer.bounding_box()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{rid}-first-screen.png"))
    page.close()
    assert visit.errors == [], visit.errors
    assert visit.requests == [], visit.requests
    assert box is not None and 0 <= box["y"] and box["y"] + box["height"] <= 800, box


def test_hostile_study_label_is_escaped(tmp_path):
    shutil.copytree(REPO / "reviews/practice-facilitation", tmp_path / "reviews/practice-facilitation")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    data = tmp_path / "reviews/practice-facilitation/studies.csv"
    text = data.read_text().replace('"Kottke et al."', '"<script>alert(1)</script> & <b>Kottke</b>"', 1)
    data.write_text(text)
    code, out = run(tmp_path, ["practice-facilitation"], jobs=1)
    assert code == 0, out
    html = (tmp_path / "reports/practice-facilitation/v1/report.html").read_text()
    soup = BeautifulSoup(html, "html.parser")
    assert not any("alert(1)" in (s.string or "") for s in soup.find_all("script"))
    assert soup.find("b", string="Kottke") is None
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>alert(1)</script> & <b>Kottke</b>" in soup.get_text()
