"""The GRADE rating as data: certainty levels, domains, one domain's :class:`Downgrade`
and the overall :class:`Certainty` (with its ``to_dict``/``from_dict`` for the results JSON).

The rules that fill them in are in :mod:`synthesis.grading.certainty`.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Downgrade", "Certainty", "LEVELS", "DOMAINS", "DOMAIN_NAMES"]

#: certainty levels from best to worst
LEVELS = ("high", "moderate", "low", "very low")
#: GRADE domains in report order
DOMAINS = ("risk_of_bias", "inconsistency", "imprecision", "publication_bias", "indirectness")
DOMAIN_NAMES = {"risk_of_bias": "Risk of bias", "inconsistency": "Inconsistency",
                "imprecision": "Imprecision", "publication_bias": "Publication bias",
                "indirectness": "Indirectness"}
_LEVEL_WORDS = {1: "one level", 2: "two levels"}


@dataclass(frozen=True)
class Downgrade:
    """The rating of one GRADE domain.

    Attributes
    ----------
    domain : str
        One of :data:`DOMAINS`.
    levels : int
        0 (no concern), 1 (serious) or 2 (very serious).
    reason : str
        One plain-language sentence for the report.
    assessed : bool
        False when the domain could not be judged (e.g. no risk-of-bias column).
    """

    domain: str
    levels: int
    reason: str
    assessed: bool = True

    def __post_init__(self) -> None:
        if self.domain not in DOMAINS:
            raise ValueError(f"unknown GRADE domain {self.domain!r}")
        if self.levels not in (0, 1, 2):
            raise ValueError(f"levels must be 0, 1 or 2, got {self.levels!r}")

    @property
    def name(self) -> str:
        """Domain name for people, e.g. ``"Risk of bias"``."""
        return DOMAIN_NAMES[self.domain]

    @property
    def verdict(self) -> str:
        """``"rated down one level"``, ``"no serious concern"`` or ``"not assessed"``."""
        if not self.assessed:
            return f"not assessed, rated down {_LEVEL_WORDS[self.levels]}" if self.levels else "not assessed"
        return f"rated down {_LEVEL_WORDS[self.levels]}" if self.levels else "no serious concern"

    def to_dict(self) -> dict[str, Any]:
        return {"domain": self.domain, "levels": self.levels, "reason": self.reason,
                "assessed": self.assessed}


@dataclass(frozen=True)
class Certainty:
    """Overall certainty with the rating of every domain.

    Examples
    --------
    >>> c = Certainty("low", (Downgrade("imprecision", 2, "Wide interval."),), "")
    >>> c.symbols, [d.domain for d in c.reasons]
    ('⊕⊕◯◯', ['imprecision'])
    """

    level: str
    downgrades: tuple[Downgrade, ...] = field(default_factory=tuple)
    explanation: str = ""
    start: str = "high"

    @property
    def reasons(self) -> list[Downgrade]:
        """The domains that rated the evidence down."""
        return [d for d in self.downgrades if d.levels > 0]

    @property
    def symbols(self) -> str:
        """GRADE symbols, ``⊕⊕⊕◯`` for moderate."""
        n = 4 - LEVELS.index(self.level)
        return "⊕" * n + "◯" * (4 - n)

    @property
    def label(self) -> str:
        """``"Moderate"``."""
        return self.level.capitalize()

    def to_dict(self) -> dict[str, Any]:
        return {"level": self.level, "start": self.start, "explanation": self.explanation,
                "downgrades": [d.to_dict() for d in self.downgrades]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Certainty:
        """Rebuild from :meth:`to_dict` output (e.g. the results JSON of a published report).

        Examples
        --------
        >>> c = Certainty("low", (Downgrade("imprecision", 2, "Wide."),), "Why.")
        >>> Certainty.from_dict(c.to_dict()) == c
        True
        """
        downgrades = tuple(d if isinstance(d, Downgrade) else
                           Downgrade(**{k: d[k] for k in ("domain", "levels", "reason", "assessed") if k in d})
                           for d in data.get("downgrades", ()))
        return cls(str(data["level"]), downgrades, str(data.get("explanation", "")), str(data.get("start", "high")))
