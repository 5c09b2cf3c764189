"""Report HTML sections: escaping of hostile data, structure, no external resources, CSS, browser check."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import open_page
from bs4 import BeautifulSoup

from synthesis.grading.certainty import assess_certainty
from synthesis.grading.rating import Certainty, Downgrade
from synthesis.report import appendix as A
from synthesis.report import sections as R
from synthesis.report import tables as T

HOSTILE = "<script>alert(1)</script>"
TITLE = 'Tutoring & "reading" <review>'
CSS = Path(R.__file__).parent / "templates" / "report.css"
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def _soup(text: str) -> BeautifulSoup:
    return BeautifulSoup(text, "html.parser")


def _assert_safe(text: str) -> None:
    soup = _soup(text)
    assert soup.find("script") is None, "a <script> element got through"
    for tag in soup.find_all(True):
        for attr in ("src", "href"):
            if tag.get(attr):
                assert not EXTERNAL.match(tag[attr]), f"<{tag.name} {attr}={tag[attr]!r}>"
    assert "<script" not in text


def _certainty() -> Certainty:
    return Certainty("low", (Downgrade("imprecision", 1, "The interval is wide & crosses <zero>."),
                             Downgrade("inconsistency", 1, "Results varied (I² = 64%)."),
                             Downgrade("risk_of_bias", 0, "Not rated.", assessed=False),
                             Downgrade("publication_bias", 0, "No asymmetry."),
                             Downgrade("indirectness", 0, HOSTILE)),
                     "Certainty started at high; rated down two levels.")


@pytest.fixture()
def studies() -> pd.DataFrame:
    return pd.DataFrame({"study": [HOSTILE, "Smith & Jones (2019)", "O'Brien \"2020\""],
                         "yi": [0.2, 0.5, -0.1], "vi": [0.04, 0.01, 0.09],
                         "citation": ["<img src=x onerror=alert(1)>", "Smith J. http://example.org", None],
                         "rob": ["low", "high", None], "year": [2001, 2019, 2020]})


# ---------------------------------------------------------------- escaping
def test_hostile_label_shows_as_text_in_every_table(studies):
    parts = [
        T.studies_table(studies, risk_of_bias="rob", weights=[20, 50, 30], extra=["year"]),
        T.moderator_table(pd.DataFrame({"label": [HOSTILE], "term": [HOSTILE], "estimate": [0.1], "ci_lb": [0.0],
                                        "ci_ub": [0.2], "pval": [0.04], "k": [9]}),
                          subgroups=pd.DataFrame({"k": [3], "estimate": [0.1], "ci_lb": [0], "ci_ub": [0.2]},
                                                 index=[HOSTILE]), subgroup_name=HOSTILE),
        T.strategy_table(pd.DataFrame({"strategy": [HOSTILE], "estimate": [0.1], "ci_lb": [0.0], "ci_ub": [0.2]})),
        R.headline_section(HOSTILE, HOSTILE, "low", HOSTILE, HOSTILE, title=HOSTILE),
        R.certainty_section(_certainty()),
        R.probability_section(0.9, 0.5, 0.1, HOSTILE, False, [HOSTILE]),
        T.version_section(HOSTILE, HOSTILE, {HOSTILE: HOSTILE}, pd.DataFrame({"what": [HOSTILE]})),
        A.methods_section(measure=HOSTILE, method=HOSTILE, test=HOSTILE, prior=HOSTILE, extra=[HOSTILE]),
        R.section(HOSTILE, "", intro=HOSTILE),
        R.banner_simulated(HOSTILE),
    ]
    for part in parts:
        _assert_safe(part)
        assert HOSTILE in _soup(part).get_text(), "the label must still be shown, as text"
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in part
    table = _soup(parts[0])
    assert table.find("img") is None                            # citation markup is inert text
    assert "<img src=x onerror=alert(1)>" in table.get_text()
    assert table.find("a") is None                              # URLs in citations are not links


def test_title_with_ampersand_and_quotes():
    out = R.headline_section("Q?", "A.", "high", None, None, title=TITLE)
    assert "Tutoring &amp; &quot;reading&quot; &lt;review&gt;" in out
    assert _soup(out).find("h1").get_text() == TITLE


# ---------------------------------------------------------------- sections
def test_headline_contains_question_answer_certainty_effect():
    c = _certainty()
    out = R.headline_section("Does tutoring help?", "Tutoring may improve reading.", c,
                             "about 3 months' additional progress (95% CI 1 to 5 months)",
                             "SMD 0.22 (95% CI 0.08 to 0.36)", title="Tutoring")
    soup = _soup(out)
    assert soup.find(class_="syn-question").get_text() == "Question Does tutoring help?"
    assert soup.find(class_="syn-answer").get_text() == "Tutoring may improve reading."
    badge = soup.find(class_="syn-badge")
    assert "syn-badge--low" in badge["class"] and badge.get_text() == "⊕⊕◯◯ Low certainty"
    assert soup.find(class_="syn-why").get_text() == "Rated down for imprecision and inconsistency."
    assert "about 3 months' additional progress" in soup.find(class_="syn-effect").get_text()
    # ordered as a reader needs it: question, answer, certainty, effect
    order = [out.index(k) for k in ("syn-question", "syn-answer", "syn-certainty-line", "syn-effect")]
    assert order == sorted(order)


@pytest.mark.parametrize(("level", "css", "text"), [("high", "high", "⊕⊕⊕⊕ High certainty"),
                                                    ("moderate", "moderate", "⊕⊕⊕◯ Moderate certainty"),
                                                    ("low", "low", "⊕⊕◯◯ Low certainty"),
                                                    ("very low", "very-low", "⊕◯◯◯ Very low certainty")])
def test_badges_carry_text_and_have_css(level, css, text):
    badge = _soup(R.certainty_badge(level)).find("span")
    assert badge.get_text() == text and f"syn-badge--{css}" in badge["class"]
    assert f".syn-badge--{css}" in CSS.read_text()
    with pytest.raises(ValueError):
        R.certainty_badge("medium")


def test_certainty_section_one_sentence_per_domain_downgrades_first():
    soup = _soup(R.certainty_section(_certainty()))
    items = soup.find_all("li")
    assert len(items) == 5
    assert items[0].get_text() == "Imprecision: rated down one level. The interval is wide & crosses <zero>."
    assert items[1].get_text().startswith("Inconsistency: rated down one level.")
    assert {"syn-down"} == set(items[0]["class"]) and "syn-na" in items[2]["class"]
    assert "Risk of bias: not assessed." in items[2].get_text()
    # works with the real rating too
    real = assess_certainty({"estimate": 0.3, "ci_lb": -0.05, "ci_ub": 0.6, "pi_lb": -0.3, "pi_ub": 0.9,
                             "I2": 70.0, "k": 6, "weights": [100 / 6] * 6}, mid=0.1, risk_of_bias=["low"] * 6)
    assert len(_soup(R.certainty_section(real)).find_all("li", class_="syn-down")) == 2


def test_probability_section_warning_only_when_not_ok():
    ok = R.probability_section(0.973, 0.615, 0.1, "mu ~ Normal(0, 1)", True, [])
    soup = _soup(ok)
    values = [dd.get_text() for dd in soup.find_all("dd")]
    assert values == ["97%", "62%"] and soup.find(class_="syn-warning") is None
    assert "Prior: mu ~ Normal(0, 1)." in soup.get_text()
    bad = _soup(R.probability_section(0.973, None, 0.1, None, False, ["R-hat too high.", "3 divergences."]))
    warning = bad.find(class_="syn-warning")
    assert [li.get_text() for li in warning.find_all("li")] == ["R-hat too high.", "3 divergences."]
    assert [dd.get_text() for dd in bad.find_all("dd")] == ["97%", "not available"]
    assert "Prior: not stated." in bad.get_text()
    no_mid = _soup(R.probability_section(0.5, None, None, "p", True))
    assert len(no_mid.find_all("dt")) == 1


def test_moderator_table_rows():
    t = pd.DataFrame({"moderator": ["dose", "phase"], "label": ["Dose (hours)", "Phase"],
                      "term": ["dose", "secondary"], "estimate": [0.01, -0.2], "ci_lb": [0.0, -0.4],
                      "ci_ub": [0.02, 0.0], "pval": [0.0004, 0.05], "k": [12, 12], "note": ["", ""]})
    sub = pd.DataFrame({"k": [5, 7], "estimate": [0.3, 0.1], "ci_lb": [0.1, -0.1], "ci_ub": [0.5, 0.3]},
                       index=pd.Index(["primary", "secondary"], name="phase"))
    soup = _soup(T.moderator_table(t, sub, subgroup_name="Phase", subgroup_pval=0.2))
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in soup.find("tbody").find_all("tr")]
    assert rows[0] == ["Dose (hours)", "per unit increase", "0.01 (0.00 to 0.02)", "<0.001", "12"]
    assert rows[1] == ["Phase", "secondary vs reference", "-0.20 (-0.40 to 0.00)", "0.050", "12"]
    assert rows[2] == ["Phase: primary", "effect within subgroup", "0.30 (0.10 to 0.50)", "0.200", "5"]
    failed = pd.DataFrame({"label": ["X"], "term": [""], "estimate": [np.nan], "ci_lb": [np.nan], "ci_ub": [np.nan],
                           "pval": [np.nan], "k": [0], "note": ["too few studies"]})
    assert "too few studies" in _soup(T.moderator_table(failed)).get_text()
    assert "No moderators" in T.moderator_table(None)


def test_strategy_table_ranked_with_intervals_and_probabilities():
    t = pd.DataFrame({"mean": [0.05, 0.35, 0.2], "eti_lb": [-0.2, 0.1, 0.05], "eti_ub": [0.3, 0.6, 0.35],
                      "prob_gt_0": [0.6, 0.999, 0.99], "prob_best": [0.05, 0.7, 0.25],
                      "rank_lb": [2, 1, 1], "rank_ub": [3, 2, 3]},
                     index=pd.Index(["Reminders", "Outreach", "Audit"], name="strategy"))
    soup = _soup(T.strategy_table(t))
    head = [th.get_text() for th in soup.find_all("th")]
    assert head == ["Rank", "Rank (interval)", "Strategy", "Effect (95% interval)", "Chance it helps",
                    "Chance it is the best"]
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in soup.find("tbody").find_all("tr")]
    assert rows[0] == ["1", "1 to 2", "Outreach", "0.35 (0.10 to 0.60)", ">99%", "70%"]
    assert [r[2] for r in rows] == ["Outreach", "Audit", "Reminders"]
    lower = _soup(T.strategy_table(t, higher_is_better=False))
    assert lower.find("tbody").find("tr").find_all("td")[2].get_text() == "Reminders"
    with pytest.raises(ValueError, match="interval columns"):
        T.strategy_table(pd.DataFrame({"strategy": ["a"], "estimate": [1.0]}))


def test_studies_table_effects_weights_ratio(studies):
    soup = _soup(T.studies_table(studies, risk_of_bias="rob", weights=[20, 50, 30], extra=["year"]))
    head = [th.get_text() for th in soup.find_all("th")]
    assert head == ["Study", "Citation", "year", "Effect (95% CI)", "Weight", "Risk of bias (RoB 2)"]
    rows = [[td.get_text() for td in tr.find_all("td")] for tr in soup.find("tbody").find_all("tr")]
    assert rows[1] == ["Smith & Jones (2019)", "Smith J. http://example.org", "2019", "0.50 (0.30 to 0.70)",
                       "50.0%", "High"]  # each study's judgement in RoB 2 wording
    assert rows[2][1] == "" and rows[2][-1] == "not judged (some concerns)"
    ratio = _soup(T.studies_table(pd.DataFrame({"study": ["a"], "yi": [np.log(2.0)], "vi": [0.0]}), measure="OR",
                                  citation=None))
    assert [td.get_text() for td in ratio.find_all("td")] == ["a", "2.00 (2.00 to 2.00)"]
    assert ratio.find_all("th")[1].get_text() == "Odds ratio (95% CI)"


def test_version_section_variants():
    first = _soup(T.version_section(1, "2025-03-01T10:00:00+00:00", "f" * 64))
    dds = [dd.get_text() for dd in first.find_all("dd")]
    assert dds == ["v1", "2025-03-01T10:00:00+00:00", "f" * 64]
    assert "first version" in first.get_text()
    same = T.version_section("v2", "d", {"data": "aa", "parameters": "bb"}, pd.DataFrame())
    assert "Nothing in the results changed" in same and "Parameters" in same
    changes = _soup(T.version_section("v3", "d", "x", pd.DataFrame({"what": ["estimate"], "before": [0.2],
                                                                   "after": [0.25]})))
    assert [td.get_text() for td in changes.find("tbody").find_all("td")] == ["estimate", "0.2", "0.25"]


def test_methods_section_names_estimators_and_priors():
    text = _soup(A.methods_section(measure="OR", method="DL", test="z", level=0.9, k=13,
                                   prior="mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)",
                                   sampler={"sampler": "nuts", "chains": 4, "draws": 1000, "seed": 1},
                                   natural_units="EEF months' progress conversion.")).get_text()
    for needle in ("odds ratio", "DerSimonian-Laird", "(13 studies)", "normal distribution", "90% intervals",
                   "tau ~ Half-Normal(0.5)", "chains 4", "Egger", "trim-and-fill", "GRADE", "Santesso",
                   "EEF months"):
        assert needle in text, needle
    assert "Egger's regression test" not in A.methods_section(measure="SMD", method="REML", bias_tests=False)


def test_render_joins_sections_and_is_displayable():
    out = R.render([R.banner_simulated(), None, R.section("A", "<p>x</p>")])
    html_text = out.data if hasattr(out, "data") else str(out)
    soup = _soup(html_text)
    root = soup.find("div", class_="syn-report")
    assert root is not None and root.find(class_="syn-banner") and root.find("h2").get_text() == "A"
    assert hasattr(out, "_repr_html_")
    with_css = R.render([R.banner_simulated()], include_css=True)
    assert ".syn-badge" in (with_css.data if hasattr(with_css, "data") else str(with_css))


def test_report_css_is_offline_printable_and_responsive():
    css = CSS.read_text()
    assert "url(" not in css and "@import" not in css and "http" not in css
    assert "@media print" in css and "@media (max-width: 600px)" in css
    for cls in (".syn-headline", ".syn-answer", ".syn-warning", ".syn-banner", ".syn-table", ".syn-figure"):
        assert cls in css


# ---------------------------------------------------------------- browser
@pytest.mark.browser
def test_headline_visible_in_first_viewport(tmp_path, browser):
    """Through the pipeline's offline template: answer inside 1280x800, no console errors, no requests."""
    nbformat = pytest.importorskip("nbformat")
    from synthesis.pipeline.render import render_html

    head = R.render([R.banner_simulated(), R.headline_section(
        "Does one-to-one tutoring improve reading attainment in primary schools?",
        "One-to-one tutoring probably improves reading attainment.", _certainty(),
        "about 3 months' additional progress (95% CI 1 to 5 months)", "SMD 0.22 (95% CI 0.08 to 0.36)",
        title=TITLE)]).data
    rest = R.render([R.certainty_section(_certainty()), A.methods_section(measure="SMD", method="REML")]).data
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("display(head)", execution_count=1, outputs=[
                    nbformat.v4.new_output("display_data", data={"text/html": head, "text/plain": "h"})]),
                nbformat.v4.new_code_cell("display(rest)", execution_count=2, outputs=[
                    nbformat.v4.new_output("display_data", data={"text/html": rest, "text/plain": "r"})])]
    nbformat.write(nb, str(tmp_path / "nb.ipynb"))
    page_file = tmp_path / "report.html"
    render_html(tmp_path / "nb.ipynb", page_file, report=True, title="t")
    tab, visit = open_page(browser, page_file)
    box = tab.locator(".syn-answer").bounding_box()
    effect = tab.locator(".syn-effect").bounding_box()
    tab.screenshot(path=str(tmp_path / "first_screen.png"))
    narrow, _ = open_page(browser, page_file, width=375)
    overflow = narrow.evaluate("document.documentElement.scrollWidth > window.innerWidth + 1")
    tab.close()
    narrow.close()
    assert visit.errors == [] and visit.requests == []
    assert box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 800
    assert effect is not None and effect["y"] + effect["height"] <= 800
    assert not overflow, "the page scrolls sideways on a narrow screen"


def test_sections_accept_certainty_as_results_json():
    c = _certainty()
    assert R.certainty_section(c.to_dict()) == R.certainty_section(c)
    assert R.headline_section("Q", "A", c.to_dict(), None, None) == R.headline_section("Q", "A", c, None, None)
    assert "Not rated down." in R.headline_section("Q", "A", Certainty("high", ()), None, None)


# ---------------------------------------------------------------- templates and definitions
REPORT_DIR = Path(R.__file__).parent
HTML_TAG = re.compile(r"</?(section|div|p|table|thead|tbody|tr|td|th|span|figure|figcaption|img|ul|li|dl|dt|"
                      r"dd|h[1-6]|style|strong|code|caption)\b", re.IGNORECASE)


def _code_strings(path: Path) -> list[tuple[int, str]]:
    """String constants of a module that are not docstrings (f-string parts included)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                docstrings.add(id(first.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_no_html_is_assembled_in_python():
    """Every tag of the page comes from a template under synthesis/report/templates."""
    modules = list(REPORT_DIR.rglob("*.py")) + list((REPORT_DIR.parent / "grading").glob("*.py"))
    found = [f"{path.name}:{line}: {text!r}" for path in modules for line, text in _code_strings(path)
             if HTML_TAG.search(text)]
    assert found == []


def test_every_template_autoescapes_and_renders_hostile_text_as_text():
    from synthesis.report.templating import environment, render_template

    env = environment()
    names = [n for n in env.list_templates() if n.endswith(".html.j2")]
    assert {"headline.html.j2", "certainty.html.j2", "probability.html.j2", "table.html.j2", "version.html.j2",
            "methods.html.j2", "figure.html.j2", "section.html.j2", "report.html.j2", "banner.html.j2"} <= set(names)
    assert all(env.autoescape(n) for n in names)
    out = render_template("figure.html.j2", data="AAAA", alt=HOSTILE, width=10, height=5, caption=HOSTILE)
    _assert_safe(out)
    assert _soup(out).find("img")["alt"] == HOSTILE and _soup(out).find("figcaption").get_text() == HOSTILE
    table = render_template("table.html.j2", headers=[HOSTILE], rows=[[HOSTILE]], numeric=[True], caption=HOSTILE,
                            css_class="syn-table")
    _assert_safe(table)
    assert _soup(table).find("td").get_text() == HOSTILE and "syn-num" in _soup(table).find("td")["class"]
    # a plain string given as a section body is text, not markup
    assert "&lt;script&gt;" in R.section("Title", HOSTILE)


def test_each_section_is_self_contained_when_displayed_alone():
    """A notebook cell's output carries the block the stylesheet styles, so cells can be moved freely."""
    for part in (R.banner_simulated(), R.certainty_section(_certainty()), A.methods_section(measure="SMD", method="DL"),
                 T.version_section("v1", "today", "abc")):
        shown = _soup(part._repr_html_())
        root = shown.find("div", class_="syn-report")
        assert root is not None and root.find(True) is not None
        assert str(part) in part._repr_html_() and "characters of HTML" in repr(part)


def test_measure_and_method_words_cover_the_engine():
    from synthesis.grading.measures import MEASURE_WORDS, back_transform, measure_words
    from synthesis.meta.core import METHODS
    from synthesis.meta.effects import MEASURES

    assert set(MEASURE_WORDS) == set(MEASURES)
    assert set(A.METHOD_NAMES) - set(METHODS) == {"FE"} and A.METHOD_NAMES["FE"] == A.METHOD_NAMES["EE"]
    for m in MEASURES:
        words = measure_words(m)
        assert words.name and words.label[0].isupper() and words.detail.startswith(words.name)
    assert back_transform("OR") is np.exp and back_transform("RR") is np.exp and back_transform("RD") is None


def test_notebook_is_the_outline_of_the_page():
    import json

    nb = json.loads((REPORT_DIR.parents[1] / "notebooks" / "review.ipynb").read_text(encoding="utf-8"))
    cells = nb["cells"]
    assert cells[0]["cell_type"] == "markdown" and "outline" in "".join(cells[0]["source"])
    shown = [c for c in cells if c["cell_type"] == "code" and not set(c["metadata"].get("tags", []))]
    calls = ["".join(c["source"]).strip() for c in shown]
    assert calls == ["report.banner(analysis)", "report.headline(analysis)", "report.certainty(analysis)",
                     "report.probability(analysis)", "report.where_it_works(analysis)", "report.figures(analysis)",
                     "report.robustness(analysis)", "report.studies(analysis)", "report.version(analysis, manifest_draft, previous_manifest)",
                     "report.methods(analysis)"]
    from synthesis import report
    from synthesis.report import page

    for call in calls:
        name = call.split("(")[0].split(".")[1]
        assert getattr(report, name) is getattr(page, name), name
