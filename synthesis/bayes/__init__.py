"""Bayesian models of implementation-strategy effectiveness (PyMC, nutpie) and the exact
posterior of the normal-normal random-effects model; simulated data with known parameters.

PyMC is imported only when a model is sampled. Imports nothing from ``synthesis.review``,
``synthesis.report`` or ``synthesis.pipeline``.
"""
from synthesis.bayes.models import (TAU_PRIOR_PRESETS, BayesResult, ExactResult, StrategyPriors, TauPrior,
                                    make_tau_prior, random_effects, random_effects_exact, strategy_model)
from synthesis.bayes.simulate import simulate_strategy_data

__all__ = ["TAU_PRIOR_PRESETS", "BayesResult", "ExactResult", "StrategyPriors", "TauPrior", "make_tau_prior",
           "random_effects", "random_effects_exact", "strategy_model", "simulate_strategy_data"]
