"""PET-PEESE (Stanley & Doucouliagos 2014, Research Synthesis Methods 5:60-78): the estimate
adjusted for small-study effects by regression on the standard error (PET) or the variance (PEESE).

Both are weighted least squares with weights ``1/vi`` and a multiplicative dispersion, with t
tests on k - 2 df (R's ``lm(yi ~ sei, weights = 1/vi)``). PEESE's intercept is used when PET's
intercept is significant at the one-sided 5% level in the direction of the pooled effect,
otherwise PET's. The likelihood-based adjustment is in :mod:`synthesis.meta.selection`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from synthesis.meta import core as _rma
from synthesis.meta.pooled import bracket, estimate_table
from synthesis.numbers import number
from synthesis.results import Result, jsonable

__all__ = ["pet_peese", "PetPeeseResult", "PET_ALPHA"]

PET_ALPHA = 0.05  #: one-sided level of PET's intercept test that switches to PEESE


@dataclass(frozen=True)
class _LimitFit:
    estimate: float
    se: float
    tval: float
    pval: float
    ci_lb: float
    ci_ub: float
    slope: float


def _limit_regression(y: np.ndarray, v: np.ndarray, predictor: np.ndarray, level: float) -> _LimitFit:
    """Weighted least squares of ``y`` on ``predictor`` (weights ``1/v``, estimated dispersion)."""
    k = y.size
    fe = _rma.wls(y, v, np.column_stack([np.ones(k), predictor]), 0.0)
    df = k - 2
    se = np.sqrt(np.diag(fe.vb) * fe.Q / df)
    t = float(fe.beta[0] / se[0])
    crit = float(special.stdtrit(df, 1 - (1 - level) / 2))
    return _LimitFit(float(fe.beta[0]), float(se[0]), t, float(2 * special.stdtr(df, -abs(t))),
                     float(fe.beta[0] - crit * se[0]), float(fe.beta[0] + crit * se[0]), float(fe.beta[1]))


@dataclass(frozen=True, repr=False)
class PetPeeseResult(Result):
    """Result of :func:`pet_peese`: the conditional estimate and both regressions.

    ``estimate, se, tval, pval, ci_lb, ci_ub`` (t with ``df = k - 2``) belong to the
    chosen regression (``chosen`` is ``"PET"`` or ``"PEESE"``); ``pet`` and ``peese``
    hold the intercept of each, the effect expected in a study of infinite precision.
    """

    chosen: str
    pet: _LimitFit
    peese: _LimitFit
    pet_p_one_sided: float
    k: int

    def _chosen(self) -> _LimitFit:
        return self.pet if self.chosen == "PET" else self.peese

    estimate = property(lambda self: self._chosen().estimate)
    se = property(lambda self: self._chosen().se)
    tval = property(lambda self: self._chosen().tval)
    pval = property(lambda self: self._chosen().pval)
    ci_lb = property(lambda self: self._chosen().ci_lb)
    ci_ub = property(lambda self: self._chosen().ci_ub)
    df = property(lambda self: float(self.k - 2))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary: the chosen estimate, then PET's and PEESE's intercepts."""
        out = {"chosen": self.chosen, "estimate": self.estimate, "se": self.se, "tval": self.tval,
               "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "df": self.df, "k": self.k,
               "pet_p_one_sided": self.pet_p_one_sided}
        for name, reg in (("pet", self.pet), ("peese", self.peese)):
            out.update({f"{name}_{key}": getattr(reg, key) for key in ("estimate", "se", "pval", "ci_lb", "ci_ub")})
        return jsonable(out)

    def summary(self) -> pd.DataFrame:
        """PET's and PEESE's intercepts with their intervals, and the chosen one.

        Examples
        --------
        >>> from synthesis import meta_analysis
        >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.25, 0.2], [0.20, 0.10, 0.06, 0.03, 0.02, 0.01])
        >>> pet_peese(fit).summary().index.tolist()
        ['PET', 'PEESE', 'chosen']
        """
        return estimate_table({"PET": (self.pet.estimate, self.pet.ci_lb, self.pet.ci_ub),
                               "PEESE": (self.peese.estimate, self.peese.ci_lb, self.peese.ci_ub),
                               "chosen": (self.estimate, self.ci_lb, self.ci_ub)})

    def title(self) -> str:
        return (f"PET-PEESE (k = {self.k}): {self.chosen} estimate {number(self.estimate, 4)} "
                f"{bracket(self.ci_lb, self.ci_ub)}; PET intercept one-sided p = {number(self.pet_p_one_sided, 4)}")


def pet_peese(fit: Any, alpha: float = PET_ALPHA) -> PetPeeseResult:
    """PET-PEESE (Stanley & Doucouliagos 2014): the conditional limit estimate.

    PET regresses the effects on their standard errors, PEESE on their variances, both
    by weighted least squares (weights ``1/vi``) with a multiplicative dispersion and
    t tests on ``k - 2`` df (R's ``lm(yi ~ sei, weights = 1/vi)``). PEESE is chosen when
    PET's intercept differs from zero at the one-sided level ``alpha`` in the direction
    of the fit's pooled effect (PET is biased towards zero when there is a real effect,
    PEESE less so); otherwise PET's intercept is the estimate.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.45, 0.5, 0.4, 0.38, 0.41, 0.36], [0.04, 0.03, 0.02, 0.01, 0.005, 0.002])
    >>> res = pet_peese(fit)
    >>> res.chosen, round(res.pet.estimate, 3), round(res.estimate, 3)
    ('PEESE', 0.336, 0.363)
    """
    y, v = np.asarray(fit.yi, dtype=float), np.asarray(fit.vi, dtype=float)
    if y.size < 3:
        raise ValueError("PET-PEESE needs at least 3 studies")
    level = float(getattr(fit, "level", 0.95))
    pet = _limit_regression(y, v, np.sqrt(v), level)
    peese = _limit_regression(y, v, v, level)
    direction = 1.0 if float(getattr(fit, "estimate", 1.0)) >= 0 else -1.0
    p_one = float(special.stdtr(y.size - 2, -direction * pet.tval))
    return PetPeeseResult("PEESE" if p_one < alpha else "PET", pet, peese, p_one, int(y.size))
