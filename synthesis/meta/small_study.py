"""Small-study effects and publication bias: Egger's regression test, Begg's
rank correlation test and trim-and-fill (metafor's ``regtest``, ``ranktest``,
``trimfill``).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from synthesis.meta import core as _rma
from synthesis.meta.pooled import (MetaResult, StatisticAliases, bracket, estimate_table, fit_pooled,
                                   p_text)
from synthesis.meta.regression import fit_regression
from synthesis.numbers import number
from synthesis.results import Result, jsonable

__all__ = ["egger_test", "EggerResult", "begg_test", "BeggResult", "trim_and_fill", "TrimFillResult",
           "MIN_STUDIES"]

#: fewest studies for which small-study tests are reported and rated (Sterne et al. 2011, BMJ 343:d4002)
MIN_STUDIES = 10


@dataclass(frozen=True, repr=False)
class EggerResult(StatisticAliases, Result):
    """Egger's regression test for funnel-plot asymmetry.

    ``stat`` is a z value (``model="rma"`` with the z test) or a t value with ``df``
    degrees of freedom (``model="lm"``, or ``"rma"`` under knha); ``zval``/``tval``
    are its metafor names. ``limit_estimate`` is the intercept, the expected effect
    of a study with standard error 0 (with its CI).
    """

    model: str
    stat: float
    pval: float
    df: float | None
    limit_estimate: float
    limit_ci_lb: float
    limit_ci_ub: float

    @property
    def stat_name(self) -> str:
        """``"tval"`` when the statistic is a t value (``df`` is set), else ``"zval"``."""
        return "zval" if self.df is None else "tval"

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary (the statistic under its metafor name, ``zval`` or ``tval``)."""
        return jsonable({"model": self.model, self.stat_name: self.stat, "pval": self.pval, "df": self.df,
                         "limit_estimate": self.limit_estimate, "limit_ci_lb": self.limit_ci_lb,
                         "limit_ci_ub": self.limit_ci_ub})

    def summary(self) -> pd.DataFrame:
        """The test (statistic, p-value, df) and the limit estimate with its interval.

        Examples
        --------
        >>> from synthesis import meta_analysis
        >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.2], [0.20, 0.10, 0.06, 0.02, 0.01])
        >>> egger_test(fit, "lm").summary().index.tolist()
        ['tval', 'pval', 'df', 'limit_estimate']
        """
        rows: dict[str, Any] = {self.stat_name: self.stat, "pval": self.pval}
        if self.df is not None:
            rows["df"] = self.df
        rows["limit_estimate"] = (self.limit_estimate, self.limit_ci_lb, self.limit_ci_ub)
        return estimate_table(rows)

    def title(self) -> str:
        stat = "z" if self.df is None else f"t({self.df:g})"
        return (f"Egger's regression test ({self.model}): {stat} = {number(self.stat, 4)}, {p_text(self.pval)}; "
                f"limit estimate {number(self.limit_estimate, 4)} {bracket(self.limit_ci_lb, self.limit_ci_ub)}")


def egger_test(fit: MetaResult, model: str = "rma") -> EggerResult:
    """Egger's regression test with the standard error as predictor.

    Parameters
    ----------
    fit : MetaResult
    model : {"rma", "lm"}
        ``"rma"``: a meta-regression on the SE with the fit's tau² method and
        test (metafor's ``regtest`` default; z test). ``"lm"``: Egger et al.'s
        (1997) classic weighted linear regression (t test, k - 2 df).

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.2], [0.20, 0.10, 0.06, 0.02, 0.01])
    >>> egger_test(fit, "lm").df
    3.0
    """
    y, v = fit.yi, fit.vi
    k = y.size
    if k < 3:
        raise ValueError("Egger's test needs at least 3 studies")
    X = np.column_stack([np.ones(k), np.sqrt(v)])
    if model == "rma":
        method = fit.method
        res = fit_regression(y, v, X, ["intrcpt", "sei"], method=method, test=fit.test, level=fit.level,
                             labels=fit.labels, kept=np.arange(k))
        df = res.df if fit.test == "knha" else None
        return EggerResult("rma", float(res.stat[1]), float(res.pval[1]), df, float(res.coef[0]),
                           float(res.ci_lb[0]), float(res.ci_ub[0]))
    if model != "lm":
        raise ValueError(f"model must be 'rma' or 'lm', got {model!r}")
    # weighted least squares with weights 1/vi and an estimated residual variance
    fe = _rma.wls(y, v, X, 0.0)
    df = k - 2
    sigma2 = fe.Q / df
    se = np.sqrt(np.diag(fe.vb) * sigma2)
    t = fe.beta / se
    crit = stats.t.ppf(1 - (1 - fit.level) / 2, df)
    return EggerResult("lm", float(t[1]), float(2 * stats.t.sf(abs(t[1]), df)), float(df),
                       float(fe.beta[0]), float(fe.beta[0] - crit * se[0]), float(fe.beta[0] + crit * se[0]))


@dataclass(frozen=True, repr=False)
class BeggResult(Result):
    """Begg and Mazumdar's (1994) rank correlation test: Kendall's tau and its p-value."""

    tau: float
    pval: float
    exact: bool

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary."""
        return jsonable({"tau": self.tau, "pval": self.pval, "exact": self.exact})

    def summary(self) -> pd.DataFrame:
        """Kendall's tau and its p-value."""
        return estimate_table({"tau": self.tau, "pval": self.pval})

    def title(self) -> str:
        kind = "exact" if self.exact else "normal approximation"
        return f"Begg's rank correlation test: Kendall's tau = {number(self.tau, 4)}, {p_text(self.pval)} ({kind})"


#: above this many studies Begg's p-value is asymptotic: the exact null distribution of Kendall's
#: tau costs O(k³) and the normal approximation is exact to far more digits than shown there
EXACT_RANK_K = 500


def begg_test(fit: MetaResult, exact: bool | None = None) -> BeggResult:
    """Rank correlation between standardised effects and their variances (metafor's ``ranktest``).

    The p-value is exact when there are no ties (metafor calls R's ``cor.test``
    with ``exact=TRUE``; the exact null distribution is used for any k) up to
    :data:`EXACT_RANK_K` studies (``exact=None``; True: at any k), otherwise from
    the normal approximation with the tie correction (``cor.test(exact = FALSE)``).

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.2], [0.20, 0.10, 0.06, 0.02, 0.01])
    >>> round(begg_test(fit).tau, 3)
    1.0
    """
    y, v = fit.yi, fit.vi
    w = 1 / v
    b = np.sum(w * y) / w.sum()
    vb = 1 / w.sum()
    y_star = (y - b) / np.sqrt(v - vb)
    ties = len(np.unique(y_star)) < y.size or len(np.unique(v)) < v.size
    exact = not ties and (fit.k <= EXACT_RANK_K if exact is None else bool(exact))
    res = stats.kendalltau(y_star, v, method="exact" if exact else "asymptotic")
    return BeggResult(float(res.statistic), float(res.pvalue), exact)


@dataclass(repr=False)
class TrimFillResult(Result):
    """Trim-and-fill (Duval & Tweedie 2000) with the L0 estimator.

    Attributes
    ----------
    k0 : int
        Number of studies imputed.
    side : {"left", "right"}
        Side of the funnel on which studies were estimated to be missing.
    fit : MetaResult
        Model refitted with the filled studies.
    filled : DataFrame
        The imputed studies (``yi``, ``vi``, mirrored from ``mirror_of``).
    original : MetaResult, optional
        The model the trim-and-fill started from.
    """

    k0: int
    side: str
    fit: MetaResult
    filled: pd.DataFrame
    original: MetaResult | None = None

    @property
    def estimate(self) -> float:
        return self.fit.estimate

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary: the number imputed and the adjusted estimate."""
        return jsonable({"k0": self.k0, "side": self.side, "estimate": self.fit.estimate,
                         "ci_lb": self.fit.ci_lb, "ci_ub": self.fit.ci_ub, "tau2": self.fit.tau2})

    def summary(self) -> pd.DataFrame:
        """The observed and the filled-in model side by side (``k, estimate, ci_lb, ci_ub, tau2``).

        Examples
        --------
        >>> from synthesis import meta_analysis
        >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.25, 0.2], [0.20, 0.10, 0.06, 0.03, 0.02, 0.01])
        >>> trim_and_fill(fit).summary().index.tolist()
        ['observed', 'filled']
        """
        fits = {name: f for name, f in (("observed", self.original), ("filled", self.fit)) if f is not None}
        return pd.DataFrame([{"k": f.k, "estimate": f.estimate, "ci_lb": f.ci_lb, "ci_ub": f.ci_ub,
                              "tau2": f.tau2} for f in fits.values()], index=list(fits))

    def title(self) -> str:
        return (f"Trim-and-fill (L0): {self.k0} studies imputed on the {self.side}; adjusted estimate "
                f"{number(self.fit.estimate, 4)} {bracket(self.fit.ci_lb, self.fit.ci_ub)}")


def trim_and_fill(fit: MetaResult, side: str | None = None, max_iter: int = 100) -> TrimFillResult:
    """Trim-and-fill with the L0 estimator, as metafor's ``trimfill``.

    The side is chosen as metafor does: from the sign of the slope in Egger's
    regression on the standard error (studies are missing on the left if the
    slope is positive). The pooled model is refitted with the filled studies
    using the same tau² method and, as metafor 3.8's ``trimfill`` (which does
    not pass ``test`` on), the z test: a Knapp-Hartung fit becomes a z-test fit
    once studies are imputed. With no study imputed the original fit is returned.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.25, 0.2], [0.20, 0.10, 0.06, 0.03, 0.02, 0.01])
    >>> res = trim_and_fill(fit)
    >>> res.side
    'left'
    """
    y, v, k = fit.yi, fit.vi, fit.k
    method, test, level = fit.method, fit.test, fit.level
    if side is None:
        egger = fit_regression(y, v, np.column_stack([np.ones(k), np.sqrt(v)]), ["intrcpt", "sei"],
                               method=method, test=test, level=level, labels=fit.labels,
                               kept=np.arange(k)) if k > 2 else None
        side = "right" if (egger is not None and egger.coef[1] < 0) else "left"
    if side not in ("left", "right"):
        raise ValueError("side must be 'left' or 'right'")
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * y, kind="stable")
    ys, vs = sign * y[order], v[order]
    k0, previous, b = 0, -1, 0.0
    for _ in range(max_iter):
        if k0 == previous:
            break
        previous = k0
        trimmed = fit_pooled(ys[: k - k0], vs[: k - k0], None, method=method,
                             test="z", level=level)
        b = trimmed.estimate
        centred = ys - b
        ranks = np.empty(k)
        ranks[np.argsort(np.abs(centred), kind="stable")] = np.arange(1, k + 1)
        signed = np.sign(centred) * ranks
        s_r = signed[signed > 0].sum()
        k0 = max(0, int(np.round((4 * s_r - k * (k + 1)) / (2 * k - 1))))
    else:
        raise RuntimeError(f"trim-and-fill did not converge in {max_iter} iterations")
    mirror = order[k - k0:]
    filled_y = sign * (2 * b - ys[k - k0:])
    filled = pd.DataFrame({"yi": filled_y, "vi": vs[k - k0:], "mirror_of": fit.labels[mirror]},
                          index=pd.Index([f"Filled {i + 1}" for i in range(k0)], name="study"))
    labels = np.concatenate([fit.labels, filled.index.to_numpy()])
    refit = fit if k0 == 0 else fit_pooled(np.concatenate([y, filled_y]), np.concatenate([v, vs[k - k0:]]),
                                           labels, method=method, test="z", level=level)
    return TrimFillResult(k0=k0, side=side, fit=refit, filled=filled, original=fit)
