"""Power-scaling prior and likelihood sensitivity without refitting (priorsense).

Kallioinen, Paananen, Bürkner & Vehtari (2024), *Detecting and diagnosing prior
and likelihood sensitivity with power-scaling*, Stat Comput 34:57; the algorithm
of the R package ``priorsense``:

1. the prior ``p(theta)`` (or the likelihood) is raised to a power ``alpha``
   (0.99 and 1.01); the power-scaled posterior is reached from the posterior
   draws by importance weights ``w ∝ p(theta)^(alpha - 1)``, Pareto-smoothed
   (PSIS, :func:`arviz.psislw`), whose Pareto ``k`` says whether the
   reweighting can be trusted (``k <= 0.7``);
2. for each parameter, the cumulative Jensen-Shannon distance (CJS) between the
   posterior and the reweighted posterior, divided by ``|log2(alpha)|`` and
   averaged over the two alphas, is its sensitivity;
3. a sensitivity of at least 0.05 to both the prior and the likelihood is
   diagnosed "prior-data conflict"; to the prior only, "strong prior / weak
   likelihood".

The log prior is evaluated from the PyMC model at the posterior draws: the
densities of the free random variables at their constrained values (no
Jacobian) plus every ``pm.Potential`` whose name ends in ``_prior``. The log
likelihood is the ``log_likelihood`` group of the inference data when present,
otherwise the densities of the model's observed variables; a model with
neither gets prior scaling only (likelihood sensitivity missing, said in the
diagnosis). Where a prior weighting has ``k > 0.7`` and every stated prior is
normal or half-normal, that power-scaled posterior is refitted instead
(power-scaling ``N(0, s)`` by ``alpha`` gives ``N(0, s / sqrt(alpha))``).
"""
from __future__ import annotations

import dataclasses
import math
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthesis.bayes.posterior import flat
from synthesis.results import Result, jsonable

if TYPE_CHECKING:
    from synthesis.bayes.results import BayesResult

__all__ = ["ALPHAS", "K_MAX", "SENSITIVITY_THRESHOLD", "PowerScaling", "cjs_distance",
           "diagnose", "model_log_likelihood", "model_log_prior", "power_scaling",
           "power_scaling_of", "prior_sensitivity_record", "psis_weights", "weighted_mean_sd"]

ALPHAS = (0.99, 1.01)
SENSITIVITY_THRESHOLD = 0.05
K_MAX = 0.7
COLUMNS = ["parameter", "prior_sensitivity", "likelihood_sensitivity", "diagnosis", "pareto_k",
           "pareto_k_likelihood", "refit"]


def psis_weights(log_ratio: np.ndarray) -> tuple[np.ndarray, float]:
    """Pareto-smoothed, normalised importance weights and their Pareto ``k``
    (``-inf`` for constant ratios: no reweighting, as priorsense at alpha = 1).

    Examples
    --------
    >>> w, k = psis_weights(np.zeros(1000))
    >>> bool(np.allclose(w, 1e-3)), k < 0.7
    (True, True)
    """
    import arviz as az

    log_ratio = np.asarray(log_ratio, dtype=float).ravel()
    if np.ptp(log_ratio) == 0:
        return np.full(len(log_ratio), 1.0 / len(log_ratio)), float("-inf")
    with warnings.catch_warnings():  # ArviZ's tail fit overflows harmlessly on large ratios
        warnings.simplefilter("ignore", RuntimeWarning)
        lw, k = az.psislw(log_ratio - log_ratio.max())
    weights = np.exp(lw - lw.max())
    return weights / weights.sum(), float(k)


def weighted_mean_sd(x: np.ndarray, weights: np.ndarray) -> tuple[float, float]:
    """Importance-weighted mean and standard deviation of draws ``x``.

    Examples
    --------
    >>> weighted_mean_sd(np.array([0.0, 2.0]), np.array([0.5, 0.5]))
    (1.0, 1.0)
    """
    w = np.asarray(weights, dtype=float) / np.sum(weights)
    mean = float(np.sum(w * x))
    return mean, float(np.sqrt(np.sum(w * (x - mean) ** 2)))


def _cjs(x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray) -> float:
    """priorsense's ``.cjs_dist`` (metric, normalised by its upper bound)."""
    if x.shape == y.shape and np.array_equal(x, y):
        order = np.argsort(x, kind="stable")
        x = x[order]
        px = np.cumsum(wx[order] / wx.sum())[:-1]
        qx = np.cumsum(wy[order] / wy.sum())[:-1]
        width = np.diff(x)
    else:  # two different samples (a refit): binned weighted ECDFs
        n = max(len(x), len(y))
        bins = np.linspace(min(x.min(), y.min()), max(x.max(), y.max()), n)
        width = np.full(n, bins[1] - bins[0])

        def ecdf(v: np.ndarray, w: np.ndarray) -> np.ndarray:
            order = np.argsort(v, kind="stable")
            cum = np.cumsum(w[order] / w.sum())
            idx = np.searchsorted(v[order], bins, side="right")
            return np.where(idx > 0, cum[np.maximum(idx - 1, 0)], 0.0)

        px, qx = ecdf(x, wx), ecdf(y, wy)
    p_int, q_int = np.sum(px * width), np.sum(qx * width)
    if p_int + q_int <= 0:
        return 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        mid = np.log2(0.5 * px + 0.5 * qx)
        pq = np.nansum(width * px * (np.log2(px) - mid)) + 0.5 / math.log(2) * (q_int - p_int)
        qp = np.nansum(width * qx * (np.log2(qx) - mid)) + 0.5 / math.log(2) * (p_int - q_int)
    return float(math.sqrt(max((pq + qp) / (p_int + q_int), 0.0)))


def cjs_distance(x: np.ndarray, weights: np.ndarray | None = None, y: np.ndarray | None = None,
                 y_weights: np.ndarray | None = None) -> float:
    """Cumulative Jensen-Shannon distance between draws ``x`` and ``x`` reweighted by
    ``weights`` (or the draws ``y``), unsigned as in priorsense (the larger of the
    distances of ``x`` and ``-x``); 0 for identical distributions, at most 1.

    Examples
    --------
    >>> x = np.random.default_rng(1).normal(size=4000)
    >>> cjs_distance(x, np.ones(4000))
    0.0
    >>> round(cjs_distance(x, np.exp(x)), 2)  # tilted: N(0, 1) reweighted to N(1, 1)
    0.22
    """
    x = np.asarray(x, dtype=float)
    y = x if y is None else np.asarray(y, dtype=float)
    wx = np.ones(len(x)) / len(x)
    wy = (np.ones(len(y)) / len(y)) if weights is None and y_weights is None else \
        np.asarray(weights if y_weights is None else y_weights, dtype=float)
    if y is x and np.allclose(wy / wy.sum(), wx):
        return 0.0
    return max(_cjs(x, y, wx, wy), _cjs(-x, -y, wx, wy))


def diagnose(prior: float, likelihood: float, threshold: float = SENSITIVITY_THRESHOLD) -> str:
    """priorsense's diagnosis of a parameter's sensitivities.

    Examples
    --------
    >>> diagnose(0.2, 0.3), diagnose(0.2, 0.01), diagnose(0.01, 0.3)
    ('prior-data conflict', 'strong prior / weak likelihood', '-')
    >>> diagnose(0.2, float("nan"))
    'prior-sensitive (likelihood not available)'
    """
    if not prior >= threshold:
        return "-"
    if math.isnan(likelihood):
        return "prior-sensitive (likelihood not available)"
    return "prior-data conflict" if likelihood >= threshold else "strong prior / weak likelihood"


def _sensitivity(draws: np.ndarray, weightings: Sequence[tuple[float, np.ndarray]]) -> float:
    grads = [cjs_distance(draws, w) / abs(math.log2(alpha)) for alpha, w in weightings]
    return float(np.mean(grads))


def power_scaling(draws: Mapping[str, np.ndarray], log_prior: np.ndarray,
                  log_likelihood: np.ndarray | None = None,
                  alphas: tuple[float, float] = ALPHAS) -> pd.DataFrame:
    """Power-scaling sensitivity of each parameter (flat draws) to the prior and likelihood.

    Parameters
    ----------
    draws : mapping
        Parameter name -> posterior draws (one value per draw, all chains).
    log_prior, log_likelihood : array
        Log prior density and total log likelihood at each draw, in the same
        order; ``log_likelihood=None`` gives prior scaling only.
    alphas : (float, float)
        The lower and upper power (priorsense: 0.99 and 1.01).

    Returns
    -------
    DataFrame
        ``parameter, prior_sensitivity, likelihood_sensitivity, diagnosis,
        pareto_k`` (the larger of the two prior weightings' k),
        ``pareto_k_likelihood`` and ``refit`` (False here).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> theta = rng.normal(0.5, 0.1, 4000)  # N(0, 1) prior, data worth sd 0.1
    >>> table = power_scaling({"theta": theta}, -0.5 * theta ** 2, -50 * (theta - 0.5) ** 2)
    >>> table.loc[0, "diagnosis"], bool(table.loc[0, "pareto_k"] < 0.7)
    ('-', True)
    """
    log_prior = np.asarray(log_prior, dtype=float).ravel()
    prior_w = [(a, *psis_weights((a - 1.0) * log_prior)) for a in alphas]
    lik_w = None
    if log_likelihood is not None:
        lik_w = [(a, *psis_weights((a - 1.0) * np.asarray(log_likelihood, float).ravel()))
                 for a in alphas]
    rows = []
    for name, values in draws.items():
        values = np.asarray(values, dtype=float).ravel()
        prior = _sensitivity(values, [(a, w) for a, w, _ in prior_w])
        lik = _sensitivity(values, [(a, w) for a, w, _ in lik_w]) if lik_w else float("nan")
        rows.append({"parameter": name, "prior_sensitivity": prior,
                     "likelihood_sensitivity": lik, "diagnosis": diagnose(prior, lik),
                     "pareto_k": max(k for _, _, k in prior_w),
                     "pareto_k_likelihood": max(k for _, _, k in lik_w) if lik_w else float("nan"),
                     "refit": False})
    return pd.DataFrame(rows, columns=COLUMNS)


# -- log densities from the PyMC model -----------------------------------------
def _evaluate(model: Any, outputs: list, posterior: Any) -> np.ndarray:
    """Sum of ``outputs`` (built on the model's untransformed value variables) per draw."""
    import pytensor.tensor as pt

    names = [v.name for v in model.value_vars]
    total = pt.add(*[pt.sum(o) for o in outputs]) if len(outputs) > 1 else pt.sum(outputs[0])
    fn = model.compile_fn(inputs=model.value_vars, outs=total, on_unused_input="ignore")
    arrays = {n: np.asarray(posterior[n].transpose("chain", "draw", ...).values) for n in names}
    n_chain, n_draw = next(iter(arrays.values())).shape[:2]
    out = np.empty((n_chain, n_draw))
    for c in range(n_chain):
        for d in range(n_draw):
            out[c, d] = fn({n: a[c, d] for n, a in arrays.items()})
    return out.ravel()


def _untransformed(model: Any) -> Any:
    from pymc.model.transform.conditioning import remove_value_transforms

    return remove_value_transforms(model)


def model_log_prior(model: Any, posterior: Any) -> np.ndarray:
    """Log prior at each posterior draw (chains concatenated): free variables' densities at
    their constrained values plus potentials named ``*_prior``."""
    umodel = _untransformed(model)
    terms = umodel.logp(vars=umodel.free_RVs, sum=False, jacobian=False)
    terms += umodel.replace_rvs_by_values([p for p in umodel.potentials
                                           if p.name and p.name.endswith("_prior")])
    return _evaluate(umodel, terms, posterior)


def model_log_likelihood(model: Any, idata: Any) -> np.ndarray | None:
    """Total log likelihood at each draw: the ``log_likelihood`` group when present, else
    the model's observed variables; None when the model has neither."""
    if "log_likelihood" in idata.groups():
        group = idata.log_likelihood
        total = sum(group[v].sum([d for d in group[v].dims if d not in ("chain", "draw")])
                    for v in group.data_vars)
        return np.asarray(total.transpose("chain", "draw").values).ravel()
    umodel = _untransformed(model)
    if not umodel.observed_RVs:
        return None
    return _evaluate(umodel, umodel.logp(vars=umodel.observed_RVs, sum=False), idata.posterior)


# -- what BayesResult.prior_sensitivity() returns ------------------------------
class PowerScaling(Result):
    """Power-scaling sensitivity of a sampled model (see the module docstring)."""

    _title = "Power-scaling prior and likelihood sensitivity (priorsense)"

    def __init__(self, table: pd.DataFrame, notes: Sequence[str] = ()) -> None:
        self.table = table
        self.notes = list(notes)

    def summary(self) -> pd.DataFrame:
        return self.table.set_index("parameter")

    def to_frame(self) -> pd.DataFrame:
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"method": "power-scaling (Kallioinen et al. 2024)", "alphas": list(ALPHAS),
                         "threshold": SENSITIVITY_THRESHOLD, "k_max": K_MAX, "notes": self.notes,
                         "rows": self.table.to_dict(orient="records")})


def prior_sensitivity_record(result: Any) -> dict[str, Any] | None:
    """The power-scaling table of a sampled result as JSON (for the manifest's results);
    None for results without posterior draws (the exact path).

    Examples
    --------
    >>> prior_sensitivity_record(None) is None
    True
    """
    if not hasattr(result, "idata") or not hasattr(result, "prior_sensitivity"):
        return None
    result.prior_sensitivity()  # computed once, cached on the result
    return result.__dict__["_power_scaling"].to_dict()


def _refit_power_scaled(result: BayesResult, alpha: float) -> BayesResult | None:
    """The posterior under the prior power-scaled by ``alpha``, refitted; None when the
    stated priors are not all normal / half-normal."""
    spec, root = result._spec, math.sqrt(alpha)
    priors = getattr(spec, "priors", None)
    if priors is not None and hasattr(spec, "with_priors"):
        from synthesis.bayes.strategy_spec import fit_strategy

        scaled = dataclasses.replace(priors, **{f.name: getattr(priors, f.name) / root
                                                for f in dataclasses.fields(priors)})
        return fit_strategy(spec.with_priors(scaled), result._settings, result.level, result.mid)
    tau_prior = getattr(spec, "tau_prior", None)
    if tau_prior is not None and tau_prior.kind == "half_normal":
        from synthesis.bayes.random_effects_model import random_effects

        s = result._settings
        return random_effects(spec.yi, spec.vi, mu_sd=spec.mu_sd / root, tau_scale=tau_prior.scale / root,
                              seed=s.seed, draws=s.draws, tune=s.tune, chains=s.chains,
                              sampler=s.sampler, target_accept=s.target_accept, cores=s.cores,
                              level=result.level, mid=result.mid, labels=spec.labels)
    return None


def power_scaling_of(result: BayesResult, parameters: Sequence[str] | None = None) -> PowerScaling:
    """Power-scaling sensitivity of a sampled :class:`BayesResult`, without refitting unless a
    prior weighting's Pareto k exceeds :data:`K_MAX` (then that power-scaled posterior is
    refitted where the priors allow, see the module docstring)."""
    model = result._spec.build()
    idata = result.idata
    log_prior = model_log_prior(model, idata.posterior)
    log_lik = model_log_likelihood(model, idata)
    notes = []
    if log_lik is None:
        notes.append("The model has no pointwise log likelihood: prior power-scaling only.")
    draws: dict[str, np.ndarray] = {}
    for param in parameters or result.reported:
        names, values = flat(idata.posterior[param])
        draws.update({n: values[:, i] for i, n in enumerate(names)})
    table = power_scaling(draws, log_prior, log_lik)
    ks = [psis_weights((a - 1.0) * log_prior)[1] for a in ALPHAS]
    if max(ks) > K_MAX:
        refits = {a: _refit_power_scaled(result, a) for a, k in zip(ALPHAS, ks)}
        if all(fit is not None for fit in refits.values()):
            for i, name in enumerate(table.parameter):
                table.loc[i, "prior_sensitivity"] = _refit_sensitivity(draws[name], name, refits)
                table.loc[i, "diagnosis"] = diagnose(table.loc[i, "prior_sensitivity"],
                                                     table.loc[i, "likelihood_sensitivity"])
            table["refit"] = True
            notes.append(f"Pareto k of the prior weighting above {K_MAX}: the power-scaled "
                         "posteriors were refitted.")
        else:
            notes.append(f"Pareto k of the prior weighting above {K_MAX}: prior sensitivities "
                         "are unreliable and these priors cannot be power-scaled by refitting.")
    return PowerScaling(table, notes)


def _refit_sensitivity(base: np.ndarray, name: str, refits: Mapping[float, BayesResult]) -> float:
    grads = []
    for alpha, fit in refits.items():
        param, _, label = name.partition("[")
        names, values = flat(fit.idata.posterior[param])
        other = values[:, names.index(name)] if label else values[:, 0]
        grads.append(cjs_distance(base, y=other) / abs(math.log2(alpha)))
    return float(np.mean(grads))
