"""Bayesian models of implementation-strategy effectiveness (PyMC, nutpie) and the exact
posterior of the normal-normal random-effects model; simulated data with known parameters.

Modules: ``priors`` (tau priors, presets, strategy-model priors), ``exact`` (the
quadrature posterior), ``sampling`` (sampler settings and the nutpie/PyMC dispatch),
``posterior`` (ArviZ summaries and densities of draws), ``results`` (``BayesResult``
and the convergence gate), ``random_effects_model``, ``strategy`` (with
``strategy_design`` and ``strategy_spec``), ``likelihood`` (the study-marginal
likelihood as an observed variable), ``workflow`` (observed data, pointwise
log-likelihood, LOO, prior and posterior predictive checks) and ``simulate``.

PyMC, nutpie and ArviZ are imported only when a model is sampled or summarised.
Imports nothing from ``synthesis.review``, ``synthesis.report`` or ``synthesis.pipeline``.
"""
from synthesis.bayes.exact import ExactResult, random_effects_exact
from synthesis.bayes.priors import (PRESET_ALIASES, TAU_PRIOR_PRESETS, StrategyPriors, TauPrior,
                                    make_tau_prior, tau_prior_names)
from synthesis.bayes.random_effects_model import random_effects
from synthesis.bayes.results import ESS_MIN, R_HAT_MAX, BayesResult
from synthesis.bayes.sampling import DEFAULT_SAMPLER
from synthesis.bayes.simulate import simulate_strategy_data
from synthesis.bayes.strategy import strategy_model

__all__ = ["TAU_PRIOR_PRESETS", "PRESET_ALIASES", "tau_prior_names", "BayesResult", "ExactResult",
           "StrategyPriors", "TauPrior", "make_tau_prior", "random_effects", "random_effects_exact",
           "strategy_model", "simulate_strategy_data", "DEFAULT_SAMPLER", "R_HAT_MAX", "ESS_MIN"]
