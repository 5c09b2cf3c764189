"""Plain-language answers in GRADE wording (Santesso et al. 2020, GRADE guidelines 26,
J Clin Epidemiol 119:126-135): the direction of an effect and the one-sentence answer
whose verb carries the certainty ("probably improves", "may reduce").
"""
from __future__ import annotations

import math

from synthesis.errors import DataError
from synthesis.grading.rating import LEVELS, Certainty
from synthesis.grading.units import orient

__all__ = ["is_beneficial", "direction_of_effect", "plain_language_answer"]


def is_beneficial(estimate: float, direction: str = "higher_is_better") -> bool:
    """Whether the estimate points towards benefit.

    Examples
    --------
    >>> is_beneficial(-0.2, "lower_is_better")
    True
    """
    return orient(estimate, estimate, estimate, direction)[0] > 0


def direction_of_effect(estimate: float, *, mid: float | None = None) -> str:
    """``"increase"``, ``"decrease"`` or ``"none"`` (|estimate| below the MID).

    "Little or no difference" is used when a MID is given and the point
    estimate is smaller than it (Santesso et al. 2020: trivial effect); the
    certainty rating carries how sure that is.

    Examples
    --------
    >>> direction_of_effect(0.05, mid=0.1), direction_of_effect(-0.3)
    ('none', 'decrease')
    """
    est = float(estimate)
    if (mid is not None and math.isfinite(float(mid)) and abs(est) < abs(float(mid))) or est == 0:
        return "none"
    return "increase" if est > 0 else "decrease"


_VERBS = {"improve": ("improves", "improve"), "increase": ("increases", "increase"),
          "decrease": ("reduces", "reduce")}
_MODAL = {"high": "", "moderate": "probably ", "low": "may "}


def plain_language_answer(certainty: Certainty | str, intervention: str, outcome: str,
                          effect_direction: str, *, beneficial: bool | None = None,
                          plural: bool = False) -> str:
    """A one-sentence answer in GRADE plain-language wording (Santesso et al. 2020).

    ===========  ====================================  ===================================================
    certainty    effect                                no important effect
    ===========  ====================================  ===================================================
    high         X improves / reduces Y                X results in little or no difference in Y
    moderate     X probably improves / reduces Y       X probably results in little or no difference in Y
    low          X may improve / reduce Y              X may result in little or no difference in Y
    very low     It is unclear whether X affects Y because the evidence is very uncertain
    ===========  ====================================  ===================================================

    Parameters
    ----------
    certainty : Certainty or str
        The rating or its level name.
    intervention, outcome : str
        Plain names, e.g. "Tutoring", "reading attainment".
    effect_direction : {"increase", "decrease", "none"}
        From :func:`direction_of_effect` on the analysis scale.
    beneficial : bool, optional
        For an increase: True says "improves", otherwise "increases".
    plural : bool
        The intervention is a plural noun ("Coaching sessions improve ...").

    Examples
    --------
    >>> plain_language_answer("moderate", "Tutoring", "reading attainment", "increase", beneficial=True)
    'Tutoring probably improves reading attainment.'
    >>> plain_language_answer("high", "Text reminders", "missed appointments", "decrease", plural=True)
    'Text reminders reduce missed appointments.'
    >>> plain_language_answer("low", "Mentoring", "reoffending", "none")
    'Mentoring may result in little or no difference in reoffending.'
    >>> plain_language_answer("very low", "coaching", "staff turnover", "decrease")
    'It is unclear whether coaching affects staff turnover because the evidence is very uncertain.'
    """
    level = certainty.level if isinstance(certainty, Certainty) else str(certainty).strip().lower()
    if level not in LEVELS:
        raise DataError(f"certainty must be one of {', '.join(LEVELS)}, got {level!r}")
    x, y = str(intervention).strip(), str(outcome).strip()
    if not x or not y:
        raise DataError("plain_language_answer needs the intervention and the outcome named")
    if level == "very low":
        return f"It is unclear whether {x} {'affect' if plural else 'affects'} {y} because the evidence is very uncertain."
    direction = {"little_or_no_difference": "none", "no_difference": "none"}.get(effect_direction,
                                                                                 effect_direction)
    modal = _MODAL[level]
    if direction == "none":
        verb = "result" if level == "low" or plural else "results"
        sentence = f"{x} {modal}{verb} in little or no difference in {y}."
    elif direction in ("increase", "decrease"):
        key = "improve" if direction == "increase" and beneficial else direction
        third, base = _VERBS[key]
        verb = base if level == "low" or plural else third
        sentence = f"{x} {modal}{verb} {y}."
    else:
        raise DataError(f"effect_direction must be 'increase', 'decrease' or 'none', got {effect_direction!r}")
    return sentence[0].upper() + sentence[1:]
