"""Power-scaling sensitivity (synthesis.bayes.sensitivity) against closed forms.

On the conjugate normal model (prior N(0, s0^2), n observations with known
sigma) the posterior under the prior raised to alpha is normal with precision
``alpha / s0^2 + n / sigma^2``; the importance-weighted draws must reproduce it.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from synthesis.bayes import random_effects
from synthesis.bayes.sensitivity import (
    PowerScaling,
    cjs_distance,
    model_log_likelihood,
    model_log_prior,
    power_scaling,
    prior_sensitivity_record,
    psis_weights,
    weighted_mean_sd,
)

N_DRAWS = 40_000


def conjugate(s0: float, n: int = 20, sigma: float = 1.0, ybar: float = 0.8,
              prior_power: float = 1.0, lik_power: float = 1.0) -> tuple[float, float]:
    """Posterior mean and sd of theta under N(0, s0)^prior_power x likelihood^lik_power."""
    precision = prior_power / s0 ** 2 + lik_power * n / sigma ** 2
    return lik_power * n * ybar / sigma ** 2 / precision, 1.0 / math.sqrt(precision)


def conjugate_draws(s0: float, seed: int = 1, n: int = 20, sigma: float = 1.0, ybar: float = 0.8):
    mean, sd = conjugate(s0, n, sigma, ybar)
    theta = np.random.default_rng(seed).normal(mean, sd, N_DRAWS)
    log_prior = stats.norm.logpdf(theta, 0, s0)
    log_lik = stats.norm.logpdf(ybar, theta, sigma / math.sqrt(n))  # up to a constant
    return theta, log_prior, log_lik


@pytest.mark.parametrize("alpha", [0.8, 0.99, 1.01, 2.0])
@pytest.mark.parametrize("component", ["prior", "likelihood"])
def test_importance_weights_reproduce_power_scaled_conjugate_posterior(alpha, component):
    s0 = 0.3
    theta, log_prior, log_lik = conjugate_draws(s0)
    log_component = log_prior if component == "prior" else log_lik
    weights, k = psis_weights((alpha - 1.0) * log_component)
    mean, sd = weighted_mean_sd(theta, weights)
    powers = {"prior_power": alpha} if component == "prior" else {"lik_power": alpha}
    true_mean, true_sd = conjugate(s0, **powers)
    base_sd = conjugate(s0)[1]
    assert k < 0.7
    # draw-level tolerance: a few Monte Carlo standard errors of N_DRAWS draws
    assert mean == pytest.approx(true_mean, abs=5 * base_sd / math.sqrt(N_DRAWS) + 1e-3 * abs(alpha - 1))
    assert sd == pytest.approx(true_sd, rel=0.02)


def test_tight_prior_is_more_sensitive_than_vague():
    rows = {}
    for label, s0 in (("tight", 0.1), ("vague", 10.0)):
        theta, log_prior, log_lik = conjugate_draws(s0)
        rows[label] = power_scaling({"theta": theta}, log_prior, log_lik).iloc[0]
    assert rows["tight"].prior_sensitivity > 5 * rows["vague"].prior_sensitivity
    assert rows["vague"].prior_sensitivity < 0.05 and rows["vague"].diagnosis == "-"
    # a prior worth as much as 100 observations pulls the mean far from the data: conflict
    assert rows["tight"].diagnosis == "prior-data conflict"
    assert rows["tight"].likelihood_sensitivity >= 0.05


def test_prior_only_when_no_likelihood():
    theta, log_prior, _ = conjugate_draws(0.1)
    table = power_scaling({"theta": theta}, log_prior, None)
    assert math.isnan(table.loc[0, "likelihood_sensitivity"])
    assert table.loc[0, "diagnosis"] == "prior-sensitive (likelihood not available)"


def test_cjs_distance_properties():
    rng = np.random.default_rng(3)
    x = rng.normal(size=5000)
    assert cjs_distance(x, np.ones_like(x)) == 0.0
    small, large = cjs_distance(x, np.exp(0.1 * x)), cjs_distance(x, np.exp(x))
    assert 0 < small < large <= 1
    # a second sample from the same distribution is close; a shifted one is not
    assert cjs_distance(x, y=rng.normal(size=5000)) < 0.05 < cjs_distance(x, y=rng.normal(1, 1, 5000))


def test_log_densities_from_the_pymc_model():
    import arviz as az
    import pymc as pm

    rng = np.random.default_rng(5)
    y = rng.normal(0.3, 1.0, 8)
    with pm.Model() as model:
        mu = pm.Normal("mu", 0.0, 2.0)
        tau = pm.HalfNormal("tau", 0.5)
        pm.Potential("extra_prior", pm.logp(pm.Normal.dist(0.0, 1.0), tau))
        pm.Normal("y", mu, 1.0 + tau, observed=y)
    mu_d, tau_d = rng.normal(size=(2, 30)), np.abs(rng.normal(size=(2, 30)))
    idata = az.from_dict(posterior={"mu": mu_d, "tau": tau_d})
    expected = (stats.norm.logpdf(mu_d, 0, 2) + stats.halfnorm.logpdf(tau_d, scale=0.5)
                + stats.norm.logpdf(tau_d)).ravel()
    assert np.allclose(model_log_prior(model, idata.posterior), expected)
    lik = stats.norm.logpdf(y[None, None, :], mu_d[..., None], 1 + tau_d[..., None]).sum(-1)
    assert np.allclose(model_log_likelihood(model, idata), lik.ravel())
    # the log_likelihood group, when present, is used as it is
    idata.add_groups({"log_likelihood": {"y": np.zeros((2, 30, 8)) - 1.0}})
    assert np.allclose(model_log_likelihood(model, idata), -8.0)


def test_bayes_result_prior_sensitivity_without_refit():
    data = pd.read_csv(Path(__file__).parent / "data" / "metafor" /
                       "baskerville2012_practice_facilitation.csv")
    fit = random_effects(data.yi, data.vi, seed=2012, labels=data.author, mid=0.2, cores=1)
    table = fit.prior_sensitivity()
    assert list(table.columns[:5]) == ["parameter", "prior_sensitivity", "likelihood_sensitivity",
                                       "diagnosis", "pareto_k"]
    assert {"mu", "tau"} <= set(table.parameter)
    assert (table.pareto_k < 0.7).all() and not table.refit.any()
    assert table.likelihood_sensitivity.notna().all()  # y_obs is an observed variable
    assert fit.prior_sensitivity() is not table and fit.prior_sensitivity().equals(table)
    assert isinstance(fit.__dict__["_power_scaling"], PowerScaling)
    record = prior_sensitivity_record(fit)  # what the manifest's results carry
    assert json.loads(json.dumps(record, allow_nan=False))["rows"][0]["parameter"] == "mu"
    assert record["alphas"] == [0.99, 1.01] and not record["notes"]
    assert prior_sensitivity_record(fit.exact()) is None
