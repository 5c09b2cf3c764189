"""The Bayesian workflow (issue 12): the strategy model's log-density checked against a
direct multivariate-normal computation, observed data and pointwise log-likelihood for
LOO and predictive checks, divergence-free small-k random-effects sampling, and
settings that do not apply recorded, not ignored.

Fits on one core. The strategy model's compile-and-sample cost is shared with
``tests/test_bayes.py`` only within a module, so the workflow checks of a sampled
strategy model are in that file (its ``strategy_fit`` fixture).
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from synthesis.bayes import StrategyPriors, random_effects, simulate_strategy_data
from synthesis.bayes.strategy_design import strategy_design
from synthesis.bayes.strategy_spec import StrategySpec
from synthesis.errors import ReviewError


def _spec(seed: int = 5) -> StrategySpec:
    data, truth = simulate_strategy_data(n_studies=8, seed=seed)
    design = strategy_design(data, study="study_id", strategy="strategy",
                             strategy_class="strategy_class", components="components",
                             moderators=truth["moderators"], effect_label=None)
    priors = StrategyPriors(mu_sd=0.8, tau_class=0.3, tau_strategy=0.25, tau_study=0.2,
                            tau_effect=0.15, beta_sd=0.5, interaction_sd=0.4)
    return StrategySpec(data["yi"].to_numpy(), data["vi"].to_numpy(), interaction=True,
                        priors=priors, **design)


def _direct_logp(spec: StrategySpec, p: dict[str, np.ndarray]) -> float:
    """Priors plus the marginal likelihood, written out with scipy's densities.

    Parameters are the model's (strategy_mean, w, r, phi, tau_study, tau_effect, beta,
    interaction). Strategy effects within classes are ``s ~ N(mu 1, tau_s^2 I + tau_c^2
    M M')`` (class effects integrated out); ``(m, w) -> (mu, s)`` has Jacobian
    ``det(K)^(1/2)``; ``(r, phi) -> (tau_c, tau_s)`` has Jacobian ``s_c s_s r``; the effect
    sizes of study ``j`` are ``N(eta_j, diag(v + tau_e^2) + tau_study^2 11')`` with
    ``eta = components @ s + X beta + interaction * multi``.
    """
    pr = spec.priors
    membership = np.eye(len(spec.classes))[spec.class_of_strategy]
    tau_c = pr.tau_class * p["r"] * math.cos(p["phi"])
    tau_s = pr.tau_strategy * p["r"] * math.sin(p["phi"])
    cov_s = tau_s ** 2 * np.eye(len(spec.strategies)) + tau_c ** 2 * membership @ membership.T
    root = _sqrtm(cov_s)
    deviation = root @ p["w"]
    mu = p["strategy_mean"] - deviation.mean()
    s = mu + deviation
    out = stats.norm.logpdf(mu, 0, pr.mu_sd)
    out += stats.multivariate_normal.logpdf(s, np.full(len(s), mu), cov_s)
    out += 0.5 * np.linalg.slogdet(cov_s)[1]
    out += (stats.halfnorm.logpdf(tau_c, scale=pr.tau_class)
            + stats.halfnorm.logpdf(tau_s, scale=pr.tau_strategy)
            + math.log(pr.tau_class * pr.tau_strategy * p["r"]))
    out += stats.halfnorm.logpdf(p["tau_study"], scale=pr.tau_study)
    out += stats.halfnorm.logpdf(p["tau_effect"], scale=pr.tau_effect)
    out += stats.norm.logpdf(p["beta"], 0, pr.beta_sd).sum()
    out += stats.norm.logpdf(p["interaction"], 0, pr.interaction_sd)
    eta = spec.components @ s + spec.design @ p["beta"] + p["interaction"] * spec.multi
    for j in range(len(spec.study_labels)):
        rows = spec.study_index == j
        cov = np.diag(spec.vi[rows] + p["tau_effect"] ** 2) + p["tau_study"] ** 2
        out += stats.multivariate_normal.logpdf(spec.yi[rows], eta[rows], cov)
    return float(out)


def _sqrtm(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag(np.sqrt(values)) @ vectors.T


def test_strategy_log_density_is_the_multivariate_normal():
    """compile_logp of the model against scipy at random points, up to a constant."""
    spec = _spec()
    assert len(spec.classes) >= 2 and (spec.components.sum(axis=1) > 1).any()
    assert np.bincount(spec.study_index).max() > 1 and spec.terms
    model = spec.build()
    logp = model.compile_logp(jacobian=False, mode="FAST_COMPILE")
    rng = np.random.default_rng(2024)
    differences = []
    for _ in range(4):
        a = _random_point(spec, rng)
        b = _random_point(spec, rng)
        ours = logp(_value_point(model, a)) - logp(_value_point(model, b))
        direct = _direct_logp(spec, a) - _direct_logp(spec, b)
        differences.append((ours, direct))
        assert abs(direct) > 1e-3  # the two points differ
    for ours, direct in differences:
        assert ours == pytest.approx(direct, rel=1e-9, abs=1e-8)


def _random_point(spec: StrategySpec, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"strategy_mean": rng.normal(0.2, 0.3), "w": rng.normal(size=len(spec.strategies)),
            "r": rng.uniform(0.3, 2.0), "phi": rng.uniform(0.1, 1.4),
            "tau_study": rng.uniform(0.05, 0.4), "tau_effect": rng.uniform(0.05, 0.3),
            "beta": rng.normal(0, 0.3, size=len(spec.terms)), "interaction": rng.normal(0, 0.2)}


def _value_point(model, point: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The point on the model's value variables (log and interval transforms applied)."""
    out = {}
    for rv in model.free_RVs:
        value = model.rvs_to_values[rv]
        transform = model.rvs_to_transforms.get(rv)
        x = np.asarray(point[rv.name], dtype=float)
        out[value.name] = transform.forward(x, *rv.owner.inputs).eval() if transform else x
    return out


def test_random_effects_has_observed_data_loo_and_predictive_checks():
    import arviz as az

    fit = random_effects([0.2, 0.5, 0.1, 0.4, 0.3], [0.02, 0.03, 0.02, 0.05, 0.04], seed=3,
                         cores=1, labels=list("ABCDE"))
    groups = set(fit.idata.groups())
    assert {"posterior", "observed_data", "log_likelihood"} <= groups
    assert list(fit.idata.log_likelihood["y"].coords["study"].values) == list("ABCDE")
    loo = fit.loo()
    assert loo["n"] == 5 and loo["n_high_k"] >= 0 and math.isfinite(loo["elpd_loo"])
    assert loo["elpd_loo"] == pytest.approx(float(az.loo(fit.idata).elpd_loo))
    assert len(az.compare({"a": fit.idata, "b": fit.idata})) == 2
    check = fit.predictive_check()
    assert check["n"] == 5 and 0 <= check["share_within"] <= 1 and check["level"] == 0.9
    replicated = fit.idata.posterior_predictive["y"]
    assert replicated.sizes["study"] == 5 and replicated.sizes["draw"] == 1000
    table = fit.predictive_table()
    assert (table.pi_lb < table.pi_ub).all() and list(table.study) == list("ABCDE")
    prior = fit.prior_predictive(draws=50)
    assert prior.prior_predictive["y"].shape[-2:] == (50, 5)
    assert prior.prior["tau"].values.min() >= 0
    summary = fit.workflow_summary()
    assert set(summary) == {"loo", "predictive_check"}


@pytest.mark.parametrize("k", [2, 3, 5])
def test_small_k_random_effects_do_not_diverge(k):
    """Data sets from the prior with few studies (the SBC set's hard cases): no divergences."""
    rng = np.random.default_rng(100 + k)
    vi = rng.uniform(0.01, 0.3, k)
    mu, tau = rng.normal(0, 1), abs(rng.normal(0, 0.5))
    yi = rng.normal(mu, np.sqrt(vi + tau ** 2))
    fit = random_effects(yi, vi, seed=k, cores=1)
    assert fit.diagnostics["divergences"] == 0, fit.diagnostics["messages"]
    # one compiled model serves every k: the draws still match the exact posterior
    exact, ess = fit.exact(), fit.diagnostics["min_ess_bulk"]
    for param in ("mu", "tau"):
        assert abs(fit.draws(param).mean() - exact.mean(param)) < 5 * exact.sd(param) / math.sqrt(ess)


@pytest.mark.slow
def test_small_k_random_effects_sbc_set_is_divergence_free():
    rng = np.random.default_rng(4343)
    divergent = 0
    for i in range(60):
        k = 2 + i % 4
        vi = rng.uniform(0.01, 0.3, k)
        mu, tau = rng.normal(0, 1), abs(rng.normal(0, 0.5))
        yi = rng.normal(mu, np.sqrt(vi + tau ** 2))
        divergent += random_effects(yi, vi, seed=i, cores=1).diagnostics["divergences"] > 0
    assert divergent == 0


# ---------------------------------------------------------------- settings that do not apply
@pytest.mark.parametrize("value, words", [
    (1e9, "more than the 100,000 draws allowed"),
    (2.5, "not a whole number"),
    ("1e9", "not a whole number"),
    (True, "not a whole number"),
])
def test_absurd_sampler_settings_are_refused(value, words):
    from synthesis.review.loader import load_review

    with pytest.raises(ReviewError, match=words) as info:
        load_review("practice-facilitation", ".", {"bayes.draws": value})
    assert "\n" not in str(info.value) and "bayes.draws" in str(info.value)
    with pytest.raises(ReviewError, match="more than the 64 chains allowed"):
        load_review("practice-facilitation", ".", {"bayes.chains": 65})


def test_unused_settings_are_recorded():
    from synthesis.analysis import analyse_review

    analysis = analyse_review("practice-facilitation", ".", {"bayes.draws": 5000})
    unused = {u["setting"]: u for u in analysis.results()["unused_settings"]}
    assert unused["bayes.draws"]["value"] == 5000
    assert "exact" in unused["bayes.draws"]["reason"]
    assert "bayes.mu_sd" not in unused


def test_strategy_replicates_have_the_marginal_distribution_of_y():
    """The vectorised posterior-predictive replicates of the strategy model (used instead of
    PyMC's per-draw loop) have, at a fixed parameter draw, mean eta and, within a study,
    covariance diag(v + tau_effect²) + tau_study² 11', and independence between studies."""
    import xarray as xr

    spec = _spec()
    rng = np.random.default_rng(11)
    n = 40_000
    p = {"strategy_effect": rng.normal(0.2, 0.1, len(spec.strategies)), "beta": rng.normal(0, 0.1, len(spec.terms)),
         "interaction": 0.05, "tau_study": 0.3, "tau_effect": 0.15}
    dims = {"strategy_effect": ["strategy"], "beta": ["term"], "interaction": [], "tau_study": [], "tau_effect": []}
    posterior = xr.Dataset({k: (("chain", "draw", *dims[k]), np.broadcast_to(np.asarray(v, float),
                                                                          (1, n, *np.shape(v))))
                            for k, v in p.items()})
    values = spec.replicate(posterior, np.random.default_rng(3)).reshape(n, -1)
    eta = spec.components @ p["strategy_effect"] + spec.design @ p["beta"] + p["interaction"] * spec.multi
    same = spec.study_index[:, None] == spec.study_index[None, :]
    cov = np.diag(spec.vi + p["tau_effect"] ** 2) + p["tau_study"] ** 2 * same
    sd = np.sqrt(np.diag(cov))
    np.testing.assert_allclose(values.mean(0), eta, atol=5 * sd.max() / np.sqrt(n))
    np.testing.assert_allclose(np.cov(values.T), cov, atol=6 * np.outer(sd, sd).max() * np.sqrt(2 / n))
