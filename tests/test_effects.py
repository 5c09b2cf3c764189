"""Effect sizes: independent formulas (statsmodels, textbook), zero cells and bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.special import gamma
from statsmodels.stats.meta_analysis import effectsize_2proportions, effectsize_smd

from synthesis import effect_sizes
from synthesis.meta.effects import BadCells, InvalidCells, hedges_correction
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
    ({"measure": "OR", "ai": "a", "n1i": "n", "ci": "c", "n2i": "n"},
     r"column 'a' \(ai\), row 2: 30 events but only 10 participants in column 'n'; check the counts"),
    ({"measure": "OR", "ai": "b", "bi": "bad", "ci": "c", "di": "d"}, "column 'bad', row 3: not a number"),
    ({"measure": "OR", "ai": "neg", "bi": "b", "ci": "c", "di": "d"},
     r"column 'neg' \(ai\), row 1: -1 is not a valid count \(must be a whole number >= 0\)"),
    ({"measure": "SMD", "m1i": "a", "sd1i": "neg", "n1i": "n", "m2i": "b", "sd2i": "c", "n2i": "n"},
     "not a valid standard deviation"),
])
def test_bad_input_names_row_and_column(kwargs, match):
    d = pd.DataFrame({"a": [1, 30, 2], "b": [5, 5, 5], "c": [1, 2, 3], "d": [4, 4, 4], "n": [10, 10, 10],
                      "bad": ["1", "2", "x"], "neg": [-1, 2, 3]})
    measure = kwargs.pop("measure")
    with pytest.raises(DataError, match=match):
        effect_sizes(d, measure, **kwargs)


# ------------------------------------------------------------ cells that cannot give a valid effect
SMD_ARGS = dict(m1i=[10.0, 10.0], m2i=[9.0, 9.0])


@pytest.mark.parametrize("measure, columns, argument, rows, detail", [
    ("ZCOR", {"ri": [0.3, 0.3], "ni": [2, 50]}, "ni", (0,),
     "2 is not a valid number of participants (must be at least 4: the variance of Fisher's z is 1/(n - 3))"),
    ("ZCOR", {"ri": [0.3, 0.3], "ni": [3, 4]}, "ni", (0,), "3 is not a valid number of participants"),
    ("COR", {"ri": [0.3, 0.3], "ni": [1, 2]}, "ni", (0,), "1 is not a valid number of participants (must be at least 2"),
    ("ZCOR", {"ri": [1.0, -0.2], "ni": [20, 20]}, "ri", (0,),
     "1 is not a valid correlation (must lie strictly between -1 and 1)"),
    ("COR", {"ri": [0.2, -1.0, 1.5], "ni": [20, 20, 20]}, "ri", (1, 2), "-1 is not a valid correlation"),
    ("SMD", {**SMD_ARGS, "sd1i": [2.0, 2.0], "sd2i": [2.0, 2.0], "n1i": [10, 1], "n2i": [10, 10]}, "n1i", (1,),
     "1 is not a valid number of participants (must be at least 2 in each group: a standard deviation needs two)"),
    ("MD", {**SMD_ARGS, "sd1i": [2.0, 2.0], "sd2i": [2.0, 2.0], "n1i": [10, 10], "n2i": [0, 10]}, "n2i", (0,),
     "0 is not a valid number of participants (must be at least 2"),
    ("SMD", {**SMD_ARGS, "sd1i": [2.0, 0.0], "sd2i": [2.0, 2.0], "n1i": [10, 10], "n2i": [10, 10]}, "sd1i", (1,),
     "0 is not a valid standard deviation (must be > 0)"),
    ("SMD", {**SMD_ARGS, "sd1i": [2.0, 2.0], "sd2i": [-3.0, 2.0], "n1i": [10, 10], "n2i": [10, 10]}, "sd2i", (0,),
     "-3 is not a valid standard deviation (must be > 0)"),
    ("OR", {"ai": [-1, 2], "bi": [5, 5], "ci": [1, 2], "di": [4, 4]}, "ai", (0,),
     "-1 is not a valid count (must be a whole number >= 0)"),
    ("RR", {"ai": [1, 2], "n1i": [10, 10], "ci": [1, 2.5], "n2i": [10, 10]}, "ci", (1,), "2.5 is not a valid count"),
    ("RD", {"ai": [1, 12], "n1i": [10, 10], "ci": [1, 2], "n2i": [10, 10]}, "ai", (1,),
     "12 events but only 10 participants in n1i; check the counts"),
    ("OR", {"ai": [1, 2], "n1i": [10, 0], "ci": [1, 2], "n2i": [10, 10]}, "n1i", (1,),
     "0 is not a valid number of participants (must be at least 1)"),
    ("OR", {"ai": [0, 2], "bi": [0, 5], "ci": [1, 2], "di": [4, 4]}, "ai", (0,),
     "0 events and 0 non-events in bi: the group has no participants"),
    ("PLO", {"xi": [3, 11], "ni": [10, 10]}, "xi", (1,), "11 events but only 10 participants in ni"),
    ("PR", {"xi": [3, 0], "ni": [10, 0]}, "ni", (1,), "0 is not a valid number of participants"),
    ("GEN", {"yi": [0.1, 0.2], "vi": [0.01, 0.0]}, "vi", (1,), "0 is not a valid variance (must be > 0)"),
    ("GEN", {"yi": [0.1, 0.2], "vi": [-0.01, 0.02]}, "vi", (0,), "-0.01 is not a valid variance (must be > 0)"),
    ("GEN", {"yi": [0.1, 0.2], "sei": [0.1, -0.2]}, "sei", (1,), "-0.2 is not a valid standard error (must be > 0)"),
    ("GEN", {"yi": [np.inf, 0.2], "vi": [0.01, 0.02]}, "yi", (0,), "inf is not a finite number"),
])
def test_cells_that_cannot_give_an_effect_are_refused(measure, columns, argument, rows, detail):
    with pytest.raises(InvalidCells) as info:
        effect_sizes(None, measure, **columns)
    cells = info.value.cells
    assert len(cells) == 1 and isinstance(info.value, DataError)
    assert (cells[0].argument, cells[0].rows) == (argument, rows)
    assert cells[0].details[0].startswith(detail)
    first_row = f"row {rows[0] + 1}" if len(rows) == 1 else f"rows {rows[0] + 1}"
    assert str(info.value).startswith(f"{argument}, {first_row}")


def test_every_bad_cell_is_reported_with_its_column():
    d = pd.DataFrame({"m1": [10, 11, 12], "s1": [2, -1, 0], "k1": [20, 1, 20],
                      "m2": [9, 9, 9], "s2": [2, 2, 2], "k2": [20, 20, 2.5]})
    with pytest.raises(InvalidCells) as info:
        effect_sizes(d, "SMD", m1i="m1", sd1i="s1", n1i="k1", m2i="m2", sd2i="s2", n2i="k2")
    found = {(c.column, c.argument, c.rows) for c in info.value.cells}
    assert found == {("s1", "sd1i", (1, 2)), ("k1", "n1i", (1,)), ("k2", "n2i", (2,))}
    assert str(info.value).splitlines() == [
        "column 's1' (sd1i), rows 2 and 3: -1 is not a valid standard deviation (must be > 0); "
        "0 is not a valid standard deviation (must be > 0)",
        "column 'k1' (n1i), row 2: 1 is not a valid number of participants (must be at least 2 in each group: "
        "a standard deviation needs two)",
        "column 'k2' (n2i), row 3: 2.5 is not a valid count (must be a whole number >= 0)",
    ]


def test_missing_cells_are_not_errors_and_valid_edges_pass():
    es = effect_sizes(None, "ZCOR", ri=[0.3, np.nan, -0.99], ni=[4, 20, np.nan])
    assert es["vi"][0] == pytest.approx(1.0) and np.isnan(es["yi"][1]) and np.isnan(es["vi"][2])
    es = effect_sizes(None, "SMD", m1i=[1.0], sd1i=[1.0], n1i=[2], m2i=[0.0], sd2i=[1.0], n2i=[2])
    assert np.isfinite(es["yi"][0]) and es["vi"][0] > 0
    es = effect_sizes(None, "OR", ai=[0], n1i=[5], ci=[5], n2i=[5])  # events == n is possible
    assert np.isfinite(es["yi"][0])


def test_bad_cells_message():
    cells = BadCells("ni", "n", (0, 4), ("2 is too few", "3 is too few"))
    assert cells.name == "column 'n' (ni)"
    assert cells.message() == "column 'n' (ni), rows 1 and 5: 2 is too few; 3 is too few"
    assert BadCells("ni", "ni", (0,), ("x",)).message() == "ni, row 1: x"
