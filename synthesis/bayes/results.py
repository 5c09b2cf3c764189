"""The result of a sampled model: posterior draws, the convergence gate and decision summaries.

Every sampled result carries its convergence diagnostics and a gate (R-hat <=
:data:`R_HAT_MAX`, bulk and tail ESS >= :data:`ESS_MIN` for every reported
parameter, no divergent transitions); ``diagnostics["ok"]`` is False with
plain-language reasons when the gate fails.

What differs between models (predictions for a new study, shrinkage, prior
sensitivity, model-specific export) is delegated to the model specification the
result was sampled from (:class:`ModelSpec`, implemented in
:mod:`synthesis.bayes.random_effects_model` and :mod:`synthesis.bayes.strategy_spec`).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import pandas as pd

from synthesis.bayes import workflow
from synthesis.bayes.posterior import density, flat, summarise
from synthesis.bayes.sampling import SamplerSettings
from synthesis.errors import DataError
from synthesis.results import Result, jsonable

if TYPE_CHECKING:
    from synthesis.bayes.exact import ExactResult

__all__ = ["ESS_MIN", "R_HAT_MAX", "BayesResult", "ModelSpec"]

R_HAT_MAX = 1.01
ESS_MIN = 400

#: sampled auxiliary variables that are not parameters a reader asks about
_AUXILIARY = ("z", "w", "r", "phi", "log_tau", "tau_raw", "strategy_mean")


class ModelSpec(Protocol):
    """What a sampled model gives its :class:`BayesResult` (see the module docstring)."""

    kind: str
    name: str
    rank_param: str
    yi: np.ndarray

    @property
    def reported(self) -> Sequence[str]: ...

    def prior_description(self) -> str: ...

    def predictive(self, result: BayesResult, context: Mapping[str, Any],
                   strategy: str | Sequence[str] | None, strategy_class: str | None,
                   rng: np.random.Generator) -> np.ndarray: ...

    def shrinkage(self, result: BayesResult) -> pd.DataFrame: ...

    def sensitivity(self, result: BayesResult,
                    alternatives: Mapping[str, Mapping[str, Any]] | None) -> pd.DataFrame: ...

    def describe(self, result: BayesResult) -> dict[str, Any]: ...


class BayesResult(Result):
    """Posterior of a sampled model with diagnostics and decision summaries.

    Follows the result protocol (:class:`synthesis.results.Result`): ``summary()``
    (ArviZ's posterior summary), ``to_frame()``, ``to_dict()`` and a readable ``repr``.

    Attributes
    ----------
    idata : arviz.InferenceData
        The draws (``posterior``) and sampler statistics (``sample_stats``).
    diagnostics : dict
        ``max_r_hat``, ``min_ess_bulk``, ``min_ess_tail``, ``divergences``,
        ``ok`` and ``messages`` (plain sentences saying why ``ok`` is False),
        over the reported parameters ``reported``.
    model : str
        ``"random_effects"`` or ``"strategy_model"``.
    settings : dict
        Sampler, draws, tune, chains, cores, target_accept and the seed used.
    timing : dict
        ``compile_seconds`` (0 when a cached nutpie model was reused) and
        ``sampling_seconds``.
    """

    def __init__(self, idata: Any, spec: ModelSpec, settings: SamplerSettings,
                 level: float = 0.95, mid: float | None = None) -> None:
        self.idata = idata
        self._spec = spec
        self._settings = settings
        self.level = float(level)
        self.mid = None if mid is None else float(mid)
        self.model = spec.kind
        self.reported = list(spec.reported)
        self.settings = settings.as_dict()
        attrs = idata.posterior.attrs
        self.timing = {"compile_seconds": float(attrs.get("compile_seconds", float("nan"))),
                       "sampling_seconds": float(attrs.get("sampling_seconds", float("nan")))}
        self.diagnostics = self._diagnose()

    def title(self) -> str:
        """First line of the ``repr``: model, sampler, draws and the gate's verdict."""
        s = self.settings
        verdict = "passed" if self.diagnostics["ok"] else "FAILED"
        return (f"Bayesian {self._spec.name} ({s['sampler']}, {s['chains']} chains x "
                f"{s['draws']} draws, seed {s['seed']}; convergence checks {verdict})")

    # -- draws --------------------------------------------------------------
    def draws(self, param: str) -> np.ndarray:
        """Posterior draws of ``param`` flattened over chains: (samples,) or (samples, n)."""
        if param not in self.idata.posterior:
            known = ", ".join(v for v in self.idata.posterior.data_vars if v not in _AUXILIARY)
            raise DataError(f"unknown parameter {param!r}; known: {known}")
        names, values = flat(self.idata.posterior[param])
        return values[:, 0] if len(names) == 1 and "[" not in names[0] else values

    def _labels(self, param: str) -> list[str]:
        da = self.idata.posterior[param]
        extra = [d for d in da.dims if d not in ("chain", "draw")]
        return [str(c) for c in da.coords[extra[0]].values] if extra else []

    # -- tables -------------------------------------------------------------
    def summary(self, var_names: Sequence[str] | None = None,
                level: float | None = None) -> pd.DataFrame:
        """Posterior summary from :func:`arviz.summary`: index ``name[label]``; columns mean,
        sd, eti_lb, eti_ub, hdi_lb, hdi_ub, mcse_mean, mcse_sd, r_hat, ess_bulk, ess_tail
        (intervals at ``level``).

        Examples
        --------
        >>> fit = random_effects([0.2, 0.5, 0.1, 0.4], [0.02, 0.03, 0.02, 0.05],
        ...                      seed=1, cores=1)  # doctest: +SKIP
        >>> fit.summary().loc["mu", ["mean", "r_hat"]]  # doctest: +SKIP
        """
        level = self.level if level is None else float(level)
        names = list(var_names) if var_names is not None else self.reported
        return summarise(self.idata.posterior, names, level)

    def to_frame(self) -> pd.DataFrame:
        """The summary as a tidy table, one row per parameter element (column ``param``)."""
        return self.summary().reset_index()

    def _diagnose(self) -> dict[str, Any]:
        table = self.summary()
        stats_ = self.idata.sample_stats
        divergences = int(np.asarray(stats_["diverging"]).sum()) if "diverging" in stats_ else 0
        messages: list[str] = []
        r_hat = table["r_hat"].astype(float)
        if self.settings["chains"] < 2 or r_hat.isna().all():
            messages.append("R-hat needs at least two chains; run chains=4 to check convergence.")
        elif (r_hat > R_HAT_MAX).any() or r_hat.isna().any():
            worst = r_hat.fillna(np.inf).idxmax()
            messages.append(f"R-hat of {worst} is {r_hat[worst]:.3f} (must be <= {R_HAT_MAX}): "
                            "the chains disagree, so the posterior is not reliably explored; "
                            "run more tuning and draws (tune=, draws=).")
        for column, label in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
            ess = table[column].astype(float)
            if (ess < ESS_MIN).any():
                worst = ess.idxmin()
                messages.append(f"The {label} effective sample size of {worst} is {ess[worst]:.0f} "
                                f"(must be >= {ESS_MIN}): too few independent draws for "
                                "stable estimates; increase draws=.")
        if divergences:
            accept = self.settings["target_accept"]
            advice = (f"raise target_accept (now {accept:g}; try {min(0.995, (1 + accept) / 2):.3g})"
                      if accept < 0.995 else "simplify the model or use more informative priors")
            messages.append(f"{divergences} divergent transition(s): the sampler could not "
                            f"explore part of the posterior, so estimates may be biased; {advice}.")
        return {"max_r_hat": float(r_hat.max()) if r_hat.notna().any() else float("nan"),
                "min_ess_bulk": float(table["ess_bulk"].min()),
                "min_ess_tail": float(table["ess_tail"].min()),
                "divergences": divergences, "ok": not messages, "messages": messages,
                "thresholds": {"r_hat_max": R_HAT_MAX, "ess_min": ESS_MIN},
                "parameters": list(self.reported)}

    # -- decision summaries -------------------------------------------------
    def prob_greater(self, threshold: float = 0.0, param: str = "mu") -> float | pd.Series:
        """Posterior probability that ``param`` exceeds ``threshold``.

        A float for a scalar parameter, a Series indexed by label for a vector
        (e.g. ``param="strategy_effect"``).
        """
        values = self.draws(param)
        prob = (values > threshold).mean(axis=0)
        if values.ndim == 1:
            return float(prob)
        return pd.Series(prob, index=self._labels(param), name=f"P({param} > {threshold:g})")

    def density(self, param: str = "mu", n: int = 400) -> pd.DataFrame:
        """ArviZ's kernel density estimate of a scalar parameter (columns ``value``,
        ``density``), in the same form as :meth:`ExactResult.density`."""
        values = self.draws(param)
        if values.ndim != 1:
            raise DataError(f"density needs a single parameter; {param!r} has several elements")
        return density(values, n)

    def rank_probabilities(self, param: str | None = None,
                           higher_is_better: bool = True) -> pd.DataFrame:
        """P(rank r) for each element of ``param`` (rows) and rank (columns, 1 = best).

        Defaults to strategies for :func:`strategy_model` and studies for
        :func:`random_effects`.
        """
        param = param or self._spec.rank_param
        values = self.draws(param)
        if values.ndim == 1:
            raise DataError(f"{param!r} is a single parameter; ranks need a vector parameter")
        order = -values if higher_is_better else values
        ranks = order.argsort(axis=1).argsort(axis=1)  # 0 = best
        m = values.shape[1]
        probs = np.stack([(ranks == r).mean(axis=0) for r in range(m)], axis=1)
        frame = pd.DataFrame(probs, index=self._labels(param), columns=range(1, m + 1))
        frame.index.name = [d for d in self.idata.posterior[param].dims
                            if d not in ("chain", "draw")][0]
        frame.columns.name = "rank"
        return frame

    def predictive(self, context: Mapping[str, Any] | None = None,
                   strategy: str | Sequence[str] | None = None,
                   strategy_class: str | None = None) -> np.ndarray:
        """Draws of the true effect in a new study (between-study heterogeneity included).

        For :func:`random_effects`: ``mu + tau * e``. For :func:`strategy_model`:
        the effect of ``strategy`` (a name, a ``"A + B"`` combination or a list of
        components; None: a new strategy in ``strategy_class``, or a new strategy
        from a new class) in ``context`` (moderator -> level or value; missing
        moderators take the reference level or the mean), plus new study- and
        effect-level deviations. Reproducible: the extra noise uses the fit's seed.
        """
        rng = np.random.default_rng([self._settings.seed, 7])
        return self._spec.predictive(self, context or {}, strategy, strategy_class, rng)

    def shrinkage(self) -> pd.DataFrame:
        """Observed effect and posterior mean/sd of the true effect, per study or effect row."""
        return self._spec.shrinkage(self)

    def exact(self) -> ExactResult:
        """The exact-integration posterior of the same random-effects model and priors."""
        exact = getattr(self._spec, "exact", None)
        if exact is None:
            raise DataError("exact() is only available for random_effects results")
        return exact(self.level, self.mid)

    def prior_sensitivity(self, alternatives: Mapping[str, Mapping[str, Any]] | str | None = None
                          ) -> pd.DataFrame:
        """Sensitivity of the posterior to the prior, without refitting.

        Without ``alternatives``: power-scaling sensitivity (Kallioinen et al. 2024,
        the ``priorsense`` method; see :mod:`synthesis.bayes.sensitivity`), one row
        per reported parameter element with columns ``parameter``,
        ``prior_sensitivity``, ``likelihood_sensitivity``, ``diagnosis``
        (``prior-data conflict``, ``strong prior / weak likelihood`` or ``-``),
        ``pareto_k`` (of the prior weighting; above 0.7 the power-scaled posterior
        is refitted), ``pareto_k_likelihood`` and ``refit``. Computed once and cached.

        With ``alternatives`` (a mapping label -> prior settings, or ``"defaults"``):
        key estimates under alternative priors (long format, one row per prior x
        parameter; columns ``prior_label``, ``prior``, ``parameter``, ``mean``,
        ``ci_lb``, ``ci_ub``, ``prob_gt_0``, ``prob_gt_mid``). For
        :func:`random_effects` these are keyword sets for :func:`random_effects_exact`
        (``mu_sd``, ``tau_prior``, ``tau_scale``), computed exactly; for
        :func:`strategy_model` :class:`StrategyPriors` fields (or ``scale``, a factor
        on every heterogeneity scale), refitted with the same sampler settings.

        Examples
        --------
        >>> fit = random_effects([0.2, 0.5, 0.1, 0.4], [0.02, 0.03, 0.02, 0.05],
        ...                      seed=1, cores=1)  # doctest: +SKIP
        >>> fit.prior_sensitivity()[["parameter", "prior_sensitivity", "diagnosis"]]  # doctest: +SKIP
        """
        if alternatives is None:
            from synthesis.bayes.sensitivity import power_scaling_of

            if "_power_scaling" not in self.__dict__:
                self.__dict__["_power_scaling"] = power_scaling_of(self)
            return self.__dict__["_power_scaling"].to_frame()
        return self._spec.sensitivity(self, None if alternatives == "defaults" else alternatives)

    # -- the Bayesian workflow (observed data, LOO, predictive checks) -------
    def loo(self) -> dict[str, Any]:
        """PSIS-LOO, leave one study out (:func:`arviz.loo`): ``elpd_loo``, ``se``, ``p_loo``,
        ``n``, ``k_max`` and ``n_high_k`` (studies with Pareto k > 0.7)."""
        return workflow.loo_summary(self.idata)

    def posterior_predictive(self) -> Any:
        """Replicated effect sizes (``idata.posterior_predictive``), drawn with
        :func:`pymc.sample_posterior_predictive` from the study-marginal likelihood."""
        return workflow.posterior_predictive(self)

    def predictive_check(self, level: float = workflow.PPC_LEVEL) -> dict[str, Any]:
        """Posterior predictive check: share of observed effects within their ``level``
        predictive interval (about ``level`` when the model fits), and predictive p-values
        of the mean and SD of the effect sizes."""
        return workflow.ppc_summary(self, level)

    def predictive_table(self, level: float = workflow.PPC_LEVEL) -> pd.DataFrame:
        """Each observed effect against its replicates (mean, predictive interval, inside?)."""
        return workflow.ppc_table(self, level)

    def predictive_figure(self) -> Any:
        """The posterior predictive check as a figure (ArviZ's ``plot_ppc``)."""
        return workflow.ppc_figure(self)

    def workflow_summary(self) -> dict[str, Any]:
        """``{"loo": ..., "predictive_check": ...}`` for the manifest (see :meth:`loo`,
        :meth:`predictive_check`)."""
        return jsonable({"loo": self.loo(), "predictive_check": self.predictive_check()})

    def prior_predictive(self, draws: int = 500) -> Any:
        """Draws from the prior and the prior predictive (InferenceData with ``prior`` and
        ``prior_predictive`` groups) of the fitted model and data layout."""
        return workflow.prior_predictive(self, draws)

    # -- export -------------------------------------------------------------
    def prior_description(self) -> str:
        """The priors as a formula string, e.g. ``'mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)'``."""
        return self._spec.prior_description()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able summary: priors, settings, diagnostics, estimates, probabilities."""
        table = self.summary()
        out: dict[str, Any] = {
            "model": self.model, "prior": self.prior_description(),
            "settings": dict(self.settings), "timing": dict(self.timing),
            "level": self.level, "mid": self.mid, "diagnostics": self.diagnostics,
            "estimates": {name: row.to_dict() for name, row in table.iterrows()},
            "prob_gt_0": {"mu": self.prob_greater(0.0)},
        }
        if self.mid is not None:
            out["prob_gt_mid"] = {"mu": self.prob_greater(self.mid)}
        for key, value in self._spec.describe(self).items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key].update(value)
            else:
                out[key] = value
        return jsonable(out)
