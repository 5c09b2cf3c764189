"""The engine's effect measures in words: one table for every sentence, label and axis.

:data:`MEASURE_WORDS` has one entry per measure of
:data:`synthesis.meta.effects.MEASURES` (a test checks that they match), so the
report's axis labels, table headers, methods text and the natural-unit phrases
all name a measure the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

__all__ = ["MeasureWords", "MEASURE_WORDS", "RATIO_MEASURES", "measure_words", "back_transform"]


@dataclass(frozen=True)
class MeasureWords:
    """How one effect measure is named.

    Attributes
    ----------
    name : str
        In a sentence: ``"odds ratio"``.
    label : str
        An axis label or column header: ``"Odds ratio"``.
    detail : str
        The methods appendix: ``"odds ratio (analysed as log odds ratio)"``.
    short : str
        Before a number: ``"SMD 0.25"``, ``"odds ratio 1.50"``.
    """

    name: str
    label: str
    detail: str = ""
    short: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "detail", self.detail or self.name)
        object.__setattr__(self, "short", self.short or self.name)


#: measures analysed on the log scale and shown exponentiated
RATIO_MEASURES = ("OR", "RR")

#: every measure of :data:`synthesis.meta.effects.MEASURES` in words
MEASURE_WORDS: dict[str, MeasureWords] = {
    "SMD": MeasureWords("standardised mean difference", "Standardised mean difference (Hedges' g)",
                        "standardised mean difference (Hedges' g with the exact small-sample correction)",
                        short="SMD"),
    "MD": MeasureWords("mean difference", "Mean difference"),
    "OR": MeasureWords("odds ratio", "Odds ratio", "odds ratio (analysed as log odds ratio)"),
    "RR": MeasureWords("risk ratio", "Risk ratio", "risk ratio (analysed as log risk ratio)"),
    "RD": MeasureWords("risk difference", "Risk difference"),
    "PLO": MeasureWords("log odds", "Log odds"),
    "PR": MeasureWords("proportion", "Proportion"),
    "ZCOR": MeasureWords("Fisher's z", "Correlation (Fisher's z)"),
    "COR": MeasureWords("correlation", "Correlation"),
    "GEN": MeasureWords("effect size", "Effect size"),
}


def measure_words(measure: str | None) -> MeasureWords:
    """The words for ``measure`` (any case); an unknown measure is named as it is written.

    Examples
    --------
    >>> measure_words("or").label, measure_words("SMD").short, measure_words("XYZ").name
    ('Odds ratio', 'SMD', 'XYZ')
    >>> measure_words(None).label
    'Effect size'
    """
    if measure is None:
        return MEASURE_WORDS["GEN"]
    key = str(measure).upper()
    return MEASURE_WORDS.get(key) or MeasureWords(str(measure), str(measure))


def back_transform(measure: str | None) -> Callable[[float], float] | None:
    """``numpy.exp`` for ratio measures (analysed as logs), else None (shown as analysed).

    Examples
    --------
    >>> back_transform("OR") is np.exp, back_transform("SMD") is None
    (True, True)
    """
    return np.exp if str(measure).upper() in RATIO_MEASURES else None
