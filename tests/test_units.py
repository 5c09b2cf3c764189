"""Natural units: EEF months (every table boundary), absolute effects, phrases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from synthesis.errors import DataError
from synthesis.grading.units import (absolute_effect, eef_months, format_effect, improvement_index, natural_units,
                                     orient, smd_to_u3)

# GUIDE §5 / EEF Toolkit table, written out independently of units.EEF_TABLE:
# (lowest effect size in the row, highest, months)
EEF_ROWS = [(0.02, 0.09, 1), (0.10, 0.18, 2), (0.19, 0.26, 3), (0.27, 0.35, 4), (0.36, 0.44, 5),
            (0.45, 0.52, 6), (0.53, 0.61, 7), (0.62, 0.69, 8), (0.70, 0.78, 9), (0.79, 0.87, 10),
            (0.88, 0.95, 11)]
BOUNDARIES = [(0.0, 0), (0.01, 0)] + [(d, m) for lo, hi, m in EEF_ROWS for d in (lo, hi)] + \
    [(0.96, 12), (1.2, 12), (3.0, 12)]


@pytest.mark.parametrize(("d", "months"), BOUNDARIES)
def test_eef_every_boundary(d, months):
    assert eef_months(d) == months


@pytest.mark.parametrize(("d", "months"), [(d, m) for d, m in BOUNDARIES if d > 0])
def test_eef_negative_effects_are_symmetric(d, months):
    assert eef_months(-d) == -months


@pytest.mark.parametrize(("d", "months"), [
    (0.0149, 0), (0.015, 1),      # 0.015 rounds half up to 0.02
    (0.0949, 1), (0.095, 2),      # between the 1- and 2-month rows
    (0.1849, 2), (0.185, 3),
    (0.2649, 3), (0.265, 4),
    (0.9549, 11), (0.955, 12),
    (-0.095, -2), (-0.0949, -1), (-0.005, 0),
])
def test_eef_values_between_rows_round_to_two_decimals(d, months):
    assert eef_months(d) == months


def test_eef_arrays_and_numpy_scalars():
    out = eef_months(np.array([[0.05, -0.3], [0.5, 2.0]]))
    assert out.tolist() == [[1, -4], [6, 12]]
    assert eef_months(np.float64(0.27)) == 4
    assert isinstance(eef_months(0.3), int)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_eef_rejects_non_finite(bad):
    with pytest.raises(DataError, match="finite"):
        eef_months(bad)


# ---------------------------------------------------------------- absolute effects
def test_absolute_effect_odds_ratio_by_hand():
    # OR 2 at 50%: odds 1 -> 2, risk 2/3
    a = absolute_effect(math.log(2.0), "OR", 0.5)
    assert a.risk == pytest.approx(2 / 3, rel=1e-12)
    assert a.difference_pp == pytest.approx(100 * (2 / 3 - 0.5), rel=1e-12)
    # OR 0.5 at 20%: odds 0.25 -> 0.125, risk 0.125 / 1.125
    b = absolute_effect(math.log(0.5), "OR", 0.2)
    assert b.risk == pytest.approx(1 / 9, rel=1e-12)
    assert b.difference_pp == pytest.approx(100 * (1 / 9 - 0.2), rel=1e-12)
    assert absolute_effect(0.0, "OR", 0.37).difference_pp == pytest.approx(0.0, abs=1e-12)


def test_absolute_effect_risk_ratio_by_hand_and_cap():
    a = absolute_effect(math.log(1.5), "rr", 0.3)
    assert a.risk == pytest.approx(0.45, rel=1e-12) and a.difference_pp == pytest.approx(15.0, rel=1e-12)
    capped = absolute_effect(math.log(3.0), "RR", 0.5)
    assert capped.risk == 1.0 and capped.capped and capped.difference_pp == pytest.approx(50.0)


@pytest.mark.parametrize("risk", [0, 1, 1.2, -0.1, "high", None])
def test_absolute_effect_rejects_bad_baseline(risk):
    with pytest.raises(DataError, match="baseline_risk"):
        absolute_effect(0.2, "OR", risk)


def test_absolute_effect_rejects_other_measures():
    with pytest.raises(DataError, match="OR' or 'RR"):
        absolute_effect(0.2, "RD", 0.3)


def test_u3_and_improvement_index():
    assert smd_to_u3(0.0) == pytest.approx(0.5)
    assert smd_to_u3(1.0) == pytest.approx(0.841344746, rel=1e-8)
    assert improvement_index(0.25) == pytest.approx(100 * (0.598706326 - 0.5), rel=1e-7)
    assert improvement_index(-0.25) == pytest.approx(-improvement_index(0.25))


# ---------------------------------------------------------------- phrases
def test_months_phrase_example_from_brief():
    nu = natural_units("SMD", 0.22, 0.08, 0.36, months_progress=True)
    assert nu.kind == "months" and (nu.value, nu.ci_lb, nu.ci_ub) == (3, 1, 5)
    assert nu.phrase == "about 3 months' additional progress (95% CI 1 to 5 months)"
    assert nu.detail == "SMD 0.22 (95% CI 0.08 to 0.36)"


@pytest.mark.parametrize(("args", "phrase"), [
    ((0.05, -0.01, 0.12), "about 1 month's additional progress (95% CI 0 to 2 months)"),
    ((0.05, -0.02, 0.12), "about 1 month's additional progress (95% CI 1 month less to 2 months more)"),
    ((0.05, -0.12, 0.25), "about 1 month's additional progress (95% CI 2 months less to 3 months more)"),
    ((-0.3, -0.5, -0.1), "about 4 months' less progress (95% CI 2 to 6 months less)"),
    ((-0.05, -0.2, 0.0), "about 1 month's less progress (95% CI 0 to 3 months less)"),
    ((0.01, -0.01, 0.015), "no additional progress (0 months; 95% CI 0 to 1 month)"),
    ((0.0, -0.1, 0.1), "no additional progress (0 months; 95% CI 2 months less to 2 months more)"),
    ((0.3, 0.27, 0.35), "about 4 months' additional progress (95% CI 4 to 4 months)"),
])
def test_months_phrases(args, phrase):
    assert natural_units("SMD", *args, months_progress=True).phrase == phrase


def test_months_orient_lower_is_better():
    nu = natural_units("SMD", -0.3, -0.5, -0.1, months_progress=True, direction="lower_is_better")
    assert (nu.value, nu.ci_lb, nu.ci_ub) == (4, 2, 6)


def test_odds_ratio_phrase_by_hand():
    # odds 0.45/0.55 x 1.38 -> risk 0.5303 (53); x 1.12 -> 0.4782 (48); x 1.70 -> 0.5818 (58)
    nu = natural_units("OR", math.log(1.38), math.log(1.12), math.log(1.70), baseline_risk=0.45)
    assert nu.phrase == "from 45 to 53 in every 100 people (8 more per 100; 95% CI 3 to 13 more)"
    assert nu.detail == "odds ratio 1.38 (95% CI 1.12 to 1.70)"
    assert nu.value == pytest.approx(100 * (0.45 / 0.55 * 1.38 / (1 + 0.45 / 0.55 * 1.38) - 0.45))
    assert nu.unit == "percentage points"


def test_odds_ratio_interval_crossing_one():
    # odds 0.3/0.7 = 0.428571; x0.8 -> 0.25532 (26); x0.6 -> 0.20455 (20); x1.1 -> 0.32039 (32)
    nu = natural_units("OR", math.log(0.8), math.log(0.6), math.log(1.1), baseline_risk=0.3)
    assert nu.phrase == "from 30 to 26 in every 100 people (4 fewer per 100; 95% CI 10 fewer to 2 more)"


def test_risk_ratio_rare_events_per_thousand():
    nu = natural_units("RR", math.log(0.5), math.log(0.3), math.log(0.8), baseline_risk=0.05,
                       people="patients", level=0.9)
    assert nu.phrase == "from 50 to 25 in every 1,000 patients (25 fewer per 1,000; 90% CI 10 to 35 fewer)"
    assert (nu.value, nu.ci_lb, nu.ci_ub) == pytest.approx((-2.5, -3.5, -1.0))


def test_ratio_without_baseline_and_risk_difference():
    nu = natural_units("RR", math.log(0.7), math.log(0.5), math.log(0.98))
    assert nu.kind == "ratio" and nu.phrase == "risk ratio 0.70 (95% CI 0.50 to 0.98)"
    rd = natural_units("RD", 0.08, 0.03, 0.12)
    assert rd.phrase == "8 more per 100 people (95% CI 3 to 12 more)"
    rd2 = natural_units("RD", -0.05, -0.09, 0.01, baseline_risk=0.4)
    assert rd2.phrase == "from 40 to 35 in every 100 people (5 fewer per 100; 95% CI 9 fewer to 1 more)"


def test_smd_without_months_uses_u3():
    nu = natural_units("SMD", 0.3, 0.1, 0.5, people="pupils")
    # Phi(0.3) = 0.6179, Phi(0.1) = 0.5398, Phi(0.5) = 0.6915
    assert nu.phrase == ("the average pupil receiving it would do better than 62% of the comparison group, "
                         "where 50% means no difference (95% CI 54% to 69%)")
    assert nu.value == pytest.approx(61.791142, rel=1e-6)


def test_other_measures_fall_back_to_estimate():
    nu = natural_units("MD", 2.5, 1.0, 4.0)
    assert nu.kind == "effect" and nu.phrase == "mean difference 2.50 (95% CI 1.00 to 4.00)"
    assert nu.to_dict()["phrase"] == nu.phrase


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"estimate": float("nan")}, "finite"),
    ({"ci_lb": 0.5, "ci_ub": 0.1}, "above"),
    ({"direction": "up"}, "direction"),
    ({"level": 0}, "confidence level"),
])
def test_natural_units_rejects_bad_input(kwargs, match):
    args = {"measure": "SMD", "estimate": 0.2, "ci_lb": 0.1, "ci_ub": 0.3, **kwargs}
    with pytest.raises(DataError, match=match):
        natural_units(**args)


def test_helpers():
    assert orient(0.2, 0.1, 0.3) == (0.2, 0.1, 0.3)
    assert orient(0.2, 0.1, 0.3, "lower_is_better") == (-0.2, -0.3, -0.1)
    assert format_effect("SMD", -0.001, -0.2, 0.2) == "SMD 0.00 (95% CI -0.20 to 0.20)"
    assert format_effect("SMD", 0.125, -0.125, 0.2, level=0.995) == "SMD 0.13 (99.5% CI -0.13 to 0.20)"
