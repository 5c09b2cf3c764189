"""The standard Bayesian workflow on a sampled model: observed data and pointwise
log-likelihood in the inference data, LOO (PSIS, ArviZ), prior and posterior
predictive draws (PyMC) and the posterior predictive check.

The models' observed variable is ``y`` (the effect sizes). The pointwise
log-likelihood is the marginal log-density of each study's effect sizes (study
and effect-level deviations integrated out; see :mod:`synthesis.bayes.likelihood`),
so :func:`loo_summary` is leave-one-study-out. Replicated data are drawn from the
same marginal: new study effects, new effect-level deviations, new sampling error.
"""
from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from synthesis.bayes.sampling import quiet

if TYPE_CHECKING:
    from synthesis.bayes.results import BayesResult

__all__ = ["PARETO_K_MAX", "PPC_LEVEL", "add_observed", "loo_summary", "posterior_predictive",
           "ppc_summary", "ppc_table", "prior_predictive"]

#: Pareto k above which the PSIS estimate of a study's contribution is unreliable
PARETO_K_MAX = 0.7
#: level of the predictive intervals of the posterior predictive check
PPC_LEVEL = 0.9
#: forward sampling is cheap; PyTensor's Python linker avoids minutes of C compilation
_FAST = {"mode": "FAST_COMPILE"}


def add_observed(idata: Any, spec: Any, dim: str) -> None:
    """Add ``observed_data`` (``y`` over ``dim``) and ``log_likelihood`` (``y`` per study)."""
    import xarray as xr

    labels = spec.coords()[dim]
    observed = xr.Dataset({"y": xr.DataArray(np.asarray(spec.yi), dims=(dim,),
                                             coords={dim: labels})})
    loglik = spec.log_likelihood(idata.posterior)
    studies = spec.coords()["study"]
    pointwise = xr.Dataset({"y": xr.DataArray(
        loglik, dims=("chain", "draw", "study"),
        coords={"chain": idata.posterior.chain, "draw": idata.posterior.draw, "study": studies})})
    for name, group in (("observed_data", observed), ("log_likelihood", pointwise)):
        if name in idata.groups():
            delattr(idata, name)
        idata.add_groups({name: group})


def loo_summary(idata: Any) -> dict[str, Any]:
    """PSIS-LOO (leave one study out) from :func:`arviz.loo`: elpd, its SE, p_loo, Pareto k.

    Examples
    --------
    >>> import arviz as az
    >>> rng = np.random.default_rng(0)
    >>> idata = az.from_dict(posterior={"mu": rng.normal(size=(2, 200))},
    ...                      log_likelihood={"y": rng.normal(-1, 0.1, size=(2, 200, 5))})
    >>> out = loo_summary(idata)
    >>> out["n"], out["n_high_k"], out["k_threshold"]
    (5, 0, 0.7)
    """
    import arviz as az

    with quiet(), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # high Pareto k is reported, not warned
        loo = az.loo(idata, pointwise=True)
    k = np.asarray(loo.pareto_k)
    return {"elpd_loo": float(loo.elpd_loo), "se": float(loo.se), "p_loo": float(loo.p_loo),
            "n": int(k.size), "k_max": float(k.max()), "n_high_k": int((k > PARETO_K_MAX).sum()),
            "k_threshold": PARETO_K_MAX, "unit": "study"}


def _model_with_data(result: BayesResult) -> Any:
    import pymc as pm

    spec = result._spec
    model = spec.build()
    with model:
        pm.set_data({k: v for k, v in spec.data().items() if k in model.named_vars})
    return model


def posterior_predictive(result: BayesResult) -> Any:
    """``posterior_predictive`` group of replicated ``y``, one replicate per posterior draw.

    A model with its own vectorised ``replicate(posterior, rng)`` (the strategy model:
    the random function of its observed variable applied to all draws at once) uses
    it; others go through :func:`pymc.sample_posterior_predictive` (a Python loop over
    draws, 4.8 s for the strategy model's 4,000). Computed once and added to
    ``result.idata``; reproducible from the fit's seed.
    """
    import pymc as pm
    import xarray as xr

    if "posterior_predictive" not in result.idata.groups():
        rng = np.random.default_rng([result.settings["seed"], 13])
        dim = next(iter(result.idata.observed_data["y"].dims))
        replicate = getattr(result._spec, "replicate", None)
        if replicate is not None:
            values = replicate(result.idata.posterior, rng)
            post = result.idata.posterior
            group = xr.Dataset({"y": (("chain", "draw", dim), values)},
                               coords={"chain": post["chain"].values, "draw": post["draw"].values})
        else:
            model = _model_with_data(result)
            free = [v.name for v in model.free_RVs]
            with quiet(), model:
                draws = pm.sample_posterior_predictive(result.idata.posterior[free], var_names=["y"],
                                                       random_seed=rng, progressbar=False,
                                                       return_inferencedata=True, compile_kwargs=_FAST)
            group = draws.posterior_predictive.rename({d: dim for d in draws.posterior_predictive["y"].dims
                                                       if d not in ("chain", "draw")})
        group = group.assign_coords({dim: result.idata.observed_data[dim].values})
        result.idata.add_groups({"posterior_predictive": group})
    return result.idata.posterior_predictive


def prior_predictive(result: BayesResult, draws: int = 500) -> Any:
    """Prior and prior-predictive draws of the fitted model (:func:`pymc.sample_prior_predictive`)."""
    import pymc as pm

    if int(draws) < 1:
        from synthesis.errors import DataError

        raise DataError(f"draws must be a positive integer, not {draws!r}")
    model = _model_with_data(result)
    with quiet(), model:
        return pm.sample_prior_predictive(int(draws), random_seed=np.random.default_rng(
            [result.settings["seed"], 17]), compile_kwargs=_FAST)


def _replicates(result: BayesResult) -> tuple[Any, np.ndarray]:
    """The replicates as a DataArray (chain, draw, effect or study) and as (samples, n)."""
    rep = posterior_predictive(result)["y"]
    dim = [d for d in rep.dims if d not in ("chain", "draw")][0]
    rep = rep.transpose("chain", "draw", dim)
    return rep, rep.values.reshape(-1, rep.sizes[dim])


def ppc_table(result: BayesResult, level: float = PPC_LEVEL) -> pd.DataFrame:
    """Each observed effect against its replicates: mean, ``level`` predictive interval, inside?"""
    rep, values = _replicates(result)
    dim = rep.dims[-1]
    lower, upper = np.quantile(values, [(1 - level) / 2, (1 + level) / 2], axis=0)
    observed = np.asarray(result._spec.yi)
    return pd.DataFrame({dim: [str(c) for c in rep[dim].values], "observed": observed,
                         "replicated_mean": values.mean(0), "pi_lb": lower, "pi_ub": upper,
                         "within": (observed >= lower) & (observed <= upper),
                         "p_greater": (values > observed).mean(0)})


def ppc_summary(result: BayesResult, level: float = PPC_LEVEL) -> dict[str, Any]:
    """Share of observed effects within their ``level`` predictive interval, and the
    posterior predictive p-values of the mean and the SD of the effect sizes."""
    table = ppc_table(result, level)
    _, values = _replicates(result)
    observed = np.asarray(result._spec.yi)
    return {"level": float(level), "n": int(len(table)),
            "share_within": float(table["within"].mean()),
            "expected_share": float(level),
            "p_mean": float((values.mean(1) > observed.mean()).mean()),
            "p_sd": float((values.std(1) > observed.std()).mean())}


def ppc_figure(result: BayesResult) -> Any:
    """ArviZ's posterior predictive plot: the observed effect sizes' density among replicates."""
    import arviz as az
    import matplotlib.pyplot as plt

    posterior_predictive(result)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    with quiet():
        az.plot_ppc(result.idata, var_names=["y"], num_pp_samples=100, ax=ax,
                    random_seed=result.settings["seed"])
    ax.set_xlabel("effect size")
    ax.set_title("Posterior predictive check")
    plt.close(fig)  # returned for display, not left open for the notebook to show twice
    return fig
