"""What the analysis step caps or switches at large k, and that it says so (issue 11, item 7)."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import numpy as np
import pytest
from scipy import stats

from synthesis.analysis import review_analysis
from synthesis.analysis.review_analysis import frequentist_analysis
from synthesis.bayes import exact
from synthesis.meta.effects import aggregate_effects
from synthesis.meta.pooled import meta_analysis
from synthesis.meta.small_study import EXACT_RANK_K, begg_test


def simulated(k: int, seed: int = 7):
    rng = np.random.default_rng(seed)
    v = rng.uniform(0.01, 0.2, k)
    return rng.normal(0.2, np.sqrt(v + 0.04)), v


def test_begg_switches_to_the_normal_approximation_above_exact_rank_k():
    y, v = simulated(EXACT_RANK_K + 1)
    fit = meta_analysis(y, v, method="DL")
    res = begg_test(fit)
    assert not res.exact
    w = 1 / v
    b = np.sum(w * y) / w.sum()
    expected = stats.kendalltau((y - b) / np.sqrt(v - 1 / w.sum()), v, method="asymptotic")
    assert res.pval == pytest.approx(expected.pvalue, rel=1e-12)
    assert begg_test(fit, exact=True).exact
    small = meta_analysis(*simulated(30), method="DL")
    assert begg_test(small).exact


def test_trim_and_fill_and_selection_model_are_capped_with_a_note(monkeypatch):
    y, v = simulated(40)
    review = SimpleNamespace(spec={"analysis": {"method": "DL"}}, data=__import__("pandas").DataFrame(
        {"study": [f"S{i}" for i in range(40)], "yi": y, "vi": v}))
    monkeypatch.setattr(review_analysis, "ADJUSTMENT_CAP", 30)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        capped = frequentist_analysis(review)
    assert capped.trimfill is None and capped.selection is None
    assert capped.egger is not None and capped.begg is not None and capped.pet_peese is not None
    assert any("trim-and-fill and the selection model were not run" in n for n in capped.notes)


def test_exact_posterior_beyond_fine_points_k_keeps_its_numbers(monkeypatch):
    y, v = simulated(3_000)
    fast = exact.random_effects_exact(y, v).key_estimates()
    assert exact.fine_points(3_000) < exact.FINE_POINTS
    monkeypatch.setattr(exact, "FINE_POINTS_K", 10 ** 9)  # every study on the full grid, as before
    full = exact.random_effects_exact(y, v).key_estimates()
    for name in ("mu_mean", "mu_ci_lb", "mu_ci_ub", "tau_mean"):
        assert fast[name] == pytest.approx(full[name], rel=1e-9)


def test_log_marginal_in_blocks_equals_one_block(monkeypatch):
    y, v = simulated(50)
    tau = np.linspace(0.01, 1, 7)
    whole = exact._log_marginal(tau, y, v, 1.0)
    monkeypatch.setattr(exact, "BLOCK_ELEMENTS", 100)  # two tau values per block
    for a, b in zip(exact._log_marginal(tau, y, v, 1.0), whole):
        np.testing.assert_allclose(a, b, rtol=1e-14)


def test_aggregate_matches_the_matrix_formula_per_study():
    rng = np.random.default_rng(3)
    import pandas as pd

    d = pd.DataFrame({"s": rng.integers(0, 8, 30), "yi": rng.normal(size=30), "vi": rng.uniform(0.01, 0.2, 30)})
    out = aggregate_effects(d, "s", rho=0.4)
    for _, row in out.iterrows():
        part = d[d["s"] == row["s"]]
        sd = np.sqrt(part["vi"].to_numpy())
        V = 0.4 * np.outer(sd, sd)
        np.fill_diagonal(V, sd ** 2)
        w = np.linalg.solve(V, np.ones(len(part)))
        assert row["yi"] == pytest.approx(w @ part["yi"].to_numpy() / w.sum(), rel=1e-12)
        assert row["vi"] == pytest.approx(1 / w.sum(), rel=1e-12)
