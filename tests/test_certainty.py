"""GRADE-style certainty: every rule and its edges, overall rating, plain-language answers."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from synthesis.grading.certainty import (assess_certainty, rate_imprecision, rate_inconsistency, rate_indirectness,
                                         rate_publication_bias, rate_risk_of_bias)
from synthesis.grading.rating import Certainty, Downgrade
from synthesis.grading.wording import direction_of_effect, is_beneficial, plain_language_answer
from synthesis.errors import DataError, ReviewError


# ---------------------------------------------------------------- risk of bias
def test_rob_not_assessed_without_column():
    d = rate_risk_of_bias(None, [50, 50])
    assert (d.levels, d.assessed) == (1, False) and "no risk-of-bias judgement" in d.reason


@pytest.mark.parametrize(("labels", "weights", "levels"), [
    (["high", "low"], [50, 50], 2),                       # exactly 50% high -> 2
    (["high", "low"], [49.9, 50.1], 1),                   # just below 50%, above 25% -> 1
    (["high", "low", "low"], [25, 40, 35], 1),            # exactly 25% high -> 1
    (["high", "some concerns", "low"], [24.9, 25.0, 50.1], 0),  # 24.9% high, 49.9% not low -> 0
    (["high", "some concerns", "low"], [10, 40, 50], 1),  # 50% not low -> 1
    (["unclear", "low"], [60, 40], 1),
    (["low", "low"], [50, 50], 0),
    (["high", "low", "low"], None, 1),                    # equal weights: 33% high
    (["high", "high", "low"], None, 2),
])
def test_rob_thresholds(labels, weights, levels):
    assert rate_risk_of_bias(labels, weights).levels == levels


def test_rob_weights_any_scale_and_vocabulary():
    # weights need not sum to 100; labels are case/space-insensitive synonyms
    assert rate_risk_of_bias(["High risk", "LOW", " low risk "], [2, 1, 1]).levels == 2
    assert rate_risk_of_bias(["Some_Concerns", "low"], [0.6, 0.4]).levels == 1
    assert rate_risk_of_bias(["critical", "low", "low", "low"], [1, 1, 1, 1]).levels == 1


def test_rob_missing_label_counts_as_some_concerns():
    assert rate_risk_of_bias([None, float("nan"), "low"], [30, 30, 40]).levels == 1


def test_rob_reason_states_share():
    d = rate_risk_of_bias(["high", "low"], [62, 38])
    assert d.reason == "Most of the evidence (62% of the weight) comes from studies at high risk of bias."


def test_rob_errors_name_rows_and_column():
    with pytest.raises(DataError, match=r"'rob'.*row 2 \('medium-high'\)"):
        rate_risk_of_bias(["low", "medium-high"], [50, 50], column="rob")
    with pytest.raises(DataError, match="3 ratings but there are 2 weights"):
        rate_risk_of_bias(["low", "low", "high"], [50, 50])
    with pytest.raises(DataError, match="empty"):
        rate_risk_of_bias([], [])


# ---------------------------------------------------------------- inconsistency
@pytest.mark.parametrize(("I2", "pi", "mid", "levels"), [
    (49.9, (-0.5, 0.9), 0.2, 0),      # I2 below 50: never
    (50.0, (-0.1, 0.9), None, 1),     # I2 = 50 and PI crosses 0
    (50.0, (0.05, 0.9), None, 0),     # all effects on one side (no MID)
    (50.0, (0.05, 0.9), 0.2, 1),      # crosses the MID
    (60.0, (0.25, 0.9), 0.2, 0),      # entirely beyond the MID
    (60.0, (0.0, 0.9), None, 0),      # touching 0 is not crossing
    (75.0, (-0.3, 0.5), 0.2, 2),      # important harm and important benefit
    (75.0, (-0.1, 0.5), 0.2, 1),      # does not reach important harm
    (74.9, (-0.3, 0.5), 0.2, 1),      # I2 just below 75
    (80.0, (-0.1, 0.5), None, 2),     # no MID: harm and benefit
    (80.0, (-0.1, 0.2), 0.2, 1),      # upper end exactly at MID: not beyond
])
def test_inconsistency_rule(I2, pi, mid, levels):
    assert rate_inconsistency(I2, *pi, mid=mid).levels == levels


def test_inconsistency_orientation_lower_is_better():
    assert rate_inconsistency(80, -0.9, -0.25, mid=0.2, direction="lower_is_better").levels == 0
    assert rate_inconsistency(80, -0.9, -0.1, mid=0.2, direction="lower_is_better").levels == 1
    assert rate_inconsistency(80, -0.5, 0.3, mid=0.2, direction="lower_is_better").levels == 2


def test_inconsistency_not_assessable():
    assert rate_inconsistency(0.0, None, None, k=1).assessed is False
    assert rate_inconsistency(float("nan"), -1, 1).assessed is False
    # without a prediction interval only I2 >= 75 counts, one level
    assert rate_inconsistency(80, None, None).levels == 1
    assert rate_inconsistency(60, float("nan"), None).levels == 0


def test_inconsistency_reason_mentions_i2_and_ratio_pi():
    import math
    d = rate_inconsistency(82.4, math.log(0.5), math.log(1.6), measure="OR")
    assert "I² = 82%" in d.reason and "0.50 to 1.60" in d.reason and d.levels == 2


# ---------------------------------------------------------------- imprecision
@pytest.mark.parametrize(("ci", "est", "mid", "levels"), [
    ((-0.05, 0.3), None, None, 1),     # no MID: crosses 0
    ((0.0, 0.3), None, None, 0),       # touching 0 is not crossing
    ((0.01, 0.3), None, None, 0),
    ((0.12, 0.3), 0.2, 0.1, 0),        # beyond the MID
    ((0.05, 0.3), 0.2, 0.1, 1),        # crosses the MID only
    ((-0.05, 0.45), 0.2, 0.1, 2),      # crosses 0 and the MID
    ((-0.2, 0.5), 0.2, 0.1, 2),        # three thresholds, capped at 2
    ((0.1, 0.3), 0.2, 0.1, 0),         # lower bound exactly at the MID
    ((-0.05, 0.08), 0.03, 0.1, 0),     # "little or no difference": inside +-MID
    ((-0.05, 0.15), 0.03, 0.1, 1),     # crosses +MID
    ((-0.15, 0.15), 0.03, 0.1, 2),     # crosses both MIDs
    ((-0.15, -0.02), -0.08, 0.1, 1),   # trivial harm side, crosses -MID
])
def test_imprecision_thresholds(ci, est, mid, levels):
    assert rate_imprecision(*ci, estimate=est, mid=mid).levels == levels


def test_imprecision_lower_is_better():
    assert rate_imprecision(-0.3, -0.12, estimate=-0.2, mid=0.1, direction="lower_is_better").levels == 0
    assert rate_imprecision(-0.3, 0.05, estimate=-0.2, mid=0.1, direction="lower_is_better").levels == 2


def test_imprecision_optimal_information_size():
    assert rate_imprecision(0.1, 0.4, total_n=399).levels == 1
    assert rate_imprecision(0.1, 0.4, total_n=400).levels == 0
    assert rate_imprecision(0.1, 0.4, total_events=299).levels == 1
    assert rate_imprecision(0.1, 0.4, total_events=300).levels == 0
    assert rate_imprecision(0.1, 0.4, total_n=150, ois=100).levels == 0
    # not added on top of an interval downgrade ("if not already")
    assert rate_imprecision(-0.1, 0.4, total_n=50).levels == 1
    assert "399 participants" in rate_imprecision(0.1, 0.4, total_n=399).reason


def test_imprecision_reason_names_both_ends():
    d = rate_imprecision(-0.05, 0.45, estimate=0.2, mid=0.1)
    assert d.reason == ("The 95% confidence interval (-0.05 to 0.45) is compatible with both a small harm and "
                        "an important benefit, so the size of the effect is uncertain.")


def test_imprecision_rejects_missing_interval():
    with pytest.raises(DataError, match="finite"):
        rate_imprecision(float("nan"), 0.3)


# ---------------------------------------------------------------- publication bias
@pytest.mark.parametrize(("p", "est", "adj", "k", "mid", "levels", "assessed"), [
    (0.01, 0.40, 0.10, 9, None, 0, False),    # fewer than 10 studies
    (0.01, 0.40, 0.25, 10, None, 1, True),    # 10 studies, 37.5% shift
    (0.10, 0.40, 0.10, 12, None, 0, True),    # p = 0.10 is not < 0.10
    (0.099, 0.40, 0.30, 12, None, 1, True),   # 25% shift
    (0.03, 0.50, 0.39, 12, None, 1, True),    # 22% shift
    (0.03, 0.50, 0.41, 12, None, 0, True),    # 18% shift
    (0.03, 0.22, 0.19, 12, 0.2, 1, True),     # 14% shift but crosses the MID
    (0.03, 0.22, 0.19, 12, None, 0, True),    # same without a MID
    (0.03, 0.05, -0.005, 12, None, 1, True),  # crosses no effect
    (None, 0.40, 0.10, 12, None, 0, False),   # no test
    (0.03, 0.40, None, 12, None, 0, True),    # no trim-and-fill estimate
])
def test_publication_bias_rule(p, est, adj, k, mid, levels, assessed):
    d = rate_publication_bias(p, est, adj, k=k, mid=mid)
    assert (d.levels, d.assessed) == (levels, assessed)


def test_publication_bias_lower_is_better_and_reason():
    d = rate_publication_bias(0.02, -0.5, -0.3, k=15, direction="lower_is_better")
    assert d.levels == 1 and "from -0.50 to -0.30" in d.reason


# the selection-model rule: rate down when its adjusted estimate changes the conclusion
@pytest.mark.parametrize(("p", "est", "sel", "mid", "levels", "assessed"), [
    (0.50, 0.40, 0.30, None, 1, True),     # Egger silent, selection model shrinks by 25%
    (0.50, 0.50, 0.41, None, 0, True),     # shrinks by 18%: not material
    (0.50, 0.40, 0.60, None, 0, True),     # grows by 50%: no reason for less confidence
    (0.50, 0.05, -0.01, None, 1, True),    # crosses no effect
    (0.50, 0.22, 0.19, 0.2, 1, True),      # 14% shrinkage but below the MID
    (None, 0.40, 0.30, None, 1, True),     # no Egger test: the selection model alone is enough
    (None, 0.40, 0.39, None, 0, True),     # ... and assesses the domain when it changes little
    (0.50, 0.40, None, None, 0, True),     # no selection model (interval empty): the Egger rule only
    (0.01, 0.40, 0.39, None, 1, True),     # Egger + trim-and-fill already rate down: still one level
])
def test_publication_bias_selection_model_rule(p, est, sel, mid, levels, assessed):
    d = rate_publication_bias(p, est, 0.20 if p == 0.01 else None, k=12, mid=mid, selection_estimate=sel)
    assert (d.levels, d.assessed) == (levels, assessed)


def test_publication_bias_selection_rule_needs_ten_studies_and_orients():
    assert not rate_publication_bias(None, 0.4, None, k=9, selection_estimate=0.0).assessed
    d = rate_publication_bias(0.6, -0.5, None, k=15, direction="lower_is_better", selection_estimate=-0.3)
    assert d.levels == 1 and "selection model" in d.reason and "from -0.50 to -0.30" in d.reason
    assert rate_publication_bias(0.6, -0.5, None, k=15, direction="lower_is_better",
                                 selection_estimate=-0.7).levels == 0


def test_assess_certainty_uses_the_selection_model():
    fit = SimpleNamespace(**CLEAN)
    selection = SimpleNamespace(estimate=CLEAN["estimate"] * 0.5)
    c = assess_certainty(fit, egger=0.5, trimfill=CLEAN["estimate"], selection=selection, total_n=1000,
                         risk_of_bias=LOW)
    assert [d.domain for d in c.reasons] == ["publication_bias"]
    assert assess_certainty(fit, egger=0.5, trimfill=CLEAN["estimate"], total_n=1000,
                            risk_of_bias=LOW).reasons == []


# ---------------------------------------------------------------- indirectness
@pytest.mark.parametrize(("judgement", "levels"), [
    ("none", 0), ("not_serious", 0), ("serious", 1), ("Serious", 1), ("very_serious", 2), ("very serious", 2),
    ("very-serious", 2),
])
def test_indirectness_levels(judgement, levels):
    assert rate_indirectness(judgement, "Reason").levels == levels


def test_indirectness_reason_and_default():
    d = rate_indirectness("serious", "Most studies were in primary schools")
    assert d.reason == "Most studies were in primary schools."
    assert rate_indirectness(None).assessed is False
    assert "no reason given" in rate_indirectness("serious").reason
    with pytest.raises(ReviewError, match="certainty.indirectness"):
        rate_indirectness("moderate")


def test_downgrade_validates():
    with pytest.raises(ValueError):
        Downgrade("imprecision", 3, "x")
    with pytest.raises(ValueError):
        Downgrade("bias", 1, "x")
    assert Downgrade("imprecision", 2, "x").verdict == "rated down two levels"
    assert Downgrade("imprecision", 0, "x", assessed=False).verdict == "not assessed"


# ---------------------------------------------------------------- overall
CLEAN = {"estimate": 0.4, "ci_lb": 0.25, "ci_ub": 0.55, "pi_lb": 0.2, "pi_ub": 0.6, "I2": 20.0, "k": 12,
         "weights": [100 / 12] * 12, "level": 0.95}
LOW = ["low"] * 12


def test_assess_high_when_nothing_wrong():
    c = assess_certainty(CLEAN, mid=0.1, total_n=2000, risk_of_bias=["low"] * 12, egger=0.5, trimfill=0.4,
                         indirectness="none")
    assert c.level == "high" and c.reasons == [] and c.symbols == "⊕⊕⊕⊕"
    assert [d.domain for d in c.downgrades] == ["risk_of_bias", "inconsistency", "imprecision",
                                                "publication_bias", "indirectness"]
    assert "no domain gave a reason" in c.explanation


def test_assess_sums_levels_and_floors_at_very_low():
    fit = dict(CLEAN, ci_lb=-0.1, pi_lb=-0.6, pi_ub=1.2, I2=85.0)
    c = assess_certainty(fit, mid=0.1, risk_of_bias=["high"] * 12, indirectness="serious",
                         indirectness_reason="Adults only")
    assert [d.levels for d in c.downgrades] == [2, 2, 2, 0, 1]
    assert c.level == "very low" and "(the lowest rating)" in c.explanation
    one = assess_certainty(dict(CLEAN, ci_lb=-0.05), total_n=1000, risk_of_bias=LOW)
    assert one.level == "moderate"
    assert one.explanation == ("Certainty started at high because the evidence comes from randomised trials; "
                               "it was rated down one level (one level for imprecision), to moderate.")


def test_assess_non_randomised_start_low():
    c = assess_certainty(dict(CLEAN, ci_lb=-0.05), start="low")
    assert c.level == "very low" and c.start == "low"
    with pytest.raises(DataError):
        assess_certainty(CLEAN, start="moderate")


def test_assess_duck_typed_engine_objects():
    fit = SimpleNamespace(**CLEAN)
    egger = SimpleNamespace(pval=0.01)
    trimfill = SimpleNamespace(fit=SimpleNamespace(estimate=0.2), k0=3)
    c = assess_certainty(fit, egger=egger, trimfill=trimfill, total_n=1000, risk_of_bias=LOW)
    assert [d.domain for d in c.reasons] == ["publication_bias"] and c.level == "moderate"
    # without a risk-of-bias judgement the precautionary downgrade applies as well
    c = assess_certainty(fit, egger=egger, trimfill=trimfill, total_n=1000)
    assert [d.domain for d in c.reasons] == ["risk_of_bias", "publication_bias"] and c.level == "low"
    # risk of bias uses the model weights
    w = [60] + [40 / 11] * 11
    assert assess_certainty(dict(CLEAN, weights=w), risk_of_bias=["high"] + ["low"] * 11,
                            total_n=1000).level == "low"


def test_certainty_to_dict_is_json():
    c = assess_certainty(CLEAN, total_n=100, risk_of_bias=LOW)
    data = json.loads(json.dumps(c.to_dict()))
    assert data["level"] == "moderate" and len(data["downgrades"]) == 5
    assert Certainty("low").label == "Low"


# ---------------------------------------------------------------- plain language
@pytest.mark.parametrize(("level", "direction", "expected"), [
    ("high", "increase", "Tutoring improves reading."),
    ("moderate", "increase", "Tutoring probably improves reading."),
    ("low", "increase", "Tutoring may improve reading."),
    ("high", "decrease", "Tutoring reduces reading."),
    ("moderate", "decrease", "Tutoring probably reduces reading."),
    ("low", "decrease", "Tutoring may reduce reading."),
    ("high", "none", "Tutoring results in little or no difference in reading."),
    ("moderate", "none", "Tutoring probably results in little or no difference in reading."),
    ("low", "none", "Tutoring may result in little or no difference in reading."),
    ("very low", "increase", "It is unclear whether Tutoring affects reading because the evidence is very "
                             "uncertain."),
    ("very low", "none", "It is unclear whether Tutoring affects reading because the evidence is very "
                         "uncertain."),
])
def test_plain_language_wording(level, direction, expected):
    assert plain_language_answer(level, "Tutoring", "reading", direction, beneficial=True) == expected


def test_plain_language_variants():
    c = Certainty("moderate")
    assert plain_language_answer(c, "tutoring", "absences", "increase") == "Tutoring probably increases absences."
    assert plain_language_answer("high", "Reminders", "attendance", "increase", beneficial=True, plural=True) == \
        "Reminders improve attendance."
    assert plain_language_answer("moderate", "Reminders", "x", "none", plural=True) == \
        "Reminders probably result in little or no difference in x."
    assert plain_language_answer("low", "A", "y", "little_or_no_difference") == \
        "A may result in little or no difference in y."
    with pytest.raises(DataError):
        plain_language_answer("medium", "A", "B", "increase")
    with pytest.raises(DataError):
        plain_language_answer("high", "A", "B", "sideways")
    with pytest.raises(DataError):
        plain_language_answer("high", " ", "B", "increase")


def test_direction_of_effect_edges():
    assert direction_of_effect(0.099, mid=0.1) == "none"
    assert direction_of_effect(0.1, mid=0.1) == "increase"      # at the MID: an important effect
    assert direction_of_effect(-0.1, mid=0.1) == "decrease"
    assert direction_of_effect(0.0) == "none"
    assert direction_of_effect(0.01) == "increase"
    assert is_beneficial(0.2) and not is_beneficial(0.2, "lower_is_better")


def test_certainty_round_trips_through_json():
    c = assess_certainty(dict(CLEAN, ci_lb=-0.05), indirectness="serious", indirectness_reason="Adults")
    assert Certainty.from_dict(json.loads(json.dumps(c.to_dict()))) == c
