"""Effects in units people understand: months' progress, events per 100 people.

A pooled standardised mean difference or a log odds ratio means little to a
policymaker. This module translates an estimate and its confidence interval
into natural units:

* education outcomes: months' additional progress with the Education
  Endowment Foundation (EEF) conversion table (:func:`eef_months`);
* binary outcomes: the risk in the intervention group at a stated baseline
  (control-group) risk and the difference in percentage points / per 100
  people (:func:`absolute_effect`);
* other SMDs: Cohen's U3 (:func:`smd_to_u3`), "the average person receiving
  the intervention does better than 62% of the comparison group", and the
  What Works Clearinghouse improvement index (:func:`improvement_index`).

:func:`natural_units` picks the translation for a measure and returns a
:class:`NaturalUnits` with a plain-language phrase for the report.

All inputs are on the *analysis scale* of the engine: log odds / risk ratios
for ``OR`` / ``RR``, proportions for ``RD``, the SMD for ``SMD``.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import stats

from synthesis.errors import DataError
from synthesis.grading.measures import RATIO_MEASURES, back_transform, measure_words
from synthesis.meta.pooled import normalise_level
from synthesis.numbers import interval, level_percent, number, round_half_up

__all__ = ["EEF_TABLE", "eef_months", "absolute_effect", "AbsoluteEffect", "smd_to_u3",
           "improvement_index", "natural_units", "NaturalUnits", "format_effect", "orient", "DIRECTIONS"]

#: EEF conversion of an effect size (lower bound, in hundredths) to months' progress.
#: Education Endowment Foundation (2018), *Sutton Trust-EEF Teaching and Learning
#: Toolkit & EEF Early Years Toolkit: Technical appendix and process manual*, table of
#: "months' progress": 0.02-0.09 = 1 month, 0.10-0.18 = 2, 0.19-0.26 = 3, 0.27-0.35 = 4,
#: 0.36-0.44 = 5, 0.45-0.52 = 6, 0.53-0.61 = 7, 0.62-0.69 = 8, 0.70-0.78 = 9,
#: 0.79-0.87 = 10, 0.88-0.95 = 11, 0.96 and above = 12 (below 0.02: 0).
EEF_TABLE: tuple[tuple[int, int], ...] = (
    (2, 1), (10, 2), (19, 3), (27, 4), (36, 5), (45, 6),
    (53, 7), (62, 8), (70, 9), (79, 10), (88, 11), (96, 12),
)

#: allowed values of ``direction``
DIRECTIONS = ("higher_is_better", "lower_is_better")


def _hundredths(x: float) -> int:
    """|x| rounded half up to 2 decimals (:func:`synthesis.numbers.round_half_up`), in hundredths.

    The rule works on the shortest decimal that round-trips, so 0.095 is
    treated as the 0.095 the user typed (not its binary neighbour 0.09499...).
    """
    return int(round(100 * round_half_up(abs(float(x)), 2)))


def _whole(x: float) -> int:
    """A count for a phrase, rounded by the one rule (half away from zero)."""
    return int(round_half_up(x, 0))


def _eef_scalar(d: float) -> int:
    if not math.isfinite(d):
        raise DataError(f"cannot convert effect size {d!r} to months' progress: it is not a finite number")
    h = _hundredths(d)
    months = 0
    for lower, m in EEF_TABLE:
        if h >= lower:
            months = m
    return -months if d < 0 else months


def eef_months(d: Any) -> Any:
    """Months' additional progress for an effect size (EEF conversion table).

    The EEF table is written in two decimals, so ``|d|`` is first rounded half
    up to two decimals and then looked up: 0.095 -> 0.10 -> 2 months, while
    0.0949 -> 0.09 -> 1 month. Effects below 0.02 (after rounding) are 0
    months; negative effects give negative months symmetrically
    (-0.30 -> -4). Values above the table (>= 0.96) are capped at 12 months.

    Source: Education Endowment Foundation (2018), Teaching and Learning
    Toolkit technical appendix (see :data:`EEF_TABLE`).

    Parameters
    ----------
    d : float or array-like
        Standardised mean difference(s) (Hedges' g, Cohen's d).

    Returns
    -------
    int or numpy.ndarray of int

    Raises
    ------
    DataError
        For NaN or infinite values.

    Examples
    --------
    >>> eef_months(0.25)
    3
    >>> eef_months(-0.10)
    -2
    >>> eef_months([0.01, 0.02, 0.095, 1.4]).tolist()
    [0, 1, 2, 12]
    """
    if np.ndim(d) == 0:
        return _eef_scalar(float(d))
    arr = np.asarray(d, dtype=float)
    return np.array([_eef_scalar(x) for x in arr.ravel()], dtype=int).reshape(arr.shape)


@dataclass(frozen=True)
class AbsoluteEffect:
    """Risks at a baseline risk (proportions) and their difference.

    ``difference_pp`` is in percentage points (intervention minus control).
    """

    baseline_risk: float
    risk: float
    difference_pp: float
    capped: bool = False


def _check_risk(baseline_risk: Any) -> float:
    try:
        p0 = float(baseline_risk)
    except (TypeError, ValueError):
        raise DataError(f"baseline_risk must be a proportion between 0 and 1, got {baseline_risk!r}") from None
    if not 0.0 < p0 < 1.0:
        raise DataError(f"baseline_risk must be a proportion strictly between 0 and 1 (e.g. 0.45 for "
                        f"45 in 100), got {baseline_risk!r}; set decision.baseline_risk in review.yaml")
    return p0


def absolute_effect(ratio_log: float, measure: str = "OR", baseline_risk: float = 0.5) -> AbsoluteEffect:
    """Risk in the intervention group at a baseline risk, from a log OR or log RR.

    OR: odds1 = odds0 x OR, risk1 = odds1 / (1 + odds1). RR: risk1 = risk0 x RR,
    capped at 1 (``capped=True``) when an upper confidence limit would exceed
    certainty; Cochrane Handbook (version 6.4) section 15.4.4 on computing
    absolute effects from relative effects at an assumed comparator risk.

    Parameters
    ----------
    ratio_log : float
        Log odds ratio or log risk ratio (the engine's ``yi`` scale).
    measure : {"OR", "RR"}
    baseline_risk : float
        Risk in the comparison group, a proportion in (0, 1).

    Returns
    -------
    AbsoluteEffect

    Examples
    --------
    >>> a = absolute_effect(np.log(2.0), "OR", 0.5)
    >>> round(a.risk, 4), round(a.difference_pp, 2)
    (0.6667, 16.67)
    >>> absolute_effect(np.log(0.5), "RR", 0.2).difference_pp
    -10.0
    """
    p0 = _check_risk(baseline_risk)
    measure = str(measure).upper()
    x = float(ratio_log)
    if not math.isfinite(x):
        raise DataError(f"cannot compute an absolute effect from log {measure} {ratio_log!r}")
    capped = False
    if measure == "OR":
        odds1 = p0 / (1.0 - p0) * math.exp(x)
        p1 = odds1 / (1.0 + odds1)
    elif measure == "RR":
        p1 = p0 * math.exp(x)
        if p1 > 1.0:
            p1, capped = 1.0, True
    else:
        raise DataError(f"absolute_effect needs measure 'OR' or 'RR', got {measure!r}")
    return AbsoluteEffect(baseline_risk=p0, risk=p1, difference_pp=100.0 * (p1 - p0), capped=capped)


def smd_to_u3(d: Any) -> Any:
    """Cohen's U3: share of the comparison group below the average treated person.

    U3 = Phi(d) for normal outcomes with equal spread (Cohen 1988, *Statistical
    Power Analysis*, section 2.2). ``0.5`` means no difference.

    Examples
    --------
    >>> round(float(smd_to_u3(0.3)), 4)
    0.6179
    """
    return stats.norm.cdf(d)


def improvement_index(d: Any) -> Any:
    """What Works Clearinghouse improvement index: 100 x (U3 - 0.5) percentile points.

    The expected change in percentile rank of an average comparison-group
    member had they received the intervention (WWC Procedures and Standards
    Handbook, version 5.0, 2022, section VI.B).

    Examples
    --------
    >>> round(float(improvement_index(0.3)), 1)
    11.8
    """
    return 100.0 * (stats.norm.cdf(d) - 0.5)


def _level_text(level: float) -> str:
    """``"95%"`` for a confidence level of 0.95 (or 95); a clear error outside (0, 1)."""
    try:
        return level_percent(normalise_level(level))
    except (TypeError, ValueError):
        raise DataError(f"confidence level must be between 0 and 1 (e.g. 0.95), got {level!r}") from None


def orient(estimate: float, ci_lb: float, ci_ub: float, direction: str = "higher_is_better"
           ) -> tuple[float, float, float]:
    """Turn (estimate, lower, upper) so that positive values mean benefit.

    For ``lower_is_better`` outcomes the signs flip and the bounds swap.

    Examples
    --------
    >>> orient(-0.3, -0.5, -0.1, "lower_is_better")
    (0.3, 0.1, 0.5)
    """
    if direction not in DIRECTIONS:
        raise DataError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    if direction == "lower_is_better":
        return -float(estimate), -float(ci_ub), -float(ci_lb)
    return float(estimate), float(ci_lb), float(ci_ub)


def format_effect(measure: str, estimate: float, ci_lb: float, ci_ub: float, *,
                  level: float = 0.95, digits: int = 2) -> str:
    """``"SMD 0.25 (95% CI 0.10 to 0.40)"``; ratios are exponentiated.

    Examples
    --------
    >>> format_effect("OR", np.log(1.5), np.log(1.2), np.log(1.9))
    'odds ratio 1.50 (95% CI 1.20 to 1.90)'
    >>> format_effect("SMD", 0.25, 0.1, 0.4)
    'SMD 0.25 (95% CI 0.10 to 0.40)'
    """
    m = str(measure).upper()
    transform = back_transform(m)
    return (f"{measure_words(m).short} {number(estimate, digits, transform)} ({_level_text(level)} CI "
            f"{interval(ci_lb, ci_ub, digits, transform)})")


@dataclass(frozen=True)
class NaturalUnits:
    """An effect in natural units with a plain-language phrase.

    Attributes
    ----------
    kind : str
        ``"months"``, ``"absolute_risk"``, ``"risk_difference"``, ``"ratio"``,
        ``"u3"`` or ``"effect"``.
    phrase : str
        Plain language, e.g. "about 3 months' additional progress (95% CI 1 to 5 months)".
    detail : str
        The effect on the analysis measure, e.g. "odds ratio 1.38 (95% CI 1.12 to 1.70)".
    value, ci_lb, ci_ub : float
        The effect and interval in ``unit``.
    short : str
        The effect alone, for a table across reviews: "+3 months' progress",
        "71 instead of 68 in every 100 offenders", "better than 62% of the comparison group".
    """

    measure: str
    kind: str
    phrase: str
    detail: str
    value: float
    ci_lb: float
    ci_ub: float
    unit: str
    level: float
    short: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dict of the fields."""
        return asdict(self)


def _months_word(n: int) -> str:
    return f"{abs(n)} month" + ("" if abs(n) == 1 else "s")


def _months_short(n: int) -> str:
    """``+3 months' progress``, ``-1 month's progress``, ``0 months' progress``."""
    words = "month's" if abs(n) == 1 else "months'"
    return f"{n:+d} {words} progress" if n else f"0 {words} progress"


def _signed_months(n: int) -> str:
    if n == 0:
        return "0 months"
    return _months_word(n) + (" more" if n > 0 else " less")


def _months_phrase(m: int, lo: int, hi: int, lev: str) -> str:
    if lo >= 0:
        ci = f"{lo} to {_months_word(hi)}"
    elif hi <= 0:
        ci = f"{abs(hi)} to {_months_word(lo)} less"
    else:
        ci = f"{_signed_months(lo)} to {_signed_months(hi)}"
    if m == 0:
        return f"no additional progress (0 months; {lev} CI {ci})"
    if m > 0:
        main = "about 1 month's additional progress" if m == 1 else f"about {m} months' additional progress"
    else:
        main = "about 1 month's less progress" if m == -1 else f"about {-m} months' less progress"
    return f"{main} ({lev} CI {ci})"


def _count_word(n: int, more: str = "more", fewer: str = "fewer") -> str:
    return f"{abs(n)} {more if n > 0 else fewer}" if n else "0"


def _count_interval(lo: int, hi: int) -> str:
    if lo >= 0 and hi > 0:
        return f"{lo} to {hi} more"
    if hi <= 0 and lo < 0:
        return f"{abs(hi)} to {abs(lo)} fewer"
    if lo == hi == 0:
        return "0 to 0"
    return f"{_count_word(lo)} to {_count_word(hi)}"


def _counts(c0: int, c1: int, per: int, people: str, event: str | None) -> str:
    """``"71 in every 100 offenders would not reoffend instead of 68"`` (``"from 68 to 71 ..."`` without an event)."""
    if event:
        return f"{c1} in every {per:,} {people} would {event.strip()} instead of {c0}"
    return f"from {c0} to {c1} in every {per:,} {people}"


def _per(baseline_risk: float | None) -> int:
    """People per which counts are given: 1000 for rare events (< 10%), else 100."""
    return 1000 if baseline_risk is not None and baseline_risk < 0.10 else 100


def natural_units(measure: str, estimate: float, ci_lb: float, ci_ub: float, *,
                  baseline_risk: float | None = None, months_progress: bool = False,
                  direction: str = "higher_is_better", level: float = 0.95,
                  people: str = "people", event: str | None = None) -> NaturalUnits:
    """Translate a pooled effect and its CI into natural units with a phrase.

    Rules
    -----
    * ``SMD`` with ``months_progress=True``: EEF months (:func:`eef_months`) of
      the estimate and of each CI bound, oriented so that positive means
      benefit (``direction``): "about 3 months' additional progress
      (95% CI 1 to 5 months)".
    * ``SMD`` otherwise: Cohen's U3 of the benefit-oriented SMD: "the average
      person receiving it would do better than 62% of the comparison group".
    * ``OR`` / ``RR`` with ``baseline_risk``: risks per 100 people (per 1,000
      when the baseline risk is below 10%), estimate and CI bounds converted
      with :func:`absolute_effect`: "from 45 to 53 in every 100 people
      (8 more per 100; 95% CI 3 to 12 more)". Counts are rounded half up; the
      difference is the difference of the rounded risks so the phrase adds up.
    * ``OR`` / ``RR`` without a baseline risk: the ratio.
    * ``RD``: events per 100 (or per 1,000) people; with a baseline risk also
      "from ... to ...".
    * anything else: the estimate with its CI on the analysis scale.

    Parameters
    ----------
    measure : str
        The engine's measure (``SMD``, ``MD``, ``OR``, ``RR``, ``RD``, ...).
    estimate, ci_lb, ci_ub : float
        On the analysis scale (log ratios for OR/RR).
    baseline_risk : float, optional
        Comparison-group risk for binary outcomes (proportion).
    months_progress : bool
        Express an SMD as EEF months' progress (education outcomes).
    direction : {"higher_is_better", "lower_is_better"}
        Which way is benefit; used to orient SMD translations.
    level : float
        Confidence level of the interval (for the "95% CI" label).
    people : str
        Noun for counts ("people", "pupils", ...).
    event : str, optional
        What the counted people would do, after "would" ("develop lung cancer"): the
        phrase then names the outcome, "12 in every 1,000 women would develop lung
        cancer instead of 10".

    Examples
    --------
    >>> natural_units("SMD", 0.22, 0.08, 0.36, months_progress=True).phrase
    "about 3 months' additional progress (95% CI 1 to 5 months)"
    >>> natural_units("SMD", 0.22, 0.08, 0.36, months_progress=True).short
    "+3 months' progress"
    >>> natural_units("OR", np.log(1.38), np.log(1.12), np.log(1.7), baseline_risk=0.45).phrase
    'from 45 to 53 in every 100 people (8 more per 100; 95% CI 3 to 13 more)'
    >>> natural_units("OR", np.log(1.38), np.log(1.12), np.log(1.7), baseline_risk=0.45).short
    '53 instead of 45 in every 100 people'
    >>> natural_units("OR", np.log(1.2), np.log(1.0), np.log(1.4), baseline_risk=0.01, people="women",
    ...               event="develop lung cancer").phrase
    '12 in every 1,000 women would develop lung cancer instead of 10 (2 more per 1,000; 95% CI 0 to 4 more)'
    """
    m = str(measure).upper()
    est, lb, ub = float(estimate), float(ci_lb), float(ci_ub)
    if not all(math.isfinite(v) for v in (est, lb, ub)):
        raise DataError(f"natural_units needs finite estimate and CI bounds, got {est}, {lb}, {ub}")
    if lb > ub:
        raise DataError(f"ci_lb ({lb}) is above ci_ub ({ub})")
    lev = _level_text(level)
    detail = format_effect(m, est, lb, ub, level=level)
    if m == "SMD":
        b, blb, bub = orient(est, lb, ub, direction)
        if months_progress:
            mo, mlo, mhi = (int(eef_months(v)) for v in (b, blb, bub))
            return NaturalUnits(m, "months", _months_phrase(mo, mlo, mhi, lev), detail,
                                float(mo), float(mlo), float(mhi), "months", float(level),
                                _months_short(mo))
        u, ulo, uhi = (100.0 * float(smd_to_u3(v)) for v in (b, blb, bub))
        ur, ulor, uhir = (_whole(v) for v in (u, ulo, uhi))
        phrase = (f"the average {_singular(people)} receiving it would do better than {ur}% of the "
                  f"comparison group, where 50% means no difference ({lev} CI {ulor}% to {uhir}%)")
        return NaturalUnits(m, "u3", phrase, detail, u, ulo, uhi, "percent", float(level),
                            f"better than {ur}% of the comparison group")
    if m in RATIO_MEASURES and baseline_risk is not None:
        p0 = _check_risk(baseline_risk)
        per = _per(p0)
        effects = [absolute_effect(v, m, p0) for v in (est, lb, ub)]
        c0 = _whole(p0 * per)
        c1, clo, chi = (_whole(a.risk * per) for a in effects)
        phrase = (_counts(c0, c1, per, people, event) + f" ({_count_word(c1 - c0)} per {per:,}; "
                  f"{lev} CI {_count_interval(clo - c0, chi - c0)})")
        return NaturalUnits(m, "absolute_risk", phrase, detail, effects[0].difference_pp,
                            effects[1].difference_pp, effects[2].difference_pp, "percentage points",
                            float(level), f"{c1} instead of {c0} in every {per:,} {people}")
    if m in RATIO_MEASURES:
        r, rlo, rhi = (math.exp(v) for v in (est, lb, ub))
        return NaturalUnits(m, "ratio", detail, detail, r, rlo, rhi, measure_words(m).name, float(level),
                            detail.split(" (")[0])
    if m == "RD":
        per = _per(None if baseline_risk is None else _check_risk(baseline_risk))
        d, dlo, dhi = (_whole(v * per) for v in (est, lb, ub))
        phrase = f"{_count_word(d)} per {per:,} {people} ({lev} CI {_count_interval(dlo, dhi)})"
        short = f"{_count_word(d)} per {per:,} {people}"
        if baseline_risk is not None:
            c0 = _whole(float(baseline_risk) * per)
            phrase = _counts(c0, c0 + d, per, people, event) + f" ({_count_word(d)} per {per:,}; " \
                     f"{lev} CI {_count_interval(dlo, dhi)})"
            short = f"{c0 + d} instead of {c0} in every {per:,} {people}"
        return NaturalUnits(m, "risk_difference", phrase, detail, 100 * est, 100 * lb, 100 * ub,
                            "percentage points", float(level), short)
    return NaturalUnits(m, "effect", detail, detail, est, lb, ub, measure_words(m).name, float(level),
                        detail.split(" (")[0])


def _singular(noun: str) -> str:
    irregular = {"people": "person", "children": "child"}
    if noun in irregular:
        return irregular[noun]
    return noun[:-1] if noun.endswith("s") else noun
