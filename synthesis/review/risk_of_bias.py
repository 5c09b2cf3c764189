"""The vocabulary of per-study risk-of-bias judgements recorded in a review's data.

The review owns what a judgement may be called; :mod:`synthesis.grading` rates
the body of evidence from the judgements this module reads.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from synthesis.errors import DataError

__all__ = ["ROB_VOCABULARY", "rob_judgements"]

#: accepted labels (lower case, single spaces) -> ``low`` / ``some`` / ``high`` (RoB 2 wording)
ROB_VOCABULARY = {
    "low": "low", "low risk": "low", "low risk of bias": "low",
    "some concerns": "some", "some": "some", "unclear": "some", "unclear risk": "some",
    "moderate": "some", "medium": "some",
    "high": "high", "high risk": "high", "high risk of bias": "high", "serious": "high",
    "critical": "high",
}


def rob_judgements(labels: Sequence[Any], column: str = "risk_of_bias") -> list[str]:
    """Each study's judgement as ``low``, ``some`` or ``high``; a missing label counts as ``some``.

    Raises
    ------
    DataError
        Naming the rows (1-based) whose label is not in :data:`ROB_VOCABULARY`.

    Examples
    --------
    >>> rob_judgements(["Low risk", None, "HIGH", "some_concerns"])
    ['low', 'some', 'high', 'some']
    """
    kinds, bad = [], []
    for row, label in enumerate(labels, start=1):
        if label is None or (isinstance(label, float) and math.isnan(label)) or str(label).strip() == "":
            kinds.append("some")
            continue
        kind = ROB_VOCABULARY.get(" ".join(str(label).strip().lower().replace("_", " ").split()))
        if kind is None:
            bad.append(f"row {row} ({label!r})")
        kinds.append(kind)
    if bad:
        raise DataError(f"column {column!r} has unknown risk-of-bias ratings in {', '.join(bad)}; "
                        "use low, some concerns (or unclear) or high")
    return kinds
