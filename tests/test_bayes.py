"""Bayesian models: exact integration vs brute force, sampler vs exact, gate, recovery, SBC.

Fast tests compile each model once (nutpie models are cached in-process) and
sample on one core. ``-m slow`` runs the multi-seed recovery coverage and the
simulation-based calibration (SBC) of the random-effects sampler.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import integrate, stats

from synthesis.bayes import (
    PRESET_ALIASES,
    TAU_PRIOR_PRESETS,
    StrategyPriors,
    TauPrior,
    make_tau_prior,
    random_effects,
    random_effects_exact,
    simulate_strategy_data,
    strategy_model,
    tau_prior_names,
)
from synthesis.errors import DataError

DATA = Path(__file__).parent / "data" / "metafor"
FAST = dict(cores=1)


@pytest.fixture(scope="module")
def baskerville() -> pd.DataFrame:
    return pd.read_csv(DATA / "baskerville2012_practice_facilitation.csv")


# ---------------------------------------------------------------- exact path
def brute_force(yi, vi, log_prior_tau, mu_sd=1.0, tau_max=1.5, n_mu=801, n_tau=1501):
    """Posterior moments of mu and tau on a plain 2-D grid of the full likelihood."""
    mu = np.linspace(-0.5, 1.6, n_mu)
    tau = np.linspace(1e-9, tau_max, n_tau)
    m, t = np.meshgrid(mu, tau, indexing="ij")
    log_p = stats.norm.logpdf(m, 0.0, mu_sd) + log_prior_tau(t)
    for y, v in zip(yi, vi):
        log_p += stats.norm.logpdf(y, m, np.sqrt(v + t ** 2))
    p = np.exp(log_p - log_p.max())
    p /= p.sum()
    out = {}
    for name, grid in (("mu", m), ("tau", t)):
        mean = (p * grid).sum()
        out[name] = (mean, math.sqrt((p * grid ** 2).sum() - mean ** 2))
    return out


INDEPENDENT_PRIORS = {
    "half_normal": (dict(tau_prior="half_normal", tau_scale=0.5),
                    lambda t: stats.halfnorm.logpdf(t, scale=0.5)),
    "half_cauchy": (dict(tau_prior="half_cauchy", tau_scale=0.3),
                    lambda t: stats.halfcauchy.logpdf(t, scale=0.3)),
    # tau^2 ~ LogNormal(-2.56, 1.91): density of tau = f(tau^2) * 2 tau
    "turner": (dict(tau_prior="turner2015_process"),
               lambda t: stats.lognorm.logpdf(t ** 2, s=1.91, scale=math.exp(-2.56)) + np.log(2 * t)),
}


@pytest.mark.parametrize("name", sorted(INDEPENDENT_PRIORS))
def test_exact_matches_brute_force_grid(baskerville, name):
    kwargs, log_prior = INDEPENDENT_PRIORS[name]
    exact = random_effects_exact(baskerville.yi, baskerville.vi, **kwargs)
    brute = brute_force(baskerville.yi.to_numpy(), baskerville.vi.to_numpy(), log_prior)
    for param in ("mu", "tau"):
        assert exact.mean(param) == pytest.approx(brute[param][0], abs=2e-3)
        assert exact.sd(param) == pytest.approx(brute[param][1], abs=2e-3)


def test_exact_matches_gauss_legendre_on_small_data():
    """Three studies, half-normal prior: a 2-D Gauss-Legendre product rule as the reference."""
    yi, vi = np.array([0.3, 0.1, 0.5]), np.array([0.04, 0.05, 0.06])
    nodes, weights = np.polynomial.legendre.leggauss(160)

    def integral(f, mu_lo, mu_hi, tau_hi=4.0):
        mu = (mu_hi - mu_lo) / 2 * nodes + (mu_hi + mu_lo) / 2
        tau = tau_hi / 2 * (nodes + 1)
        m, t = np.meshgrid(mu, tau, indexing="ij")
        joint = (stats.norm.pdf(m, 0, 1) * stats.halfnorm.pdf(t, scale=0.5)
                 * np.prod(stats.norm.pdf(yi[:, None, None], m, np.sqrt(vi[:, None, None] + t ** 2)),
                           axis=0))
        w = np.outer(weights * (mu_hi - mu_lo) / 2, weights * tau_hi / 2)
        return float((w * joint * f(m, t)).sum())

    norm = integral(lambda m, t: 1.0, -4, 4)
    exact = random_effects_exact(yi, vi)
    assert exact.mean("mu") == pytest.approx(integral(lambda m, t: m, -4, 4) / norm, abs=1e-6)
    assert exact.mean("tau") == pytest.approx(integral(lambda m, t: t, -4, 4) / norm, abs=1e-5)
    assert exact.prob_greater(0.4) == pytest.approx(integral(lambda m, t: 1.0, 0.4, 4) / norm,
                                                    abs=1e-6)


@pytest.mark.parametrize("name", sorted(TAU_PRIOR_PRESETS) + ["half_normal", "half_cauchy"])
def test_tau_prior_densities_integrate_to_one(name):
    prior = make_tau_prior(name, 0.5)
    total = integrate.quad(lambda t: math.exp(prior.logpdf(np.array([t]))[0]), 0, np.inf,
                           limit=400)[0]
    assert total == pytest.approx(1.0, abs=1e-6)


def test_exact_quantiles_invert_the_cdf(baskerville):
    exact = random_effects_exact(baskerville.yi, baskerville.vi)
    for param in ("mu", "tau", "theta_new"):
        for q in (0.025, 0.5, 0.975):
            assert exact.cdf(exact.quantile(q, param), param) == pytest.approx(q, abs=2e-3)
    table = exact.summary()
    assert list(table.index) == ["mu", "tau", "tau2", "theta_new"]
    assert table.loc["theta_new", "sd"] > table.loc["mu", "sd"]
    density = exact.density("mu")
    assert integrate.trapezoid(density.density, density.value) == pytest.approx(1.0, abs=2e-3)
    json.dumps(exact.to_dict())


def tau_posterior_by_quad(yi, vi, log_prior_tau, mu_sd=1.0):
    """Unnormalised p(tau | y) with mu integrated out (multivariate normal marginal), and its
    integral over log(tau) (quadrature on the log scale copes with spikes near 0 and heavy tails)."""
    yi, vi = np.asarray(yi, float), np.asarray(vi, float)

    def density(t):
        cov = np.diag(vi + t ** 2) + mu_sd ** 2
        return math.exp(log_prior_tau(t) + stats.multivariate_normal.logpdf(yi, np.zeros(len(yi)), cov))

    def integral(f, upper=np.inf):
        hi = math.log(upper) if np.isfinite(upper) else 40.0
        return integrate.quad(lambda u: f(math.exp(u)) * density(math.exp(u)) * math.exp(u),
                              -40.0, hi, limit=500, points=[-5.0, 0.0])[0]

    return integral


def test_exact_heavy_tails_and_single_study():
    """A single study under a half-Cauchy prior, two under the heavy-tailed log-t prior."""
    one = random_effects_exact([0.4], [0.05], tau_prior="half_cauchy", tau_scale=0.5)
    integral = tau_posterior_by_quad([0.4], [0.05], lambda t: stats.halfcauchy.logpdf(t, scale=0.5))
    assert one.mean("tau") == pytest.approx(integral(lambda t: t) / integral(lambda t: 1.0), rel=1e-4)
    rhodes = random_effects_exact([0.4, 0.1], [0.05, 0.02], tau_prior="rhodes2015_general")
    prior = TAU_PRIOR_PRESETS["rhodes2015_general"]
    integral = tau_posterior_by_quad([0.4, 0.1], [0.05, 0.02],
                                     lambda t: float(prior.logpdf(np.array([t]))[0]))
    total = integral(lambda t: 1.0)
    for q in (0.5, 0.975):
        below = integral(lambda t: 1.0, upper=rhodes.quantile(q, "tau")) / total
        assert below == pytest.approx(q, abs=2e-3)


def test_exact_hdi_is_the_shortest_interval(baskerville):
    """At the HDI's ends the posterior density is equal, and the interval holds the level."""
    exact = random_effects_exact(baskerville.yi, baskerville.vi, level=0.9)

    def mu_density(x):
        sd = 1.0 / np.sqrt(exact.cond_prec)
        return float(exact.weights @ stats.norm.pdf(x, exact.cond_mean, sd))

    lo, hi = exact.hdi("mu")
    assert exact.cdf(hi) - exact.cdf(lo) == pytest.approx(0.9, abs=1e-6)
    assert mu_density(lo) == pytest.approx(mu_density(hi), rel=1e-3)
    assert hi - lo < np.subtract(*exact.interval("mu")[::-1])
    table = exact.summary()
    assert table.loc["tau", "hdi_ub"] - table.loc["tau", "hdi_lb"] <= \
        table.loc["tau", "ci_ub"] - table.loc["tau", "ci_lb"]


def test_exact_is_calibrated():
    """Posterior CDF at the true mu, over data sets drawn from the prior, is uniform (KS)."""
    rng = np.random.default_rng(20261123)
    vi = np.array([0.02, 0.05, 0.03, 0.08, 0.04, 0.06])
    pit_mu, pit_tau = [], []
    for _ in range(1000):
        mu, tau = rng.normal(0, 1), abs(rng.normal(0, 0.5))
        yi = rng.normal(mu, np.sqrt(vi + tau ** 2))
        exact = random_effects_exact(yi, vi)
        pit_mu.append(exact.cdf(mu))
        pit_tau.append(exact.cdf(tau, "tau"))
    assert stats.kstest(pit_mu, "uniform").pvalue > 0.01
    assert stats.kstest(pit_tau, "uniform").pvalue > 0.01


def test_every_tau_prior_name_is_accepted():
    """tau_prior_names() (what the review schema allows) is exactly what make_tau_prior accepts."""
    names = tau_prior_names()
    assert set(names) == {"half_normal", "half_cauchy"} | set(PRESET_ALIASES) | set(TAU_PRIOR_PRESETS)
    assert len(names) == len(set(names))
    for alias, preset in PRESET_ALIASES.items():
        assert make_tau_prior(alias) is TAU_PRIOR_PRESETS[preset]
    for name in names:
        assert isinstance(make_tau_prior(name, 0.3), TauPrior)


def check_result_protocol(result, parameter):
    """summary / to_frame / to_dict / repr of a result object (synthesis.results.Result)."""
    summary = result.summary()
    assert isinstance(summary, pd.DataFrame) and parameter in summary.index
    frame = result.to_frame()
    assert list(frame["param"]) == list(summary.index)
    assert frame.set_index("param")["mean"].equals(summary["mean"])
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)  # NaN and infinities have become None
    assert json.loads(text) == out
    assert out["estimates"][parameter]["mean"] == pytest.approx(summary.loc[parameter, "mean"])
    assert out["prior"] == result.prior_description()
    shown = repr(result).splitlines()
    assert shown[0] == result.title() and any(line.startswith(parameter) for line in shown[1:])


def test_exact_result_protocol(baskerville):
    exact = random_effects_exact(baskerville.yi, baskerville.vi, mid=0.2)
    check_result_protocol(exact, "theta_new")
    assert exact.title().startswith("Exact posterior of the random-effects model (k = 23;")
    assert exact.to_dict()["prob_gt_mid"] == pytest.approx(exact.prob_greater(0.2))


def test_bad_input_is_refused():
    with pytest.raises(DataError, match="tau_prior 'wide'"):
        random_effects_exact([0.1, 0.2], [0.01, 0.02], tau_prior="wide")
    with pytest.raises(DataError, match="mu_sd"):
        random_effects_exact([0.1, 0.2], [0.01, 0.02], mu_sd=0)
    with pytest.raises(DataError, match="'vi'"):
        random_effects_exact([0.1, 0.2], [0.01, -0.02])
    with pytest.raises(DataError, match="sampler 'stan'"):
        random_effects([0.1, 0.2], [0.01, 0.02], sampler="stan")
    with pytest.raises(DataError):
        TauPrior("half_normal", -1.0)


# ---------------------------------------------------------------- sampler
@pytest.fixture(scope="module")
def re_fit(baskerville):
    return random_effects(baskerville.yi, baskerville.vi, seed=2012, labels=baskerville.author,
                          mid=0.2, **FAST)


def test_sampler_agrees_with_exact(re_fit):
    import arviz as az

    exact = re_fit.exact()
    post = re_fit.idata.posterior
    for param in ("mu", "tau"):
        chains = post[param].values  # (chain, draw)
        draws = chains.ravel()
        # Monte Carlo standard errors of the mean and of the sd (as ArviZ computes them)
        mcse_mean = draws.std() / math.sqrt(az.ess(chains, method="mean"))
        squares = (chains - draws.mean()) ** 2
        mcse_sd = math.sqrt(squares.var() / az.ess(squares, method="mean")) / (2 * draws.std())
        assert abs(draws.mean() - exact.mean(param)) < 4 * mcse_mean, param
        assert abs(draws.std(ddof=1) - exact.sd(param)) < 4 * mcse_sd, param
    # ArviZ's HDI of the draws against the exact HDI (quadrature), a few hundredths apart at most
    table = re_fit.summary()
    for param in ("mu", "tau"):
        assert table.loc[param, ["hdi_lb", "hdi_ub"]].to_numpy() == pytest.approx(exact.hdi(param),
                                                                                  abs=0.02)


def test_bayes_result_protocol(re_fit):
    check_result_protocol(re_fit, "theta[Kottke et al.]")
    assert re_fit.title().startswith("Bayesian random-effects model (nutpie, 4 chains x 1000 draws")
    assert "convergence checks passed" in re_fit.title()


def test_result_tables_and_gate(re_fit):
    table = re_fit.summary()
    assert {"mean", "sd", "eti_lb", "eti_ub", "hdi_lb", "hdi_ub", "r_hat", "ess_bulk",
            "ess_tail"} <= set(table.columns)
    assert "theta[Kottke et al.]" in table.index
    assert (table.hdi_ub - table.hdi_lb <= 1.01 * (table.eti_ub - table.eti_lb)).all()
    d = re_fit.diagnostics
    assert d["ok"] and d["divergences"] == 0 and d["messages"] == []
    assert d["max_r_hat"] <= 1.01 and min(d["min_ess_bulk"], d["min_ess_tail"]) >= 400
    out = re_fit.to_dict()
    json.dumps(out)
    assert out["prior"] == "mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)"
    assert 0 < out["prob_gt_mid"]["mu"] <= out["prob_gt_0"]["mu"] <= 1


def test_decision_summaries_match_exact(re_fit):
    exact = re_fit.exact()
    assert re_fit.prob_greater(0.5) == pytest.approx(exact.prob_greater(0.5), abs=0.03)
    new = re_fit.predictive()
    assert new.std() == pytest.approx(exact.sd("theta_new"), rel=0.05)
    sampled, analytic = re_fit.shrinkage(), exact.shrinkage()
    assert np.allclose(sampled["mean"], analytic["mean"], atol=0.02)
    assert (np.abs(sampled["shift"]) < np.abs(sampled["yi"] - sampled["mean"].mean()) + 1e-9).all()
    ranks = re_fit.rank_probabilities()
    assert np.allclose(ranks.sum(axis=0), 1) and np.allclose(ranks.sum(axis=1), 1)


def test_prior_sensitivity_uses_exact_path(re_fit, baskerville):
    table = re_fit.prior_sensitivity("defaults")
    fitted = table[(table.prior_label == "as fitted") & (table.parameter == "mu")].iloc[0]
    assert fitted["mean"] == pytest.approx(re_fit.exact().mean("mu"))
    assert {"vague mu prior", "half-Cauchy tau prior"} <= set(table.prior_label)
    assert table.prob_gt_mid.notna().any()
    custom = re_fit.prior_sensitivity({"tight": {"tau_scale": 0.1}})
    tight = custom[(custom.prior_label == "tight") & (custom.parameter == "tau")].iloc[0]
    as_fitted = custom[(custom.prior_label == "as fitted") & (custom.parameter == "tau")].iloc[0]
    assert "Half-Normal(0.1)" in tight["prior"]
    reference = random_effects_exact(baskerville.yi, baskerville.vi, tau_scale=0.1)
    assert tight["mean"] == pytest.approx(reference.mean("tau"))
    assert tight["mean"] < as_fitted["mean"]  # a tighter prior pulls tau towards 0
    with pytest.raises(DataError, match="unknown setting"):
        re_fit.prior_sensitivity({"bad": {"sigma": 1}})


def test_same_seed_same_draws(baskerville):
    a = random_effects(baskerville.yi, baskerville.vi, seed=7, draws=200, tune=200, **FAST)
    b = random_effects(baskerville.yi, baskerville.vi, seed=7, draws=200, tune=200, **FAST)
    c = random_effects(baskerville.yi, baskerville.vi, seed=8, draws=200, tune=200, **FAST)
    assert np.array_equal(a.draws("mu"), b.draws("mu"))
    assert np.array_equal(a.draws("theta"), b.draws("theta"))
    assert not np.array_equal(a.draws("mu"), c.draws("mu"))
    assert np.array_equal(a.predictive(), b.predictive())


def test_gate_fails_with_reasons(baskerville):
    short = random_effects(baskerville.yi, baskerville.vi, seed=3, draws=50, tune=100, **FAST)
    assert not short.diagnostics["ok"]
    assert any("effective sample size" in m for m in short.diagnostics["messages"])
    single = random_effects(baskerville.yi, baskerville.vi, seed=3, chains=1, draws=200, tune=200,
                            **FAST)
    assert not single.diagnostics["ok"]
    assert any("two chains" in m for m in single.diagnostics["messages"])


@pytest.mark.slow
def test_pymc_sampler_agrees_with_exact(baskerville):
    fit = random_effects(baskerville.yi, baskerville.vi, seed=5, sampler="pymc", **FAST)
    exact = fit.exact()
    assert fit.diagnostics["ok"]
    assert fit.draws("mu").mean() == pytest.approx(exact.mean("mu"), abs=0.01)
    assert fit.draws("tau").mean() == pytest.approx(exact.mean("tau"), abs=0.015)


# ---------------------------------------------------------------- strategy model
MODERATORS = [{"name": "scale", "type": "categorical", "reference": "research"},
              {"name": "setting", "type": "categorical", "reference": "primary care"}]


def interval_covers(fit, truth, level=0.9, groups=("strategy_effect", "class_effect", "beta")):
    """(covered, total) of the level-intervals of strategy, class and moderator effects."""
    table = fit.summary(level=level)
    hits = total = 0
    for group in groups:
        for name, value in truth[group].items():
            row = table.loc[f"{group}[{name}]"]
            hits += row.eti_lb <= value <= row.eti_ub
            total += 1
    return hits, total


@pytest.fixture(scope="module")
def strategy_fit():
    # (seed 101 is avoided: its 40 study effects happen to average -0.055, 3.5 standard errors
    # from 0, which shifts every estimate; coverage over seeds is the slow test's job)
    data, truth = simulate_strategy_data(n_studies=40, seed=103, tau_class=0.15, tau_strategy=0.1)
    fit = strategy_model(data, components="components", moderators=truth["moderators"],
                         seed=11, mid=0.1, **FAST)
    return data, truth, fit


def test_strategy_model_recovers_truth_single_seed(strategy_fit):
    data, truth, fit = strategy_fit
    assert fit.diagnostics["ok"], fit.diagnostics["messages"]
    # strategy and moderator effects are well identified; a class holding a single strategy
    # is not (its effect depends on how heterogeneity splits between the two levels), so
    # class effects are left to the multi-seed coverage test
    hits, total = interval_covers(fit, truth, groups=("strategy_effect", "beta"))
    assert hits >= total - 1
    assert fit.summary().loc[[f"class_effect[{c}]" for c in truth["class_effect"]], "sd"].gt(0).all()
    means = fit.summary().loc[[f"strategy_effect[{s}]" for s in truth["strategy_effect"]], "mean"]
    error = means.to_numpy() - np.array(list(truth["strategy_effect"].values()))
    assert math.sqrt(np.mean(error ** 2)) < 0.1  # posterior SDs are about 0.04-0.06


def test_strategy_model_outputs(strategy_fit):
    data, truth, fit = strategy_fit
    strategies = sorted(truth["strategy_effect"])
    ranks = fit.rank_probabilities()
    assert list(ranks.index) == strategies and ranks.index.name == "strategy"
    assert np.allclose(ranks.sum(axis=1), 1) and np.allclose(ranks.sum(axis=0), 1)
    probs = fit.prob_greater(0.1, "strategy_effect")
    assert list(probs.index) == strategies and probs.between(0, 1).all()
    base = fit.predictive(strategy="Reminders")
    routine = fit.predictive(strategy="Reminders", context={"scale": "routine"})
    terms = [str(t) for t in fit.idata.posterior["beta"].coords["term"].values]
    beta = fit.draws("beta")[:, terms.index("scale[routine]")]
    assert (routine.mean() - base.mean()) == pytest.approx(beta.mean(), abs=0.02)
    combo = fit.predictive(strategy="Audit and feedback + Reminders")
    effects = fit.draws("strategy_effect")
    pair = effects[:, strategies.index("Audit and feedback")] + effects[:, strategies.index("Reminders")]
    assert combo.mean() == pytest.approx(pair.mean(), abs=0.02)
    assert fit.predictive().std() > fit.draws("mu").std()
    density = fit.density("mu")
    assert integrate.trapezoid(density.density, density.value) == pytest.approx(1.0, abs=0.01)
    shrink = fit.shrinkage()
    assert len(shrink) == len(data) and shrink["sd"].gt(0).all()
    assert (shrink["sd"] < shrink["sei"]).mean() > 0.9
    check_result_protocol(fit, "strategy_effect[Reminders]")
    assert fit.title().startswith("Bayesian strategy model (nutpie, 4 chains x 1500 draws, seed 11;")
    out = fit.to_dict()
    assert out["prior"].startswith("mu ~ Normal(0, 1); tau_class ~ Half-Normal(0.3)")
    assert out["prob_gt_0"]["strategy_effect"] == pytest.approx(
        fit.prob_greater(0.0, "strategy_effect").to_dict())
    assert out["n_effects"] == len(data) and out["moderators"][0]["reference"] == "research"
    assert set(out["prob_best"]) == set(strategies)
    with pytest.raises(DataError, match="no level 'national'"):
        fit.predictive(context={"scale": "national"})
    with pytest.raises(DataError, match="unknown moderator"):
        fit.predictive(context={"country": "UK"})
    with pytest.raises(DataError, match="not in the model"):
        fit.predictive(strategy="Incentives")


def test_strategy_model_workflow(strategy_fit):
    """Observed data, leave-one-study-out LOO, az.compare and predictive checks (issue 12)."""
    import arviz as az

    data, _, fit = strategy_fit
    idata = fit.idata
    assert {"observed_data", "log_likelihood"} <= set(idata.groups())
    assert idata.observed_data["y"].dims == ("effect",) and idata.observed_data.sizes["effect"] == len(data)
    assert idata.log_likelihood["y"].sizes["study"] == data["study_id"].nunique()
    loo = fit.loo()
    assert loo["n"] == data["study_id"].nunique() and math.isfinite(loo["elpd_loo"])
    assert len(az.compare({"fitted": idata, "again": idata})) == 2
    check = fit.predictive_check()
    assert check["n"] == len(data) and check["share_within"] >= 0.75  # about 0.9 if the model fits
    assert idata.posterior_predictive["y"].sizes["effect"] == len(data)
    prior = fit.prior_predictive(draws=40)
    assert prior.prior_predictive["y"].shape[-2:] == (40, len(data))
    assert set(fit.workflow_summary()) == {"loo", "predictive_check"}


def test_strategy_prior_sensitivity_refits(strategy_fit):
    _, _, fit = strategy_fit
    table = fit.prior_sensitivity({"wide": {"scale": 2.0}})
    assert set(table.prior_label) == {"as fitted", "wide"}
    wide = table[table.prior_label == "wide"]
    assert "tau_class ~ Half-Normal(0.6)" in wide.prior.iloc[0]
    assert wide.diagnostics_ok.all()


def test_strategy_model_input_errors():
    data, truth = simulate_strategy_data(n_studies=8, seed=2)
    with pytest.raises(DataError, match="column 'study' .*missing"):
        strategy_model(data, study="study")
    # put one row of a strategy that occurs on several single-component rows in another class
    single = data[data.components == data.strategy]
    counts = single.strategy.value_counts()
    rows = single.index[single.strategy == counts.idxmax()]
    assert counts.max() >= 2  # the simulated data guarantee the case
    clash = data.copy()
    clash.loc[rows[0], "strategy_class"] = "Change infrastructure"
    with pytest.raises(DataError, match=f"rows {rows[0] + 1} and {rows[1] + 1}: .* two classes"):
        strategy_model(clash, components="components")
    bad = data.assign(scale=data.scale.where(data.index != 3, None))
    with pytest.raises(DataError, match="row 4: missing moderator"):
        strategy_model(bad, moderators=["scale"])
    with pytest.raises(DataError, match="single level"):
        strategy_model(data.assign(scale="routine"), moderators=["scale"])
    with pytest.raises(TypeError):
        StrategyPriors(tau_cls=0.2)  # type: ignore[call-arg]


# ---------------------------------------------------------------- slow checks
@pytest.mark.slow
def test_strategy_model_coverage_across_seeds():
    """90% intervals of strategy, class and moderator effects cover the truth ~90% of the time."""
    hits = total = 0
    not_ok = 0
    for seed in range(8):
        data, truth = simulate_strategy_data(n_studies=40, seed=1000 + seed)
        fit = strategy_model(data, components="components", moderators=truth["moderators"],
                             seed=seed, **FAST)
        not_ok += not fit.diagnostics["ok"]
        h, t = interval_covers(fit, truth)
        hits, total = hits + h, total + t
    coverage = hits / total
    print(f"coverage of 90% intervals: {hits}/{total} = {coverage:.3f}; fits failing the gate: {not_ok}")
    assert 0.78 <= coverage <= 0.98
    assert not_ok <= 1


@pytest.mark.slow
def test_random_effects_sbc():
    """Simulation-based calibration (Talts et al. 2018) of the NUTS random-effects fit.

    For each of 120 data sets drawn from the prior, the rank of the true mu and
    tau among 399 thinned posterior draws (every 10th of 4 x 1000) is recorded;
    ranks must be uniform (chi-square over 20 bins).
    """
    rng = np.random.default_rng(4242)
    vi = np.array([0.27, 0.21, 0.05, 0.03, 0.08, 0.04, 0.12, 0.02])
    n_sets, thin, bins = 120, 10, 20
    ranks = {"mu": [], "tau": []}
    start = time.perf_counter()
    divergent_sets = 0
    for i in range(n_sets):
        mu, tau = rng.normal(0, 1), abs(rng.normal(0, 0.5))
        yi = rng.normal(mu, np.sqrt(vi + tau ** 2))
        fit = random_effects(yi, vi, seed=i, **FAST)
        divergent_sets += fit.diagnostics["divergences"] > 0
        for name, true in (("mu", mu), ("tau", tau)):
            draws = fit.draws(name)[::thin][:399]
            ranks[name].append(int((draws < true).sum()))
    seconds = time.perf_counter() - start
    pvalues = {}
    for name, r in ranks.items():
        counts = np.histogram(r, bins=bins, range=(0, 400))[0]
        pvalues[name] = stats.chisquare(counts).pvalue
    print(f"SBC: {n_sets} data sets in {seconds:.0f} s; chi-square p-values {pvalues}; "
          f"data sets with divergences: {divergent_sets}")
    assert min(pvalues.values()) > 0.01
