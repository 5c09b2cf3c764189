"""Pooled (intercept-only) meta-analysis: metafor's ``rma(yi, vi, method=..., test=...)``.

The result object is cheap to build: the Q-profile interval (``confint``),
influence statistics and leave-one-out fits are computed only on request.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import special, stats

from synthesis.meta import core as _rma
from synthesis.meta.checks import as_float_array, check_effects
from synthesis.errors import DataError
from synthesis.numbers import level_percent, number, p_value
from synthesis.results import Result, jsonable

if TYPE_CHECKING:
    from synthesis.meta.prediction import PredictionResult

__all__ = ["meta_analysis", "MetaResult", "resolve_inputs", "normalise_level", "StatisticAliases",
           "HeterogeneityAliases", "estimate_table", "p_text", "bracket"]


def normalise_level(level: float) -> float:
    """Accept a confidence level as 0.95 or 95 (metafor's convention); return 0.95.

    Examples
    --------
    >>> normalise_level(95), normalise_level(0.9)
    (0.95, 0.9)
    """
    fraction = float(level)
    if fraction > 1:
        fraction /= 100
    if not 0 < fraction < 1:
        raise ValueError(f"level must lie between 0 and 1 (or 0 and 100), got {level!r}")
    return fraction


def resolve_inputs(yi: Any, vi: Any = None, *, sei: Any = None, data: pd.DataFrame | None = None,
                   labels: Any = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Turn the ways of passing effect sizes into validated arrays.

    Accepts arrays, or a DataFrame ``data`` with column names in ``yi``/``vi``/``sei``/``labels``
    (a DataFrame passed as ``yi`` is taken as ``data`` with columns ``yi``, ``vi``).
    Returns ``(y, v, labels, kept_mask)`` with rows holding missing values dropped
    (``labels`` is None when none were given).
    """
    if isinstance(yi, pd.DataFrame):
        data, yi = yi, "yi"
        if vi is None and sei is None:
            vi = "vi" if "vi" in data.columns else None
            sei = "sei" if vi is None else None

    def column(spec: Any, name: str) -> Any:
        if data is not None and isinstance(spec, str):
            if spec not in data.columns:
                raise DataError(f"column {spec!r} (given as {name}) not found; the data have columns: "
                                + ", ".join(map(str, data.columns)))
            return data[spec].to_numpy()
        return spec

    y_raw = column(yi, "yi")
    if vi is None and sei is None:
        raise DataError("give the sampling variances (vi) or standard errors (sei)")
    if vi is not None:
        v_raw, v_name = column(vi, "vi"), (vi if isinstance(vi, str) else "vi")
    else:
        v_name = sei if isinstance(sei, str) else "sei"
        v_raw = as_float_array(column(sei, "sei"), v_name) ** 2
    y_name = yi if isinstance(yi, str) else "yi"
    y, v, kept = check_effects(y_raw, v_raw, names=(y_name, v_name))
    n = len(kept)
    if labels is None:
        return y, v, None, kept
    lab = np.asarray(column(labels, "labels"), dtype=object)
    if lab.size != n:
        raise DataError(f"labels has {lab.size} values but there are {n} effect sizes")
    return y, v, lab[kept].astype(str), kept


def default_labels(k: int) -> np.ndarray:
    """``Study 1`` ... ``Study k``."""
    return np.char.add("Study ", np.arange(1, k + 1).astype(str)).astype(object)


def estimate_table(rows: dict[str, float | tuple[float, float, float]]) -> pd.DataFrame:
    """Tidy ``value, ci_lb, ci_ub`` table: a number, or ``(value, ci_lb, ci_ub)``, per row.

    Examples
    --------
    >>> estimate_table({"estimate": (0.3, 0.1, 0.5), "pval": 0.02})
              value  ci_lb  ci_ub
    estimate   0.30    0.1    0.5
    pval       0.02    NaN    NaN
    """
    values = {name: (row if isinstance(row, tuple) else (row, np.nan, np.nan)) for name, row in rows.items()}
    return pd.DataFrame.from_dict(values, orient="index", columns=["value", "ci_lb", "ci_ub"], dtype=float)


def p_text(p: float) -> str:
    """``"p = 0.251"`` or ``"p < 0.001"`` for a ``repr`` (the p-value format of :mod:`synthesis.numbers`).

    Examples
    --------
    >>> p_text(0.2509), p_text(1e-5)
    ('p = 0.251', 'p < 0.001')
    """
    text = p_value(p)
    return f"p {text[0]} {text[1:]}" if text.startswith("<") else f"p = {text}"


def bracket(lower: float, upper: float, digits: int = 4) -> str:
    """``"[0.1000, 0.4000]"``: an interval in a ``repr``.

    Examples
    --------
    >>> bracket(0.1, 0.4)
    '[0.1000, 0.4000]'
    """
    return f"[{number(lower, digits)}, {number(upper, digits)}]"


class StatisticAliases:
    """metafor's names for ``stat``: ``zval`` under the z test, ``tval`` under knha / t tests.

    :attr:`stat_name` is the name the result's own tables and dictionaries use.
    """

    stat: Any
    test: str

    @property
    def zval(self) -> Any:
        return self.stat

    @property
    def tval(self) -> Any:
        return self.stat

    @property
    def stat_name(self) -> str:
        """``"tval"`` when the statistic follows a t (or F) distribution, else ``"zval"``."""
        return "tval" if self.test == "knha" else "zval"


class HeterogeneityAliases:
    """Read-only ``Q``/``Q_pval``: the older names of metafor's ``QE``/``QEp`` (residual heterogeneity)."""

    QE: float
    QEp: float

    @property
    def Q(self) -> float:
        return self.QE

    @property
    def Q_pval(self) -> float:
        return self.QEp


@dataclass(repr=False)
class MetaResult(StatisticAliases, HeterogeneityAliases, Result):
    """Result of :func:`meta_analysis` (names as in metafor, in snake_case).

    Attributes
    ----------
    estimate, se, zval, pval, ci_lb, ci_ub : float
        Pooled effect, its standard error, test statistic (``tval`` and ``df``
        under ``test="knha"``), p-value and confidence interval.
    tau2, tau, I2, H2 : float
        Heterogeneity (I² in percent).
    QE, QEp : float
        Cochran's Q (equal-effects weights) and its p-value (df = k - 1), the test for
        (residual) heterogeneity; ``Q`` and ``Q_pval`` are read-only aliases.
    pi_lb, pi_ub : float
        Prediction interval for the true effect in a new study (NaN for EE).
    k : int
        Number of studies used.
    weights : ndarray
        Percentage weight of each study.
    """

    yi: np.ndarray
    vi: np.ndarray
    label_values: np.ndarray | None
    method: str
    test: str
    level: float
    estimate: float
    se: float
    stat: float
    pval: float
    ci_lb: float
    ci_ub: float
    tau2: float
    I2: float
    H2: float
    QE: float
    QEp: float
    pi_lb: float
    pi_ub: float
    k: int
    df: float
    weights: np.ndarray
    s2: float
    fit_info: dict = field(default_factory=dict)
    kept: np.ndarray | None = None

    @property
    def labels(self) -> np.ndarray:
        """Study labels (``Study 1`` ... when none were given)."""
        if self.label_values is None:
            self.label_values = default_labels(self.k)
        return self.label_values

    # ---- metafor names that depend on the test -------------------------------------------
    @property
    def tau(self) -> float:
        return float(np.sqrt(self.tau2))

    @property
    def sei(self) -> np.ndarray:
        return np.sqrt(self.vi)

    @property
    def X(self) -> np.ndarray:
        return np.ones((self.k, 1))

    @property
    def crit(self) -> float:
        alpha = 1 - self.level
        if self.test == "knha":
            return float(stats.t.ppf(1 - alpha / 2, self.df))
        return float(stats.norm.ppf(1 - alpha / 2))

    # ---- on request --------------------------------------------------------------------------
    def predict(self, newmods: Any = None, *, level: float | None = None,
                transf: Callable[[np.ndarray], np.ndarray] | None = None, pi: bool = True) -> PredictionResult:
        """The pooled effect with its confidence and prediction interval (metafor's ``predict.rma``).

        See :func:`synthesis.meta.prediction.predict`; ``transf`` back-transforms
        (``np.exp`` for a log odds or risk ratio).

        Examples
        --------
        >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06], method="DL")
        >>> fit.predict(transf=np.exp).to_frame()[["pred", "pi_lb", "pi_ub"]].round(4)
             pred   pi_lb   pi_ub
        0  1.4049  0.5187  3.8053
        """
        from synthesis.meta.prediction import predict

        return predict(self, newmods, level=level, transf=transf, pi=pi)

    @cached_property
    def blup(self) -> pd.DataFrame:
        """Best linear unbiased predictions of the study effects (metafor's ``blup``)."""
        shrink = self.tau2 / (self.tau2 + self.vi)
        pred = shrink * self.yi + (1 - shrink) * self.estimate
        se = np.sqrt(shrink * self.vi + (1 - shrink) ** 2 * self.se**2)
        return pd.DataFrame({"pred": pred, "se": se, "pi_lb": pred - self.crit * se,
                             "pi_ub": pred + self.crit * se}, index=pd.Index(self.labels, name="study"))

    def confint(self, level: float | None = None) -> pd.DataFrame:
        """Q-profile confidence intervals for tau², tau, I² and H² (Viechtbauer 2007).

        Raises :class:`~synthesis.errors.DataError` for an equal-effects model,
        which has no tau² to bound (metafor refuses too).

        Examples
        --------
        >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06])
        >>> list(fit.confint().index)
        ['tau2', 'tau', 'I2', 'H2']
        """
        level = self.level if level is None else normalise_level(level)
        if self.method == "EE":
            raise DataError("an equal-effects (EE) model assumes tau² = 0, so there is no interval for "
                            "tau², I² or H² (metafor's confint refuses too); fit a random-effects model")
        if self.k < 2:
            raise ValueError("a confidence interval for tau² needs at least 2 studies")
        lb, ub = _rma.q_profile_bounds(self.yi, self.vi, self.X, level)
        s2 = self.s2

        def rows(t2: float) -> list[float]:
            return [t2, np.sqrt(t2), 100 * t2 / (s2 + t2), (s2 + t2) / s2]

        est = [self.tau2, self.tau, self.I2, self.H2]
        return pd.DataFrame({"estimate": est, "ci_lb": rows(lb), "ci_ub": rows(ub)},
                            index=["tau2", "tau", "I2", "H2"])

    # ---- tidy output -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary of the headline numbers (metafor's names; NaN becomes ``None``).

        Examples
        --------
        >>> import json
        >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06], method="EE")
        >>> out = fit.to_dict()
        >>> out["QE"] == fit.Q, out["pi_lb"], bool(json.dumps(out, allow_nan=False))
        (True, None, True)
        """
        out = {"method": self.method, "test": self.test, "level": self.level, "k": self.k,
               "estimate": self.estimate, "se": self.se, self.stat_name: self.stat,
               "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub,
               "pi_lb": self.pi_lb, "pi_ub": self.pi_ub, "tau2": self.tau2, "tau": self.tau,
               "I2": self.I2, "H2": self.H2, "QE": self.QE, "QEp": self.QEp}
        if self.test == "knha":
            out["df"] = self.df
        return jsonable(out)

    def summary(self) -> pd.DataFrame:
        """Table of the model: pooled effect, prediction interval and heterogeneity.

        Examples
        --------
        >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06])
        >>> bool(fit.summary().loc["estimate", "value"] == fit.estimate)
        True
        >>> list(fit.summary().index)
        ['estimate', 'se', 'zval', 'pval', 'prediction', 'tau2', 'I2', 'H2', 'QE', 'QEp', 'k']
        """
        return estimate_table({"estimate": (self.estimate, self.ci_lb, self.ci_ub), "se": self.se,
                               self.stat_name: self.stat, "pval": self.pval,
                               "prediction": (self.estimate, self.pi_lb, self.pi_ub),
                               "tau2": self.tau2, "I2": self.I2, "H2": self.H2, "QE": self.QE,
                               "QEp": self.QEp, "k": float(self.k)})

    def title(self) -> str:
        """``Random-effects model (REML), k = 13`` (first line of the ``repr``)."""
        model = "Equal-effects model" if self.method == "EE" else f"Random-effects model ({self.method})"
        return f"{model}, k = {self.k}"

    def __repr__(self) -> str:
        stat = f"t({self.df:g})" if self.test == "knha" else "z"
        level = level_percent(self.level)
        lines = [self.title()]
        if self.method != "EE":
            lines.append(f"tau² = {number(self.tau2, 4)} (tau = {number(self.tau, 4)}), "
                         f"I² = {number(self.I2, 2)}%, H² = {number(self.H2, 4)}")
        lines.append(f"QE(df = {self.k - 1}) = {number(self.QE, 4)}, {p_text(self.QEp)}")
        lines.append(f"estimate = {number(self.estimate, 4)}, se = {number(self.se, 4)}, "
                     f"{stat} = {number(self.stat, 4)}, {p_text(self.pval)}, "
                     f"{level} CI {bracket(self.ci_lb, self.ci_ub)}")
        if np.isfinite(self.pi_lb):
            lines.append(f"{level} prediction interval {bracket(self.pi_lb, self.pi_ub)}")
        return "\n".join(lines)


def fit_pooled(y: np.ndarray, v: np.ndarray, labels: np.ndarray | None, *, method: str, test: str,
               level: float, tau2: float | None = None, kept: np.ndarray | None = None) -> MetaResult:
    """Fit the intercept-only model on validated arrays (internal; see :func:`meta_analysis`)."""
    k = y.size
    X = np.ones((k, 1))
    if tau2 is None:
        tau2, info = _rma.estimate_tau2(method, y, v, X)
    else:
        info = {"method": method, "fixed_tau2": True}
    fit = _rma.wls(y, v, X, tau2)
    est = float(fit.beta[0])
    var = float(fit.vb[0, 0])
    df = k - 1
    if test == "knha":
        if df < 1:
            raise DataError("the Knapp-Hartung adjustment needs at least 2 studies")
        var *= fit.Q / df
    se = float(np.sqrt(var))
    with np.errstate(divide="ignore", invalid="ignore"):  # identical effects under knha: se = 0, as metafor
        stat = np.float64(est) / se                         # (stat +-inf, or NaN for an estimate of 0)
    alpha = 1 - level
    # scipy.special's distribution functions: the same numbers as scipy.stats, 50x less overhead
    if test == "knha":
        pval = float(2 * special.stdtr(df, -abs(stat)))
        crit = float(special.stdtrit(df, 1 - alpha / 2))
    else:
        pval = float(2 * special.ndtr(-abs(stat)))
        crit = float(special.ndtri(1 - alpha / 2))
    w_fe = 1 / v
    QE = float(np.dot(w_fe, (y - np.dot(w_fe, y) / w_fe.sum()) ** 2))
    QEp = float(special.chdtrc(df, QE)) if df > 0 else 1.0  # k = 1: metafor's QEp = 1, I² = 0, H² = 1
    s2 = (df * w_fe.sum() / (w_fe.sum() ** 2 - np.dot(w_fe, w_fe))) if df > 0 else np.nan
    if df == 0:
        I2, H2 = 0.0, 1.0
    elif method == "EE":
        I2, H2 = (max(0.0, 100 * (QE - df) / QE) if QE > 0 else 0.0), QE / df
    else:
        I2, H2 = 100 * tau2 / (s2 + tau2), (s2 + tau2) / s2
    pi_lb = pi_ub = np.nan
    if method != "EE":
        half = crit * np.sqrt(var + tau2)
        pi_lb, pi_ub = est - half, est + half
    return MetaResult(yi=y, vi=v, label_values=labels, method=method, test=test, level=level, estimate=est,
                      se=se, stat=float(stat), pval=pval, ci_lb=est - crit * se, ci_ub=est + crit * se,
                      tau2=float(tau2), I2=float(I2), H2=float(H2), QE=QE, QEp=QEp,
                      pi_lb=float(pi_lb), pi_ub=float(pi_ub), k=k, df=float(df),
                      weights=100 * fit.w / fit.w.sum(), s2=float(s2), fit_info=info, kept=kept)


#: the tests and intervals: normal (``z``) or Hartung-Knapp-Sidik-Jonkman (``knha``)
TESTS = ("z", "knha")


def check_test(test: str) -> str:
    """Validate the test name (``z`` or ``knha``; ``hksj`` accepted as an alias)."""
    t = str(test).lower()
    t = {"hksj": "knha", "hk": "knha", "t": "knha"}.get(t, t)
    if t not in TESTS:
        raise ValueError(f"unknown test {test!r}; choose 'z' or 'knha' (Hartung-Knapp-Sidik-Jonkman)")
    return t


def meta_analysis(yi: Any, vi: Any = None, *, sei: Any = None, data: pd.DataFrame | None = None,
                  labels: Any = None, method: str = "REML", test: str = "z",
                  level: float = 0.95, tau2: float | None = None) -> MetaResult:
    """Fixed- or random-effects meta-analysis (metafor's ``rma.uni`` without moderators).

    Parameters
    ----------
    yi, vi : array-like or str
        Effect sizes and sampling variances (or column names of ``data``).
    sei : array-like or str, optional
        Standard errors instead of ``vi``.
    data : DataFrame, optional
        Source of the named columns. A DataFrame passed as ``yi`` is used as
        ``data`` with columns ``yi`` and ``vi``.
    labels : array-like or str, optional
        Study labels (used by ``blup``, plots and influence tables).
    method : str
        ``EE`` (alias ``FE``), ``DL``, ``HE``, ``HS``, ``SJ``, ``ML``,
        ``REML`` (default), ``EB`` or ``PM``.
    test : str
        ``"z"`` or ``"knha"`` (Hartung-Knapp-Sidik-Jonkman: t with k - 1 df;
        with a single study ``z`` is used with a warning, as metafor).
    level : float
        Confidence level (0.95 or 95).
    tau2 : float, optional
        Fix tau² at this value instead of estimating it.

    Returns
    -------
    MetaResult

    Raises
    ------
    DataError
        Zero, negative or infinite variances; non-numeric values; mismatched
        lengths; no studies. Rows with missing values are dropped with a warning.

    Examples
    --------
    >>> fit = meta_analysis([0.30, 0.10, 0.55, 0.42], [0.02, 0.03, 0.05, 0.04], method="DL")
    >>> round(fit.estimate, 4), fit.k
    (0.3104, 4)
    """
    method = _rma.normalise_method(method)
    test = check_test(test)
    level = normalise_level(level)
    y, v, lab, kept = resolve_inputs(yi, vi, sei=sei, data=data, labels=labels)
    if y.size == 1 and method != "EE":
        warnings.warn("k = 1: tau² cannot be estimated; the single study's estimate is returned "
                      "with tau² = 0", UserWarning, stacklevel=2)
        tau2 = 0.0 if tau2 is None else tau2
    elif y.size == 2 and method != "EE":
        warnings.warn("k = 2: tau² is estimated very imprecisely from two studies; "
                      "interpret heterogeneity and the prediction interval with great caution",
                      UserWarning, stacklevel=2)
    if y.size == 1 and test == "knha":  # as metafor: 'Setting argument test="z" since k=1.'
        warnings.warn("k = 1: the Knapp-Hartung adjustment needs at least 2 studies; test='z' is used",
                      UserWarning, stacklevel=2)
        test = "z"
    return fit_pooled(y, v, lab, method=method, test=test, level=level, tau2=tau2, kept=kept)
