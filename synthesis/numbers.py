"""One rule for showing numbers to people.

Every number a page, a figure, a table, a certainty reason or a manifest's
display string shows is rounded here, with one rule: **round half away from
zero on the decimal the reader sees** (0.125 shows as 0.13, -0.125 as -0.13,
a probability of 0.875 as 88%). Python's ``round`` and ``f"{x:.2f}"`` round
half to even on the binary value (0.125 -> 0.12), which is why two parts of a
page could disagree; nothing in ``synthesis`` formats a number for a reader
any other way.

This module is a leaf (no other ``synthesis`` import) so that the grading
rules, the report and the pipeline can all use it.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = ["MISSING", "round_half_up", "number", "interval", "percent", "probability",
           "p_value", "level_percent"]

#: what a missing or non-finite number shows as
MISSING = "–"


def _finite(value: Any) -> float | None:
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def round_half_up(value: float, digits: int = 2) -> float:
    """The one rounding rule: half away from zero, on the shortest decimal repr of ``value``.

    Examples
    --------
    >>> round_half_up(0.125), round_half_up(-0.125), round(0.125, 2)
    (0.13, -0.13, 0.12)
    >>> round_half_up(2.5, 0)
    3.0
    """
    try:
        quantum = Decimal(1).scaleb(-digits)
        return float(Decimal(repr(float(value))).quantize(quantum, rounding=ROUND_HALF_UP))
    except InvalidOperation:  # NaN, infinities, absurdly large numbers
        return float(value)


def number(value: Any, digits: int = 2, transform: Callable[[float], float] | None = None) -> str:
    """A number for a reader: ``transform`` applied, then :func:`round_half_up`; no ``-0.00``.

    Examples
    --------
    >>> number(0.125), number(-0.001), number(None), number(float("nan"))
    ('0.13', '0.00', '–', '–')
    >>> import math
    >>> number(math.log(1.5), transform=math.exp)
    '1.50'
    """
    x = _finite(value)
    if x is None:
        return MISSING
    if transform is not None:
        x = _finite(transform(x))
        if x is None:
            return MISSING
    text = f"{round_half_up(x, digits):.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def interval(lower: Any, upper: Any, digits: int = 2,
             transform: Callable[[float], float] | None = None) -> str:
    """``"0.10 to 0.40"`` (words, not a dash: a dash reads as a minus sign).

    Examples
    --------
    >>> interval(0.1, 0.4)
    '0.10 to 0.40'
    """
    return f"{number(lower, digits, transform)} to {number(upper, digits, transform)}"


def percent(value: Any, digits: int = 0) -> str:
    """A quantity already in percent (I², a weight): ``"42%"``.

    Examples
    --------
    >>> percent(42.5), percent(None)
    ('43%', '–')
    """
    x = _finite(value)
    if x is None:
        return MISSING
    return f"{number(x, digits)}%"


def probability(p: Any) -> str:
    """A probability as a whole percentage: ``"88%"``; ``">99%"`` and ``"<1%"`` at the ends.

    Examples
    --------
    >>> probability(0.875), probability(0.9996), probability(0.0004), probability(None)
    ('88%', '>99%', '<1%', 'not available')
    """
    x = _finite(p)
    if x is None:
        return "not available"
    if x > 0.99:
        return ">99%"
    if x < 0.01:
        return "<1%"
    return f"{number(100 * x, 0)}%"


def p_value(p: Any) -> str:
    """A p-value: three decimals, ``"<0.001"`` below that.

    Examples
    --------
    >>> p_value(0.0125), p_value(0.00002), p_value(None)
    ('0.013', '<0.001', '–')
    """
    x = _finite(p)
    if x is None:
        return MISSING
    return "<0.001" if x < 0.001 else number(x, 3)


def level_percent(level: float) -> str:
    """A confidence or credible level, already a fraction, as a label: ``"95%"``.

    Levels given as 95 are normalised once, where they enter
    (:func:`synthesis.meta.pooled.normalise_level`); here a value outside (0, 1) is an error.

    Examples
    --------
    >>> level_percent(0.95), level_percent(0.975)
    ('95%', '97.5%')
    """
    x = float(level)
    if not 0 < x < 1:
        raise ValueError(f"a level must be a fraction between 0 and 1 (e.g. 0.95), got {level!r}")
    return f"{round_half_up(100 * x, 1):g}%"
