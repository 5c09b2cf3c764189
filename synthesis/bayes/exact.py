"""The exact posterior of the normal-normal random-effects model, by quadrature over tau.

Model: ``y_i ~ N(theta_i, v_i)``, ``theta_i ~ N(mu, tau^2)``, ``mu ~ N(0, mu_sd^2)``.
Given ``tau``, ``mu`` and the study effects are conjugate, so the joint posterior
is a one-dimensional mixture over ``tau``, integrated by Simpson's rule on a fine
grid in ``log(tau)`` (as R's bayesmeta does by numerical integration). Milliseconds:
used as the fast answer for one intervention, for prior sensitivity and to check
the sampler. Intervals, highest-density intervals and probabilities are computed
from the mixture, not from draws.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import integrate, optimize, special, stats

from synthesis.bayes.priors import TauPrior, check_positive, make_tau_prior, random_effects_prior
from synthesis.errors import DataError
from synthesis.meta.checks import check_effects
from synthesis.results import Result, jsonable

__all__ = ["ExactResult", "random_effects_exact", "shortest_interval"]

#: parameters of the exact posterior
PARAMETERS = ("mu", "tau", "tau2", "theta_new")


#: most (tau, study) pairs held in memory at once (160 MB): large k is evaluated in blocks of tau
BLOCK_ELEMENTS = 20_000_000
#: fine quadrature points up to :data:`FINE_POINTS_K` studies; beyond, fewer (the posterior of
#: log tau narrows like 1/sqrt(k), so its points still lie far closer than its sd), and the grid's
#: window is found on a systematic sample of FINE_POINTS_K studies, then narrowed on all of them:
#: the work grows like 2 x fine_points(k) x k, and a 1,000,000-study input finishes (it needed 32 GB)
FINE_POINTS, FINE_POINTS_K, MIN_FINE_POINTS = 4001, 2_000, 401


def fine_points(k: int) -> int:
    """Number of fine quadrature points in log tau for ``k`` studies (odd, for Simpson's rule).

    Examples
    --------
    >>> fine_points(48), fine_points(1_000_000)
    (4001, 401)
    """
    if k <= FINE_POINTS_K:
        return FINE_POINTS
    return max(MIN_FINE_POINTS, FINE_POINTS * FINE_POINTS_K // k // 2 * 2 + 1)


def _log_marginal(tau: np.ndarray, yi: np.ndarray, vi: np.ndarray, mu_sd: float
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """log p(y | tau) with mu integrated out, and the conditional posterior of mu.

    Returns ``(log_lik, m, prec)`` where ``mu | tau, y ~ N(m, 1/prec)``. The
    marginal covariance is ``diag(v + tau^2) + mu_sd^2 11'``; Sherman-Morrison
    gives its inverse and determinant in O(k).
    """
    rows = max(1, BLOCK_ELEMENTS // max(yi.size, 1))
    if tau.size > rows:
        blocks = [_log_marginal(tau[i:i + rows], yi, vi, mu_sd) for i in range(0, tau.size, rows)]
        log_lik, m, prec = (np.concatenate(parts) for parts in zip(*blocks))
        return log_lik, m, prec
    total = vi[None, :] + (tau ** 2)[:, None]
    weights = 1.0 / total
    sum_w = weights.sum(axis=1)
    sum_wy = weights @ yi
    sum_wy2 = weights @ (yi ** 2)
    prec = 1.0 / mu_sd ** 2 + sum_w
    log_lik = -0.5 * (np.log(total).sum(axis=1) + np.log(mu_sd ** 2 * prec)
                      + sum_wy2 - sum_wy ** 2 / prec)
    return log_lik, sum_wy / prec, prec


def _simpson_weights(n: int, step: float) -> np.ndarray:
    """Composite Simpson weights for an odd number of equally spaced points."""
    w = np.ones(n)
    w[1:-1:2] = 4.0
    w[2:-1:2] = 2.0
    return w * step / 3.0


def shortest_interval(quantile: Callable[[float], float], level: float) -> tuple[float, float]:
    """Highest-density interval of a unimodal distribution from its quantile function.

    The HDI is the shortest interval holding ``level``: ``(Q(p), Q(p + level))``
    with ``p`` minimising the width (bounded Brent search; the width is unimodal
    in ``p`` when the density is). Exact up to the quantile function's accuracy.

    Examples
    --------
    >>> lo, hi = shortest_interval(lambda q: float(stats.norm.ppf(q)), 0.95)
    >>> round(lo, 6), round(hi, 6)
    (-1.959964, 1.959964)
    >>> lo, hi = shortest_interval(lambda q: float(stats.expon.ppf(q)), 0.9)  # mode at 0
    >>> round(lo, 6), round(hi, 4)
    (0.0, 2.3026)
    """
    eps = 1e-10
    width = lambda p: quantile(p + level) - quantile(p)  # noqa: E731
    found = optimize.minimize_scalar(width, bounds=(eps, 1.0 - level - eps), method="bounded",
                                     options={"xatol": 1e-10})
    p = min((eps, float(found.x), 1.0 - level - eps), key=width)
    return float(quantile(p)), float(quantile(p + level))


@dataclasses.dataclass(repr=False, eq=False)
class ExactResult(Result):
    """Posterior of the normal-normal random-effects model by quadrature over tau.

    The posterior is a mixture over a fine grid of ``tau`` values (``tau``,
    with normalised quadrature weights ``weights``) of the normal conditional
    posteriors ``mu | tau ~ N(cond_mean, 1/cond_prec)``. Follows the result
    protocol (:class:`synthesis.results.Result`): ``summary()``, ``to_frame()``,
    ``to_dict()`` and a readable ``repr``.

    Examples
    --------
    >>> res = random_effects_exact([0.2, 0.5, 0.1, 0.4], [0.02, 0.03, 0.02, 0.05])
    >>> round(res.mean("mu"), 3), res.prob_greater(0.0) > 0.9
    (0.271, True)
    >>> print(res.title())
    Exact posterior of the random-effects model (k = 4; mu ~ Normal(0, 1); tau ~ Half-Normal(0.5))
    """

    yi: np.ndarray
    vi: np.ndarray
    mu_sd: float
    tau_prior: TauPrior
    tau: np.ndarray
    weights: np.ndarray
    cond_mean: np.ndarray
    cond_prec: np.ndarray
    tau_cdf: np.ndarray
    level: float = 0.95
    mid: float | None = None
    labels: list[str] = dataclasses.field(default_factory=list)

    # -- moments and quantiles ------------------------------------------------
    def mean(self, param: str = "mu") -> float:
        """Posterior mean of ``"mu"``, ``"tau"``, ``"tau2"`` or ``"theta_new"``."""
        if param == "mu" or param == "theta_new":
            return float(self.weights @ self.cond_mean)
        return float(self.weights @ self._tau_values(param))

    def sd(self, param: str = "mu") -> float:
        """Posterior standard deviation of ``param`` (see :meth:`mean`)."""
        if param in ("mu", "theta_new"):
            var = 1.0 / self.cond_prec + (self.tau ** 2 if param == "theta_new" else 0.0)
            second = self.weights @ (var + self.cond_mean ** 2)
            return float(math.sqrt(max(second - self.mean(param) ** 2, 0.0)))
        values = self._tau_values(param)
        second = self.weights @ values ** 2
        return float(math.sqrt(max(second - (self.weights @ values) ** 2, 0.0)))

    def _tau_values(self, param: str) -> np.ndarray:
        if param == "tau":
            return self.tau
        if param == "tau2":
            return self.tau ** 2
        raise DataError(f"unknown parameter {param!r}; use 'mu', 'tau', 'tau2' or 'theta_new'")

    def _mu_sd_grid(self, param: str) -> np.ndarray:
        var = 1.0 / self.cond_prec + (self.tau ** 2 if param == "theta_new" else 0.0)
        return np.sqrt(var)

    def cdf(self, x: float, param: str = "mu") -> float:
        """Posterior P(param <= x)."""
        if param in ("mu", "theta_new"):
            z = (x - self.cond_mean) / self._mu_sd_grid(param)
            return float(self.weights @ special.ndtr(z))
        values = self._tau_values(param)
        return float(np.interp(x, values, self.tau_cdf, left=0.0, right=1.0))

    def quantile(self, q: float, param: str = "mu") -> float:
        """Posterior quantile of ``param`` (mixture CDF inverted by Brent's method)."""
        if not 0.0 < q < 1.0:
            raise DataError(f"quantile probability must be between 0 and 1, not {q}")
        if param in ("mu", "theta_new"):
            centre, spread = self.mean(param), self.sd(param)
            lo, hi = centre - 10 * spread, centre + 10 * spread
            while self.cdf(lo, param) > q:
                lo -= 10 * spread
            while self.cdf(hi, param) < q:
                hi += 10 * spread
            return float(optimize.brentq(lambda x: self.cdf(x, param) - q, lo, hi, xtol=1e-12))
        return float(np.interp(q, self.tau_cdf, self._tau_values(param)))

    def interval(self, param: str = "mu", level: float | None = None) -> tuple[float, float]:
        """Equal-tailed credible interval of ``param``."""
        level = self.level if level is None else level
        alpha = (1.0 - level) / 2.0
        return self.quantile(alpha, param), self.quantile(1.0 - alpha, param)

    def hdi(self, param: str = "mu", level: float | None = None) -> tuple[float, float]:
        """Highest-density (shortest) credible interval of ``param``, from the exact posterior."""
        level = self.level if level is None else level
        return shortest_interval(lambda q: self.quantile(q, param), level)

    def prob_greater(self, threshold: float = 0.0, param: str = "mu") -> float:
        """Posterior P(param > threshold); ``param="theta_new"`` for a new study."""
        return 1.0 - self.cdf(threshold, param)

    # -- tables ---------------------------------------------------------------
    def title(self) -> str:
        """First line of the ``repr``: the model, the number of studies and the priors."""
        return (f"Exact posterior of the random-effects model (k = {len(self.yi)}; "
                f"{self.prior_description()})")

    def summary(self) -> pd.DataFrame:
        """DataFrame indexed by parameter (mu, tau, tau2, theta_new): mean, sd, median,
        equal-tailed (``ci_lb``, ``ci_ub``) and highest-density (``hdi_lb``, ``hdi_ub``)
        intervals at ``level``."""
        rows = {}
        for param in PARAMETERS:
            lb, ub = self.interval(param)
            hdi_lb, hdi_ub = self.hdi(param)
            rows[param] = {"mean": self.mean(param), "sd": self.sd(param),
                           "median": self.quantile(0.5, param), "ci_lb": lb, "ci_ub": ub,
                           "hdi_lb": hdi_lb, "hdi_ub": hdi_ub}
        table = pd.DataFrame.from_dict(rows, orient="index")
        table.index.name = "param"
        return table

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy table, one row per parameter (column ``param``)."""
        return self.summary().reset_index()

    def density(self, param: str = "mu", n: int = 400) -> pd.DataFrame:
        """Posterior density of ``param`` on a grid (columns ``value``, ``density``)."""
        if param in ("mu", "theta_new"):
            lo, hi = self.quantile(0.0005, param), self.quantile(0.9995, param)
            x = np.linspace(lo, hi, n)
            sd = self._mu_sd_grid(param)
            dens = (self.weights[None, :] * stats.norm.pdf(x[:, None], self.cond_mean, sd)).sum(1)
            return pd.DataFrame({"value": x, "density": dens})
        if param != "tau":
            raise DataError(f"density is available for 'mu', 'theta_new' and 'tau', not {param!r}")
        log_post = (self.tau_prior.logpdf(self.tau)
                    + _log_marginal(self.tau, self.yi, self.vi, self.mu_sd)[0])
        dens = np.exp(log_post - log_post.max())
        # normalise on the tau scale (the grid is equally spaced in log tau)
        norm = integrate.trapezoid(dens, self.tau)
        keep = np.linspace(0, len(self.tau) - 1, min(n, len(self.tau))).astype(int)
        return pd.DataFrame({"value": self.tau[keep], "density": dens[keep] / norm})

    def shrinkage(self) -> pd.DataFrame:
        """Observed and posterior (shrunken) effect of each study.

        ``E[theta_i | y] = E[B m + (1 - B) y_i]`` with ``B = v_i / (v_i + tau^2)``.
        """
        tau2 = (self.tau ** 2)[:, None]
        b = self.vi[None, :] / (self.vi[None, :] + tau2)
        cond_mean = b * self.cond_mean[:, None] + (1.0 - b) * self.yi[None, :]
        cond_var = self.vi[None, :] * (1.0 - b) + b ** 2 / self.cond_prec[:, None]
        mean = self.weights @ cond_mean
        sd = np.sqrt(np.maximum(self.weights @ (cond_var + cond_mean ** 2) - mean ** 2, 0.0))
        return pd.DataFrame({"study": self.labels or [str(i + 1) for i in range(len(self.yi))],
                             "yi": self.yi, "sei": np.sqrt(self.vi), "mean": mean, "sd": sd,
                             "shift": mean - self.yi})

    def prior_description(self) -> str:
        """E.g. ``'mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)'``."""
        return random_effects_prior(self.mu_sd, self.tau_prior)

    def key_estimates(self) -> dict[str, Any]:
        """Estimates used in prior-sensitivity tables (JSON-able)."""
        lb, ub = self.interval("mu")
        out = {"mu_mean": self.mean("mu"), "mu_ci_lb": lb, "mu_ci_ub": ub,
               "tau_mean": self.mean("tau"), "tau_median": self.quantile(0.5, "tau"),
               "prob_gt_0": self.prob_greater(0.0)}
        if self.mid is not None:
            out["prob_gt_mid"] = self.prob_greater(self.mid)
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary with the prior stated."""
        table = self.summary()
        return jsonable({"model": "random_effects_exact", "prior": self.prior_description(),
                         "level": self.level, "mid": self.mid, "k": len(self.yi),
                         "estimates": {p: row.to_dict() for p, row in table.iterrows()},
                         **self.key_estimates()})


def _tau_grid(log_post: Any, reference: float, n_fine: int = 4001
              ) -> tuple[np.ndarray, np.ndarray]:
    """Grid in u = log(tau) covering the posterior mass; returns (u, Simpson weights).

    A coarse pass finds where ``log p(tau | y) + u`` (the density in u) is within
    40 log units of its maximum, extending the range for heavy-tailed priors.
    """
    step = 0.05
    lo, hi = math.log(reference) - 25.0, math.log(reference) + 15.0
    for _ in range(40):
        u = np.arange(lo, hi + step / 2, step)
        f = log_post(np.exp(u)) + u
        top = np.nanmax(f)
        extended = False
        if f[0] > top - 40.0 and lo > -700.0:
            lo -= 20.0
            extended = True
        if f[-1] > top - 40.0 and hi < 700.0:
            hi += 20.0
            extended = True
        if not extended:
            break
    inside = np.flatnonzero(f > top - 40.0)
    a, b = u[max(inside[0] - 1, 0)], u[min(inside[-1] + 1, len(u) - 1)]
    fine = np.linspace(a, b, n_fine)
    return fine, _simpson_weights(n_fine, fine[1] - fine[0])


def _narrowed(log_post: Any, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of the grid ``u`` where ``log p(tau | y) + u`` is within 40 log units of its maximum, refined."""
    f = log_post(np.exp(u)) + u
    inside = np.flatnonzero(f > np.nanmax(f) - 40.0)
    fine = np.linspace(u[max(inside[0] - 1, 0)], u[min(inside[-1] + 1, len(u) - 1)], u.size)
    return fine, _simpson_weights(u.size, fine[1] - fine[0])


def random_effects_exact(yi: Any, vi: Any, mu_sd: float = 1.0,
                         tau_prior: str | TauPrior = "half_normal", tau_scale: float = 0.5,
                         *, level: float = 0.95, mid: float | None = None,
                         labels: Sequence[str] | None = None) -> ExactResult:
    """Posterior of the normal-normal random-effects model by integration over tau.

    Model: ``y_i ~ N(theta_i, v_i)``, ``theta_i ~ N(mu, tau^2)``,
    ``mu ~ N(0, mu_sd^2)``, ``tau`` with the chosen prior. Given ``tau``, ``mu``
    and the ``theta_i`` are conjugate, so the joint posterior is a
    one-dimensional mixture over ``tau`` computed by Simpson's rule on a fine
    grid in ``log(tau)`` (as R's bayesmeta does by numerical integration).

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances.
    mu_sd : float
        Standard deviation of the normal prior on ``mu`` (mean 0).
    tau_prior : str or TauPrior
        ``"half_normal"``, ``"half_cauchy"``, ``"lognormal"``, ``"log_t"`` or a
        preset name from :data:`TAU_PRIOR_PRESETS`.
    tau_scale : float
        Scale of the half-normal / half-Cauchy prior.
    level : float
        Credible level of the intervals in :meth:`ExactResult.summary`.
    mid : float, optional
        Minimal important difference; adds ``prob_gt_mid`` to key estimates.
    labels : sequence of str, optional
        Study labels for :meth:`ExactResult.shrinkage`, one per row of ``yi`` (the labels of
        rows dropped for a missing value are dropped with them).

    Returns
    -------
    ExactResult

    Examples
    --------
    >>> res = random_effects_exact([0.3, 0.1, 0.5], [0.04, 0.05, 0.06], tau_scale=0.5)
    >>> res.summary().loc["mu", ["mean", "sd"]].round(3).tolist()
    [0.281, 0.208]
    """
    y, v, kept = check_effects(yi, vi)
    mu_sd = check_positive(mu_sd, "mu_sd")
    prior = make_tau_prior(tau_prior, tau_scale)

    def log_post(tau: np.ndarray) -> np.ndarray:
        return prior.logpdf(tau) + _log_marginal(tau, y, v, mu_sd)[0]

    reference = float(np.std(y) + np.sqrt(np.median(v)) + 1e-8)
    if y.size <= FINE_POINTS_K:
        u, quad = _tau_grid(log_post, reference)
    else:  # the window from a systematic sample of the studies, narrowed on all of them (O(k), not O(800 k))
        every = slice(None, None, -(-y.size // FINE_POINTS_K))
        sample, _ = _tau_grid(lambda t: prior.logpdf(t) + _log_marginal(t, y[every], v[every], mu_sd)[0],
                              reference, fine_points(y.size))
        u, quad = _narrowed(log_post, sample)
    tau = np.exp(u)
    log_lik, cond_mean, cond_prec = _log_marginal(tau, y, v, mu_sd)
    log_f = prior.logpdf(tau) + log_lik + u  # density in u = log(tau)
    density_u = np.exp(log_f - log_f.max())
    weights = quad * density_u
    weights /= weights.sum()
    tau_cdf = integrate.cumulative_trapezoid(density_u, u, initial=0.0)
    tau_cdf /= tau_cdf[-1]
    if labels is None:
        names = [str(i + 1) for i in np.flatnonzero(kept)]  # the row numbers of the studies used
    else:
        given = list(labels)
        if len(given) != kept.size:
            raise DataError(f"labels has {len(given)} values but there are {kept.size} effect sizes")
        names = [str(label) for label, used in zip(given, kept) if used]  # rows with missing values dropped
    return ExactResult(yi=y, vi=v, mu_sd=mu_sd, tau_prior=prior, tau=tau, weights=weights,
                       cond_mean=cond_mean, cond_prec=cond_prec, tau_cdf=tau_cdf,
                       level=level, mid=mid, labels=names)
