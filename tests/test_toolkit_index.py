"""The toolkit page (reports/index.html) on a fake reports folder: rows, gap view, escaping, flags, browser."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from bs4 import BeautifulSoup

from synthesis.analysis.toolkit import NO_CONTEXT, gap_cells
from synthesis.pipeline.gap_map import gap_tables, taxonomy_clusters
from synthesis.pipeline.index import index_rows, write_index
from synthesis.review.taxonomy import load_taxonomy

from conftest import open_page

REPO = Path(__file__).resolve().parents[1]

HOSTILE = "<script>alert('title')</script>"
HOSTILE_LABEL = "<img src=x onerror=alert(1)>"


def _cell(strategy, context, studies, effects=None, taxonomy=None, cluster="", sid=""):
    return {"taxonomy": taxonomy, "strategy_id": sid, "strategy": strategy, "cluster": cluster, "context": context,
            "studies": studies, "effects": effects or studies}


def _manifest(title, certainty, symbols, effect, studies, *, effects=None, cost=None, cost_reason=None, gap=(),
              date="2026-11-20T10:00:00+00:00", simulated=False, outcome="the outcome"):
    return {"title": title, "answer": f"{title}: answer", "certainty": certainty, "created_at": date,
            "simulated": simulated, "headline": {"k": studies},
            "results": {"toolkit": {"intervention": "it", "outcome": outcome, "effect": effect,
                                    "effect_detail": "SMD 0.22 (95% CI 0.13 to 0.31)", "certainty_symbols": symbols,
                                    "studies": studies, "effects": effects or studies, "cost": cost,
                                    "cost_reason": cost_reason, "gap": list(gap)}}}


def _publish(project: Path, rid: str, *manifests: dict) -> None:
    for n, manifest in enumerate(manifests, 1):
        folder = project / "reports" / rid / f"v{n}"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps(dict(manifest, review_id=rid, version=n)))


FACILITATION = dict(taxonomy="eric", cluster="Provide interactive assistance", sid="facilitation")


@pytest.fixture
def project(tmp_path):
    _publish(tmp_path, "cbt", _manifest(
        "CBT for offenders", "very low", "⊕◯◯◯", "76 instead of 68 in every 100 offenders", 58,
        gap=[_cell("CBT", "in prison", 27), _cell("CBT", "in the community", 31)], date="2026-11-19T10:00:00+00:00"))
    facilitation = _manifest("Practice facilitation", "moderate", "⊕⊕⊕◯", "better than 71% of the comparison group",
                             23, cost=3, cost_reason="a cited cost source", gap=[
                                 _cell("Facilitation", NO_CONTEXT, 23, **FACILITATION)])
    _publish(tmp_path, "facilitation", facilitation, dict(facilitation, created_at="2026-11-21T10:00:00+00:00"))
    _publish(tmp_path, "writing", _manifest(
        HOSTILE, "low", "⊕⊕◯◯", "+3 months' progress", 48, cost=1, cost_reason="<b>EEF</b>",
        outcome=HOSTILE_LABEL, gap=[_cell(HOSTILE_LABEL, HOSTILE_LABEL, 21)], date="2026-11-22T10:00:00+00:00"))
    _publish(tmp_path, "strategies", _manifest(
        "Implementation strategies", "high", "⊕⊕⊕⊕", "better than 59% of the comparison group", 48, effects=95,
        simulated=True, date="2026-11-23T10:00:00+00:00", gap=[
            _cell("Facilitation", "hospital", 1, 2, **FACILITATION),
            _cell("Facilitation", "primary care", 6, 9, **FACILITATION),
            _cell("Remind clinicians", "primary care", 5, 10, taxonomy="eric", cluster="Support clinicians",
                  sid="remind_clinicians")]))
    _publish(tmp_path, "broken", {"title": "x"})
    (tmp_path / "reports/broken/v1/manifest.json").write_text("{not json")
    _publish(tmp_path, "old", {"title": "Before the toolkit block", "answer": "A", "certainty": "low",
                               "created_at": "2026-01-01T00:00:00+00:00", "headline": {"k": 7},
                               "results": {"natural_units": {"phrase": "about 1 month", "detail": "SMD 0.05"}}})
    (tmp_path / "reports/pending").mkdir()
    return tmp_path


def _rows(soup):
    return {tr["data-title"]: tr for tr in soup.select("table#toolkit tbody tr")}


def test_one_row_per_review_with_answer_effect_certainty_studies_cost_and_update(project):
    soup = BeautifulSoup(write_index(project).read_text(), "html.parser")
    rows = _rows(soup)
    assert set(rows) == {"CBT for offenders", "Practice facilitation", HOSTILE, "Implementation strategies",
                         "broken", "Before the toolkit block", "pending"}
    cbt = rows["CBT for offenders"]
    cells = {td["data-label"]: td.get_text(" ", strip=True) for td in cbt.find_all("td")}
    assert cells["What the evidence says"] == "CBT for offenders: answer"
    assert cells["Effect"].startswith("76 instead of 68 in every 100 offenders")
    assert cells["Certainty"] == "⊕◯◯◯ Very low" and cbt["data-level"] == "very low" and cbt["data-certainty"] == "1"
    assert cells["Studies"] == "58 studies" and cbt["data-studies"] == "58"
    assert cells["Cost"] == "not assessed" and cbt["data-cost"] == ""
    assert cells["Last updated"] == "v1, 2026-11-19"
    # the certainty visual does not rely on colour: symbols and the word
    assert cbt.find(class_="grade-symbols").get_text() == "⊕◯◯◯"
    fac = rows["Practice facilitation"]
    fac_cells = {td["data-label"]: td.get_text(" ", strip=True) for td in fac.find_all("td")}
    assert fac_cells["Cost"] == "£££ ££ moderate cost a cited cost source"  # three of five £, then words
    assert fac.find(class_="cost-off").get_text() == "££" and fac["data-cost"] == "3"
    assert fac_cells["Last updated"].startswith("v2, 2026-11-21 all versions: v2 v1")
    strategies = {td["data-label"]: td.get_text(" ", strip=True) for td in rows["Implementation strategies"]("td")}
    assert strategies["Studies"] == "48 studies 95 effect sizes" and "simulated data" in strategies["Review"]
    old = {td.get("data-label"): td.get_text(" ", strip=True) for td in rows["Before the toolkit block"]("td")}
    assert old["Effect"] == "about 1 month SMD 0.05" and old["Studies"] == "7 studies"
    assert old["Certainty"] == "Low" and old["Cost"] == "not assessed"


def test_broken_unpublished_and_modified_reviews_stay_and_are_flagged(project):
    from synthesis.pipeline import store

    store.publish(project, "tampered", store.staging_dir(project, "tampered"),
                  _manifest("Recorded then edited", "moderate", "⊕⊕⊕◯", "+2 months' progress", 9))
    manifest = project / "reports/tampered/v1/manifest.json"
    manifest.write_text(manifest.read_text().replace("+2 months", "+9 months"))
    rows = {row["review_id"]: row for row in index_rows(project)}
    assert rows["broken"]["problem"] and rows["pending"]["versions"] == [] and rows["tampered"]["damaged"] == ["v1"]
    assert all(not rows[rid]["damaged"] for rid in ("cbt", "facilitation", "writing", "strategies"))
    soup = BeautifulSoup(write_index(project).read_text(), "html.parser")
    table = _rows(soup)
    assert "flagged" in table["broken"]["class"] and "Cannot be shown:" in table["broken"].get_text()
    assert "no report published yet" in table["pending"].get_text()
    edited = table["Recorded then edited"]
    assert "flagged" in edited["class"] and "Modified after publishing, do not trust: v1" in edited.get_text()
    assert "flagged" not in (table["CBT for offenders"].get("class") or [])


def test_hostile_titles_labels_and_reasons_are_text(project):
    page = write_index(project).read_text()
    soup = BeautifulSoup(page, "html.parser")
    assert HOSTILE not in page and HOSTILE_LABEL not in page and "<b>EEF</b>" not in page
    assert "&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;" in page
    assert soup.find("img") is None and soup.find("b") is None
    scripts = soup.find_all("script")
    assert len(scripts) == 1 and not scripts[0].get("src") and "alert" not in scripts[0].get_text()
    assert HOSTILE in soup.get_text() and HOSTILE_LABEL in soup.get_text()
    # nothing outside the page: no external scripts, styles, fonts or images
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert soup.find("link") is None


def test_gap_view_lists_every_cluster_of_the_taxonomy_and_marks_gaps(project):
    soup = BeautifulSoup(write_index(project).read_text(), "html.parser")
    title, clusters = taxonomy_clusters("eric")
    headings = [h.get_text() for h in soup.select("#gaps ~ h3, section h3")]
    assert title in headings and "CBT for offenders" in headings and HOSTILE in headings
    eric = soup.find("h3", string=title).find_next("table")
    assert [th.get_text() for th in eric.select("tr.cluster th")] == clusters
    assert [th.get_text() for th in eric.select("thead th")][3:] == ["hospital", NO_CONTEXT, "primary care"]
    lines = {(tr.th.get_text(), tr.a.get_text()): [td.get_text(" ", strip=True) for td in tr("td")[2:]]
             for tr in eric.select("tbody tr") if tr.th and tr.a}
    assert lines[("Facilitation", "Implementation strategies")] == ["1 study 2 effect sizes", "no studies",
                                                                    "6 studies 9 effect sizes"]
    assert lines[("Facilitation", "Practice facilitation")] == ["no studies", "23 studies", "no studies"]
    assert lines[("Remind clinicians", "Implementation strategies")] == ["no studies", "no studies",
                                                                         "5 studies 10 effect sizes"]
    empty = [c for c in clusters if c not in ("Provide interactive assistance", "Support clinicians")]
    assert len(eric.select("td.gap-cell")) == 5 + len(empty)
    cbt = soup.find("h3", string="CBT for offenders").find_next("table")
    assert [td.get_text() for td in cbt.select("td.count")] == ["27 studies", "31 studies"]
    assert cbt.select_one("tbody tr").find(class_="grade-symbols").get_text() == "⊕◯◯◯"


def test_gap_tables_leave_out_reviews_without_cells():
    row = {"review_id": "r", "title": "R", "versions": [2], "gap": []}
    assert gap_tables([row]) == []
    row["gap"] = [_cell("S", "x", 1, taxonomy="made-up", cluster="C")]
    table, = gap_tables([row])
    assert table["title"] == "made-up" and table["clusters"][0]["label"] == "C"
    assert table["clusters"][0]["lines"][0]["version"] == 2


def test_gap_cells_of_shipped_reviews_come_from_their_taxonomy_and_context():
    from synthesis.review.loader import load_review

    review = load_review("implementation-strategies-illustrative", REPO)
    cells = gap_cells(review.data, review.spec)
    eric = load_taxonomy("eric")
    assert {c["taxonomy"] for c in cells} == {"eric"} and all(c["strategy_id"] in eric.strategies for c in cells)
    assert {c["context"] for c in cells} == set(review.data["setting"])
    assert sum(c["effects"] for c in cells) == len(review.data)
    per_strategy = pd.DataFrame(cells).groupby("strategy_id")["studies"].sum()
    assert (per_strategy <= review.data["study_id"].nunique()).all()
    single = load_review("practice-facilitation", REPO)
    only, = gap_cells(single.data, single.spec)
    assert (only["strategy"], only["context"], only["studies"]) == ("Facilitation", NO_CONTEXT, 23)


def test_cost_and_context_are_checked_by_the_schema():
    from pydantic import ValidationError

    from synthesis.review.loader import load_spec
    from synthesis.review.schema import ReviewSpec

    spec = load_spec("writing-to-learn", REPO).model_dump()
    assert spec["decision"]["cost"] is None and spec["decision"]["context"] == "grade"
    for decision, message in [({"cost": 2}, "cost_reason"), ({"cost": 6, "cost_reason": "x"}, "less than or equal"),
                              ({"context": "length"}, "not a categorical moderator"),
                              ({"context": "nowhere"}, "not a categorical moderator")]:
        bad = json.loads(json.dumps(spec, default=str))
        bad["decision"].update(decision)
        with pytest.raises(ValidationError, match=message):
            ReviewSpec.model_validate(bad)
    good = json.loads(json.dumps(spec, default=str))
    good["decision"].update(cost=2, cost_reason="EEF Toolkit rating")
    assert ReviewSpec.model_validate(good).decision.cost == 2


# ---------------------------------------------------------------- browser
@pytest.mark.browser
def test_sorting_filtering_and_phone_layout_in_chromium(project, browser, tmp_path):
    page_file = write_index(project)
    tab, visit = open_page(browser, page_file)

    def titles():
        return tab.eval_on_selector_all("#toolkit tbody tr:not([hidden])", "rows => rows.map(r => r.dataset.title)")

    assert len(titles()) == 7 and tab.is_visible("#filter-text")
    tab.click("#toolkit th[data-key=certainty] button")  # highest certainty first; unknown last
    order = titles()
    assert order[:2] == ["Implementation strategies", "Practice facilitation"] and order[4] == "CBT for offenders"
    assert set(order[2:4]) == {HOSTILE, "Before the toolkit block"}  # both low
    assert set(order[5:]) == {"broken", "pending"}
    assert tab.get_attribute("#toolkit th[data-key=certainty]", "aria-sort") == "descending"
    tab.click("#toolkit th[data-key=certainty] button")
    assert titles()[0] == "CBT for offenders" and set(titles()[1:3]) == {HOSTILE, "Before the toolkit block"}
    tab.click("#toolkit th[data-key=updated] button")
    assert titles()[0] == "Before the toolkit block"
    tab.select_option("#sort-by", "studies:descending")
    assert titles()[0] == "CBT for offenders" and set(titles()[1:3]) == {"Implementation strategies", HOSTILE}
    tab.select_option("#filter-certainty", "low")
    assert sorted(titles()) == sorted([HOSTILE, "Before the toolkit block"])
    assert tab.inner_text("#shown") == "2 of 7 reviews shown"
    tab.select_option("#filter-certainty", "")
    tab.fill("#filter-text", "offenders")
    assert titles() == ["CBT for offenders"]
    tab.fill("#filter-text", "")
    tab.screenshot(path=str(tmp_path / "index-1280.png"), full_page=True)
    phone, phone_visit = open_page(browser, page_file, width=390, height=844)
    overflow = phone.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    cue = phone.is_visible(".scroll-cue")
    phone.screenshot(path=str(tmp_path / "index-390.png"), full_page=True)
    context = browser.new_context(java_script_enabled=False)
    plain = context.new_page()
    plain.goto(page_file.resolve().as_uri())
    no_js = plain.eval_on_selector_all("#toolkit tbody tr", "rows => rows.filter(r => !r.hidden).length")
    controls_hidden = not plain.is_visible("#controls")
    for page in (tab, phone):
        page.close()
    context.close()
    assert visit.errors == [] and visit.requests == [] and phone_visit.errors == []
    assert not overflow, "the page scrolls sideways at 390 px"
    assert cue and no_js == 7 and controls_hidden
