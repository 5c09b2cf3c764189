"""The analysis step (:mod:`synthesis.analysis`) checked against independent truths.

The shipped real reviews, analysed as the notebook does, against R metafor 3.8
(``tests/data/metafor``: same data and settings), fits run here, a brute-force grid posterior
and the GRADE rules; the helpers on constructed DataFrames; the constructed review
``tests/data/analysis/reviews/ten-trials`` for high certainty and for fewer than ten studies.
"""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from synthesis import meta_analysis, meta_regression
from synthesis.analysis import (WITHIN_STUDY_RHO, analyse_review, labelled_levels, moderator_table,
                                strategy_ranking, study_level_data)
from synthesis.errors import ReviewError
from synthesis.meta.effects import aggregate_effects
from synthesis.review.loader import load_review

REPO = Path(__file__).resolve().parents[1]
METAFOR = REPO / "tests" / "data" / "metafor"
FIXTURES = REPO / "tests" / "data" / "analysis"
GRADE_LEVELS = ("high", "moderate", "low", "very low")
ITERATIVE = 1e-4  # relative tolerance for iterative quantities (tests/data/metafor/README.md)
# metafor stops REML at a change below 1e-5: case diagnostics and p-values computed from such
# estimates get DERIVED (relative), effects near 0 on the analysis scale EFFECT_ATOL (absolute)
DERIVED, EFFECT_ATOL = 1e-3, 2e-5

#: shipped real review -> the metafor reference computed on the same studies
REAL_REVIEWS = {
    "practice-facilitation": "baskerville2012_practice_facilitation",
    "writing-to-learn": "bangertdrowns2004_writing_to_learn",
    "cbt-offenders-at-scale": "landenberger2005_cbt_offenders",
}


def level_label(value, labels: dict) -> str:
    """The label ``level_labels`` gives a coded level (0 and 0.0 are the same level), else the level."""
    for key, label in labels.items():
        try:
            if float(key) == float(value):
                return str(label)
        except (TypeError, ValueError):
            if str(key) == str(value):
                return str(label)
    return str(value)


def reference(review_id: str) -> dict:
    return json.loads((METAFOR / f"{REAL_REVIEWS[review_id]}.json").read_text())


def frame(x) -> pd.DataFrame:
    """A DataFrame whether the engine returns one or a result object with ``to_frame()``."""
    return getattr(x, "to_frame", lambda: x)()


@pytest.fixture(scope="module")
def analyses() -> dict:
    return {rid: analyse_review(rid, REPO) for rid in REAL_REVIEWS}


def fixture_project(tmp_path: Path, rows: int | None = None) -> Path:
    """A project folder holding the constructed ten-trials review, cut to its first ``rows``."""
    shutil.copytree(FIXTURES / "reviews", tmp_path / "reviews")
    if rows is not None:
        csv = tmp_path / "reviews" / "ten-trials" / "studies.csv"
        pd.read_csv(csv).head(rows).to_csv(csv, index=False)
    return tmp_path


# ====================================================================== pooled model
@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_pooled_model_is_metafors(analyses, review_id):
    spec, ref = analyses[review_id].spec, reference(review_id)
    # the reference is REML with z tests at 95%; the comparison is only valid if the review says so
    assert (spec.analysis.method, spec.analysis.test, spec.analysis.level) == ("REML", "z", 0.95)
    m, expected = analyses[review_id].meta, ref["pooled"]["REML"]
    for key in ("estimate", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "tau2", "I2"):
        assert getattr(m, key) == pytest.approx(expected[key], rel=ITERATIVE), key
    n_studies = len(pd.read_csv(REPO / "reviews" / review_id / "studies.csv"))
    assert m.k == n_studies == ref["k"]
    headline = analyses[review_id].results()["headline"]
    assert headline["k"] == n_studies
    assert headline["estimate"] == pytest.approx(expected["estimate"], rel=ITERATIVE)
    assert headline["tau2"] == pytest.approx(expected["tau2"], rel=ITERATIVE)
    assert (headline["method"], headline["test"], headline["measure"]) == ("REML", "z", spec.effect.measure)


@pytest.mark.parametrize(("overrides", "pooled"), [({"analysis.method": "DL"}, ("pooled", "DL")),
                                                   ({"analysis.test": "knha"}, ("knha", "REML"))])
def test_overrides_change_the_fit(overrides, pooled):
    a = analyse_review("practice-facilitation", REPO, overrides)
    ref = reference("practice-facilitation")
    expected = ref[pooled[0]][pooled[1]]
    for key in ("estimate", "ci_lb", "ci_ub", "tau2", "pi_lb", "pi_ub"):
        assert getattr(a.meta, key) == pytest.approx(expected[key], rel=ITERATIVE), key
    assert a.results()["headline"]["tau2"] == pytest.approx(expected["tau2"], rel=ITERATIVE)
    if "analysis.method" in overrides:  # DL's tau² is not REML's: the override took effect
        assert abs(a.meta.tau2 - ref["pooled"]["REML"]["tau2"]) > 1e-3


@pytest.mark.parametrize(("overrides", "key"), [({"analysis.method": "XYZ"}, "analysis.method"),
                                                ({"analysis.metod": "DL"}, "analysis.metod"),
                                                ({"bayes.draws": 5}, "bayes.draws"),
                                                ({"analysis.level": 2}, "analysis.level")])
def test_invalid_override_is_a_one_line_review_error(overrides, key):
    with pytest.raises(ReviewError) as info:
        analyse_review("practice-facilitation", REPO, overrides)
    message = str(info.value)
    assert key in message and "review.yaml" in message
    assert "\n" not in message and "Traceback" not in message


# ====================================================================== diagnostics
@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_small_study_tests_are_metafors_with_ten_or_more_studies(analyses, review_id):
    a, ref = analyses[review_id], reference(review_id)
    assert a.meta.k >= 10
    assert a.egger.pval == pytest.approx(ref["egger_REML"]["pval"], rel=DERIVED)
    assert a.egger_classic.pval == pytest.approx(ref["egger_classic"]["pval"], rel=1e-6)
    assert a.begg.pval == pytest.approx(ref["begg"]["pval"], rel=1e-6)
    assert a.trimfill.k0 == ref["trimfill_REML"]["k0"]
    assert a.trimfill.estimate == pytest.approx(ref["trimfill_REML"]["estimate"], rel=ITERATIVE)
    small_study = a.results()["small_study"]
    assert small_study["egger"]["pval"] == pytest.approx(ref["egger_REML"]["pval"], rel=DERIVED)
    assert small_study["trimfill"]["k0"] == ref["trimfill_REML"]["k0"]
    rated = {d["domain"]: d for d in a.certainty.to_dict()["downgrades"]}
    assert rated["publication_bias"]["assessed"]


@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_leave_one_out_and_influence_are_metafors(analyses, review_id):
    a, ref = analyses[review_id], reference(review_id)
    loo, infl = frame(a.leave_one_out), frame(a.influence)
    assert list(loo.index) == list(a.meta.labels) == list(infl.index)
    for key in ("estimate", "tau2"):
        np.testing.assert_allclose(loo[key], ref["leave1out_REML"][key], rtol=ITERATIVE, atol=1e-8)
    for key in ("rstudent", "cooks_d", "hat"):
        np.testing.assert_allclose(infl[key], ref["influence_REML"][key], rtol=DERIVED, atol=1e-6)
    assert infl["is_influential"].tolist() == ref["influence_REML"]["is_influential"]


def test_small_study_tests_need_ten_studies(tmp_path):
    at_ten = analyse_review("ten-trials", fixture_project(tmp_path / "ten"))
    assert at_ten.meta.k == 10
    assert at_ten.egger is not None and "small_study" in at_ten.results()
    below = analyse_review("ten-trials", fixture_project(tmp_path / "nine", rows=9))
    assert below.meta.k == 9
    rated = {d["domain"]: d for d in below.certainty.to_dict()["downgrades"]}
    assert not rated["publication_bias"]["assessed"] and rated["publication_bias"]["levels"] == 0
    assert any("small-study" in note for note in below.diagnostics()["messages"])


def test_small_study_tests_are_absent_below_ten_studies(tmp_path):
    below = analyse_review("ten-trials", fixture_project(tmp_path, rows=9))
    assert below.egger is None and below.begg is None and below.trimfill is None
    assert "small_study" not in below.results()


def test_two_studies_give_a_pooled_fit_without_case_diagnostics(tmp_path):
    with pytest.warns(UserWarning, match="k = 2"):
        a = analyse_review("ten-trials", fixture_project(tmp_path, rows=2),
                           {"moderators": [], "subgroup": None})
    data = pd.read_csv(FIXTURES / "reviews/ten-trials/studies.csv").head(2)
    with pytest.warns(UserWarning):
        independent = meta_analysis(data["yi"], data["vi"], method="REML")
    assert a.meta.k == 2 and a.meta.estimate == pytest.approx(independent.estimate, rel=1e-10)
    assert a.influence is None and a.leave_one_out is None and a.egger is None
    json.dumps(a.results(), allow_nan=False)


# ====================================================================== moderators and subgroups
#: (review, moderator, metafor formula, {the table's comparison: metafor's coefficient}) where
#: the review's reference level is R's (the first in sorted order) or the moderator is 0/1 or continuous
SAME_CODING = [
    ("practice-facilitation", "tailor", "tailor", {"tailored vs not tailored": "tailor"}),
    ("practice-facilitation", "meetings", "meetings", {"per unit increase": "meetings"}),
    ("practice-facilitation", "duration", "duration", {"per unit increase": "duration"}),
    ("practice-facilitation", "design", "factor(design)",
     {"cluster-randomised trial vs controlled clinical trial": "factor(design)crct",
      "randomised trial vs controlled clinical trial": "factor(design)rct"}),
    ("writing-to-learn", "grade", "factor(grade)",
     {"middle school vs primary (elementary)": "factor(grade)2",
      "high school vs primary (elementary)": "factor(grade)3", "college vs primary (elementary)": "factor(grade)4"}),
    ("writing-to-learn", "length", "length", {"per unit increase": "length"}),
    ("writing-to-learn", "meta", "meta", {"metacognitive prompts vs no prompts": "meta"}),
    ("cbt-offenders-at-scale", "setting", "factor(setting)",
     {"in prison vs in the community": "factor(setting)prison"}),
    ("cbt-offenders-at-scale", "group", "factor(group)", {"juveniles vs adults": "factor(group)juveniles"}),
]


@pytest.mark.parametrize(("review_id", "moderator", "formula", "terms"), SAME_CODING,
                         ids=[f"{r}-{m}" for r, m, _, _ in SAME_CODING])
def test_moderator_rows_are_metafors_regressions(analyses, review_id, moderator, formula, terms):
    ref = reference(review_id)["metaregression"][f"{formula}|z"]
    table = analyses[review_id].moderators
    rows = table[table["moderator"] == moderator].set_index("comparison")
    assert sorted(rows.index) == sorted(terms)
    for comparison, coefficient in terms.items():
        i = ref["coef_names"].index(coefficient)
        row = rows.loc[comparison]
        for key, expected in (("estimate", ref["coef"][i]), ("ci_lb", ref["ci_lb"][i]), ("ci_ub", ref["ci_ub"][i])):
            assert row[key] == pytest.approx(expected, rel=ITERATIVE, abs=EFFECT_ATOL), (comparison, key)
        for key, expected in (("pval", ref["pval"][i]), ("QMp", ref["QMp"])):
            assert row[key] == pytest.approx(expected, rel=DERIVED), (comparison, key)
        assert row["R2"] == pytest.approx(ref["R2"], abs=0.01)  # a percentage; abs: R² amplifies tau² noise
        assert row["k"] == ref["k"]


def test_moderator_with_another_reference_is_metafors_contrast(analyses):
    # the review compares with research trials; R's factor() compares with the first level, demo
    ref = reference("cbt-offenders-at-scale")["metaregression"]["factor(program)|z"]
    coef = dict(zip(ref["coef_names"], ref["coef"]))
    research = ref["coef_names"].index("factor(program)research")
    table = analyses["cbt-offenders-at-scale"].moderators
    rows = table[table["moderator"] == "program"].set_index("comparison")
    demo = rows.loc["demonstration vs research trial"]
    assert demo["estimate"] == pytest.approx(-ref["coef"][research], rel=ITERATIVE, abs=EFFECT_ATOL)
    assert (demo["ci_lb"], demo["ci_ub"]) == pytest.approx((-ref["ci_ub"][research], -ref["ci_lb"][research]),
                                                           rel=ITERATIVE, abs=EFFECT_ATOL)
    assert demo["pval"] == pytest.approx(ref["pval"][research], rel=DERIVED)
    routine = rows.loc["routine practice vs research trial"]
    assert routine["estimate"] == pytest.approx(coef["factor(program)practice"] - coef["factor(program)research"],
                                                rel=ITERATIVE, abs=EFFECT_ATOL)
    assert rows["QMp"].tolist() == pytest.approx([ref["QMp"]] * 2, rel=DERIVED)


@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_moderator_table_has_one_row_per_non_reference_level(analyses, review_id):
    a = analyses[review_id]
    table, data = a.moderators, a.review.data
    for mod in a.spec.moderators:
        rows = table[table["moderator"] == mod.name]
        assert (rows["label"] == (mod.label or mod.name)).all()
        if mod.type == "continuous":
            assert rows["comparison"].tolist() == ["per unit increase"]
            continue
        labels = mod.level_labels or {}
        levels = {level_label(v, labels) for v in data[mod.name].dropna().unique()}
        reference_label = level_label(mod.reference, labels)
        assert len(rows) == len(levels) - 1
        shown = [c.split(" vs ")[0] for c in rows["comparison"]]
        assert sorted(shown) == sorted(levels - {reference_label})
        assert all(c.endswith(f" vs {reference_label}") for c in rows["comparison"])


@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_subgroups_are_separate_fits_of_each_level(analyses, review_id):
    a = analyses[review_id]
    by = a.spec.subgroup
    mod = next(m for m in a.spec.moderators if m.name == by)
    data = a.data.dropna(subset=[by])
    table = a.subgroups.to_frame()
    assert table["k"].sum() == len(data)
    reference_label = level_label(mod.reference, mod.level_labels or {})
    assert table.index[0] == reference_label  # the comparison level first, and not a contrast
    assert not any(name.endswith(f"[{reference_label}]") for name in a.subgroups.regression.coef_names)
    estimates, variances = [], []
    for value, part in data.groupby(by):
        fit = meta_analysis(part["yi"], part["vi"], method=a.spec.analysis.method)
        row = table.loc[level_label(value, mod.level_labels or {})]
        assert row["k"] == fit.k and row["estimate"] == pytest.approx(fit.estimate, rel=1e-8)
        estimates.append(fit.estimate)
        variances.append(fit.se ** 2)
    w, y = 1 / np.asarray(variances), np.asarray(estimates)
    q_between = float(np.sum(w * (y - np.sum(w * y) / w.sum()) ** 2))  # Cochran's Q across subgroups
    assert a.subgroups.Q_between == pytest.approx(q_between, rel=1e-8)
    assert a.subgroups.df_between == len(estimates) - 1


# ====================================================================== certainty, answer, results
def assert_grade_wording(answer: str, level: str, intervention: str, outcome: str, plural: bool) -> None:
    """The GRADE plain-language wording of ``level`` for a beneficial effect (Santesso et al. 2020):
    its modal and no other, the verb agreeing with the intervention ("activities improve")."""
    text, x, y = answer.lower(), intervention.lower(), outcome.lower()
    assert x in text and y in text, answer
    rest = set(re.findall(r"[a-z]+", text.replace(x, "").replace(y, "")))
    modal = {"high": None, "moderate": "probably", "low": "may", "very low": "unclear"}[level]
    for word in ("probably", "may", "unclear"):
        assert (word in rest) == (word == modal), (level, answer)
    if level == "very low":
        verb = "affect" if plural else "affects"
        assert text.startswith(f"it is unclear whether {x} {verb} {y}") and "very uncertain" in text, answer
    else:
        verb = "improve" if plural or level == "low" else "improves"
        assert f"{x} {modal + ' ' if modal else ''}{verb} {y}" in text, answer


def assert_grade_arithmetic(a) -> None:
    """The level is the start rated down by the sum of the domains' levels (never below very low)."""
    detail = a.certainty.to_dict()
    assert a.certainty.level in GRADE_LEVELS
    assert detail["start"] == a.spec.certainty.start
    down = sum(d["levels"] for d in detail["downgrades"])
    assert a.certainty.level == GRADE_LEVELS[min(3, GRADE_LEVELS.index(detail["start"]) + down)]


@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_shipped_review_certainty_and_answer(analyses, review_id):
    a = analyses[review_id]
    assert_grade_arithmetic(a)
    assert_grade_wording(a.answer, a.certainty.level, a.spec.question.intervention, a.spec.question.outcome,
                         plural=review_id != "practice-facilitation")  # "activities", "programmes"


@pytest.mark.parametrize(("overrides", "level"), [
    ({}, "moderate"),  # high start, rated down once: no risk-of-bias judgement is recorded
    ({"certainty.indirectness": "serious", "certainty.indirectness_reason": "test"}, "low"),
    ({"certainty.start": "low"}, "very low"),
])
def test_each_certainty_level_has_its_modal(overrides, level):
    a = analyse_review("practice-facilitation", REPO, overrides)
    assert a.certainty.level == level
    assert_grade_arithmetic(a)
    assert_grade_wording(a.answer, level, "practice facilitation", a.spec.question.outcome, plural=False)
    assert a.results()["certainty"] == level


def test_high_certainty_answer_has_no_modal(tmp_path):
    a = analyse_review("ten-trials", fixture_project(tmp_path))
    assert a.certainty.level == "high"
    assert_grade_arithmetic(a)
    assert_grade_wording(a.answer, "high", "structured tutoring", "reading attainment", plural=False)


@pytest.mark.parametrize("review_id", REAL_REVIEWS)
def test_results_are_strict_json(analyses, review_id, tmp_path):
    a = analyses[review_id]
    results = a.results()
    text = json.dumps(results, allow_nan=False)
    assert {"answer", "certainty", "simulated", "headline", "diagnostics"} <= set(results)
    assert results["answer"] == a.answer and results["certainty"] == a.certainty.level
    assert results["simulated"] is False and results["diagnostics"]["ok"] is True
    a.write_results(tmp_path / "results.json")
    assert json.loads((tmp_path / "results.json").read_text()) == json.loads(text)


def grid_posterior_greater(yi, vi, mu_sd: float, tau_scale: float):
    """P(mu > t) for mu ~ N(0, mu_sd²), tau ~ half-normal(tau_scale), y_i ~ N(mu, v_i + tau²),
    by brute force on a (mu, tau) grid (no conditional-normal algebra)."""
    mu = np.linspace(-1.0, 1.5, 2501)[:, None]
    tau = np.linspace(0.0, 6 * tau_scale, 1201)[None, :]
    log_post = -0.5 * (mu / mu_sd) ** 2 - 0.5 * (tau / tau_scale) ** 2
    for y, v in zip(yi, vi):
        s2 = v + tau ** 2
        log_post = log_post - 0.5 * np.log(s2) - 0.5 * (y - mu) ** 2 / s2
    marginal = np.exp(log_post - log_post.max()).sum(axis=1)
    return lambda t: float(marginal[mu[:, 0] > t].sum() / marginal.sum())


@pytest.mark.parametrize("direction", ["higher_is_better", "lower_is_better"])
def test_bayesian_probabilities_match_a_grid_posterior(analyses, direction):
    a = analyses["writing-to-learn"]
    if direction == "lower_is_better":
        a = analyse_review("writing-to-learn", REPO, {"effect.direction": direction})
    bayes, mid = a.spec.bayes, a.spec.decision.mid
    assert bayes.tau_prior == "half_normal"
    greater = grid_posterior_greater(a.meta.yi, a.meta.vi, bayes.mu_sd, bayes.tau_scale)
    p0, pmid = greater(0.0), greater(mid)
    if direction == "lower_is_better":  # benefit is a negative effect
        p0, pmid = 1 - p0, 1 - greater(-mid)
    headline = a.results()["headline"]
    assert headline["prob_gt_0"] == pytest.approx(p0, abs=2e-3)
    assert headline["prob_gt_mid"] == pytest.approx(pmid, abs=2e-3)


# ====================================================================== helpers on constructed data
CODED = [{"name": "dose", "type": "categorical", "reference": 2, "level_labels": {1: "low", 2: "medium", 3: "high"}}]


def test_labelled_levels_relabels_and_keeps_missing():
    data = pd.DataFrame({"dose": [1.0, 2.0, np.nan, 3.0, 4.0], "arm": ["a", None, "b", "a", "b"],
                         "weeks": [1, 2, 3, 4, 5]})
    before = data.copy()
    out, refs = labelled_levels(data, CODED + [{"name": "arm", "type": "categorical", "reference": "b"},
                                               {"name": "weeks", "type": "continuous"},
                                               {"name": "absent", "type": "categorical", "reference": 1}])
    assert out["dose"].tolist()[:2] == ["low", "medium"] and out["dose"].tolist()[3] == "high"
    assert pd.isna(out["dose"].iloc[2])  # missing stays missing, not a level called "nan"
    assert out["dose"].iloc[4] not in ("low", "medium", "high") and "4" in str(out["dose"].iloc[4])
    assert refs == {"dose": "medium", "arm": "b"}  # no labels: the reference as given
    assert out["arm"].tolist()[0] == "a" and pd.isna(out["arm"].iloc[1])
    assert out["weeks"].tolist() == [1, 2, 3, 4, 5] and "absent" not in out
    pd.testing.assert_frame_equal(data, before)  # the input is not changed


def test_labelled_levels_keeps_nullable_missing_values():
    data = pd.DataFrame({"dose": pd.array([1, 2, None], dtype="Int64")})
    out, _ = labelled_levels(data, CODED)
    assert out["dose"].iloc[:2].tolist() == ["low", "medium"] and pd.isna(out["dose"].iloc[2])


def test_moderator_table_is_one_regression_per_moderator():
    data = pd.DataFrame({"yi": [0.10, 0.32, 0.51, 0.22, 0.70, 0.41, 0.15, 0.62, 0.35],
                         "vi": [0.02, 0.03, 0.02, 0.04, 0.03, 0.02, 0.05, 0.02, 0.03],
                         "dose": [1, 2, 3, 1, 3, 2, 1, 3, np.nan],
                         "weeks": [4, 6, 8, 4, 10, 6, 5, 9, 7]})
    moderators = CODED + [{"name": "weeks", "type": "continuous", "label": "Weeks"}]
    table = moderator_table(data, moderators, method="REML", test="z", level=0.95)
    assert table["comparison"].tolist() == ["high vs medium", "low vs medium", "per unit increase"]
    assert table["label"].tolist() == ["dose", "dose", "Weeks"]
    # the same regressions fitted directly on the coded levels
    with pytest.warns(UserWarning, match="dropped"):
        dose = meta_regression(data, "dose", categorical=["dose"], reference={"dose": 2.0})
    weeks = meta_regression(data, "weeks")
    expected = [(dose, 2), (dose, 1), (weeks, 1)]  # high = 3, low = 1 (sorted by label in the table)
    for (_, row), (fit, i) in zip(table.iterrows(), expected):
        assert row["estimate"] == pytest.approx(fit.coef[i], rel=1e-10)
        assert (row["ci_lb"], row["ci_ub"], row["pval"]) == pytest.approx((fit.ci_lb[i], fit.ci_ub[i], fit.pval[i]),
                                                                          rel=1e-10)
        assert row["QMp"] == pytest.approx(fit.QMp, rel=1e-10) and row["k"] == fit.k
    assert table["k"].tolist() == [8, 8, 9]  # the row without a dose is left out of that regression only


def test_moderator_table_names_the_regressions_reference_level():
    data = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6, "weeks": [2, 10] * 3})
    table = moderator_table(data, [{"name": "weeks", "type": "categorical"}], method="REML", test="z", level=0.95)
    assert table["term"].tolist() == ["weeks[10]"] and table["comparison"].tolist() == ["10 vs 2"]


def test_moderator_table_says_why_a_regression_could_not_be_fitted():
    data = pd.DataFrame({"yi": [0.1, 0.3, 0.5], "vi": [0.02] * 3, "dose": [1, 2, 3]})
    table = moderator_table(data, CODED, method="REML", test="z", level=0.95)
    assert len(table) == 1 and table["note"].iloc[0] and np.isnan(table["estimate"].iloc[0])


def review_like(data: pd.DataFrame, study_id: str | None = "sid") -> SimpleNamespace:
    spec = {"data": {"study_id": study_id, "citation": []},
            "moderators": [{"name": "setting", "type": "categorical"}],
            "certainty": {"risk_of_bias_column": None}}
    return SimpleNamespace(spec=spec, data=data)


def test_study_level_data_combines_the_effects_of_each_study():
    data = pd.DataFrame({"sid": ["s1", "s1", "s2", "s3", "s3", "s3"],
                         "study": ["One (2001)", "One (2001)", "Two (2002)", "Three (2003)", "Three (2003)",
                                   "Three (2003)"],
                         "setting": ["school", "school", "home", "school", "home", "home"],
                         "yi": [0.2, 0.4, 0.1, 0.3, 0.5, 0.6], "vi": [0.04, 0.04, 0.02, 0.05, 0.03, 0.04]})
    combined, note = study_level_data(review_like(data))
    assert len(combined) == data["sid"].nunique() == 3
    expected = aggregate_effects(data, "sid", rho=WITHIN_STUDY_RHO)
    np.testing.assert_allclose(combined["yi"], expected["yi"], rtol=1e-12)
    np.testing.assert_allclose(combined["vi"], expected["vi"], rtol=1e-12)
    np.testing.assert_allclose(combined["sei"], np.sqrt(expected["vi"]), rtol=1e-12)
    # two effects with equal variance v and correlation rho: their mean, with variance v (1 + rho) / 2
    assert combined["yi"].iloc[0] == pytest.approx(0.3)
    assert combined["vi"].iloc[0] == pytest.approx(0.04 * (1 + WITHIN_STUDY_RHO) / 2)
    assert combined["yi"].iloc[1] == 0.1 and combined["vi"].iloc[1] == 0.02  # a single effect is kept
    assert combined["study"].tolist() == ["One (2001)", "Two (2002)", "Three (2003)"]
    assert combined["setting"].iloc[0] == "school" and pd.isna(combined["setting"].iloc[2])  # varies within s3
    assert "6 effect sizes come from 3 studies" in note


def test_study_level_data_labels_every_combined_study():
    data = pd.DataFrame({"sid": ["s1", "s1", "s2"], "study": ["One: arm 1", "One: arm 2", "Two: arm 1"],
                         "setting": ["x", "x", "y"], "yi": [0.2, 0.4, 0.1], "vi": [0.04, 0.04, 0.02]})
    combined, _ = study_level_data(review_like(data))
    assert combined["study"].notna().all() and combined["study"].is_unique


@pytest.mark.parametrize("study_id", ["sid", None])
def test_study_level_data_leaves_one_effect_per_study_alone(study_id):
    data = pd.DataFrame({"sid": ["s1", "s2"], "study": ["A", "B"], "setting": ["x", "y"],
                         "yi": [0.2, 0.4], "vi": [0.04, 0.03]})
    combined, note = study_level_data(review_like(data, study_id))
    assert note is None
    pd.testing.assert_frame_equal(combined, data)


def test_several_effects_per_study_are_pooled_per_study():
    # the illustrative review has several effect sizes per study; the Bayesian model is switched off
    a = analyse_review("implementation-strategies-illustrative", REPO, {"bayes.enabled": False})
    raw = load_review("implementation-strategies-illustrative", REPO).data
    n_studies = raw["study_id"].nunique()
    assert len(raw) > n_studies and a.meta.k == len(a.data) == n_studies
    combined = aggregate_effects(raw, "study_id", rho=WITHIN_STUDY_RHO)
    independent = meta_analysis(combined["yi"], combined["vi"], method="REML", test="knha")
    assert a.meta.estimate == pytest.approx(independent.estimate, rel=1e-8)
    assert a.meta.tau2 == pytest.approx(independent.tau2, rel=1e-8)
    assert any(f"{len(raw)} effect sizes come from {n_studies} studies" in m for m in a.diagnostics()["messages"])
    assert a.bayes is None and a.results()["headline"]["prob_gt_0"] is None
    assert a.results()["simulated"] is True


class FakeStrategyFit:
    """Four posterior draws of three strategies, with the interface of BayesResult that
    strategy_ranking reads (summary and prob_greater in the model's order of strategies)."""

    draws = pd.DataFrame({"C": [-0.3, -0.2, 0.1, -0.2], "A": [0.1, 0.2, 0.3, 0.4], "B": [-0.1, 0.5, 0.6, 0.2]})

    def summary(self, var_names):
        assert var_names == ["strategy_effect"]
        return pd.DataFrame({"mean": self.draws.mean(), "eti_lb": self.draws.min(), "eti_ub": self.draws.max()}
                            ).set_axis([f"strategy_effect[{s}]" for s in self.draws.columns])

    def prob_greater(self, threshold, param):
        return (self.draws > threshold).mean()

    def rank_probabilities(self, param, higher_is_better):
        best = self.draws.idxmax(axis=1) if higher_is_better else self.draws.idxmin(axis=1)
        first = best.value_counts(normalize=True).reindex(["B", "C", "A"], fill_value=0.0)
        return pd.DataFrame({1: first, 2: 1 - first})


def test_strategy_ranking_higher_is_better():
    table = strategy_ranking(FakeStrategyFit(), mid=0.15).set_index("strategy")
    assert table.index.tolist() == ["B", "A", "C"]  # by posterior mean, best first
    assert table["estimate"].tolist() == pytest.approx([0.3, 0.25, -0.15])
    assert table["prob_gt_0"].tolist() == [0.75, 1.0, 0.25]
    assert table["prob_gt_mid"].tolist() == [0.75, 0.75, 0.0]
    assert table["prob_best"].tolist() == [0.5, 0.5, 0.0]
    assert table.loc["C", ["ci_lb", "ci_ub"]].tolist() == [-0.3, 0.1]


def test_strategy_ranking_lower_is_better():
    table = strategy_ranking(FakeStrategyFit(), mid=0.15, higher_is_better=False).set_index("strategy")
    assert table.index.tolist() == ["C", "A", "B"]  # most negative first
    assert table["prob_gt_0"].tolist() == [0.75, 0.0, 0.25]  # P(effect < 0)
    assert table["prob_gt_mid"].tolist() == [0.75, 0.0, 0.0]  # P(effect < -0.15)
    assert table["prob_best"].tolist() == [1.0, 0.0, 0.0]
    assert "prob_gt_mid" not in strategy_ranking(FakeStrategyFit(), mid=None)  # no MID, no column


@pytest.mark.slow
def test_illustrative_review_runs_the_strategy_model():
    # MCMC: 30 s to 2 minutes even with few draws (nutpie compiles the model first)
    a = analyse_review("implementation-strategies-illustrative", REPO,
                       {"bayes.draws": 100, "bayes.tune": 100, "bayes.chains": 2})
    assert a.bayes is not None and a.bayes_error is None
    strategies = a.review.data[a.spec.strategy.column].unique()
    ranking = strategy_ranking(a.bayes, mid=a.spec.decision.mid)
    assert sorted(ranking["strategy"]) == sorted(strategies)
    assert ranking["estimate"].is_monotonic_decreasing
    assert ranking["prob_best"].sum() == pytest.approx(1.0)
    results = a.results()
    json.dumps(results, allow_nan=False)
    assert 0 <= results["headline"]["prob_gt_0"] <= 1 and results["simulated"] is True
