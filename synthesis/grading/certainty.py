"""GRADE-style certainty of evidence by documented, tested rules.

Certainty starts at *high* for randomised trials (*low* for non-randomised
studies) and is rated down one or two levels per domain (GRADE Handbook,
Schünemann et al. 2013, section 5; Guyatt et al. 2011, J Clin Epidemiol
64:383-394). Each domain is a small function returning a :class:`Downgrade`
with a one-sentence reason for the report. The thresholds below are this
project's explicit operationalisation of the GRADE guidance; change them only
together with the tests in ``tests/test_certainty.py``.

Risk of bias (:func:`rate_risk_of_bias`; Guyatt et al. 2011, GRADE 4,
J Clin Epidemiol 64:407-415), only when the review has a risk-of-bias column,
using the share of the meta-analytic weight:

* >= 50% of the weight from studies at high risk -> 2 levels;
* >= 25% from studies at high risk, or >= 50% from studies that are not at
  low risk (high + some concerns/unclear) -> 1 level.

Inconsistency (:func:`rate_inconsistency`; Guyatt et al. 2011, GRADE 7,
J Clin Epidemiol 64:1294-1302). Heterogeneity only matters when it changes
the decision, judged with the prediction interval (PI) oriented so positive
means benefit; ``m`` is the minimal important difference (MID), 0 when none
is given:

* I² >= 75% and the PI reaches below -m and above +m (important harm and
  important benefit both plausible in a new setting) -> 2 levels;
* I² >= 50% and the PI contains 0 or +m strictly inside -> 1 level;
* otherwise (I² < 50%, or all plausible effects on one side) -> 0.

Imprecision (:func:`rate_imprecision`; Guyatt et al. 2011, GRADE 6,
J Clin Epidemiol 64:1283-1293; Zeng et al. 2021, GRADE guidance 34,
J Clin Epidemiol 137:163-175). Thresholds are crossed when strictly inside
the CI (oriented so positive means benefit):

* with a MID and |estimate| < MID (the answer is "little or no
  difference"): one level per MID threshold (-MID, +MID) the CI crosses;
* with a MID otherwise: one level per threshold among -MID, 0, +MID that
  the CI crosses, at most 2;
* without a MID: 1 level when the CI crosses 0;
* if not already rated down: 1 level when the total sample is below the
  optimal information size, 400 participants for continuous outcomes or
  300 events for binary ones (GRADE 6 rules of thumb).

Publication bias (:func:`rate_publication_bias`; Guyatt et al. 2011, GRADE 5, J Clin Epidemiol
64:1277-1282; Sterne et al. 2011, BMJ 343:d4002), only with at least 10 studies, at most 1 level:

* when Egger's test gives p < 0.10 AND the trim-and-fill estimate (Duval & Tweedie 2000, Biometrics
  56:455-463) differs materially: shifted by more than 20% of it, or on the other side of 0 or the MID;
* or when the selection model's estimate (Vevea & Hedges 1995) is across 0 or the MID, or shrunk by over
  20%: it is the effect if non-significant results go unpublished more often (this domain's concern), so an
  answer that needs "no such selection" is less certain, whatever Egger's test says; growth is no doubt.

Indirectness (:func:`rate_indirectness`; Guyatt et al. 2011, GRADE 8,
J Clin Epidemiol 64:1303-1310): the reviewer's judgement in ``review.yaml``
(``none`` / ``serious`` / ``very_serious``) with its reason.

The rating's data types are in :mod:`synthesis.grading.rating`; the
plain-language answer is in :mod:`synthesis.grading.wording`.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from synthesis.errors import DataError
from synthesis.grading.measures import back_transform
from synthesis.grading.rating import LEVELS, Certainty, Downgrade
from synthesis.grading.units import orient
from synthesis.meta.small_study import MIN_STUDIES
from synthesis.numbers import interval, level_percent, number, p_value, percent, round_half_up
from synthesis.grading.judged import (ROB_HIGH_SERIOUS, ROB_HIGH_VERY_SERIOUS, ROB_NOT_LOW_SERIOUS,
                                      rate_indirectness, rate_risk_of_bias)

__all__ = ["rate_risk_of_bias", "rate_inconsistency", "rate_imprecision", "rate_publication_bias",
           "rate_indirectness", "assess_certainty", "ROB_HIGH_SERIOUS", "ROB_HIGH_VERY_SERIOUS",
           "ROB_NOT_LOW_SERIOUS", "I2_SERIOUS", "I2_VERY_SERIOUS", "OIS_PARTICIPANTS", "OIS_EVENTS",
           "EGGER_ALPHA", "TRIMFILL_SHIFT"]

I2_SERIOUS = 50.0  #: I² (%) from which heterogeneity can rate down 1 level
I2_VERY_SERIOUS = 75.0  #: I² (%) from which heterogeneity can rate down 2 levels
OIS_PARTICIPANTS = 400  #: optimal information size, continuous outcomes (participants)
OIS_EVENTS = 300  #: optimal information size, binary outcomes (events)
EGGER_ALPHA = 0.10  #: Egger's test significance level
TRIMFILL_SHIFT = 0.20  #: relative change of the estimate after trim-and-fill that is material


# ---------------------------------------------------------------- helpers
def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _count(x: float) -> str:
    """A count of participants or events: ``"1,204"`` (rounded by the one rule)."""
    return f"{int(round_half_up(float(x), 0)):,}"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


# ---------------------------------------------------------------- domains
def rate_inconsistency(I2: float | None, pi_lb: float | None, pi_ub: float | None, *,
                       mid: float | None = None, direction: str = "higher_is_better",
                       k: int | None = None, measure: str | None = None) -> Downgrade:
    """Rate down for inconsistency: I² together with the prediction interval.

    Rule (``m`` = MID or 0, PI oriented so positive means benefit): 2 levels
    if I² >= 75% and PI < -m and PI > +m; 1 level if I² >= 50% and 0 or +m
    lies strictly inside the PI; else 0. Without a PI, I² >= 75% gives 1.

    Parameters
    ----------
    I2 : float
        I² in percent.
    pi_lb, pi_ub : float
        Prediction interval on the analysis scale.
    mid : float, optional
        Minimal important difference (positive, analysis scale).
    direction : {"higher_is_better", "lower_is_better"}
    k : int, optional
        Number of studies; with one study consistency is not assessed.
    measure : str, optional
        ``OR``/``RR`` to print the interval exponentiated.

    Examples
    --------
    >>> rate_inconsistency(80, -0.3, 0.9, mid=0.2).levels
    2
    >>> rate_inconsistency(60, 0.05, 0.9, mid=0.2).levels
    1
    >>> rate_inconsistency(40, -0.3, 0.9).levels
    0
    """
    if k is not None and k < 2:
        return Downgrade("inconsistency", 0, "With a single study, consistency across studies cannot "
                         "be judged.", assessed=False)
    if not _finite(I2):
        return Downgrade("inconsistency", 0, "Heterogeneity (I²) could not be estimated.", assessed=False)
    i2 = float(I2)
    m = abs(float(mid)) if _finite(mid) else 0.0
    if i2 < I2_SERIOUS:
        return Downgrade("inconsistency", 0, f"Results were reasonably consistent across studies "
                         f"(I² = {percent(i2)}).")
    if not (_finite(pi_lb) and _finite(pi_ub)):
        if i2 >= I2_VERY_SERIOUS:
            return Downgrade("inconsistency", 1, f"Results varied a lot between studies (I² = {percent(i2)}).")
        return Downgrade("inconsistency", 0, f"Results varied somewhat between studies (I² = {percent(i2)}), "
                         "but not enough to rate down without a prediction interval.")
    _, lo, hi = orient(0.0, float(pi_lb), float(pi_ub), direction)
    pi_text = f"prediction interval {interval(pi_lb, pi_ub, transform=back_transform(measure))}"
    if i2 >= I2_VERY_SERIOUS and lo < -m and hi > m:
        what = "important harm to important benefit" if m > 0 else "harm to benefit"
        return Downgrade("inconsistency", 2, f"Results varied a lot between studies (I² = {percent(i2)}), "
                         f"and in a new setting the effect could range from {what} ({pi_text}).")
    crosses = [t for t in ((0.0, "no effect"), (m, "the minimal important difference")) if lo < t[0] < hi]
    if crosses:
        where = " and ".join(dict.fromkeys(name for _, name in crosses))
        return Downgrade("inconsistency", 1, f"Results varied between studies (I² = {percent(i2)}), and in a "
                         f"new setting the effect could fall on either side of {where} ({pi_text}).")
    return Downgrade("inconsistency", 0, f"Results varied between studies (I² = {percent(i2)}), but in any "
                     f"new setting the effect is expected to point the same way ({pi_text}).")


def _zones(lo: float, hi: float, m: float) -> tuple[str, str]:
    """Plain names of the regions the oriented CI starts and ends in."""
    def zone(x: float) -> str:
        if m <= 0:
            return "harm" if x < 0 else "benefit" if x > 0 else "no effect"
        if x <= -m:
            return "an important harm"
        if x < 0:
            return "a small harm"
        if x == 0:
            return "no effect"
        return "a small benefit" if x < m else "an important benefit"
    return zone(lo), zone(hi)


def crossed_thresholds(estimate: Any, ci_lb: Any, ci_ub: Any, *, mid: float | None = None,
                       direction: str = "higher_is_better") -> np.ndarray:
    """How many of the imprecision rule's thresholds each interval crosses, at most 2 (vectorised).

    The thresholds are 0 and +/- the MID, or only +/- the MID when |estimate| < MID
    (a statement of little or no difference), or only 0 without a MID (the module
    docstring's rule; :func:`rate_imprecision` rates down by this many levels).

    Examples
    --------
    >>> crossed_thresholds([0.2, 0.3], [-0.05, 0.15], [0.45, 0.45], mid=0.1).tolist()
    [2, 0]
    """
    est, lo, hi = (np.asarray(x, dtype=float) for x in (estimate, ci_lb, ci_ub))
    orient(0.0, 0.0, 0.0, direction)  # checks the direction
    if direction == "lower_is_better":
        est, lo, hi = -est, -hi, -lo
    m = abs(float(mid)) if _finite(mid) and float(mid) != 0 else 0.0
    zero = (lo < 0) & (0 < hi)
    if m == 0:
        return zero.astype(int)
    crossed = ((lo < -m) & (-m < hi)).astype(int) + ((lo < m) & (m < hi)) + (zero & ~(np.abs(est) < m))
    return np.minimum(crossed, 2)


def rate_imprecision(ci_lb: float, ci_ub: float, *, estimate: float | None = None,
                     mid: float | None = None, direction: str = "higher_is_better",
                     total_n: float | None = None, total_events: float | None = None,
                     ois: int = OIS_PARTICIPANTS, ois_events: int = OIS_EVENTS,
                     level: float = 0.95, measure: str | None = None) -> Downgrade:
    """Rate down for imprecision: thresholds crossed by the CI, then sample size.

    See the module docstring for the rule. ``estimate`` decides, with a MID,
    whether the statement is about "little or no difference" (|estimate| <
    MID); when omitted, the CI midpoint is used.

    Examples
    --------
    >>> rate_imprecision(-0.05, 0.45, estimate=0.2, mid=0.1).levels
    2
    >>> rate_imprecision(-0.05, 0.45).levels
    1
    >>> rate_imprecision(0.1, 0.4, total_n=250).levels
    1
    >>> rate_imprecision(0.1, 0.4, total_n=900).levels
    0
    """
    if not (_finite(ci_lb) and _finite(ci_ub)):
        raise DataError(f"imprecision needs finite confidence limits, got {ci_lb!r} and {ci_ub!r}")
    est = (float(ci_lb) + float(ci_ub)) / 2 if estimate is None else float(estimate)
    b, lo, hi = orient(est, float(ci_lb), float(ci_ub), direction)
    m = abs(float(mid)) if _finite(mid) and float(mid) != 0 else 0.0
    ci_text = (f"{level_percent(level)} confidence interval "
               f"({interval(ci_lb, ci_ub, transform=back_transform(measure))})")
    levels = int(crossed_thresholds(est, ci_lb, ci_ub, mid=mid, direction=direction))
    if levels:
        first, last = _zones(lo, hi, m)
        return Downgrade("imprecision", levels, f"The {ci_text} is compatible with both {first} and "
                         f"{last}, so the size of the effect is uncertain.")
    if _finite(total_n) and float(total_n) < ois:
        return Downgrade("imprecision", 1, f"The studies included only {_count(total_n)} participants, "
                         f"fewer than the about {ois:,} needed for a reliable estimate.")
    if _finite(total_events) and float(total_events) < ois_events:
        return Downgrade("imprecision", 1, f"The studies recorded only {_count(total_events)} events, "
                         f"fewer than the about {ois_events:,} needed for a reliable estimate.")
    if m > 0 and abs(b) < m:
        where = "lies within the range of unimportant effects"
    elif m > 0:
        where = "lies beyond the minimal important difference" if lo > 0 else \
            "lies beyond the minimal important harm"
    else:
        where = "excludes no effect"
    return Downgrade("imprecision", 0, f"The {ci_text} {where}.")


def _material_change(estimate: float, adjusted: float, mid: float | None, direction: str,
                     shift: float, shrink_only: bool) -> bool:
    """Does ``adjusted`` cross 0 or the MID (benefit-oriented), or move by more than ``shift`` x |estimate|?"""
    (b, a), m = (orient(float(x), 0.0, 0.0, direction)[0] for x in (estimate, adjusted)), abs(float(mid or 0.0))
    moved = abs(a - b) > max(shift * abs(b), 1e-12) and (abs(a) < abs(b) or not shrink_only)
    return moved or (b > 0) != (a > 0) or (b < 0) != (a < 0) or (m > 0 and (b >= m) != (a >= m))


def _change_text(estimate: float, adjusted: float, measure: str | None) -> str:
    to_text = back_transform(measure)
    return f"from {number(estimate, transform=to_text)} to {number(adjusted, transform=to_text)}"


def _egger_trimfill(egger_p: float | None, estimate: float, adjusted_estimate: float | None, *, mid: float | None,
                    direction: str, alpha: float, shift: float, measure: str | None) -> Downgrade:
    if not _finite(egger_p):
        return Downgrade("publication_bias", 0, "No test for small-study effects was available, so "
                         "publication bias was not rated.", assessed=False)
    p = float(egger_p)
    if p >= alpha:
        return Downgrade("publication_bias", 0, f"Egger's test found no clear sign that smaller studies "
                         f"report larger effects (p = {p_value(p)}).")
    if not _finite(adjusted_estimate):
        return Downgrade("publication_bias", 0, f"Egger's test suggested that smaller studies report "
                         f"different effects (p = {p_value(p)}), but no trim-and-fill estimate was available "
                         "to judge whether this matters.")
    change = _change_text(estimate, adjusted_estimate, measure)
    if _material_change(estimate, adjusted_estimate, mid, direction, shift, shrink_only=False):
        return Downgrade("publication_bias", 1, f"Smaller studies reported different effects (Egger's test "
                         f"p = {p_value(p)}), and allowing for possibly missing studies (trim-and-fill) moves "
                         f"the estimate {change}.")
    return Downgrade("publication_bias", 0, f"Egger's test suggested that smaller studies report different "
                     f"effects (p = {p_value(p)}), but allowing for possibly missing studies (trim-and-fill) "
                     f"changes the estimate little ({change}).")


def rate_publication_bias(egger_p: float | None, estimate: float, adjusted_estimate: float | None, *,
                          k: int, mid: float | None = None, direction: str = "higher_is_better",
                          alpha: float = EGGER_ALPHA, shift: float = TRIMFILL_SHIFT,
                          min_k: int = MIN_STUDIES, measure: str | None = None,
                          selection_estimate: float | None = None) -> Downgrade:
    """Rate down one level for publication bias (the two rules of the module docstring).

    Egger p < 0.10 and a trim-and-fill shift over 20% or across 0 or the MID; or ``selection_estimate``
    across 0 or the MID or shrunk by over 20%. Not assessed below ``min_k`` studies or with neither.

    Examples
    --------
    >>> rate_publication_bias(0.03, 0.40, 0.25, k=12).levels
    1
    >>> rate_publication_bias(0.03, 0.40, 0.37, k=12).levels
    0
    >>> rate_publication_bias(0.03, 0.40, 0.10, k=6).assessed
    False
    >>> rate_publication_bias(0.40, 0.40, 0.37, k=12, selection_estimate=0.05).levels
    1
    """
    if k < min_k:
        return Downgrade("publication_bias", 0, f"With only {k} studies, tests for small-study effects are "
                         f"unreliable (at least {min_k} are needed), so publication bias was not rated.",
                         assessed=False)
    small_study = _egger_trimfill(egger_p, estimate, adjusted_estimate, mid=mid, direction=direction,
                                  alpha=alpha, shift=shift, measure=measure)
    if small_study.levels or not _finite(selection_estimate):
        return small_study
    change = _change_text(estimate, selection_estimate, measure)
    if _material_change(estimate, selection_estimate, mid, direction, shift, shrink_only=True):
        return Downgrade("publication_bias", 1, "Allowing for studies with non-significant results being "
                         f"published less often (a selection model) moves the estimate {change}, which "
                         "changes the conclusion.")
    return Downgrade("publication_bias", 0, f"{small_study.reason + ' ' if small_study.assessed else ''}Allowing "
                     "for studies with non-significant results being published less often (a selection model) "
                     f"changes the estimate little ({change}).")


# ---------------------------------------------------------------- overall
def _egger_p(egger: Any) -> float | None:
    if egger is None or isinstance(egger, (int, float, np.floating)):
        return None if egger is None else float(egger)
    return _get(egger, "pval")


def _adjusted(trimfill: Any) -> float | None:
    if trimfill is None or isinstance(trimfill, (int, float, np.floating)):
        return None if trimfill is None else float(trimfill)
    fit = _get(trimfill, "fit")
    return _get(fit, "estimate") if fit is not None else _get(trimfill, "estimate")


def assess_certainty(result: Any, *, risk_of_bias: Sequence[Any] | None = None,
                     risk_of_bias_column: str = "risk_of_bias", risk_of_bias_reason: str | None = None,
                     egger: Any = None, trimfill: Any = None,
                     selection: Any = None, mid: float | None = None, direction: str = "higher_is_better",
                     total_n: float | None = None, total_events: float | None = None,
                     indirectness: str | None = None, indirectness_reason: str | None = None,
                     start: str = "high", measure: str | None = None) -> Certainty:
    """GRADE certainty of a pooled result from the five domain rules.

    Parameters
    ----------
    result : MetaResult-like or mapping
        Needs ``estimate, ci_lb, ci_ub, pi_lb, pi_ub, I2, k`` and ``weights``
        (percent; for risk of bias) and optionally ``level``.
    risk_of_bias : sequence, optional
        One rating per study in the order of ``result.weights``.
    risk_of_bias_reason : str, optional
        Why risk of bias was not assessed (with no ratings), shown in the reason.
    egger : EggerResult-like or float, optional
        Egger's test (``.pval``) or its p-value.
    trimfill : TrimFillResult-like or float, optional
        Trim-and-fill (``.fit.estimate``) or the adjusted estimate.
    selection : SelectionModelResult-like or float, optional
        The selection model (``.estimate``) or its adjusted estimate.
    mid : float, optional
        Minimal important difference on the analysis scale (positive).
    direction : {"higher_is_better", "lower_is_better"}
    total_n, total_events : float, optional
        Participants / events over all studies (optimal information size).
    indirectness, indirectness_reason : str, optional
        The reviewer's judgement.
    start : {"high", "low"}
        ``high`` for randomised trials, ``low`` for non-randomised studies.
    measure : str, optional
        ``OR``/``RR`` to print ratios in the reasons.

    Returns
    -------
    Certainty

    Examples
    --------
    >>> fit = {"estimate": 0.3, "ci_lb": 0.05, "ci_ub": 0.55, "pi_lb": -0.2, "pi_ub": 0.8,
    ...        "I2": 62.0, "k": 8, "weights": [12.5] * 8}
    >>> c = assess_certainty(fit, mid=0.1, total_n=1200, risk_of_bias=["low"] * fit["k"])
    >>> c.level, [d.domain for d in c.reasons]
    ('low', ['inconsistency', 'imprecision'])
    """
    if start not in ("high", "low"):
        raise DataError(f"start must be 'high' (randomised trials) or 'low' (non-randomised), got {start!r}")
    k = int(_get(result, "k"))
    level = _get(result, "level", 0.95) or 0.95
    estimate = float(_get(result, "estimate"))
    downgrades = (
        rate_risk_of_bias(risk_of_bias, _get(result, "weights"), column=risk_of_bias_column,
                          not_assessed_reason=risk_of_bias_reason),
        rate_inconsistency(_get(result, "I2"), _get(result, "pi_lb"), _get(result, "pi_ub"), mid=mid,
                           direction=direction, k=k, measure=measure),
        rate_imprecision(_get(result, "ci_lb"), _get(result, "ci_ub"), estimate=estimate, mid=mid,
                         direction=direction, total_n=total_n, total_events=total_events,
                         level=level, measure=measure),
        rate_publication_bias(_egger_p(egger), estimate, _adjusted(trimfill), k=k, mid=mid,
                              direction=direction, measure=measure,
                              selection_estimate=_adjusted(selection)),
        rate_indirectness(indirectness, indirectness_reason),
    )
    total = sum(d.levels for d in downgrades)
    final = LEVELS[min(LEVELS.index(start) + total, len(LEVELS) - 1)]
    return Certainty(final, downgrades, _explain(start, final, downgrades), start)


def _explain(start: str, final: str, downgrades: Sequence[Downgrade]) -> str:
    origin = ("randomised trials" if start == "high" else "non-randomised studies")
    first = f"Certainty started at {start} because the evidence comes from {origin}"
    down = [d for d in downgrades if d.levels]
    if not down:
        return f"{first}, and no domain gave a reason to rate it down."
    total = sum(d.levels for d in down)
    parts = [f"{'two levels' if d.levels == 2 else 'one level'} for {d.name.lower()}" for d in down]
    listed = parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
    steps = "one level" if total == 1 else ("two levels" if total == 2 else f"{total} levels")
    floor = " (the lowest rating)" if final == "very low" and LEVELS.index(start) + total > 3 else ""
    return f"{first}; it was rated down {steps} ({listed}), to {final}{floor}."
