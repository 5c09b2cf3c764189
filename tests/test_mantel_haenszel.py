"""Mantel-Haenszel and Peto pooling of 2x2 tables (metafor's rma.mh / rma.peto).

Hand-checkable cases, properties (hypothesis) and a reference file made by R
(``tests/r/mh_reference.R`` -> ``tests/data/metafor/bcg_vaccine_mh.json``), so
this module needs no R. The live comparison on random data is
``tests/test_metafor_live_mh.py``.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_metafor_live_mh import NAMES

from synthesis import mantel_haenszel, peto
from synthesis.errors import DataError
from synthesis.meta.two_by_two import TWO_BY_TWO_METHODS, MantelHaenszelResult, individual_outcomes

DATA = Path(__file__).parent / "data" / "metafor"
BCG = pd.read_csv(DATA / "bcg_vaccine.csv")
COUNTS = {"ai": "tpos", "bi": "tneg", "ci": "cpos", "di": "cneg"}


def _fit(method: str, measure: str, **kwargs) -> MantelHaenszelResult:
    if method == "Peto":
        return peto(**kwargs)
    return mantel_haenszel(measure=measure, **kwargs)


# ---- published data: metafor's numbers ---------------------------------------------------------
@pytest.mark.parametrize("name", ["MH_OR", "MH_RR", "MH_RD", "Peto_OR"])
def test_bcg_vaccine_matches_metafor(name):
    reference = json.loads((DATA / "bcg_vaccine_mh.json").read_text())[name]
    method, measure = name.split("_")
    fit = _fit(method, measure, data=BCG, labels="author", **COUNTS)
    for r_name, ours in NAMES.items():
        expected = reference[r_name]
        got = float(getattr(fit, ours))
        if expected is None:
            assert math.isnan(got), f"{name}: {ours} should be missing, got {got}"
        else:
            assert got == pytest.approx(expected, rel=1e-6, abs=1e-12), f"{name}: {ours}"


# ---- hand-checkable cases ----------------------------------------------------------------------
def test_one_table_gives_its_own_effect():
    a, b, c, d = 10, 40, 5, 45
    cells = {"ai": [a], "bi": [b], "ci": [c], "di": [d]}
    assert mantel_haenszel(**cells, measure="OR").estimate == pytest.approx(math.log(a * d / (b * c)))
    assert mantel_haenszel(**cells, measure="RR").estimate == pytest.approx(math.log((a / 50) / (c / 50)))
    rd = mantel_haenszel(**cells, measure="RD")
    assert rd.estimate == pytest.approx(a / 50 - c / 50)
    # one table: the Greenland-Robins variance of the RD is the usual binomial one
    assert rd.se == pytest.approx(math.sqrt(0.2 * 0.8 / 50 + 0.1 * 0.9 / 50))
    assert (rd.QE, rd.QEp, rd.I2, rd.H2) == (0.0, 1.0, 0.0, 1.0)
    # Peto: (O - E) / V with E = 15 * 50 / 100 and V = 15 * 85 * (1/2) * (1/2) / 99
    expected, variance = 7.5, 15 * 85 / 4 / 99
    fit = peto(**cells)
    assert fit.estimate == pytest.approx((a - expected) / variance)
    assert fit.se == pytest.approx(math.sqrt(1 / variance))


def test_a_table_given_twice_halves_the_variance():
    one = mantel_haenszel(ai=[10], bi=[40], ci=[5], di=[45])
    two = mantel_haenszel(ai=[10, 10], bi=[40, 40], ci=[5, 5], di=[45, 45])
    assert two.estimate == pytest.approx(one.estimate)
    assert two.se == pytest.approx(one.se / math.sqrt(2))
    assert two.QE == pytest.approx(0.0, abs=1e-12) and two.I2 == 0.0


def test_events_and_group_sizes_give_the_same_fit_as_the_four_cells():
    by_cells = mantel_haenszel(BCG, "RR", **COUNTS)
    by_sizes = mantel_haenszel(BCG.assign(n1=BCG.tpos + BCG.tneg, n2=BCG.cpos + BCG.cneg), "RR",
                               ai="tpos", n1i="n1", ci="cpos", n2i="n2")
    assert by_sizes.to_dict() == by_cells.to_dict()


def test_double_zero_table_counts_in_k_but_not_in_the_estimate_or_q():
    cells = {"ai": [4, 6, 0], "bi": [119, 300, 50], "ci": [11, 29, 0], "di": [128, 274, 60]}
    with_zero = mantel_haenszel(**cells)
    without = mantel_haenszel(**{key: value[:2] for key, value in cells.items()})
    assert (with_zero.k, with_zero.k_yi, with_zero.k_all) == (3, 2, 3)
    assert with_zero.estimate == pytest.approx(without.estimate)
    assert with_zero.QE == pytest.approx(without.QE)
    assert np.isnan(with_zero.yi[2]) and np.isnan(with_zero.vi[2])


def test_zero_cell_gets_one_half_in_its_own_outcome_only():
    yi, vi = individual_outcomes(np.array([[0.0, 4], [10, 6], [3, 5], [7, 5]]), "OR")
    assert yi[0] == pytest.approx(math.log(0.5 * 7.5 / (10.5 * 3.5)))
    assert vi[0] == pytest.approx(1 / 0.5 + 1 / 10.5 + 1 / 3.5 + 1 / 7.5)
    assert yi[1] == pytest.approx(math.log(4 * 5 / (6 * 5)))  # no zero cell: no correction


def test_odds_ratio_reports_the_cmh_and_tarone_tests():
    fit = mantel_haenszel(BCG, "OR", **COUNTS)
    assert fit.k_pos == 13 and 0 <= fit.CMHp < 1e-20 and fit.TA > 0
    rr = mantel_haenszel(BCG, "RR", **COUNTS)
    assert np.isnan(rr.CMH) and np.isnan(rr.TA) and np.isnan(rr.k_pos)


def test_no_events_anywhere():
    cells = {"ai": [0, 0], "bi": [10, 12], "ci": [0, 0], "di": [9, 11]}
    fit = mantel_haenszel(**cells)
    assert np.isnan(fit.estimate) and np.isnan(fit.CMH) and fit.k_pos == 0
    assert mantel_haenszel(**cells, measure="RD").estimate == 0.0
    with pytest.raises(DataError, match="Peto's method needs tables with both outcomes"):
        peto(**cells)


# ---- mistakes give one clear line --------------------------------------------------------------
def test_mistakes_are_named():
    with pytest.raises(DataError, match="OR, RR or RD, not 'SMD'"):
        mantel_haenszel(BCG, "SMD", **COUNTS)
    with pytest.raises(DataError, match=r"column 'tpos' \(ai\), row 2: -1 is not a valid count"):
        mantel_haenszel(BCG.assign(tpos=BCG.tpos.where(BCG.index != 1, -1)), **COUNTS)
    with pytest.raises(DataError, match=r"need the columns \(ai, bi, ci, di\) or \(ai, n1i, ci, n2i\)"):
        peto(BCG, ai="tpos", bi="tneg")
    with pytest.raises(DataError, match="column 'nope'"):
        peto(BCG, **{**COUNTS, "ai": "nope"})


def test_missing_counts_leave_the_table_out_with_a_warning():
    data = BCG.assign(tpos=BCG.tpos.astype(float).where(BCG.index != 0))
    with pytest.warns(UserWarning, match="row 1: tables with missing counts"):
        fit = mantel_haenszel(data, **COUNTS)
    assert (fit.k, fit.k_yi, fit.k_all) == (12, 12, 13)


# ---- the result protocol -----------------------------------------------------------------------
def test_result_protocol():
    fit = mantel_haenszel(BCG, "OR", labels="author", **COUNTS)
    out = fit.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["estimate"] == fit.estimate and out["QE"] == fit.Q and out["tau2"] == 0.0
    assert list(fit.summary().index) == ["estimate", "se", "zval", "pval", "QE", "QEp", "I2", "H2", "k",
                                         "CMH", "CMHp", "TA", "TAp"]
    assert fit.to_frame().shape[0] == 1
    assert repr(fit).startswith("Mantel-Haenszel equal-effects model (OR), k = 13")
    assert "Tarone" in repr(fit) and "<strong>" in fit._repr_html_()
    assert fit.labels[0] == "Aronson"
    assert repr(peto(BCG, **COUNTS)).startswith("Peto equal-effects model (OR), k = 13")


def test_methods_constant():
    assert TWO_BY_TWO_METHODS == {"MH": ("OR", "RR", "RD"), "Peto": ("OR",)}


# ---- properties --------------------------------------------------------------------------------
@st.composite
def tables(draw):
    k = draw(st.integers(1, 8))
    sizes = st.lists(st.integers(1, 30), min_size=k, max_size=k)
    n1, n2 = np.array(draw(sizes)), np.array(draw(sizes))
    ai = np.array([draw(st.integers(0, int(n))) for n in n1])
    ci = np.array([draw(st.integers(0, int(n))) for n in n2])
    return ai, n1 - ai, ci, n2 - ci


FIELDS = ("estimate", "se", "zval", "pval", "QE", "QEp", "I2", "H2", "CMH", "TA")


def _numbers(fit: MantelHaenszelResult) -> np.ndarray:
    return np.array([getattr(fit, name) for name in FIELDS], dtype=float)


@settings(max_examples=60, deadline=None)
@given(tables(), st.sampled_from([("MH", "OR"), ("MH", "RR"), ("MH", "RD"), ("Peto", "OR")]))
def test_swapping_the_groups_negates_the_effect(counts, method_measure):
    ai, bi, ci, di = counts
    method, measure = method_measure
    try:
        fit = _fit(method, measure, ai=ai, bi=bi, ci=ci, di=di)
    except DataError:  # Peto without both outcomes: refused whichever group comes first
        with pytest.raises(DataError):
            _fit(method, measure, ai=ci, bi=di, ci=ai, di=bi)
        return
    swapped = _fit(method, measure, ai=ci, bi=di, ci=ai, di=bi)
    np.testing.assert_allclose(swapped.estimate, -fit.estimate, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(swapped.se, fit.se, rtol=1e-9)
    np.testing.assert_allclose(swapped.QE, fit.QE, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(swapped.CMH, fit.CMH, rtol=1e-9)


@settings(max_examples=60, deadline=None)
@given(tables(), st.sampled_from([("MH", "OR"), ("MH", "RR"), ("MH", "RD"), ("Peto", "OR")]), st.randoms())
def test_the_order_of_the_tables_does_not_matter(counts, method_measure, random):
    order = list(range(len(counts[0])))
    random.shuffle(order)
    method, measure = method_measure
    try:
        fit = _fit(method, measure, **dict(zip(("ai", "bi", "ci", "di"), counts)))
    except DataError:
        return
    shuffled = _fit(method, measure, **{name: column[order] for name, column in zip(("ai", "bi", "ci", "di"), counts)})
    np.testing.assert_allclose(_numbers(shuffled), _numbers(fit), rtol=1e-9, atol=1e-12)


# ---- reviews can choose MH or Peto -------------------------------------------------------------
REPO = Path(__file__).resolve().parents[1]
CBT = "cbt-offenders-at-scale"  # log odds ratios from 2x2 counts (metadat's dat.landenberger2005)


@pytest.mark.parametrize("method", ["MH", "peto"])
def test_review_pools_with_the_chosen_2x2_method(method):
    from synthesis.analysis import frequentist_analysis
    from synthesis.review.loader import load_review

    review = load_review(CBT, str(REPO), {"analysis.method": method})
    analysis = frequentist_analysis(review)
    columns = dict(review.spec.effect.columns)
    expected = (peto(review.data, **columns) if method == "peto" else mantel_haenszel(review.data, "OR", **columns))
    assert analysis.pooled.to_dict() == expected.to_dict()
    assert analysis.meta.method == "REML"  # the other analyses: the inverse-variance random-effects model
    headline = analysis.headline()
    assert (headline["method"], headline["estimate"], headline["ci_ub"]) == (
        expected.method, expected.estimate, expected.ci_ub)
    assert headline["tau2"] == analysis.meta.tau2
    assert analysis.results()["pooled"]["estimate"] == expected.estimate
    name = "Mantel-Haenszel" if method == "MH" else "Peto"
    assert any(note.startswith(f"The pooled effect is the {name} estimate") and "(REML" in note
               for note in analysis.notes)


@pytest.mark.parametrize("overrides, message", [
    ({"analysis.method": "Peto", "effect.measure": "RR"}, "Peto pools 2x2 tables of counts for OR"),
    ({"analysis.method": "MH", "effect.columns": {"yi": "n.cbt.non", "vi": "n.cbt.rec"}},
     "MH pools 2x2 tables of counts for OR, RR, RD .* but the review has effect sizes given as yi"),
])
def test_2x2_method_for_another_measure_is_a_one_line_review_error(overrides, message):
    from synthesis.errors import ReviewError
    from synthesis.review.loader import load_review

    with pytest.raises(ReviewError, match=message) as caught:
        load_review(CBT, str(REPO), overrides)
    assert "Traceback" not in str(caught.value)
