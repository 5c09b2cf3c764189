"""The sensitivity multiverse: every specification equals its own fit, the grid is what the YAML says,
and the page's sentence says what the table says."""
from __future__ import annotations

import itertools
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthesis import meta_analysis
from synthesis.analysis.review_analysis import frequentist_analysis
from synthesis.analysis.sensitivity import add_sensitivity, robustness_sentence
from synthesis.errors import ReviewError
from synthesis.meta.core import METHODS
from synthesis.meta.effects import effect_sizes
from synthesis.meta.multiverse import MIN_BIAS_STUDIES, _outlier_mask, fit_specification, multiverse_analysis
from synthesis.meta.selection import selection_model
from synthesis.meta.small_study import trim_and_fill
from synthesis.numbers import percent
from synthesis.review.loader import load_review

REPO = Path(__file__).resolve().parents[1]
BCG = pd.read_csv(REPO / "tests" / "data" / "metafor" / "bcg_vaccine.csv")
BCG["study"] = BCG["author"] + " (" + BCG["year"].astype(str) + ")"
NUMBERS = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2")


def _keep(row: pd.Series, rules: dict[str, np.ndarray], outliers: np.ndarray, labels: list[str]) -> np.ndarray:
    keep = np.ones(len(labels), dtype=bool)
    for name, mask in rules.items():
        if row[name] != "all":
            keep &= mask
    if row["outliers"] == "removed":
        keep &= outliers
    if row["left_out"] != "none":
        keep[labels.index(row["left_out"])] = False
    return keep


def _separate_fit(y, v, keep, row) -> dict[str, float]:
    """The specification fitted on its own with meta_analysis (and trim_and_fill / selection_model)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = meta_analysis(y[keep], v[keep], method=row["method"], test=row["test"])
        if row["bias"] == "trimfill":
            fit = trim_and_fill(fit).fit
        elif row["bias"] == "selection":
            fit = selection_model(fit)
    return {name: getattr(fit, name) for name in NUMBERS}


def test_a_random_sample_of_specifications_equals_separate_fits(seed):
    """Exclusions x outliers x leave-one-out x 3 measures x 9 estimators x 2 tests, vs meta_analysis at 1e-10."""
    print(f"seed {seed}")
    rng = np.random.default_rng(seed)
    cells = dict(ai="tpos", bi="tneg", ci="cpos", di="cneg")
    sets = {m: tuple(effect_sizes(BCG, m, append=False, **cells)[c].to_numpy(float) for c in ("yi", "vi"))
            for m in ("OR", "RR", "RD")}
    k = len(BCG)
    rules = {"allocation": BCG["alloc"].eq("random").to_numpy(), "era": (BCG["year"] >= 1940).to_numpy()}
    labels = BCG["study"].tolist()
    result = multiverse_analysis(sets, labels=labels, exclusions={name: ("all", "excluded", mask)
                                                                   for name, mask in rules.items()},
                                 leave_one_out=True)
    table = result.table
    assert result.size == 3 * 2 * 2 * 2 * (k + 1) * 9 * 2 == len(table)
    outliers = {m: _outlier_mask(*sets[m], "REML", 0.95) for m in sets}
    sample = table.iloc[rng.choice(len(table), 60, replace=False)]
    checked = 0
    for _, row in sample.iterrows():
        y, v = sets[row["measure"]]
        keep = _keep(row, rules, outliers[row["measure"]], labels)
        assert row["k"] == keep.sum()
        if row["status"] != "ok":
            assert row["bias"] != "none" and keep.sum() < MIN_BIAS_STUDIES
            continue
        expected = _separate_fit(y, v, keep, row)
        for name in NUMBERS:
            assert row[name] == pytest.approx(expected[name], abs=1e-10, rel=1e-10), (row.to_dict(), name)
        checked += 1
    assert checked > 30


def test_trim_and_fill_specifications_equal_trim_and_fill(seed):
    rng = np.random.default_rng(seed)
    y, v = BCG["yi"].to_numpy(float), BCG["vi"].to_numpy(float)
    rules = {"allocation": BCG["alloc"].eq("random").to_numpy()}
    result = multiverse_analysis({"logRR": (y, v)}, exclusions={"allocation": ("all", "excluded", rules["allocation"])},
                                 methods=rng.choice(METHODS, 3, replace=False), bias=("trimfill",))
    outliers = _outlier_mask(y, v, "REML", 0.95)
    for _, row in result.table.iterrows():
        keep = _keep(row.reindex([*row.index, "left_out"]).fillna("none"), rules, outliers, BCG["study"].tolist())
        if row["status"] != "ok":
            assert keep.sum() < MIN_BIAS_STUDIES and "fewer than 10" in row["status"]
            continue
        expected = _separate_fit(y, v, keep, row)
        for name in NUMBERS:
            assert row[name] == pytest.approx(expected[name], abs=1e-10, rel=1e-10)


@pytest.mark.slow
def test_the_selection_model_dimension_equals_selection_model():
    y, v = BCG["yi"].to_numpy(float), BCG["vi"].to_numpy(float)
    result = multiverse_analysis({"logRR": (y, v)}, methods=("EE", "REML"), tests=("z", "knha"), outliers=False,
                                 bias=("selection",))
    assert result.size == 4
    for _, row in result.table.iterrows():
        expected = _separate_fit(y, v, np.ones(y.size, dtype=bool), row)
        for name in NUMBERS:
            assert row[name] == pytest.approx(expected[name], abs=1e-10, rel=1e-10)


def test_outliers_above_the_refit_cap_use_standardized_residuals(monkeypatch):
    """Above OUTLIER_REFIT_CAP studies: |e_i| / sqrt((v_i + tau²)(1 - h_i)) with metafor's hat values
    (checked against metafor by the influence tests) instead of k deleted REML refits; a note says so."""
    import synthesis.meta.multiverse as mv
    from synthesis.meta.case_diagnostics import influence

    y, v = BCG["yi"].to_numpy(float), BCG["vi"].to_numpy(float)
    monkeypatch.setattr(mv, "OUTLIER_REFIT_CAP", 5)
    fit = meta_analysis(BCG, method="REML")
    hat = influence(fit).to_frame()["hat"].to_numpy(float)
    residual = (y - fit.estimate) / np.sqrt((v + fit.tau2) * (1 - hat))
    expected = np.abs(residual) <= 0.6744897501960817  # at level 0.5, so that the rule removes some studies
    assert 0 < (~expected).sum() < y.size
    np.testing.assert_array_equal(_outlier_mask(y, v, "REML", 0.5), expected)
    notes = multiverse_analysis({"logRR": (y, v)}, methods=("REML",), tests=("z",)).notes
    assert any("standardized residuals rather than by refitting" in note for note in notes)
    monkeypatch.setattr(mv, "OUTLIER_REFIT_CAP", 500)
    assert not any("standardized" in note for note in multiverse_analysis({"logRR": (y, v)}, methods=("REML",)).notes)


def test_fit_specification_is_the_loop_the_grid_replaces():
    y, v = BCG["yi"].to_numpy(float), BCG["vi"].to_numpy(float)
    table = multiverse_analysis({"logRR": (y, v)}, outliers=False).table
    for _, row in table.iterrows():
        out = fit_specification(y, v, method=row["method"], test=row["test"])
        assert [out[n] for n in NUMBERS] == pytest.approx([row[n] for n in NUMBERS], abs=1e-10, rel=1e-10)


def test_the_grid_is_exactly_what_the_yaml_says():
    overrides = {"sensitivity.methods": ["dl", "REML", "pm"], "sensitivity.tests": ["z"],
                 "sensitivity.small_studies_below": 60, "sensitivity.leave_one_out": True,
                 "sensitivity.bias": ["none"]}
    review = load_review("writing-to-learn", REPO, overrides)
    analysis = frequentist_analysis(review)
    add_sensitivity(analysis)
    mv = analysis.multiverse
    labels = analysis.data["study"].astype(str).tolist()
    assert mv.dimensions == {"measure": ["SMD"], "small_studies": ["all sizes", "n ≥ 60"],
                             "outliers": ["kept", "removed"], "left_out": ["none", *labels],
                             "method": ["DL", "REML", "PM"], "test": ["z"], "bias": ["none"]}
    assert mv.size == 2 * 2 * (len(labels) + 1) * 3
    expected = list(itertools.product(*mv.dimensions.values()))
    assert list(mv.table[list(mv.dimensions)].itertuples(index=False, name=None)) == expected


def test_default_grid_and_two_by_two_measures():
    review = load_review("cbt-offenders-at-scale", REPO)
    sens = review.spec.sensitivity
    assert sens.methods == list(METHODS) and sens.tests == ["z", "knha"] and sens.bias == ["none", "trimfill"]
    analysis = frequentist_analysis(review)
    add_sensitivity(analysis)
    assert analysis.multiverse.dimensions["measure"] == ["OR", "RR", "RD"]
    assert analysis.multiverse.size == 3 * 2 * 9 * 2 * 2


def test_several_effects_per_study_add_the_dependence_models():
    """CHE at each rho and the three-level model on every effect size, under each exclusion rule,
    each equal to its own multilevel_meta_analysis fit (CR2) at 1e-10; the grid's size as implied."""
    from synthesis.meta.multilevel import multilevel_meta_analysis

    overrides = {"sensitivity.methods": ["DL", "REML"], "sensitivity.rho": [0.3, 0.7],
                 "sensitivity.randomised": {"column": "scale", "values": ["research"]}}
    review = load_review("implementation-strategies-illustrative", REPO, overrides)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = frequentist_analysis(review)
        add_sensitivity(analysis)
    mv = analysis.multiverse
    assert mv.dimensions["dependence"] == ["aggregate", "che", "multilevel"]
    assert mv.dimensions["rho"] == ["0.3", "0.7", "0"] and mv.dimensions["test"] == ["z", "knha", "CR2"]
    table = mv.table
    grid = table[table["dependence"] == "aggregate"]
    assert len(grid) == 2 * 2 * 2 * 2 * 2 * 2  # rho x design x outliers x methods x tests x bias
    models = table[table["dependence"] != "aggregate"]
    assert len(models) == 2 * 3  # design rule x (CHE at two rho + three-level)
    data = review.data
    for _, row in models.iterrows():
        rows = data[data["scale"] == "research"] if row["design"] == "randomised only" else data
        fit = multilevel_meta_analysis(rows, study="study_id", structure="che", rho=float(row["rho"]))
        assert row["k"] == fit.n_studies and row["test"] == "CR2" and row["outliers"] == "kept"
        for ours, theirs in (("estimate", fit.estimate), ("se", fit.se[0]), ("ci_lb", fit.ci_lb[0]),
                             ("ci_ub", fit.ci_ub[0]), ("pval", fit.pval[0]), ("tau2", sum(fit.sigma2))):
            assert row[ours] == pytest.approx(theirs, rel=1e-10, abs=1e-12)
    # the robustness of the answer is judged against the headline's working model (CHE)
    assert analysis.robustness is not None and analysis.headline()["model"].startswith("correlated")


def test_the_exact_bayesian_model_under_each_prior_equals_its_own_posterior():
    from synthesis.analysis.review_analysis import bayesian_analysis
    from synthesis.bayes.exact import random_effects_exact

    review = load_review("writing-to-learn", REPO, {"sensitivity.methods": ["REML"], "sensitivity.tests": ["z"],
                                                    "sensitivity.bias": ["none"], "sensitivity.outliers": False})
    analysis = frequentist_analysis(review)
    analysis.bayes, _ = bayesian_analysis(review, analysis.meta)
    add_sensitivity(analysis)
    table = analysis.multiverse.table
    bayes = table[table["test"] == "posterior"]
    spec = review.spec.bayes
    assert spec.tau_prior == "half_normal" and len(table) == 1 + 4
    assert bayes["method"].tolist() == ["Bayes: as specified", "Bayes: vague mean", "Bayes: heterogeneity halved",
                                        "Bayes: heterogeneity doubled"]
    for (_, row), (mu_sd, tau_scale) in zip(bayes.iterrows(), [(1, 1), (10, 1), (1, 0.5), (1, 2)]):
        post = random_effects_exact(analysis.meta.yi, analysis.meta.vi, mu_sd=spec.mu_sd * mu_sd,
                                    tau_scale=spec.tau_scale * tau_scale).summary()
        assert [row["estimate"], row["ci_lb"], row["ci_ub"], row["tau2"]] == pytest.approx(
            [post.loc["mu", "mean"], post.loc["mu", "ci_lb"], post.loc["mu", "ci_ub"], post.loc["tau2", "mean"]],
            rel=1e-10)
    assert any("Bayesian model" in note for note in analysis.multiverse.notes)


def test_the_sentence_share_equals_the_table():
    review = load_review("practice-facilitation", REPO, {"sensitivity.methods": ["EE", "DL", "REML"]})
    analysis = frequentist_analysis(review)
    add_sensitivity(analysis)
    table = analysis.multiverse.fitted
    meta = analysis.meta
    clear = meta.ci_lb > 0 or meta.ci_ub < 0
    same = (np.sign(table["estimate"]) == np.sign(meta.estimate)) & (((table["ci_lb"] > 0) | (table["ci_ub"] < 0))
                                                                     == clear)
    sentence = robustness_sentence(analysis)
    share = re.match(r"In (\d+%) of ([\d,]+) reasonable ways", sentence)
    assert share is not None, sentence
    assert share.group(1) == percent(100 * same.mean()) and share.group(2) == f"{len(table):,}"
    assert analysis.results()["sensitivity"]["share_same"] == pytest.approx(same.mean())


@pytest.mark.parametrize("review_id, mid", [("practice-facilitation", 0.35), ("writing-to-learn", None)])
def test_the_wording_share_equals_the_answers_each_specification_would_get(review_id, mid):
    """Each specification's answer by the public rules (rate_imprecision, plain_language_answer),
    the other GRADE domains as the review rated them, compared with the page's answer."""
    from synthesis.analysis import analyse_review
    from synthesis.grading.certainty import rate_imprecision
    from synthesis.grading.rating import LEVELS
    from synthesis.grading.wording import direction_of_effect, is_plural, plain_language_answer

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = analyse_review(review_id, REPO, {"sensitivity.methods": ["EE", "DL", "REML", "PM"]}
                           | ({"decision.mid": mid} if mid else {}))
    spec, certainty = a.spec, a.certainty
    n_column = spec.certainty.sample_size_column
    total_n = float(pd.to_numeric(a.review.data[n_column]).sum()) if n_column else None
    others = sum(d.levels for d in certainty.downgrades if d.domain != "imprecision")
    table = a.multiverse.fitted
    same = []
    for _, row in table[table["measure"] == spec.effect.measure].iterrows():
        imprecision = rate_imprecision(row["ci_lb"], row["ci_ub"], estimate=row["estimate"], mid=spec.decision.mid,
                                       direction=spec.effect.direction, total_n=total_n).levels
        level = LEVELS[min(LEVELS.index(certainty.start) + others + imprecision, 3)]
        effect = direction_of_effect(row["estimate"], mid=spec.decision.mid)
        answer = plain_language_answer(level, spec.question.intervention, spec.question.outcome, effect,
                                       beneficial=(effect == "increase") == (spec.effect.direction == "higher_is_better"),
                                       plural=is_plural(spec.question.intervention, spec.question.plural))
        same.append(answer == a.answer)
    assert a.robustness.share_wording == pytest.approx(np.mean(same))
    assert mid is None or 0 < np.mean(same) < 1  # an MID of 0.35: some analyses would read "may improve"
    assert f"stays the same in {percent(100 * np.mean(same))}" in robustness_sentence(a)


def test_a_missing_column_is_one_clear_line():
    """Refused when the review is read (so ``validate`` says it too), before any analysis."""
    with pytest.raises(ReviewError, match=r"column 'desgn' \(named in review.yaml as sensitivity.randomised.column\) "
                                          r"not found; did you mean 'design'\?"):
        load_review("practice-facilitation", REPO, {"sensitivity.randomised": {"column": "desgn", "values": ["rct"]}})


def test_an_unknown_choice_is_refused_by_the_schema():
    with pytest.raises(ReviewError, match="sensitivity"):
        load_review("practice-facilitation", REPO, {"sensitivity.bias": ["none", "fill"]})


def test_the_page_section_shows_the_sentence_and_the_curve():
    from synthesis.report.robustness_section import robustness

    review = load_review("practice-facilitation", REPO, {"sensitivity.methods": ["DL", "REML"],
                                                         "sensitivity.bias": ["none"],
                                                         "sensitivity.randomised": {"column": "design",
                                                                                    "values": ["rct", "crct"]}})
    analysis = frequentist_analysis(review)
    add_sensitivity(analysis)
    html = str(robustness(analysis))
    assert "reasonable ways of analysing these studies" in html and 'role="img"' in html
    assert "randomised only" not in html or "Design" in html
    off = frequentist_analysis(load_review("practice-facilitation", REPO, {"sensitivity.enabled": False}))
    add_sensitivity(off)
    assert str(robustness(off)) == ""


def test_diff_reports_a_change_in_robustness():
    from synthesis.report.changes import change_summary, diff_manifests

    old = {"results": {"answer": "x", "certainty": "low", "sensitivity": {"share_same": 0.94, "fitted": 1296}}}
    new = {"results": {"answer": "x", "certainty": "low", "sensitivity": {"share_same": 0.71, "fitted": 1296}}}
    lines = change_summary(old, new)
    assert "robustness CHANGED: same answer in 94% of 1,296 analyses -> same answer in 71% of 1,296 analyses" in lines
    table = diff_manifests(old, new)
    assert table[table["item"] == "sensitivity.share_same"][["before", "after"]].values.tolist() == [["94%", "71%"]]
    assert not any(line.startswith("robustness") for line in change_summary({"results": {}}, {"results": {}}))
