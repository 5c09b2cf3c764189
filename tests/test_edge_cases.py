"""Edge cases of issue 11 (items 6 and 7): each one found by testing, each checked against metafor 3.8.

The metafor numbers below were read from R 4.x with metafor 3.8, ``control=list(threshold=1e-12,
maxiter=1000)``; the R call is quoted above each test. The review-level tests build small
reviews in a temporary project and check that ``synthesis validate`` and ``synthesis run``
agree: both refuse with the same one-line message naming the file and what to do, or the
analysis runs.
"""
from __future__ import annotations

import textwrap
import time
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from synthesis.analysis import CASE_DIAGNOSTICS_CAP, analyse_review, fitted_rows
from synthesis.bayes.exact import random_effects_exact
from synthesis.cli.app import main
from synthesis.errors import ReviewError
from synthesis.grading.certainty import rate_risk_of_bias
from synthesis.meta import case_diagnostics
from synthesis.meta.case_diagnostics import influence, leave_one_out
from synthesis.meta.checks import VARIANCE_RATIO_LIMIT, pooling_problems
from synthesis.meta.pooled import meta_analysis
from synthesis.meta.regression import fit_regression, subgroup_analysis

METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")


def quiet(function, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return function(*args, **kwargs)


# ---------------------------------------------------------------- (a) identical effects under knha
@pytest.mark.parametrize("method", METHODS)
def test_identical_effects_knha_gives_se_zero_as_metafor(method):
    # rma(yi=c(0.3,0.3,0.3), vi=c(0.01,0.02,0.03), method=m, test="knha"): b 0.3, se 0, zval Inf,
    # pval 0, ci 0.3 0.3, tau2 0, I2 0, H2 1 (0 for EE: QE/df), QE 0, QEp 1, df 2; predict: pi 0.3 0.3
    fit = quiet(meta_analysis, [0.3, 0.3, 0.3], [0.01, 0.02, 0.03], method=method, test="knha")
    assert (fit.estimate, fit.se, fit.stat, fit.pval) == (pytest.approx(0.3), 0.0, np.inf, 0.0)
    assert (fit.ci_lb, fit.ci_ub) == (pytest.approx(0.3), pytest.approx(0.3))
    assert (fit.tau2, fit.I2, fit.QE, fit.QEp, fit.df) == (0.0, 0.0, 0.0, 1.0, 2.0)
    assert fit.H2 == (0.0 if method == "EE" else 1.0)
    if method == "EE":  # metafor's predict gives no prediction interval for an EE model
        assert np.isnan(fit.pi_lb) and np.isnan(fit.pi_ub)
    else:
        assert (fit.pi_lb, fit.pi_ub) == (pytest.approx(0.3), pytest.approx(0.3))
    assert fit.to_dict()["tval"] is None  # infinite: not a JSON number
    repr(fit)


def test_identical_zero_effects_knha_give_nan_statistic_as_metafor():
    # rma(yi=c(0,0,0), vi=c(0.01,0.01,0.01), test="knha"): estimate 0, se 0, tval NA, pval NA, ci 0 0
    fit = meta_analysis([0.0, 0.0, 0.0], [0.01, 0.01, 0.01], test="knha")
    assert fit.se == 0.0 and np.isnan(fit.stat) and np.isnan(fit.pval)
    assert (fit.ci_lb, fit.ci_ub, fit.pi_lb, fit.pi_ub) == (0.0, 0.0, 0.0, 0.0)


# ---------------------------------------------------------------- (b), (c) validate and run agree
REVIEW = """\
id: {rid}
title: Edge case
question:
  population: pupils
  intervention: tutoring
  comparison: no tutoring
  outcome: reading
  plain_question: Does tutoring help?
effect:
  measure: SMD
  columns: {{yi: smd, sei: se}}
data:
  file: studies.csv
  label_template: "{{author}} ({{year}})"
seed: 1
provenance: {{citation: test, source: test, licence: CC0, simulated: true}}
certainty: {{risk_of_bias_column: rob}}
analysis: {{test: {test}}}
"""


def write_review(root, rid, rows, test="z"):
    folder = root / "reviews" / rid
    folder.mkdir(parents=True)
    (folder / "review.yaml").write_text(REVIEW.format(rid=rid, test=test))
    lines = ["author,year,smd,se,rob"] + [f"A{i},{2000 + i},{y},{s},{r}" for i, (y, s, r) in enumerate(rows)]
    (folder / "studies.csv").write_text("\n".join(lines) + "\n")


REFUSED = {
    "one-study": ([(0.3, 0.1, "low")], "z", "studies.csv: only 1 study has an effect size and a variance (row 1), "
                  "and a review pools at least 2; add the other studies"),
    "all-missing": ([("", 0.1, "low"), ("", 0.2, "low")], "z", "studies.csv: no row has both an effect size and a "
                    "sampling variance, so there is nothing to analyse; fill in the effect-size columns"),
    "identical-knha": ([(0.3, 0.1, "low")] * 3, "knha", "studies.csv: all 3 effect sizes are identical (0.3), so "
                       "the Knapp-Hartung (knha) standard error is 0 and the confidence interval has no width; "
                       "set analysis.test: z in review.yaml"),
    "tiny-se": ([(0.3, 1e-300, "low"), (0.2, 0.1, "low"), (0.5, 0.2, "low")], "z",
                "studies.csv, row 1 (line 2 of the file), column 'se': sampling variance 0 (a standard error this "
                "small squares to 0) is more than 1e+07 times smaller than the median of the studies (0.01)"),
}


@pytest.mark.parametrize("rid", sorted(REFUSED))
def test_validate_and_run_refuse_the_same_reviews_with_one_line(rid, tmp_path, capsys):
    rows, test, expected = REFUSED[rid]
    write_review(tmp_path, rid, rows, test)
    assert main(["validate", rid, "--project", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    problems = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    assert len(problems) == 1 and f"reviews/{rid}/{expected}" in problems[0], err
    assert "Traceback" not in err
    # `synthesis run` loads the review through the same checks before executing anything
    assert main(["run", rid, "--project", str(tmp_path)]) == 1
    ran = capsys.readouterr()
    assert problems[0] in ran.out + ran.err
    with pytest.raises(ReviewError) as refused:
        analyse_review(rid, tmp_path)
    assert str(refused.value) == problems[0]


def test_identical_effects_under_z_validate_and_analyse(tmp_path, capsys):
    write_review(tmp_path, "identical-z", [(0.3, 0.1, "low")] * 3, "z")
    assert main(["validate", "identical-z", "--project", str(tmp_path)]) == 0
    analysis = quiet(analyse_review, "identical-z", tmp_path)
    assert analysis.meta.estimate == pytest.approx(0.3) and analysis.meta.tau2 == 0.0
    assert analysis.answer and analysis.results()["headline"]["k"] == 3


def test_variance_bound_is_relative_and_the_engine_warns_as_metafor():
    scale = 1e-6  # the same data in other units: no problem
    assert pooling_problems([0.1, 0.2, 0.3], np.array([0.01, 0.02, 0.03]) * scale) == []
    huge = pooling_problems([0.1, 0.2, 0.3], [0.01, 0.02, 0.02 * VARIANCE_RATIO_LIMIT])
    assert [p.rows for p in huge] == [(2,)] and "larger than the median" in huge[0].message
    # metafor: "Ratio of largest to smallest sampling variance extremely large." from 1 / evtol = 1e7
    with pytest.warns(UserWarning, match="may not be stable"):
        meta_analysis([0.1, 0.2, 0.3], [1e-9, 0.02, 0.03])


# ---------------------------------------------------------------- (d) leave-one-out, knha, k = 2
def test_leave_one_out_knha_k2_uses_z_with_a_warning_as_metafor():
    # leave1out(rma(c(.1,.5), c(.02,.03), test="knha")): estimate 0.5 / 0.1, se 0.1732 / 0.1414,
    # "tval" 2.8868 / 0.7071, pval 0.0039 / 0.4795 (z-based), ci 0.1605 0.8395 / -0.1772 0.3772
    fit = quiet(meta_analysis, [0.1, 0.5], [0.02, 0.03], test="knha")
    with pytest.warns(UserWarning, match="z test is used"):
        table = leave_one_out(fit).to_frame()
    np.testing.assert_allclose(table["estimate"], [0.5, 0.1])
    np.testing.assert_allclose(table["se"], np.sqrt([0.03, 0.02]))
    np.testing.assert_allclose(table["pval"], 2 * stats.norm.sf(np.array([0.5, 0.1]) / np.sqrt([0.03, 0.02])))
    np.testing.assert_allclose(table["ci_lb"], [0.1605, -0.1772], atol=5e-5)
    assert "tval" in table.columns  # metafor keeps the name


# ---------------------------------------------------------------- (e) one-study subgroup
def test_one_study_subgroup_as_metafor_subset():
    # rma(yi, vi, data=d, subset=g=="b", test="knha"): method REML, tau2 0, test "z" since k = 1:
    # estimate 0.2, se 0.2, pval 0.3173, ci -0.1920 0.5920, pi = ci
    d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2], "vi": [0.02, 0.03, 0.02, 0.04], "g": list("aaab")})
    res = subgroup_analysis(d, "g", test="knha")
    b = res.table.loc["b"]
    assert res.fits["b"].method == "REML" and res.fits["b"].test == "z"
    assert (b["estimate"], b["se"], b["tau2"]) == (pytest.approx(0.2), pytest.approx(0.2), 0.0)
    assert b["pval"] == pytest.approx(0.3173, abs=5e-5)
    assert (b["ci_lb"], b["pi_lb"], b["pi_ub"]) == (pytest.approx(0.2 - stats.norm.ppf(0.975) * 0.2), pytest.approx(b["ci_lb"]),
                                                     pytest.approx(b["ci_ub"]))
    assert len(res.notes) == 1 and res.notes[0].startswith("g = b: one study") and "z test" in res.notes[0]
    assert res.to_dict()["notes"] == res.notes


# ---------------------------------------------------------------- (f) risk of bias on the fitted rows
def test_risk_of_bias_follows_the_rows_fitted(tmp_path):
    rows = [(0.3, 0.1, "low"), ("", 0.1, "high"), (0.5, 0.2, "low"), (0.2, 0.15, "high")]
    write_review(tmp_path, "rob", rows)
    analysis = quiet(analyse_review, "rob", tmp_path)
    assert analysis.meta.k == 3
    assert fitted_rows(analysis.data, analysis.meta)["rob"].tolist() == ["low", "low", "high"]
    rob = next(d for d in analysis.certainty.downgrades if d.domain == "risk_of_bias")
    expected = rate_risk_of_bias(["low", "low", "high"], analysis.meta.weights)
    assert (rob.levels, rob.reason) == (expected.levels, expected.reason)


# ---------------------------------------------------------------- (g) exact shrinkage with dropped rows
def test_exact_shrinkage_with_dropped_rows():
    res = quiet(random_effects_exact, [0.1, None, 0.3, 0.5], [0.01, 0.02, 0.03, 0.02], labels=list("abcd"))
    table = res.shrinkage()
    assert table["study"].tolist() == ["a", "c", "d"] and table["yi"].tolist() == [0.1, 0.3, 0.5]
    assert quiet(random_effects_exact, [0.1, None, 0.3], [0.01, 0.02, 0.03]).shrinkage()["study"].tolist() == ["1", "3"]


# ---------------------------------------------------------------- item 7: large k
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("test", ["z", "knha"])
def test_vectorised_pooled_influence_equals_the_refit_loop(method, test):
    rng = np.random.default_rng(11)
    y, v = rng.normal(0.3, 0.4, 9), rng.uniform(0.01, 0.2, 9)
    pooled = quiet(meta_analysis, y, v, method=method, test=test)
    looped = quiet(fit_regression, y, v, np.ones((9, 1)), ["intrcpt"], method=method, test=test, level=0.95,
                   labels=pooled.labels, kept=np.arange(9))
    a, b = influence(pooled).to_frame(), quiet(influence, looped).to_frame()
    b = b.rename(columns={"dfbetas_intrcpt": "dfbetas"})
    pd.testing.assert_frame_equal(a, b[a.columns], rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("method", ["REML", "PM", "SJ", "DL"])
def test_leave_one_out_in_blocks_equals_one_block(method, monkeypatch):
    rng = np.random.default_rng(5)
    y, v = rng.normal(0.3, 0.4, 40), rng.uniform(0.01, 0.2, 40)
    fit = meta_analysis(y, v, method=method)
    whole = leave_one_out(fit).to_frame()
    monkeypatch.setattr(case_diagnostics, "BLOCK_ELEMENTS", 7 * 40)  # blocks of 7 rows
    pd.testing.assert_frame_equal(leave_one_out(fit).to_frame(), whole, rtol=1e-10)


def test_case_diagnostics_at_large_k_are_quick():
    rng = np.random.default_rng(3)
    k = 3_000
    y, v = rng.normal(0.3, 0.3, k), rng.uniform(0.01, 0.2, k)
    fit = meta_analysis(y, v, method="DL")  # the moment estimators need O(k) per deletion fit set
    start = time.perf_counter()
    loo, infl = leave_one_out(fit).to_frame(), influence(fit).to_frame()
    assert len(loo) == len(infl) == k
    assert time.perf_counter() - start < 20  # generous: two busy cores; the k refits at their own tau² are O(k²) work in blocks


def test_analysis_caps_case_diagnostics_with_a_note(tmp_path):
    rows = [(round(0.1 * i, 2), 0.1 + 0.01 * i, "low") for i in range(12)]
    write_review(tmp_path, "capped", rows)
    capped = quiet(analyse_review, "capped", tmp_path, case_diagnostics_limit=10)
    assert capped.influence is None and capped.leave_one_out is None
    assert capped.begg is not None and capped.begg.exact  # Begg is O(k log k) above EXACT_RANK_K: never capped
    assert any("were not computed" in note and "case_diagnostics_limit=None" in note for note in capped.notes)
    forced = quiet(analyse_review, "capped", tmp_path, case_diagnostics_limit=None)
    assert len(forced.influence) == 12 and forced.begg is not None
    assert not any("were not computed" in note for note in forced.notes)
    assert CASE_DIAGNOSTICS_CAP >= 100


def test_review_message_is_one_line_per_problem():
    text = textwrap.dedent(pooling_problems([0.3], [0.01], min_studies=2)[0].message)
    assert "\n" not in text
