"""Effect sizes: independent formulas (statsmodels, textbook), zero cells and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gamma
from statsmodels.stats.meta_analysis import effectsize_2proportions, effectsize_smd

from synthesis import effect_sizes
from synthesis.meta.effects import hedges_correction
from synthesis.errors import DataError


def test_hedges_correction_exact():
    df = np.array([2.0, 5.0, 18.0, 60.0])
    direct = gamma(df / 2) / (np.sqrt(df / 2) * gamma((df - 1) / 2))
    np.testing.assert_allclose(hedges_correction(df), direct, rtol=1e-12)
    # Hedges' (1981) approximation is within 1e-4 for moderate df
    np.testing.assert_allclose(hedges_correction(df[2:]), 1 - 3 / (4 * df[2:] - 1), rtol=2e-4)


def test_smd_against_statsmodels_large_samples():
    d = pd.DataFrame({"m1": [10.2, 5.0], "s1": [2.1, 1.0], "n1": [400, 250],
                      "m2": [9.5, 5.4], "s2": [2.4, 1.1], "n2": [380, 260]})
    es = effect_sizes(d, "SMD", m1i="m1", sd1i="s1", n1i="n1", m2i="m2", sd2i="s2", n2i="n2")
    g, var = effectsize_smd(d.m1, d.s1, d.n1, d.m2, d.s2, d.n2)
    np.testing.assert_allclose(es["yi"], g, rtol=1e-5)  # statsmodels uses the approximate J
    np.testing.assert_allclose(es["vi"], var, rtol=2e-3)  # and a slightly different variance


def test_smd_small_sample_by_hand():
    es = effect_sizes(None, "SMD", m1i=[12.0], sd1i=[3.0], n1i=[6], m2i=[10.0], sd2i=[2.0], n2i=[5])
    sp = np.sqrt((5 * 9 + 4 * 4) / 9)
    g = hedges_correction(np.array([9.0]))[0] * 2 / sp
    assert es["yi"][0] == pytest.approx(g, rel=1e-12)
    assert es["vi"][0] == pytest.approx(1 / 6 + 1 / 5 + g**2 / 22, rel=1e-12)


@pytest.mark.parametrize("measure,statistic", [("OR", "odds-ratio"), ("RR", "risk-ratio"), ("RD", "diff")])
def test_two_by_two_against_statsmodels(measure, statistic):
    ai, n1, ci, n2 = np.array([12, 30, 7]), np.array([50, 90, 40]), np.array([20, 25, 15]), np.array([48, 95, 41])
    es = effect_sizes(None, measure, ai=ai, n1i=n1, ci=ci, n2i=n2)
    ref_y, ref_v = effectsize_2proportions(ai, n1, ci, n2, statistic=statistic)
    np.testing.assert_allclose(es["yi"], ref_y, rtol=1e-10)
    np.testing.assert_allclose(es["vi"], ref_v, rtol=1e-10)


def test_zero_cells_only_affected_study_corrected():
    es = effect_sizes(None, "OR", ai=[0, 5], bi=[10, 5], ci=[3, 4], di=[7, 6])
    assert es["yi"][0] == pytest.approx(np.log(0.5 * 7.5 / (10.5 * 3.5)))
    assert es["vi"][0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 3.5 + 1 / 7.5)
    assert es["yi"][1] == pytest.approx(np.log(5 * 6 / (5 * 4)))


def test_double_zero_dropped_for_ratios_kept_for_rd():
    with pytest.warns(UserWarning, match="row 1"):
        es = effect_sizes(None, "RR", ai=[0, 2], n1i=[20, 20], ci=[0, 5], n2i=[20, 20])
    assert np.isnan(es["yi"][0]) and np.isfinite(es["yi"][1])
    rd = effect_sizes(None, "RD", ai=[0, 2], n1i=[20, 20], ci=[0, 5], n2i=[20, 20])
    assert rd["yi"][0] == 0 and rd["vi"][0] > 0


def test_correlations_and_proportions():
    es = effect_sizes(None, "ZCOR", ri=[0.3], ni=[53])
    assert es["yi"][0] == pytest.approx(np.arctanh(0.3)) and es["vi"][0] == pytest.approx(1 / 50)
    es = effect_sizes(None, "COR", ri=[0.3], ni=[53])
    assert es["vi"][0] == pytest.approx((1 - 0.09) ** 2 / 52)
    es = effect_sizes(None, "PLO", xi=[5, 0], ni=[20, 10])
    assert es["yi"][0] == pytest.approx(np.log(5 / 15)) and es["yi"][1] == pytest.approx(np.log(0.5 / 10.5))
    es = effect_sizes(None, "PR", xi=[5], ni=[20])
    assert es["vi"][0] == pytest.approx(0.25 * 0.75 / 20)


def test_pass_through_with_sei():
    d = pd.DataFrame({"g": [0.2, 0.5], "se": [0.1, 0.2]})
    es = effect_sizes(d, "GEN", yi="g", sei="se")
    assert es["vi"].tolist() == pytest.approx([0.01, 0.04])
    assert list(es.columns) == ["g", "se", "yi", "vi"]


@pytest.mark.parametrize("kwargs,match", [
    ({"measure": "XYZ"}, "unknown effect measure"),
    ({"measure": "OR", "ai": "a"}, "needs the columns"),
    ({"measure": "OR", "ai": "a", "bi": "b", "ci": "c", "di": "nope"}, "'nope' .* not found"),
    ({"measure": "OR", "ai": "a", "n1i": "n", "ci": "c", "n2i": "n"}, "column 'a', row 2: more events"),
    ({"measure": "OR", "ai": "b", "bi": "bad", "ci": "c", "di": "d"}, "column 'bad', row 3: not a number"),
    ({"measure": "OR", "ai": "neg", "bi": "b", "ci": "c", "di": "d"}, "column 'neg', row 1: -1 is not a count"),
    ({"measure": "SMD", "m1i": "a", "sd1i": "neg", "n1i": "n", "m2i": "b", "sd2i": "c", "n2i": "n"},
     "not a valid standard deviation"),
])
def test_bad_input_names_row_and_column(kwargs, match):
    d = pd.DataFrame({"a": [1, 30, 2], "b": [5, 5, 5], "c": [1, 2, 3], "d": [4, 4, 4], "n": [10, 10, 10],
                      "bad": ["1", "2", "x"], "neg": [-1, 2, 3]})
    measure = kwargs.pop("measure")
    with pytest.raises(DataError, match=match):
        effect_sizes(d, measure, **kwargs)
