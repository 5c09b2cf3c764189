"""The strategy model's specification: its PyMC graph, the latent draws added after
sampling, and what its results need (predictions, shrinkage, prior-sensitivity refits).

See :func:`synthesis.bayes.strategy.strategy_model` for the model and its parameters.
"""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthesis.bayes.likelihood import _joint_replicate, earlier_in_study, marginal_observed, study_loglik
from synthesis.bayes.posterior import equal_tailed, relabel, stacked
from synthesis.bayes.priors import StrategyPriors
from synthesis.bayes.results import BayesResult
from synthesis.bayes.sampling import SamplerSettings, sample
from synthesis.bayes.strategy_design import Moderator, split_cell
from synthesis.bayes.workflow import add_observed
from synthesis.errors import DataError

__all__ = ["StrategySpec", "fit_strategy"]


@dataclasses.dataclass
class StrategySpec:
    """The strategy model: data, design, priors and the PyMC graph."""

    yi: np.ndarray
    vi: np.ndarray
    effect_labels: list[str]
    study_labels: list[str]
    study_index: np.ndarray
    strategies: list[str]
    classes: list[str]  # empty when no class level
    class_of_strategy: np.ndarray
    components: np.ndarray  # effects x strategies, 0/1
    moderators: list[Moderator]
    design: np.ndarray  # effects x terms
    interaction: bool
    priors: StrategyPriors

    kind = "strategy_model"
    name = "strategy model"
    rank_param = "strategy_effect"

    @property
    def reported(self) -> tuple[str, ...]:
        names = ["mu", "tau_strategy", "tau_study", "tau_effect", "strategy_effect"]
        if self.classes:
            names += ["tau_class", "class_effect"]
        if self.terms:
            names.append("beta")
        if self.interaction:
            names.append("interaction")
        return tuple(names)

    @property
    def terms(self) -> list[str]:
        return [t for m in self.moderators for t in m.terms]

    def key(self) -> tuple:
        return ("strategy_model", len(self.yi), len(self.study_labels), len(self.strategies),
                len(self.classes), len(self.terms), self.interaction)

    @property
    def multi(self) -> np.ndarray:
        """1.0 for effect rows of multi-component arms."""
        return (self.components.sum(axis=1) > 1).astype(float)

    def data(self) -> dict[str, np.ndarray]:
        p = self.priors
        out = {"effects": self.yi, "v": self.vi,
               "onehot": np.eye(len(self.study_labels))[self.study_index],
               "earlier": earlier_in_study(self.study_index),
               "components": self.components, "mu_sd": np.asarray(p.mu_sd),
               "tau_strategy_scale": np.asarray(p.tau_strategy),
               "tau_study_scale": np.asarray(p.tau_study),
               "tau_effect_scale": np.asarray(p.tau_effect)}
        if self.classes:
            membership = np.eye(len(self.classes))[self.class_of_strategy]
            out["membership"] = membership
            out["class_size"] = membership.sum(axis=0)
            out["tau_class_scale"] = np.asarray(p.tau_class)
        if self.terms:
            out["design"] = self.design
            out["beta_sd"] = np.asarray(p.beta_sd)
        if self.interaction:
            out["multi"] = self.multi
            out["interaction_sd"] = np.asarray(p.interaction_sd)
        return out

    def coords(self) -> dict[str, list[str]]:
        out = {"effect": self.effect_labels, "study": self.study_labels,
               "strategy": self.strategies, "term": self.terms}
        if self.classes:
            out["class"] = self.classes
        return out

    def build(self) -> Any:
        """The PyMC model.

        Sampled: the mean strategy effect (``mu`` is ``strategy_mean`` minus the
        mean deviation, a shear with unit Jacobian, so ``mu`` keeps its normal
        prior), the heterogeneity SDs, standard-normal strategy deviations ``w``
        (non-centred), ``beta`` and ``interaction``. Two levels
        are integrated out analytically, because sampling them directly gives
        divergent transitions whenever a class holds a single strategy or a
        study a single effect size:

        * class effects: with ``K = tau_strategy^2 I + tau_class^2 11'`` within a
          class, strategy effects are ``mu + K^(1/2) w`` (symmetric square root:
          ``tau_strategy w + (sqrt(tau_strategy^2 + m tau_class^2) - tau_strategy)
          mean_class(w)``); ``(tau_class, tau_strategy)`` is sampled in polar
          form ``(s_c r cos(phi), s_s r sin(phi))`` with ``r ~ Rayleigh(1)``,
          ``phi ~ Uniform(0, pi/2)``, which is exactly the two independent
          half-normal priors;
        * study and effect-level deviations: each study's effect sizes are
          multivariate normal with covariance ``diag(v + tau_effect^2) +
          tau_study^2 11'``, written as the observed variable ``y``
          (:func:`synthesis.bayes.likelihood.marginal_observed`), so the inference
          data has ``observed_data`` and a ``log_likelihood`` (one value per study).

        :func:`add_latent_draws` then draws class and study effects from their
        exact conditional posteriors, draw by draw.
        """
        import pymc as pm
        import pytensor.tensor as pt

        positional = {name: [str(i) for i in range(len(values))]
                      for name, values in self.coords().items() if values}
        with pm.Model(coords=positional) as model:
            d = {name: pm.Data(name, value) for name, value in self.data().items()}
            w = pm.Normal("w", 0.0, 1.0, dims="strategy")
            if self.classes:
                radius = pm.Weibull("r", alpha=2.0, beta=math.sqrt(2.0))  # Rayleigh(1)
                angle = pm.Uniform("phi", 0.0, math.pi / 2)
                tau_class = pm.Deterministic("tau_class",
                                             d["tau_class_scale"] * radius * pt.cos(angle))
                tau_strategy = pm.Deterministic("tau_strategy",
                                                d["tau_strategy_scale"] * radius * pt.sin(angle))
                size = d["class_size"]
                class_mean_w = pt.dot(w, d["membership"]) / size
                stretch = pt.sqrt(tau_strategy ** 2 + size * tau_class ** 2) - tau_strategy
                deviation = tau_strategy * w + pt.dot(d["membership"], stretch * class_mean_w)
            else:
                tau_strategy = pm.HalfNormal("tau_strategy", d["tau_strategy_scale"])
                deviation = tau_strategy * w
            # Sample the mean strategy effect (well identified) rather than mu: mu = m - mean(dev)
            # is a shear with unit Jacobian, so m ~ N(mean(dev), mu_sd) is exactly
            # mu ~ N(0, mu_sd), and the direction "mu up, all w down" no longer slows the sampler.
            strategy_mean = pm.Normal("strategy_mean", pt.mean(deviation), d["mu_sd"])
            mu = pm.Deterministic("mu", strategy_mean - pt.mean(deviation))
            strategy_effect = pm.Deterministic("strategy_effect", mu + deviation, dims="strategy")
            tau_study = pm.HalfNormal("tau_study", d["tau_study_scale"])
            tau_effect = pm.HalfNormal("tau_effect", d["tau_effect_scale"])
            eta = pt.dot(d["components"], strategy_effect)
            if self.terms:
                beta = pm.Normal("beta", 0.0, d["beta_sd"], dims="term")
                eta = eta + pt.dot(d["design"], beta)
            if self.interaction:
                interaction = pm.Normal("interaction", 0.0, d["interaction_sd"])
                eta = eta + interaction * d["multi"]
            # y_j ~ N(eta_j, diag(v_j + tau_effect^2) + tau_study^2 11') per study (observed)
            marginal_observed("y", eta, tau_study, tau_effect, d)
        return model

    def linear_predictor(self, posterior: Any) -> np.ndarray:
        """Draws x effects of ``components @ strategy_effect + X beta (+ interaction)``."""
        eta = stacked(posterior, "strategy_effect") @ self.components.T
        if self.terms:
            eta = eta + stacked(posterior, "beta") @ self.design.T
        if self.interaction:
            eta = eta + stacked(posterior, "interaction")[..., None] * self.multi
        return eta

    def replicate(self, posterior: Any, rng: np.random.Generator) -> np.ndarray:
        """Replicated effect sizes, one per draw (chain, draw, effects): the observed variable's
        own random function (:func:`synthesis.bayes.likelihood.marginal_observed`) on all draws at once."""
        return _joint_replicate(self.linear_predictor(posterior), stacked(posterior, "tau_study"),
                                stacked(posterior, "tau_effect"), self.vi,
                                np.eye(len(self.study_labels))[self.study_index], None, rng)

    def log_likelihood(self, posterior: Any) -> np.ndarray:
        """Marginal log-density of each study's effect sizes, (chain, draw, study)."""
        return study_loglik(self.yi, self.vi, self.study_index, len(self.study_labels),
                            self.linear_predictor(posterior), stacked(posterior, "tau_study"),
                            stacked(posterior, "tau_effect"))

    def prior_description(self) -> str:
        return self.priors.describe(bool(self.classes), bool(self.terms), self.interaction)

    def with_priors(self, priors: StrategyPriors) -> StrategySpec:
        return dataclasses.replace(self, priors=priors)

    # -- what BayesResult delegates to the model ----------------------------
    def predictive(self, result: BayesResult, context: Mapping[str, Any],
                   strategy: str | Sequence[str] | None, strategy_class: str | None,
                   rng: np.random.Generator) -> np.ndarray:
        """Draws of the true effect of ``strategy`` (or a new strategy) in a new study."""
        n = result.draws("mu").shape[0]
        if strategy is not None:
            names = (split_cell(strategy.replace(" + ", ";")) if isinstance(strategy, str)
                     else list(strategy))
            unknown = [s for s in names if s not in self.strategies]
            if unknown:
                raise DataError(f"strategy {unknown[0]!r} is not in the model; strategies are: "
                                f"{', '.join(self.strategies)}")
            effects = result.draws("strategy_effect")
            centre = sum(effects[:, self.strategies.index(s)] for s in names)
            if self.interaction and len(names) > 1:
                centre = centre + result.draws("interaction")
        else:
            tau_strategy = result.draws("tau_strategy")
            if strategy_class is not None:
                if strategy_class not in self.classes:
                    raise DataError(f"strategy class {strategy_class!r} is not in the model; classes "
                                    f"are: {', '.join(self.classes) or '(no class level)'}")
                base = result.draws("class_effect")[:, self.classes.index(strategy_class)]
            elif self.classes:
                base = result.draws("mu") + result.draws("tau_class") * rng.standard_normal(n)
            else:
                base = result.draws("mu")
            centre = base + tau_strategy * rng.standard_normal(n)
        unknown = set(context) - {m.name for m in self.moderators}
        if unknown:
            raise DataError(f"context names unknown moderator(s) {', '.join(sorted(unknown))}; the "
                            f"model has: {', '.join(m.name for m in self.moderators) or '(none)'}")
        if self.moderators:
            x = np.concatenate([m.row(context.get(m.name)) for m in self.moderators])
            centre = centre + result.draws("beta").reshape(n, -1) @ x
        noise = np.hypot(result.draws("tau_study"), result.draws("tau_effect"))
        return centre + noise * rng.standard_normal(n)

    def shrinkage(self, result: BayesResult) -> pd.DataFrame:
        """Observed effect and posterior mean/sd of the true effect of each effect row."""
        post = result.idata.posterior
        eta = self.linear_predictor(post) + stacked(post, "study_effect")[..., self.study_index]
        eta = eta.reshape(-1, eta.shape[-1])
        tau_e2 = result.draws("tau_effect")[:, None] ** 2
        # effect-level deviation given everything else: normal, shrinking y - eta
        b = tau_e2 / (tau_e2 + self.vi[None, :])
        rng = np.random.default_rng([result.settings["seed"], 11])
        theta = eta + b * (self.yi[None, :] - eta) + np.sqrt(b * self.vi[None, :]) * \
            rng.standard_normal(eta.shape)
        return pd.DataFrame({"effect": self.effect_labels,
                             "study": [self.study_labels[i] for i in self.study_index],
                             "yi": self.yi, "sei": np.sqrt(self.vi), "mean": theta.mean(0),
                             "sd": theta.std(0, ddof=1), "shift": theta.mean(0) - self.yi})

    def describe(self, result: BayesResult) -> dict[str, Any]:
        """The strategy model's part of ``BayesResult.to_dict()``."""
        out: dict[str, Any] = {"prob_gt_0": {"strategy_effect": result.prob_greater(
            0.0, "strategy_effect").to_dict()}}
        if result.mid is not None:
            out["prob_gt_mid"] = {"strategy_effect": result.prob_greater(
                result.mid, "strategy_effect").to_dict()}
        out["prob_best"] = result.rank_probabilities()[1].to_dict()
        out["moderators"] = [m.describe() for m in self.moderators]
        out["n_effects"], out["n_studies"] = len(self.yi), len(self.study_labels)
        return out

    def sensitivity(self, result: BayesResult,
                    alternatives: Mapping[str, Mapping[str, Any]] | None) -> pd.DataFrame:
        """Key estimates refitted under alternative priors (same sampler settings)."""
        if alternatives is None:
            alternatives = {"vague mu prior": {"mu_sd": 10.0},
                            "heterogeneity priors halved": {"scale": 0.5},
                            "heterogeneity priors doubled": {"scale": 2.0}}
        rows = []
        fits = {"as fitted": result}
        for label, kwargs in alternatives.items():
            kwargs = dict(kwargs)
            factor = kwargs.pop("scale", None)
            try:
                priors = dataclasses.replace(self.priors, **kwargs)
            except TypeError:
                fields = ", ".join(f.name for f in dataclasses.fields(StrategyPriors))
                raise DataError(f"prior alternative {label!r}: use 'scale' or fields of "
                                f"StrategyPriors ({fields})") from None
            if factor is not None:
                priors = priors.scaled(float(factor))
            fits[label] = fit_strategy(self.with_priors(priors), result._settings, result.level,
                                       result.mid)
        for label, fit in fits.items():
            for param in ("mu", "strategy_effect"):
                values = fit.draws(param)
                values = values[:, None] if values.ndim == 1 else values
                names = [param] if param == "mu" else [f"{param}[{s}]" for s in self.strategies]
                lo, hi = equal_tailed(values, fit.level)
                for i, name in enumerate(names):
                    rows.append({"prior_label": label, "prior": fit.prior_description(),
                                 "parameter": name, "mean": values[:, i].mean(), "ci_lb": lo[i],
                                 "ci_ub": hi[i], "prob_gt_0": (values[:, i] > 0).mean(),
                                 "prob_gt_mid": ((values[:, i] > fit.mid).mean()
                                                 if fit.mid is not None else np.nan),
                                 "diagnostics_ok": fit.diagnostics["ok"]})
        return pd.DataFrame(rows)


def fit_strategy(spec: StrategySpec, settings: SamplerSettings, level: float,
                 mid: float | None) -> BayesResult:
    """Sample ``spec`` and add the latent class and study effects to the posterior."""
    idata = relabel(sample(spec.key(), spec.build, spec.data(), settings), spec.coords())
    add_latent_draws(idata, spec, settings.seed)
    add_observed(idata, spec, "effect")
    return BayesResult(idata, spec, settings, level=level, mid=mid)


def add_latent_draws(idata: Any, spec: StrategySpec, seed: int) -> None:
    """Draw class and study effects from their exact conditional posteriors (per draw).

    Given the sampled parameters both are normal: a class effect given its
    strategies ``s`` has mean ``mu + tau_c^2 sum(s - mu) / (tau_s^2 + m tau_c^2)``
    and variance ``tau_c^2 tau_s^2 / (tau_s^2 + m tau_c^2)``; a study effect given
    its residuals ``y - eta`` (weights ``a = 1 / (v + tau_effect^2)``) has mean
    ``g sum(a r) / (1 + g sum(a))`` and variance ``g / (1 + g sum(a))``, ``g = tau_study^2``.
    """
    import xarray as xr

    post = idata.posterior
    rng = np.random.default_rng([seed, 3])
    added = {}
    if spec.classes:
        mu = stacked(post, "mu")[..., None]
        tc2 = stacked(post, "tau_class")[..., None] ** 2
        ts2 = stacked(post, "tau_strategy")[..., None] ** 2
        membership = np.eye(len(spec.classes))[spec.class_of_strategy]
        size = membership.sum(axis=0)
        denom = np.maximum(ts2 + size * tc2, 1e-300)
        mean = mu + tc2 * ((stacked(post, "strategy_effect") - mu) @ membership) / denom
        draws = mean + np.sqrt(tc2 * ts2 / denom) * rng.standard_normal(mean.shape)
        added["class_effect"] = xr.DataArray(draws, dims=("chain", "draw", "class"),
                                             coords={"class": spec.classes})
    weight = 1.0 / (spec.vi + stacked(post, "tau_effect")[..., None] ** 2)
    resid = spec.yi - spec.linear_predictor(post)
    onehot = np.eye(len(spec.study_labels))[spec.study_index]
    g = stacked(post, "tau_study")[..., None] ** 2
    sum_w = weight @ onehot
    mean = g * ((weight * resid) @ onehot) / (1.0 + g * sum_w)
    draws = mean + np.sqrt(g / (1.0 + g * sum_w)) * rng.standard_normal(mean.shape)
    added["study_effect"] = xr.DataArray(draws, dims=("chain", "draw", "study"),
                                         coords={"study": spec.study_labels})
    idata.posterior = post.assign(added)
