"""Pooled models: invariants (hypothesis), convergence, bad input, small k, result objects."""
from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from synthesis import meta_analysis, meta_regression, subgroup_analysis
from synthesis.meta import core as _rma
from synthesis.errors import DataError

METHODS = ["EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"]


@st.composite
def studies(draw, min_k=3, max_k=25):
    k = draw(st.integers(min_k, max_k))
    yi = draw(st.lists(st.floats(-3, 3, allow_nan=False), min_size=k, max_size=k))
    vi = draw(st.lists(st.floats(0.005, 2.0, allow_nan=False), min_size=k, max_size=k))
    return np.array(yi), np.array(vi)


PROPERTY = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(data=studies(), method=st.sampled_from(METHODS), seed=st.integers(0, 2**16))
def test_invariant_to_study_order(data, method, seed):
    yi, vi = data
    perm = np.random.default_rng(seed).permutation(yi.size)
    a, b = meta_analysis(yi, vi, method=method), meta_analysis(yi[perm], vi[perm], method=method)
    assert b.estimate == pytest.approx(a.estimate, rel=1e-8, abs=1e-10)
    assert b.tau2 == pytest.approx(a.tau2, rel=1e-7, abs=1e-10)


@PROPERTY
@given(data=studies(), method=st.sampled_from(METHODS), shift=st.floats(-5, 5))
def test_shift_moves_estimate_not_tau2(data, method, shift):
    yi, vi = data
    a, b = meta_analysis(yi, vi, method=method), meta_analysis(yi + shift, vi, method=method)
    assert b.estimate == pytest.approx(a.estimate + shift, rel=1e-8, abs=1e-8)
    assert b.tau2 == pytest.approx(a.tau2, rel=1e-6, abs=1e-9)


@PROPERTY
@given(data=studies(), method=st.sampled_from(METHODS), scale=st.floats(0.2, 5))
def test_scaling(data, method, scale):
    yi, vi = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # oscillating Fisher scoring -> Brent
        a, b = meta_analysis(yi, vi, method=method), meta_analysis(yi * scale, vi * scale**2, method=method)
    assert b.tau2 == pytest.approx(a.tau2 * scale**2, rel=1e-6, abs=1e-9)
    assert b.estimate == pytest.approx(a.estimate * scale, rel=1e-7, abs=1e-9)


@PROPERTY
@given(data=studies(), method=st.sampled_from(METHODS))
def test_ranges(data, method):
    fit = meta_analysis(*data, method=method)
    assert fit.tau2 >= 0
    assert 0 <= fit.I2 <= 100
    if method != "EE":  # under EE, H² = Q / (k - 1) can be below 1, as in metafor
        assert fit.H2 >= 1 - 1e-12
    assert fit.weights.sum() == pytest.approx(100)
    assert fit.ci_lb <= fit.estimate <= fit.ci_ub


@PROPERTY
@given(data=studies())
def test_equal_effects_is_inverse_variance_mean(data):
    yi, vi = data
    fit = meta_analysis(yi, vi, method="EE")
    w = 1 / vi
    assert fit.estimate == pytest.approx(np.sum(w * yi) / w.sum(), rel=1e-10, abs=1e-12)
    assert fit.se == pytest.approx(np.sqrt(1 / w.sum()), rel=1e-10)


def reml_score(tau2, y, v):
    X = np.ones((y.size, 1))
    fit = _rma.wls(y, v, X, tau2)
    Py = fit.w * fit.resid
    return float(Py @ Py - _rma._trace_P(fit, X))


@PROPERTY
@given(data=studies(min_k=4))
def test_reml_and_pm_solve_their_estimating_equations(data):
    y, v = data
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # oscillating Fisher scoring -> Brent
        fit = meta_analysis(y, v, method="REML")
        eb = meta_analysis(y, v, method="EB")
    if fit.tau2 > 1e-8:
        # score of the restricted likelihood is zero at the estimate, relative to its scale
        assert abs(reml_score(fit.tau2, y, v)) <= 1e-10 * np.sum(1 / (v + fit.tau2)) ** 1
    else:
        assert reml_score(0.0, y, v) <= 1e-10
    pm = meta_analysis(y, v, method="PM")
    Q = _rma.wls(y, v, np.ones((y.size, 1)), pm.tau2).Q
    if pm.tau2 > 0:
        assert Q == pytest.approx(y.size - 1, abs=1e-10)
    assert eb.tau2 == pytest.approx(pm.tau2, rel=1e-8, abs=1e-12)  # same estimating equation


def test_non_convergence_warns_and_falls_back(monkeypatch):
    monkeypatch.setattr(_rma, "MAX_ITER", 1)
    y = np.array([0.1, 0.9, -0.4, 0.6, 1.2, 0.3])
    v = np.array([0.02, 0.05, 0.03, 0.04, 0.06, 0.01])
    with pytest.warns(RuntimeWarning, match="REML: Fisher scoring did not converge.*Brent"):
        fit = meta_analysis(y, v, method="REML")
    monkeypatch.undo()
    assert fit.tau2 == pytest.approx(meta_analysis(y, v).tau2, rel=1e-10)


def test_oscillating_fisher_scoring_is_caught():
    y, v = np.array([1.0, 0, 0, 0, 0]), np.array([0.125, 1, 1, 1, 1])  # Fisher scoring oscillates
    with pytest.warns(RuntimeWarning, match="REML: Fisher scoring did not converge"):
        fit = meta_analysis(y, v)
    assert abs(reml_score(fit.tau2, y, v)) < 1e-12


def test_knha_uses_t_distribution():
    y, v = np.array([0.1, 0.5, 0.9, -0.2, 0.3]), np.array([0.04, 0.05, 0.03, 0.06, 0.02])
    fit = meta_analysis(y, v, test="knha")
    assert fit.df == 4 and fit.tval == fit.zval
    assert "tval" in fit.to_dict() and "zval" not in fit.to_dict()


@pytest.mark.parametrize("yi,vi,match", [
    ([0.1, 0.2], [0.01, -0.02], r"column 'vi', row 2: -0.02 is not a valid variance \(must be > 0\)"),
    ([0.1, 0.2], [0.01, 0.0], "row 2: 0 is not a valid variance"),
    ([0.1, 0.2, 0.3], [0.01, 0.02], "has 3 values but 'vi' has 2"),
    ([0.1, "a"], [0.01, 0.02], "column 'yi', row 2: not a number"),
    ([0.1, np.inf], [0.01, 0.02], "row 2: infinite"),
    ([], [], "k = 0"),
    ([np.nan, np.nan], [0.1, 0.1], "no study left"),
])
def test_bad_input(yi, vi, match):
    with pytest.raises(DataError, match=match):
        meta_analysis(yi, vi)


def test_bad_input_is_value_error_and_names_column_of_dataframe():
    d = pd.DataFrame({"g": [0.1, 0.2], "var": [0.01, -1.0]})
    with pytest.raises(ValueError, match="column 'var', row 2"):
        meta_analysis("g", "var", data=d)


def test_missing_values_dropped_with_warning_listing_rows():
    with pytest.warns(UserWarning, match="rows 2 and 4 dropped"):
        fit = meta_analysis([0.1, np.nan, 0.3, 0.5, 0.2], [0.01, 0.02, 0.03, np.nan, 0.02])
    assert fit.k == 3


def test_unknown_method_and_test():
    with pytest.raises(ValueError, match="unknown tau² method 'XX'"):
        meta_analysis([0.1, 0.2], [0.1, 0.1], method="XX")
    with pytest.raises(ValueError, match="unknown test"):
        meta_analysis([0.1, 0.2], [0.1, 0.1], test="q")


def test_k1_and_k2_work_and_warn():
    with pytest.warns(UserWarning, match="k = 1"):
        one = meta_analysis([0.4], [0.04])
    assert one.estimate == 0.4 and one.tau2 == 0 and one.se == pytest.approx(0.2)
    with pytest.warns(UserWarning, match="k = 2"):
        two = meta_analysis([0.4, 0.1], [0.04, 0.02])
    assert two.k == 2 and np.isfinite(two.pi_lb)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        meta_analysis([0.4, 0.1], [0.04, 0.02], method="EE")  # nothing to warn about


def test_fe_alias_and_sei_and_dataframe():
    d = pd.DataFrame({"yi": [0.1, 0.4, 0.3], "vi": [0.01, 0.04, 0.09], "sei": [0.1, 0.2, 0.3]})
    a = meta_analysis(d, method="FE")
    b = meta_analysis("yi", sei="sei", data=d, method="EE")
    assert a.method == "EE" and a.estimate == pytest.approx(b.estimate)


def test_summary_frame_and_dict_are_consistent():
    fit = meta_analysis([0.1, 0.5, 0.9, -0.2, 0.3], [0.04, 0.05, 0.03, 0.06, 0.02], labels=list("abcde"))
    assert fit.to_frame().loc[0, "estimate"] == fit.estimate
    assert fit.summary().loc["prediction", "ci_lb"] == fit.pi_lb
    assert list(fit.blup.index) == list("abcde")
    assert "Random-effects model (REML)" in repr(fit)
    ci = fit.confint()
    assert ci.loc["tau2", "ci_lb"] <= fit.tau2 <= ci.loc["tau2", "ci_ub"]


def test_meta_regression_categorical_reference_and_missing():
    d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4, 0.6], "vi": [0.02] * 7,
                      "arm": ["b", "a", "c", "a", "c", "b", None]})
    with pytest.warns(UserWarning, match="row 7 dropped"):
        fit = meta_regression(d, "arm", reference={"arm": "b"})
    assert fit.coef_names == ["intrcpt", "arm[a]", "arm[c]"] and fit.k == 6
    with pytest.raises(DataError, match="reference level 'z' does not occur"):
        meta_regression(d.dropna(), "arm", reference={"arm": "z"})
    with pytest.raises(DataError, match="'dose'.* not found"):
        meta_regression(d, "dose")


def test_subgroup_difference_matches_regression_when_equal_effects():
    d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02, 0.03, 0.04, 0.02, 0.05, 0.03],
                      "g": ["a", "a", "a", "b", "b", "b"]})
    res = subgroup_analysis(d, "g", method="EE")
    reg = meta_regression(d, "g", method="EE")
    assert res.Q_between == pytest.approx(reg.QM, rel=1e-10)  # identical under common effects
    assert res.table.loc["a", "k"] == 3
