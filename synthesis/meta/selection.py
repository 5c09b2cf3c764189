"""Adjusting for publication bias: the step-function selection model.

:func:`selection_model` is Vevea & Hedges' (1995, Psychometrika 60:419-435) step-function
selection model, fitted by maximum likelihood as metafor 3.8's
``selmodel(fit, type="stepfun", steps=...)``; with one cut-point at the one-sided
p = 0.025 it is the three-parameter selection model (3PSM). Study ``i`` has the density

    f(y_i) = w(p_i) phi(y_i; mu_i, v_i + tau²) / A_i,   A_i = sum_j delta_j P(p in interval j),

where ``p_i`` is the one-sided p-value of ``y_i / sqrt(v_i)``, ``w = delta_j`` on the
j-th p-value interval and ``delta_1 = 1`` (significant results are the reference). The
likelihood is maximised over ``beta``, ``tau2 >= 0`` and ``0 <= delta_j <= 100``
(metafor's bounds) with analytic gradients, then polished by Newton steps, so the
maximum is reached to machine precision (metafor's ``optim`` stops earlier: compare with
its control set tightly). Standard errors come from the inverse Hessian of the
log-likelihood in (beta, tau2, delta), as metafor's; the likelihood-ratio test of
selection compares with the ML model without selection (``LRT``, ``LRTp``).

PET-PEESE, the regression-based adjustment, is in :mod:`synthesis.meta.precision_effect`.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from synthesis.meta import core as _rma
from synthesis.meta.pooled import bracket, estimate_table, p_text
from synthesis.numbers import number
from synthesis.results import Result, jsonable

__all__ = ["selection_model", "SelectionModelResult", "DELTA_MAX"]

DELTA_MAX = 100.0  #: upper bound of the selection weights (metafor's ``delta.max``)
_ALTERNATIVES = ("greater", "less", "two.sided")


# ---- the likelihood -----------------------------------------------------------------------------
@dataclass
class _Problem:
    """Data and the fixed parts of one step-function selection likelihood."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    cuts: np.ndarray          # k x (N+1) cut-points on the y scale, +inf ... -inf, per tail
    tails: tuple[float, ...]  # +1 (upper tail), -1 (lower tail) or both (two-sided)
    group: np.ndarray         # p-value interval of each study (0-based)
    counts: np.ndarray        # studies per interval
    tau2_free: bool
    tau2_fixed: float = 0.0

    @property
    def p(self) -> int:
        return self.X.shape[1]

    @property
    def n_delta(self) -> int:
        return self.counts.size - 1

    def unpack(self, theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        p = self.p
        beta = theta[:p]
        tau2 = float(theta[p]) if self.tau2_free else self.tau2_fixed
        delta = np.concatenate([[1.0], theta[p + int(self.tau2_free):]])
        return beta, tau2, delta

    def loglik(self, theta: np.ndarray, gradient: bool = False) -> Any:
        """Log-likelihood (and its gradient in the free parameters)."""
        beta, tau2, delta = self.unpack(theta)
        y, v, X = self.y, self.v, self.X
        mu = X @ beta
        s2 = v + tau2
        s = np.sqrt(s2)
        # G[:, j] = P(p <= steps_j), summed over the tails; interval probabilities are differences
        G = np.zeros(self.cuts.shape)
        dG_mu = np.zeros(self.cuts.shape)
        dG_t2 = np.zeros(self.cuts.shape)
        for t in self.tails:
            z = (t * mu[:, None] - self.cuts) / s[:, None]
            G += special.ndtr(z)
            if gradient:
                finite = np.isfinite(z)
                dens = np.where(finite, np.exp(-0.5 * np.where(finite, z, 0) ** 2) / np.sqrt(2 * np.pi), 0.0)
                dG_mu += t * dens / s[:, None]
                dG_t2 += -dens * np.where(finite, z, 0) / (2 * s2[:, None])
        P = np.diff(G, axis=1)
        A = P @ delta
        resid = y - mu
        ll = float(np.sum(np.log(delta[self.group])) - 0.5 * np.sum(np.log(2 * np.pi * s2))
                   - 0.5 * np.sum(resid ** 2 / s2) - np.sum(np.log(A)))
        if not gradient:
            return ll
        dA_mu = np.diff(dG_mu, axis=1) @ delta
        dA_t2 = np.diff(dG_t2, axis=1) @ delta
        g_mu = resid / s2 - dA_mu / A
        parts = [X.T @ g_mu]
        if self.tau2_free:
            parts.append([float(np.sum(-0.5 / s2 + 0.5 * resid ** 2 / s2 ** 2 - dA_t2 / A))])
        d = delta[1:]
        with np.errstate(divide="ignore"):
            parts.append(self.counts[1:] / d - (P[:, 1:] / A[:, None]).sum(axis=0))
        return ll, np.concatenate(parts)

    def hessian(self, theta: np.ndarray) -> np.ndarray:
        """Hessian of the log-likelihood: central differences of the analytic gradient, Richardson-extrapolated."""
        n = theta.size
        H = np.empty((n, n))
        for j in range(n):
            h = 1e-4 * max(abs(theta[j]), 1e-2)

            def diff(step: float) -> np.ndarray:
                e = np.zeros(n)
                e[j] = step
                return (self.loglik(theta + e, True)[1] - self.loglik(theta - e, True)[1]) / (2 * step)

            H[:, j] = (4 * diff(h / 2) - diff(h)) / 3
        return (H + H.T) / 2


def _p_values(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z) if alternative == "greater" else special.ndtr(z)


def _problem(y: np.ndarray, v: np.ndarray, X: np.ndarray, steps: np.ndarray, alternative: str,
             tau2_free: bool, tau2_fixed: float) -> _Problem:
    bounds = np.concatenate([[0.0], steps])
    share = 2.0 if alternative == "two.sided" else 1.0
    # cut-point of the p-value s on the y scale (one tail): sigma * z_(1 - s/share)
    with np.errstate(divide="ignore"):
        cuts = np.sqrt(v)[:, None] * special.ndtri(1 - bounds[None, :] / share)
    tails = {"greater": (1.0,), "less": (-1.0,), "two.sided": (1.0, -1.0)}[alternative]
    pvals = _p_values(y, v, alternative)
    group = np.searchsorted(steps, pvals, side="left")  # first j with p <= steps_j
    counts = np.bincount(group, minlength=steps.size)
    return _Problem(y, v, X, cuts, tails, group, counts, tau2_free, tau2_fixed)


def _maximise(problem: _Problem, start: np.ndarray) -> np.ndarray:
    """Maximum of the log-likelihood: L-BFGS-B within the bounds, then Newton on the interior."""
    p = problem.p
    # delta > 0 strictly: an interval with studies has log(delta) in the likelihood, and a step onto
    # delta = 0 (log-likelihood -inf) stops L-BFGS-B's line search for good
    bounds = [(None, None)] * p + ([(0.0, None)] if problem.tau2_free else []) + \
        [(1e-12, DELTA_MAX)] * problem.n_delta

    def negative(theta: np.ndarray) -> tuple[float, np.ndarray]:
        ll, g = problem.loglik(theta, True)
        return -ll, -g

    # metafor's start (the ML fit, delta = 1), then more heterogeneity and stronger selection:
    # the likelihood can have a local maximum near delta = 1 and the global one at small delta
    starts = [start]
    for tau2_factor, delta in ((4.0, 0.5), (1.0, 0.1), (1.0, 0.02)):
        other = start.copy()
        if problem.tau2_free:
            other[p] = tau2_factor * start[p] + (0.05 if tau2_factor > 1 else 0.0)
        other[p + int(problem.tau2_free):] = delta
        starts.append(other)
    best = None
    for first in starts:
        with np.errstate(all="ignore"):
            res = optimize.minimize(negative, first, jac=True, method="L-BFGS-B", bounds=bounds,
                                    options={"ftol": 1e-15, "gtol": 1e-11, "maxiter": 5000, "maxcor": 20})
        if np.isfinite(res.fun) and (best is None or res.fun < best.fun):
            best = res
    theta = best.x.copy()
    lower = np.array([b[0] if b[0] is not None else -np.inf for b in bounds])
    upper = np.array([b[1] if b[1] is not None else np.inf for b in bounds])
    ll = problem.loglik(theta)
    for _ in range(50):  # Newton on the parameters away from their bounds
        free = (theta > lower + 1e-10) & (theta < upper - 1e-10)
        free[:p] = True
        _, g = problem.loglik(theta, True)
        H = problem.hessian(theta)[np.ix_(free, free)]
        if np.any(np.linalg.eigvalsh(H) >= 0):  # not at a strict interior maximum: keep L-BFGS-B's point
            break
        try:
            step = -np.linalg.solve(H, g[free])
        except np.linalg.LinAlgError:
            break
        for _ in range(30):
            trial = theta.copy()
            trial[free] += step
            trial = np.clip(trial, lower, upper)
            ll_trial = problem.loglik(trial)
            if ll_trial >= ll - 1e-13 * max(1.0, abs(ll)):
                break
            step /= 2
        else:
            break
        moved = np.max(np.abs(trial - theta) / np.maximum(1.0, np.abs(theta)))
        theta, ll = trial, max(ll, ll_trial)
        if moved < 1e-13:
            break
    return theta


# ---- the selection model ----------------------------------------------------------------------
@dataclass(repr=False)
class SelectionModelResult(Result):
    """Result of :func:`selection_model` (metafor's ``selmodel`` names in snake_case).

    Attributes
    ----------
    estimate, se, zval, pval, ci_lb, ci_ub : float
        The adjusted effect (the intercept when there are moderators: all coefficients
        are in ``coefficients``), z test and Wald interval.
    tau2, se_tau2 : float
        Between-study variance under selection (0 for an equal-effects model).
    delta, se_delta : ndarray
        Relative likelihood of selection in each p-value interval (``delta[0] = 1``, fixed).
    steps : ndarray
        Upper bounds of the p-value intervals (the last is 1).
    LRT, LRTdf, LRTp : float, int, float
        Likelihood-ratio test of selection (``delta = 1``) against the ML model without it.
    ll, ll0 : float
        Maximised log-likelihood with and without selection.
    k : int
    counts : ndarray
        Number of studies in each p-value interval.
    """

    coefficients: pd.DataFrame
    tau2: float
    se_tau2: float
    delta: np.ndarray
    se_delta: np.ndarray
    steps: np.ndarray
    LRT: float
    LRTdf: int
    LRTp: float
    ll: float
    ll0: float
    k: int
    counts: np.ndarray
    alternative: str
    level: float
    unadjusted: Any = field(default=None)

    def _intercept(self, column: str) -> float:
        return float(self.coefficients[column].iloc[0])

    estimate = property(lambda self: self._intercept("estimate"))
    se = property(lambda self: self._intercept("se"))
    zval = property(lambda self: self._intercept("zval"))
    pval = property(lambda self: self._intercept("pval"))
    ci_lb = property(lambda self: self._intercept("ci_lb"))
    ci_ub = property(lambda self: self._intercept("ci_ub"))

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary (metafor's names; ``delta`` and ``se_delta`` as lists).

        Examples
        --------
        >>> from synthesis import meta_analysis
        >>> fit = meta_analysis([0.9, 0.6, 0.5, 0.3, 0.25, -0.1], [0.2, 0.1, 0.06, 0.03, 0.02, 0.01])
        >>> sorted(selection_model(fit).to_dict())[:5]
        ['LRT', 'LRTp', 'alternative', 'ci_lb', 'ci_ub']
        """
        return jsonable({"estimate": self.estimate, "se": self.se, "zval": self.zval, "pval": self.pval,
                         "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "tau2": self.tau2, "se_tau2": self.se_tau2,
                         "delta": self.delta, "se_delta": self.se_delta, "steps": self.steps,
                         "LRT": self.LRT, "LRTp": self.LRTp, "k": self.k, "counts": self.counts,
                         "alternative": self.alternative, "ll": self.ll, "ll0": self.ll0})

    def summary(self) -> pd.DataFrame:
        """Adjusted coefficients, tau², the selection weights and the LRT (``value, ci_lb, ci_ub``)."""
        crit = float(special.ndtri(1 - (1 - self.level) / 2))
        rows: dict[str, Any] = {name: (row.estimate, row.ci_lb, row.ci_ub)
                                for name, row in self.coefficients.iterrows()}
        rows["tau2"] = (self.tau2, _at_least_zero(self.tau2 - crit * self.se_tau2), self.tau2 + crit * self.se_tau2)
        lower = np.concatenate([[0.0], self.steps[:-1]])
        for lo, hi, d, sd in zip(lower, self.steps, self.delta, self.se_delta):
            rows[f"delta ({lo:g} < p <= {hi:g})"] = (d, _at_least_zero(d - crit * sd), d + crit * sd)
        rows.update({"LRT": self.LRT, "LRTp": self.LRTp, "k": float(self.k)})
        return estimate_table(rows)

    def title(self) -> str:
        return (f"Step-function selection model (steps {', '.join(f'{s:g}' for s in self.steps[:-1])}; "
                f"{self.alternative}), k = {self.k}: adjusted estimate {number(self.estimate, 4)} "
                f"{bracket(self.ci_lb, self.ci_ub)}; LRT = {number(self.LRT, 4)}, {p_text(self.LRTp)}")


def _at_least_zero(x: float) -> float:
    """Lower Wald bound of a non-negative parameter, truncated at 0 (NaN stays NaN), as metafor."""
    return x if np.isnan(x) else max(0.0, x)


def _design(fit: Any) -> tuple[np.ndarray, list[str]]:
    X = np.asarray(getattr(fit, "X"), dtype=float)
    names = list(getattr(fit, "coef_names", None) or ["intrcpt"])
    return X, names


def _standard_errors(problem: _Problem, theta: np.ndarray, boundary_tau2: bool) -> np.ndarray:
    """Square roots of the diagonal of the inverse observed information (NaN where not available).

    With tau² estimated at its bound 0 the likelihood need not be concave in tau² there, so
    tau² is treated as known (its row and column dropped; its SE is NaN). metafor's numerical
    Hessian, which clips tau² < 0 to 0, gives the same standard errors for the other
    parameters to its precision, and a meaningless SE of tau² near 0.
    """
    keep = np.ones(theta.size, dtype=bool)
    if boundary_tau2:
        keep[problem.p] = False
    sd = np.full(theta.size, np.nan)
    with np.errstate(all="ignore"):
        try:
            variances = np.diag(np.linalg.inv(-problem.hessian(theta)[np.ix_(keep, keep)]))
            if np.any(variances < 0):
                raise np.linalg.LinAlgError
            sd[keep] = np.sqrt(variances)
        except np.linalg.LinAlgError:
            warnings.warn("the Hessian of the selection model could not be inverted; standard errors are "
                          "not available", UserWarning, stacklevel=3)
    return sd


def selection_model(fit: Any, steps: tuple[float, ...] | list[float] = (0.025,),
                    alternative: str = "greater") -> SelectionModelResult | None:
    """Vevea & Hedges' step-function selection model, as metafor's ``selmodel(type="stepfun")``.

    Parameters
    ----------
    fit : MetaResult or MetaRegressionResult
        The model to adjust. A random-effects fit is refitted by ML (as metafor does);
        an equal-effects fit keeps tau² = 0, a fit with tau² fixed keeps it.
    steps : sequence of float
        Cut-points of the one-sided p-values (1 is added). The default, one cut at
        p = 0.025 (a significant result in the expected direction), is the 3PSM.
    alternative : {"greater", "less", "two.sided"}
        Direction of the p-values: ``"greater"`` when large effects are the ones
        favoured for publication.

    Returns
    -------
    SelectionModelResult or None
        None, with a warning, when a p-value interval other than the first holds no
        study: its weight cannot be estimated (metafor stops with an error).

    Raises
    ------
    ValueError
        Bad ``steps`` or ``alternative``, or too few studies for the parameters.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.9, 0.8, 0.62, 0.5, 0.3, 0.25, 0.1, 0.05, 0.15, 0.02],
    ...                     [0.1, 0.09, 0.06, 0.05, 0.02, 0.02, 0.01, 0.01, 0.04, 0.03])
    >>> sel = selection_model(fit)
    >>> sel.counts.tolist(), round(fit.estimate, 3), round(sel.estimate, 3), round(float(sel.delta[1]), 3)
    ([5, 5], 0.269, 0.067, 0.063)
    """
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(_ALTERNATIVES)}; got {alternative!r}")
    cut = np.unique(np.asarray(steps, dtype=float))
    if cut.size == 0 or np.any((cut < 0) | (cut > 1)) or np.any(np.isnan(cut)):
        raise ValueError(f"steps must be p-values between 0 and 1, got {steps!r}")
    if cut[-1] != 1:
        cut = np.append(cut, 1.0)
    y, v = np.asarray(fit.yi, dtype=float), np.asarray(fit.vi, dtype=float)
    X, names = _design(fit)
    k, p = X.shape
    fixed = bool(getattr(fit, "fit_info", {}).get("fixed_tau2")) or fit.method == "EE"
    tau2_fixed = float(fit.tau2) if fixed else 0.0
    if k < p + int(not fixed) + cut.size - 1:
        raise ValueError(f"k = {k} studies are too few to fit the selection model "
                         f"({p + int(not fixed) + cut.size - 1} parameters)")
    problem = _problem(y, v, X, cut, alternative, not fixed, tau2_fixed)
    # the first interval's weight is fixed at 1, so only the others need studies (metafor's check)
    empty = [f"{lo:g} < p <= {hi:g}" for lo, hi, n in zip(cut[:-1], cut[1:], problem.counts[1:]) if n == 0]
    if empty:
        warnings.warn(f"selection model not fitted: no study has a p-value in {' or '.join(empty)}, so the "
                      "selection weight of that interval cannot be estimated", UserWarning, stacklevel=2)
        return None
    # start from the ML fit without selection (metafor's starting values)
    tau2_ml = tau2_fixed if fixed else _rma.estimate_tau2("ML", y, v, X)[0]
    without = _rma.wls(y, v, X, tau2_ml)
    ll0 = _rma.log_likelihood("ML", tau2_ml, y, v, X)
    start = np.concatenate([without.beta, [tau2_ml] if not fixed else [], np.ones(cut.size - 1)])
    theta = _maximise(problem, start)
    beta, tau2, delta = problem.unpack(theta)
    ll = problem.loglik(theta)
    if np.any(delta[1:] <= 1.2e-4) or np.any(delta[1:] >= DELTA_MAX * (1 - 1.2e-4)):
        warnings.warn("one or more selection weights (delta) are at or near their bound (0 or 100); "
                      "treat the selection model with caution", UserWarning, stacklevel=2)
    sd = _standard_errors(problem, theta, boundary_tau2=not fixed and tau2 == 0)
    se_beta = sd[:p]
    se_tau2 = float(sd[p]) if not fixed else np.nan
    se_delta = np.concatenate([[np.nan], sd[p + int(not fixed):]])
    level = float(getattr(fit, "level", 0.95))
    crit = float(special.ndtri(1 - (1 - level) / 2))
    zval = beta / se_beta
    coefficients = pd.DataFrame({"estimate": beta, "se": se_beta, "zval": zval,
                                 "pval": 2 * special.ndtr(-np.abs(zval)),
                                 "ci_lb": beta - crit * se_beta, "ci_ub": beta + crit * se_beta},
                                index=pd.Index(names, name="term"))
    LRT = max(0.0, 2 * (ll - ll0))
    LRTdf = cut.size - 1
    return SelectionModelResult(coefficients=coefficients, tau2=float(tau2), se_tau2=se_tau2, delta=delta,
                                se_delta=se_delta, steps=cut, LRT=LRT, LRTdf=LRTdf,
                                LRTp=float(stats.chi2.sf(LRT, LRTdf)), ll=ll, ll0=ll0, k=k,
                                counts=problem.counts, alternative=alternative, level=level, unadjusted=fit)
