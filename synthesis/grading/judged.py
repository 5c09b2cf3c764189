"""The GRADE domains that rest on the reviewers' judgement: risk of bias and indirectness.

Risk of bias (:func:`rate_risk_of_bias`; Guyatt et al. 2011, GRADE 4, J Clin Epidemiol
64:407-415) from each study's judgement (RoB 2 wording: low, some concerns, high), weighted
by the study's share of the meta-analytic weight:

* >= 50% of the weight from studies at high risk -> 2 levels;
* >= 25% from studies at high risk, or >= 50% from studies that are not at
  low risk (high + some concerns/unclear) -> 1 level;
* no judgement recorded (``certainty.risk_of_bias: not_assessed`` or no column) -> 1 level
  as a precaution, and the page says "not assessed" and why.

Indirectness (:func:`rate_indirectness`; Guyatt et al. 2011, GRADE 8, J Clin Epidemiol
64:1303-1310): the reviewer's judgement (``none`` / ``serious`` / ``very_serious``) with its reason.
The data-driven domains are in :mod:`synthesis.grading.certainty`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from synthesis.errors import DataError, ReviewError
from synthesis.grading.rating import Downgrade
from synthesis.numbers import percent
from synthesis.review.risk_of_bias import rob_judgements

__all__ = ["rate_risk_of_bias", "rate_indirectness", "ROB_HIGH_SERIOUS", "ROB_HIGH_VERY_SERIOUS",
           "ROB_NOT_LOW_SERIOUS"]

ROB_HIGH_VERY_SERIOUS = 50.0  #: % weight at high risk of bias -> 2 levels
ROB_HIGH_SERIOUS = 25.0  #: % weight at high risk of bias -> 1 level
ROB_NOT_LOW_SERIOUS = 50.0  #: % weight not at low risk of bias -> 1 level

_INDIRECTNESS = {"none": 0, "no": 0, "not serious": 0, "not_serious": 0,
                 "serious": 1, "very serious": 2, "very_serious": 2}


def _sentence(text: str | None) -> str:
    """The reviewer's text as a sentence (a full stop added), empty when none."""
    out = (text or "").strip()
    return out + "." if out and out[-1] not in ".!?" else out


def rate_risk_of_bias(risk_of_bias: Sequence[Any] | None, weights: Sequence[float] | None = None, *,
                      column: str = "risk_of_bias", not_assessed_reason: str | None = None) -> Downgrade:
    """Rate down for risk of bias by the share of weight from high-risk studies.

    Labels (case-insensitive): ``low``; ``some concerns`` / ``unclear`` /
    ``moderate`` (counted as some concerns); ``high`` / ``serious`` /
    ``critical``. A missing label counts as some concerns. Thresholds:
    :data:`ROB_HIGH_VERY_SERIOUS`, :data:`ROB_HIGH_SERIOUS`,
    :data:`ROB_NOT_LOW_SERIOUS` (see the module docstring).

    Parameters
    ----------
    risk_of_bias : sequence of str or None
        One label per study (row order of ``weights``); None when the review
        has no risk-of-bias column (the domain is then not assessed).
    weights : sequence of float, optional
        Model weights (any scale; normalised). Equal weights when omitted.
    column : str
        Column name, for error messages.
    not_assessed_reason : str, optional
        Why the review has no judgements (``certainty.risk_of_bias_reason``), said first.

    Raises
    ------
    DataError
        Unknown labels (naming the rows, 1-based) or a length mismatch.

    Examples
    --------
    >>> rate_risk_of_bias(["high", "low", "high"], [30, 40, 30]).levels
    2
    >>> rate_risk_of_bias(None).levels, rate_risk_of_bias(None).assessed
    (1, False)
    """
    if risk_of_bias is None:
        # GRADE rates the body of evidence after judging each study's risk of bias (GRADE
        # Handbook, section 5.2.1); with no judgement recorded we cannot rule serious risk of
        # bias out, so the rating is lowered one level as a precaution rather than assumed fine.
        why = _sentence(not_assessed_reason)
        first = f"{why} Without a judgement of each study" if why else ("The review records no risk-of-bias "
                                                                        "judgement for the studies")
        return Downgrade("risk_of_bias", 1, f"{first}, serious flaws in how they were done cannot be ruled out, "
                         "so the rating is lowered one level as a precaution.", assessed=False)
    labels = list(risk_of_bias)
    if not labels:
        raise DataError(f"column {column!r} is empty: give a risk-of-bias rating for each study")
    w = np.ones(len(labels)) if weights is None else np.asarray(weights, dtype=float)
    if w.shape != (len(labels),):
        raise DataError(f"column {column!r} has {len(labels)} ratings but there are {w.size} weights")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
        raise DataError("weights must be finite, non-negative and not all zero")
    kinds = rob_judgements(labels, column)
    share = 100.0 * w / w.sum()
    kinds_arr = np.array(kinds)
    high = float(share[kinds_arr == "high"].sum())
    not_low = float(share[kinds_arr != "low"].sum())
    if high >= ROB_HIGH_VERY_SERIOUS:
        return Downgrade("risk_of_bias", 2, f"Most of the evidence ({percent(high)} of the weight) comes "
                         "from studies at high risk of bias.")
    if high >= ROB_HIGH_SERIOUS:
        return Downgrade("risk_of_bias", 1, f"A substantial part of the evidence ({percent(high)} of the "
                         "weight) comes from studies at high risk of bias.")
    if not_low >= ROB_NOT_LOW_SERIOUS:
        return Downgrade("risk_of_bias", 1, f"Most of the evidence ({percent(not_low)} of the weight) "
                         "comes from studies with some concerns or a high risk of bias.")
    return Downgrade("risk_of_bias", 0, f"Most of the evidence ({percent(100 - not_low)} of the weight) "
                     f"comes from studies at low risk of bias ({percent(high)} from studies at high risk).")


def rate_indirectness(judgement: str | None = None, reason: str | None = None) -> Downgrade:
    """Rate down for indirectness by the reviewer's judgement.

    Parameters
    ----------
    judgement : {None, "none", "serious", "very_serious"}
        From ``certainty.indirectness`` in review.yaml (None: not set).
    reason : str, optional
        ``certainty.indirectness_reason``: one sentence shown in the report.

    Raises
    ------
    ReviewError
        An unknown judgement.

    Examples
    --------
    >>> rate_indirectness("serious", "Most studies were in primary schools only").levels
    1
    >>> rate_indirectness().assessed
    False
    """
    text = _sentence(reason)
    if judgement is None:
        return Downgrade("indirectness", 0, text or "The reviewers did not say whether the studies match the "
                         "question (people, setting, intervention, outcome); not rated down.", assessed=False)
    key = " ".join(str(judgement).strip().lower().replace("-", " ").split())
    levels = _INDIRECTNESS.get(key, _INDIRECTNESS.get(key.replace(" ", "_")))
    if levels is None:
        raise ReviewError(f"certainty.indirectness in review.yaml is {judgement!r}; use none, serious "
                          "or very_serious")
    if not text:
        text = ("The reviewer judged that the studies match the review question." if levels == 0 else
                f"The reviewer judged the evidence {'very ' if levels == 2 else ''}seriously indirect "
                "for the review question (no reason given).")
    return Downgrade("indirectness", levels, text)
