"""The numerical core shared by pooled models and meta-regression (metafor's ``rma.uni``).

Everything works with the design matrix ``X`` (k x p) without forming k x k
matrices, so a fit costs O(k p²): traces of the projection matrix
``P = W - W X (X'WX)^-1 X'W`` are computed from p x p products.

tau² estimators follow metafor 3.8 (``rma.uni``):

* DL  DerSimonian-Laird, truncated at 0.
* HE  Hedges (method of moments with OLS residuals), truncated at 0.
* HS  Hunter-Schmidt, ``(QE - k) / sum(w)``, truncated at 0.
* SJ  Sidik-Jonkman, one step from ``var(yi) (k-1)/k``.
* ML, REML, EB  Fisher scoring with step halving (tolerance 1e-12 on the step);
  ML/REML then pass metafor's ``ll0check`` and, when Fisher scoring fails or the
  check does, take the global likelihood maximum on [0, inf) (issue 15).
* PM  Paule-Mandel: root of the generalised Q statistic, ``Q(tau²) = k - p``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import optimize

METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
ITERATIVE = ("ML", "REML", "EB", "PM")
TOLERANCE = 1e-12
MAX_ITER = 1000  # Fisher scoring can creep linearly towards the root (issue 15)


def normalise_method(method: str) -> str:
    """Upper-case a method name and map metafor's aliases (``FE``/``CE`` -> ``EE``)."""
    m = str(method).upper()
    m = {"FE": "EE", "CE": "EE"}.get(m, m)
    if m not in METHODS:
        raise ValueError(f"unknown tau² method {method!r}; choose one of {', '.join(METHODS)} (or FE)")
    return m


@dataclass
class WLS:
    """Weighted least-squares quantities for one value of tau²."""
    w: np.ndarray          # weights 1 / (vi + tau2)
    beta: np.ndarray       # coefficients
    vb: np.ndarray         # (X'WX)^-1
    resid: np.ndarray      # y - X beta
    Q: float               # generalised Q: resid' W resid = y'Py


def wls(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> WLS:
    """Weighted least squares with weights ``1/(v + tau2)``."""
    w = 1.0 / (v + tau2)
    Xw = X * w[:, None]
    A = X.T @ Xw
    vb = np.linalg.inv(A)
    beta = vb @ (Xw.T @ y)
    resid = y - X @ beta
    return WLS(w, beta, vb, resid, float(np.dot(w * resid, resid)))


def _trace_P(fit: WLS, X: np.ndarray) -> float:
    w = fit.w
    return float(w.sum() - np.einsum("ij,ji->", fit.vb, (X * (w * w)[:, None]).T @ X))


def _trace_PP(fit: WLS, X: np.ndarray) -> float:
    w = fit.w
    B2 = fit.vb @ ((X * (w**2)[:, None]).T @ X)
    B3 = fit.vb @ ((X * (w**3)[:, None]).T @ X)
    return float(np.sum(w * w) - 2 * np.trace(B3) + np.einsum("ij,ji->", B2, B2))


def _moment_estimators(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    if method == "DL":
        fe = wls(y, v, X, 0.0)
        return max(0.0, (fe.Q - (k - p)) / _trace_P(fe, X))
    if method == "HE" and p == 1 and bool(np.all(X == 1.0)):
        rss = float(np.sum((y - y.mean()) ** 2))
        return max(0.0, (rss - v.sum() * (k - 1) / k) / (k - 1))
    if method == "HE":
        ols_inv = np.linalg.inv(X.T @ X)
        resid = y - X @ (ols_inv @ (X.T @ y))
        trace_pv = v.sum() - np.einsum("ij,ji->", ols_inv, (X * v[:, None]).T @ X)
        return max(0.0, (float(resid @ resid) - trace_pv) / (k - p))
    if method == "HS":
        fe = wls(y, v, X, 0.0)
        return max(0.0, (fe.Q - k) / fe.w.sum())
    if method == "SJ":
        tau2_0 = float(np.var(y))  # metafor: var(yi) * (k-1)/k
        if tau2_0 <= 0:
            return 0.0
        return tau2_0 * wls(y, v, X, tau2_0).Q / (k - p)
    raise AssertionError(method)


def _pooled_step(method: str, y: np.ndarray, v: np.ndarray, tau2: float) -> float:
    """One Fisher-scoring step for the intercept-only model from sums (no matrices)."""
    w = 1.0 / (v + tau2)
    sw = w.sum()
    r = y - np.dot(w, y) / sw
    wr = w * r
    if method == "REML":
        w2 = w * w
        sw2 = w2.sum()
        trP = sw - sw2 / sw
        trPP = sw2 - 2 * np.dot(w2, w) / sw + (sw2 / sw) ** 2
        return (np.dot(wr, wr) - trP) / trPP
    if method == "ML":
        return (np.dot(wr, wr) - sw) / np.dot(w, w)
    k = y.size
    return (np.dot(wr, r) * k / (k - 1) - k) / sw


def _fisher_scoring(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, start: float) -> tuple[float, bool, int]:
    k, p = X.shape
    tau2 = max(0.0, start)
    pooled = p == 1 and bool(np.all(X == 1.0))
    for iteration in range(1, MAX_ITER + 1):
        if pooled:
            step = float(_pooled_step(method, y, v, tau2))
        else:
            step = _matrix_step(method, y, v, X, tau2)
        while tau2 + step < 0:  # step halving keeps tau2 >= 0
            step /= 2
            if abs(step) < TOLERANCE:
                step = -tau2
                break
        tau2 += step
        if abs(step) <= TOLERANCE * max(1.0, tau2):
            return tau2, True, iteration
    return tau2, False, MAX_ITER


def _matrix_step(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """One Fisher-scoring step with moderators (metafor's rma.uni updates)."""
    k, p = X.shape
    fit = wls(y, v, X, tau2)
    w = fit.w
    if method == "REML":
        Py = w * fit.resid
        return (float(Py @ Py) - _trace_P(fit, X)) / _trace_PP(fit, X)
    if method == "ML":
        Py = w * fit.resid
        return (float(Py @ Py) - float(w.sum())) / float(w @ w)
    return (fit.Q * k / (k - p) - k) / float(w.sum())  # EB (Morris 1983): Q k/(k-p) = k


def _score(method: str, tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """The estimating equation that Fisher scoring solves (zero at the estimate)."""
    k, p = X.shape
    fit = wls(y, v, X, tau2)
    Py = fit.w * fit.resid
    if method == "REML":
        return float(Py @ Py) - _trace_P(fit, X)
    if method == "ML":
        return float(Py @ Py) - float(fit.w.sum())
    return fit.Q * k / (k - p) - k  # EB


def _score_root(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Bracketing (Brent) root of the EB estimating equation (decreasing in tau², so one root)."""
    if _score(method, 0.0, y, v, X) <= 0:
        return 0.0
    upper = max(1.0, 10 * float(np.var(y)))
    while _score(method, upper, y, v, X) > 0:
        upper *= 10
    return optimize.brentq(lambda t: _score(method, t, y, v, X), 0.0, upper, xtol=1e-15, rtol=1e-14,
                           maxiter=500)


def log_likelihood(method: str, tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """Log-likelihood (``ML``) or restricted log-likelihood (``REML``) at ``tau2``.

    metafor's ``ll0check`` formula, without the constant ``log|X'X| / 2`` of the
    REML likelihood (it cancels in every comparison made here).

    Examples
    --------
    >>> y, v = np.array([0.1, 0.5, 0.9]), np.array([0.04, 0.05, 0.03])
    >>> round(log_likelihood("ML", 0.0, y, v, np.ones((3, 1))), 4)
    -2.492
    """
    k, p = X.shape
    fit = wls(y, v, X, tau2)
    ll = -0.5 * float(np.sum(np.log(v + tau2))) - 0.5 * fit.Q
    if method == "ML":
        return ll - 0.5 * k * float(np.log(2 * np.pi))
    return ll - 0.5 * (k - p) * float(np.log(2 * np.pi)) + 0.5 * float(np.linalg.slogdet(fit.vb)[1])


def likelihood_maximum(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """The global maximum of the (restricted) log-likelihood over tau² in [0, inf).

    The score's sign changes from + to - (the interior local maxima) are bracketed
    on a log-spaced grid scaled by the data, each is refined by Brent's method,
    and the candidate with the highest log-likelihood wins, tau² = 0 included
    (a boundary maximum when the score at 0 is <= 0). Unlike a single root search
    from 0, this finds an interior peak that beats a local maximum at 0.

    Examples
    --------
    >>> y = np.array([-3.0445224, 0.2231436, 0.0])   # PLO, xi = (0, 5, 5), ni = (10, 9, 10)
    >>> v = np.array([2.0952381, 0.45, 0.4])
    >>> round(likelihood_maximum("REML", y, v, np.ones((3, 1))), 4)
    0.7157
    """
    scale = max(float(np.var(y)), float(np.max(v)), 1e-300)
    grid = np.concatenate([[0.0], scale * np.geomspace(1e-8, 1e3, 89)])
    score = np.array([_score(method, t, y, v, X) for t in grid])
    while score[-1] > 0:  # the score is negative for large tau²; extend the grid until it is
        grid = np.append(grid, grid[-1] * 10)
        score = np.append(score, _score(method, grid[-1], y, v, X))
    candidates = [0.0]
    for i in np.flatnonzero((score[:-1] > 0) & (score[1:] <= 0)):
        candidates.append(optimize.brentq(lambda t: _score(method, t, y, v, X), grid[i], grid[i + 1],
                                          xtol=1e-15, rtol=1e-14, maxiter=500))
    return max(candidates, key=lambda t: log_likelihood(method, t, y, v, X))


def zero_beats(method: str, tau2: float, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> bool:
    """metafor's ``ll0check``: does the fit at tau² = 0 have a higher (restricted) likelihood?

    Examples
    --------
    >>> y, v = np.array([4.82, -0.8, 4.08]), np.array([5.974, 0.091, 16.736])
    >>> zero_beats("ML", 4.05, y, v, np.ones((3, 1)))   # a lesser interior local maximum
    True
    """
    if tau2 <= 0:
        return False
    ll, ll0 = log_likelihood(method, tau2, y, v, X), log_likelihood(method, 0.0, y, v, X)
    return ll0 - ll > 1e-12 * max(1.0, abs(ll))


def _paule_mandel(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    k, p = X.shape
    target = k - p
    if wls(y, v, X, 0.0).Q <= target:
        return 0.0
    upper = max(1.0, 10 * float(np.var(y)))
    while wls(y, v, X, upper).Q > target:
        upper *= 10
    return optimize.brentq(lambda t: wls(y, v, X, t).Q - target, 0.0, upper, xtol=1e-15, rtol=1e-14,
                           maxiter=500)


def estimate_tau2(method: str, y: np.ndarray, v: np.ndarray, X: np.ndarray) -> tuple[float, dict]:
    """Estimate tau² by ``method``; returns ``(tau2, info)`` with convergence details.

    Non-convergence of Fisher scoring (it can oscillate, or creep towards the
    root too slowly for the tolerance) warns, names the method and falls back
    to a bracketing search: for ML and REML :func:`likelihood_maximum` (the
    global maximum on [0, inf)), for EB Brent's root of its decreasing
    estimating equation. A converged ML/REML estimate passes metafor's
    ``ll0check``: if the fit at tau² = 0 has the higher likelihood, Fisher
    scoring stopped at a lesser local maximum and the global search decides.

    Examples
    --------
    >>> y, v = np.array([0.1, 0.5, 0.9, -0.2]), np.array([0.04, 0.05, 0.03, 0.06])
    >>> tau2, info = estimate_tau2("DL", y, v, np.ones((4, 1)))
    >>> round(tau2, 4), info["converged"]
    (0.1979, True)
    """
    k, p = X.shape
    info: dict = {"method": method, "converged": True, "iterations": 0}
    if method == "EE":
        return 0.0, info
    if k - p < 1:
        warnings.warn(f"tau² cannot be estimated with k = {k} and {p} coefficient(s); "
                      "it is set to 0 (an equal-effects fit)", UserWarning, stacklevel=4)
        info["converged"] = False
        return 0.0, info
    if method in ("DL", "HE", "HS", "SJ"):
        return _moment_estimators(method, y, v, X), info
    if method in ("PM",):
        return _paule_mandel(y, v, X), info
    start = _moment_estimators("HE", y, v, X)
    tau2, converged, iterations = _fisher_scoring(method, y, v, X, start)
    info["iterations"] = iterations
    if converged and method in ("ML", "REML") and zero_beats(method, tau2, y, v, X):
        tau2 = likelihood_maximum(method, y, v, X)
        info["ll0check"] = "tau² = 0 beat the Fisher-scoring estimate; global maximum taken"
    if not converged:
        if method == "EB":
            tau2 = _score_root(method, y, v, X)
            fallback = "Brent's bracketing root-finder on the same estimating equation"
        else:
            tau2 = likelihood_maximum(method, y, v, X)
            fallback = "the global likelihood maximum on [0, inf) (Brent's method between sign changes)"
        warnings.warn(f"{method}: Fisher scoring did not converge in {MAX_ITER} iterations; "
                      f"tau² = {tau2:.6g} from {fallback}", RuntimeWarning, stacklevel=4)
        info.update(converged=False, fallback=fallback)
    return tau2, info


def typical_variance(v: np.ndarray, X: np.ndarray) -> float:
    """Typical within-study variance ``(k-p) / tr(P_EE)`` used by I² and H² (metafor)."""
    k, p = X.shape
    fe = wls(np.zeros_like(v), v, X, 0.0)
    return (k - p) / _trace_P(fe, X)


def q_profile_bounds(y: np.ndarray, v: np.ndarray, X: np.ndarray, level: float) -> tuple[float, float]:
    """Q-profile confidence bounds for tau² (Viechtbauer 2007), as metafor's ``confint``."""
    from scipy import stats

    k, p = X.shape
    df = k - p
    alpha = 1 - level
    q_lower_target = stats.chi2.ppf(1 - alpha / 2, df)  # Q(tau2_lb) = this
    q_upper_target = stats.chi2.ppf(alpha / 2, df)      # Q(tau2_ub) = this

    def solve(target: float) -> float:
        if wls(y, v, X, 0.0).Q <= target:
            return 0.0
        upper = max(1.0, 10 * float(np.var(y)))
        while wls(y, v, X, upper).Q > target:
            upper *= 10
        return optimize.brentq(lambda t: wls(y, v, X, t).Q - target, 0.0, upper,
                               xtol=1e-14, rtol=1e-13, maxiter=500)

    return solve(q_lower_target), solve(q_upper_target)
