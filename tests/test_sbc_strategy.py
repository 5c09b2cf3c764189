"""Simulation-based calibration (Talts et al. 2018) of the strategy model.

Each data set is drawn from the model's own prior (:class:`StrategyPriors`
defaults): two strategy classes holding two strategies each, 12 studies with one
or two effect sizes, and a study-level categorical moderator (``setting``,
reference ``school``). For every data set the model is fitted and the rank of the
true value among ``L = 99`` thinned posterior draws is recorded for the class
mean (``class_effect[A]``), a strategy effect (``strategy_effect[s1]``), a
heterogeneity SD (``tau_strategy``) and the moderator coefficient (``beta``).
If the model and sampler are calibrated every rank is uniform on 0..99; the test
asks for a chi-square p-value above 0.01 (10 bins of 10 ranks) for each.

Reproduce the figures in ``docs/validation.md``::

    python tests/test_sbc_strategy.py 100        # data sets [seed, default 2024]
"""
from __future__ import annotations

import sys
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from synthesis.bayes.priors import StrategyPriors
from synthesis.bayes.strategy import strategy_model

CLASSES = {"s1": "A", "s2": "A", "s3": "B", "s4": "B"}
PARAMETERS = ("class_effect[A]", "strategy_effect[s1]", "tau_strategy", "beta")
N_DRAWS, BINS, P_MIN = 99, 10, 0.01


def simulate(rng: np.random.Generator, priors: StrategyPriors = StrategyPriors(),
             n_studies: int = 12) -> tuple[pd.DataFrame, dict[str, float]]:
    """One data set and its true parameters, drawn from the prior."""
    mu = rng.normal(0, priors.mu_sd)
    tau_c, tau_s, tau_j, tau_e = np.abs(rng.normal(0, [priors.tau_class, priors.tau_strategy,
                                                       priors.tau_study, priors.tau_effect]))
    beta = rng.normal(0, priors.beta_sd)
    classes = {c: rng.normal(mu, tau_c) for c in ("A", "B")}
    effects = {s: rng.normal(classes[c], tau_s) for s, c in CLASSES.items()}
    strategies = list(CLASSES) * 5
    rng.shuffle(strategies)
    rows, used = [], 0
    for j in range(n_studies):
        setting = "school" if j % 2 == 0 else "community"
        study_effect = rng.normal(0, tau_j)
        for _ in range(1 + j % 2):
            s = strategies[used]
            used += 1
            vi = rng.uniform(0.01, 0.08)
            eta = effects[s] + beta * (setting == "community") + study_effect
            rows.append({"study_id": f"S{j + 1}", "strategy": s, "strategy_class": CLASSES[s],
                         "setting": setting, "yi": rng.normal(eta + rng.normal(0, tau_e),
                                                              np.sqrt(vi)), "vi": vi})
    truth = {"class_effect[A]": classes["A"], "strategy_effect[s1]": effects["s1"],
             "tau_strategy": tau_s, "beta": beta}
    return pd.DataFrame(rows), truth


def draws_of(fit, name: str) -> np.ndarray:
    if "[" in name:
        param, label = name[:-1].split("[")
        return fit.draws(param)[:, fit._labels(param).index(label)]
    values = fit.draws(name)
    return values if values.ndim == 1 else values[:, 0]


def run_sbc(n_sets: int, seed: int = 2024) -> dict:
    """Ranks, chi-square p-values and divergences over ``n_sets`` simulated data sets."""
    rng = np.random.default_rng(seed)
    ranks: dict[str, list[int]] = {p: [] for p in PARAMETERS}
    divergent, start = 0, time.perf_counter()
    for i in range(n_sets):
        data, truth = simulate(rng)
        fit = strategy_model(data, moderators=[{"name": "setting", "type": "categorical",
                                                "reference": "school"}],
                             seed=i, draws=500, tune=500, chains=2, cores=2)
        divergent += fit.diagnostics["divergences"] > 0
        for name in PARAMETERS:
            thinned = draws_of(fit, name)[::10][:N_DRAWS]
            ranks[name].append(int((thinned < truth[name]).sum()))
    counts = {p: np.histogram(r, bins=BINS, range=(0, N_DRAWS + 1))[0].tolist()
              for p, r in ranks.items()}
    pvalues = {p: float(stats.chisquare(c).pvalue) for p, c in counts.items()}
    return {"n_sets": n_sets, "seconds": time.perf_counter() - start, "counts": counts,
            "pvalues": pvalues, "divergent_sets": divergent, "ranks": ranks}


@pytest.mark.slow
def test_strategy_model_sbc():
    out = run_sbc(100)
    print({k: v for k, v in out.items() if k != "ranks"})
    assert min(out["pvalues"].values()) > P_MIN, out["pvalues"]


if __name__ == "__main__":
    result = run_sbc(int(sys.argv[1]) if len(sys.argv) > 1 else 100,
                     int(sys.argv[2]) if len(sys.argv) > 2 else 2024)
    print(f"SBC of the strategy model: {result['n_sets']} data sets in "
          f"{result['seconds']:.0f} s; data sets with divergences: {result['divergent_sets']}")
    for name in PARAMETERS:
        print(f"{name:22s} counts {result['counts'][name]}  "
              f"chi-square p = {result['pvalues'][name]:.3f}")
