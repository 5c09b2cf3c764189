"""Priors of the Bayesian models: the heterogeneity prior ``TauPrior``, the published
empirical presets (Turner et al. 2015, Rhodes et al. 2015) and the prior scales of the
strategy model.

Every accepted ``tau_prior`` name is listed by :func:`tau_prior_names` (the review
schema derives its allowed values from it): the two scaled kinds, the two
shorthands in :data:`PRESET_ALIASES` and the presets in :data:`TAU_PRIOR_PRESETS`.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
from scipy import stats

from synthesis.errors import DataError

__all__ = ["PRESET_ALIASES", "SCALED_KINDS", "TAU_PRIOR_PRESETS", "StrategyPriors", "TauPrior",
           "check_positive", "make_tau_prior", "random_effects_prior",
           "tau_prior_names"]

#: prior kinds whose scale is ``tau_scale`` (the others come from a preset)
SCALED_KINDS: tuple[str, ...] = ("half_normal", "half_cauchy")


@dataclasses.dataclass(frozen=True)
class TauPrior:
    """Prior on the between-study standard deviation ``tau``.

    ``kind`` is one of

    * ``"half_normal"``: ``tau ~ Half-Normal(scale)``;
    * ``"half_cauchy"``: ``tau ~ Half-Cauchy(scale)``;
    * ``"lognormal"``: ``log(tau^2) ~ Normal(loc, scale^2)`` (Turner et al. 2015);
    * ``"log_t"``: ``log(tau^2) ~ Student-t(df, loc, scale)`` (Rhodes et al. 2015).

    Examples
    --------
    >>> TauPrior("half_normal", 0.5).describe()
    'tau ~ Half-Normal(0.5)'
    >>> round(float(TauPrior("half_normal", 0.5).logpdf(np.array([0.0]))[0]), 4)
    0.4674
    """

    kind: Literal["half_normal", "half_cauchy", "lognormal", "log_t"]
    scale: float
    loc: float = 0.0
    df: float = 5.0
    source: str = ""

    def __post_init__(self) -> None:
        if self.kind not in (*SCALED_KINDS, "lognormal", "log_t"):
            raise DataError(f"tau prior kind {self.kind!r} is not known; use half_normal, "
                            "half_cauchy, lognormal or log_t")
        if not (np.isfinite(self.scale) and self.scale > 0):
            raise DataError(f"tau prior scale must be a positive number, not {self.scale!r}")

    def logpdf(self, tau: np.ndarray) -> np.ndarray:
        """Log density of ``tau`` (not ``tau^2``) at ``tau >= 0``."""
        tau = np.asarray(tau, dtype=float)
        if self.kind == "half_normal":
            return np.log(2.0) + stats.norm.logpdf(tau, scale=self.scale)
        if self.kind == "half_cauchy":
            return np.log(2.0) + stats.cauchy.logpdf(tau, scale=self.scale)
        with np.errstate(divide="ignore"):
            log_tau = np.log(tau)
        # log(tau^2) = 2 log(tau) has the stated distribution; change of variables to tau
        if self.kind == "lognormal":
            dens = stats.norm.logpdf(2.0 * log_tau, loc=self.loc, scale=self.scale)
        else:
            dens = stats.t.logpdf(2.0 * log_tau, self.df, loc=self.loc, scale=self.scale)
        return np.log(2.0) - log_tau + dens

    def describe(self) -> str:
        """The prior as a short formula for a report."""
        if self.kind == "half_normal":
            text = f"tau ~ Half-Normal({self.scale:g})"
        elif self.kind == "half_cauchy":
            text = f"tau ~ Half-Cauchy({self.scale:g})"
        elif self.kind == "lognormal":
            text = f"log(tau^2) ~ Normal({self.loc:g}, {self.scale:g}^2)"
        else:
            text = f"log(tau^2) ~ Student-t({self.df:g}, {self.loc:g}, {self.scale:g})"
        return f"{text} [{self.source}]" if self.source else text

    def hyperparameters(self) -> dict[str, float]:
        """Numeric hyperparameters fed to the compiled model as data."""
        return {"tau_scale": float(self.scale), "tau_loc": float(self.loc)}

    def pymc_variable(self, name: str, hyper: Mapping[str, Any]) -> Any:
        """Create the ``tau`` random variable inside an open PyMC model."""
        import pymc as pm

        scale, loc = hyper["tau_scale"], hyper["tau_loc"]
        if self.kind in ("half_normal", "half_cauchy"):
            # folded: tau = scale * |t|, t ~ Normal(0, 1) or Cauchy(0, 1), is exactly the
            # half-normal or half-Cauchy prior; unlike log(tau) it has no steep wall at large
            # tau and no funnel at tau -> 0 (a likelihood in tau^2 is smooth in t), so NUTS
            # does not diverge on small-k data
            dist = pm.Normal if self.kind == "half_normal" else pm.Cauchy
            raw = dist(f"{name}_raw", 0.0, 1.0)
            return pm.Deterministic(name, scale * pm.math.abs(raw))
        if self.kind == "lognormal":  # tau^2 ~ LogNormal(loc, scale)  <=>  tau ~ LogNormal(loc/2, scale/2)
            return pm.LogNormal(name, mu=loc / 2.0, sigma=scale / 2.0)
        log_tau = pm.StudentT(f"log_{name}", nu=self.df, mu=loc / 2.0, sigma=scale / 2.0)
        return pm.Deterministic(name, pm.math.exp(log_tau))


_TURNER = ("Turner et al. 2015, Stat Med 34:984-998, Table IV")
_RHODES = ("Rhodes et al. 2015, J Clin Epidemiol 68:52-60, Table 3")

#: Named empirical heterogeneity priors. Turner et al. (2015) are for log odds
#: ratios, Rhodes et al. (2015) for standardised mean differences; the values are
#: those tabulated in the papers (as also shipped by R's bayesmeta).
TAU_PRIOR_PRESETS: dict[str, TauPrior] = {
    "turner2015_process": TauPrior(
        "lognormal", 1.91, -2.56, source=f"{_TURNER}: log OR, resource use / process outcomes, "
        "non-pharmacological vs control"),
    "turner2015_subjective": TauPrior(
        "lognormal", 1.71, -2.92, source=f"{_TURNER}: log OR, subjective outcomes, "
        "non-pharmacological vs control"),
    "turner2015_mortality": TauPrior(
        "lognormal", 1.55, -4.17, source=f"{_TURNER}: log OR, all-cause mortality, "
        "non-pharmacological vs control"),
    "rhodes2015_process": TauPrior(
        "log_t", 2.57, -2.41, source=f"{_RHODES}: SMD, resource use / process outcomes, "
        "non-pharmacological"),
    "rhodes2015_subjective": TauPrior(
        "log_t", 2.41, -2.62, source=f"{_RHODES}: SMD, subjectively measured outcomes, "
        "non-pharmacological"),
    "rhodes2015_general": TauPrior(
        "log_t", 2.59, -3.44, source=f"{_RHODES}: SMD, any outcome type"),
}

#: shorthands for a preset: ``tau_prior="lognormal"`` is Turner's, ``"log_t"`` Rhodes's process prior
PRESET_ALIASES: dict[str, str] = {"lognormal": "turner2015_process", "log_t": "rhodes2015_process"}


def tau_prior_names() -> tuple[str, ...]:
    """Every name ``tau_prior`` accepts: scaled kinds, preset shorthands, then the presets.

    Examples
    --------
    >>> tau_prior_names()[:4]
    ('half_normal', 'half_cauchy', 'lognormal', 'log_t')
    >>> "rhodes2015_general" in tau_prior_names()
    True
    """
    return (*SCALED_KINDS, *PRESET_ALIASES, *TAU_PRIOR_PRESETS)


def make_tau_prior(tau_prior: str | TauPrior, tau_scale: float = 0.5) -> TauPrior:
    """Resolve ``tau_prior`` (a kind, a preset name or a :class:`TauPrior`).

    ``"half_normal"`` and ``"half_cauchy"`` use ``tau_scale``; ``"lognormal"`` is
    shorthand for the ``"turner2015_process"`` preset and ``"log_t"`` for
    ``"rhodes2015_process"`` (``tau_scale`` is then not used).

    Examples
    --------
    >>> make_tau_prior("half_cauchy", 0.3).describe()
    'tau ~ Half-Cauchy(0.3)'
    >>> make_tau_prior("rhodes2015_general").kind
    'log_t'
    """
    if isinstance(tau_prior, TauPrior):
        return tau_prior
    name = str(tau_prior).strip().lower().replace("-", "_")
    if name in SCALED_KINDS:
        return TauPrior(name, float(tau_scale))  # type: ignore[arg-type]
    name = PRESET_ALIASES.get(name, name)
    if name in TAU_PRIOR_PRESETS:
        return TAU_PRIOR_PRESETS[name]
    known = ", ".join(tau_prior_names())
    raise DataError(f"tau_prior {tau_prior!r} is not known; use one of: {known}")


def check_positive(value: float, name: str) -> float:
    """``value`` as a float, or a :class:`~synthesis.errors.DataError` naming ``name``.

    Examples
    --------
    >>> check_positive("0.5", "mu_sd")
    0.5
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not (np.isfinite(number) and number > 0):
        raise DataError(f"{name} must be a positive number, not {value!r}")
    return number


def random_effects_prior(mu_sd: float, tau_prior: TauPrior) -> str:
    """The priors of the normal-normal random-effects model as one formula string.

    Examples
    --------
    >>> random_effects_prior(1.0, TauPrior("half_normal", 0.5))
    'mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)'
    """
    return f"mu ~ Normal(0, {mu_sd:g}); {tau_prior.describe()}"


@dataclasses.dataclass(frozen=True)
class StrategyPriors:
    """Priors of :func:`strategy_model` (all normal / half-normal, mean 0).

    Examples
    --------
    >>> StrategyPriors().describe()  # doctest: +NORMALIZE_WHITESPACE
    'mu ~ Normal(0, 1); tau_class ~ Half-Normal(0.3); tau_strategy ~ Half-Normal(0.3);
    tau_study ~ Half-Normal(0.3); tau_effect ~ Half-Normal(0.2); beta ~ Normal(0, 0.5);
    interaction ~ Normal(0, 0.5)'
    """

    mu_sd: float = 1.0
    tau_class: float = 0.3
    tau_strategy: float = 0.3
    tau_study: float = 0.3
    tau_effect: float = 0.2
    beta_sd: float = 0.5
    interaction_sd: float = 0.5

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            check_positive(getattr(self, field.name), f"prior {field.name}")

    def describe(self, has_class: bool = True, has_beta: bool = True,
                 interaction: bool = True) -> str:
        parts = [f"mu ~ Normal(0, {self.mu_sd:g})"]
        if has_class:
            parts.append(f"tau_class ~ Half-Normal({self.tau_class:g})")
        parts += [f"tau_strategy ~ Half-Normal({self.tau_strategy:g})",
                  f"tau_study ~ Half-Normal({self.tau_study:g})",
                  f"tau_effect ~ Half-Normal({self.tau_effect:g})"]
        if has_beta:
            parts.append(f"beta ~ Normal(0, {self.beta_sd:g})")
        if interaction:
            parts.append(f"interaction ~ Normal(0, {self.interaction_sd:g})")
        return "; ".join(parts)

    def scaled(self, factor: float) -> StrategyPriors:
        """All heterogeneity scales multiplied by ``factor``."""
        return dataclasses.replace(self, tau_class=self.tau_class * factor,
                                   tau_strategy=self.tau_strategy * factor,
                                   tau_study=self.tau_study * factor,
                                   tau_effect=self.tau_effect * factor)

