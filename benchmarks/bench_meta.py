"""Benchmark the meta-analysis engine against peers in the same process (not a test).

Run:  python benchmarks/bench_meta.py

Prints, for REML at k = 100, 1,000 and 100,000 on the same simulated data:
our full ``meta_analysis`` result, PyMARE's ``VarianceBasedLikelihoodEstimator(method="REML")``
(fit + summary) and statsmodels' ``combine_effects`` (its iterated Paule-Mandel
estimator, the closest it has), with time ratios; then leave-one-out at k = 1,000
(vectorised) against k separate refits. R metafor is not installed here; the issue
gives its figure for REML at k = 1,000 on this machine class (2.9 s), which is
used for the last ratio.
"""
from __future__ import annotations

import timeit
import warnings

import numpy as np

warnings.simplefilter("ignore")

from synthesis import meta_analysis  # noqa: E402
from synthesis.meta.case_diagnostics import leave_one_out  # noqa: E402

METAFOR_K1000_SECONDS = 2.9  # from the issue: R metafor, REML, k = 1,000, this machine class


def best_time(func, min_total: float = 0.5) -> float:
    timer = timeit.Timer(func)
    number, _ = timer.autorange()
    number = max(1, int(number * min_total / 0.2))
    return min(timer.repeat(repeat=5, number=number)) / number


def simulate(k: int, seed: int = 20261123) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    return rng.normal(0.3, np.sqrt(vi + 0.05)), vi


def main() -> None:
    from pymare import Dataset
    from pymare.estimators import VarianceBasedLikelihoodEstimator
    from statsmodels.stats.meta_analysis import combine_effects

    rows = []
    for k in (100, 1_000, 100_000):
        y, v = simulate(k)
        ours = best_time(lambda: meta_analysis(y, v, method="REML"))

        def pymare_fit():
            est = VarianceBasedLikelihoodEstimator(method="REML")
            est.fit_dataset(Dataset(y=y, v=v))
            est.summary().get_fe_stats()

        pymare = best_time(pymare_fit)
        sm = best_time(lambda: combine_effects(y, v, method_re="iterated"))
        fit = meta_analysis(y, v)
        est = VarianceBasedLikelihoodEstimator(method="REML").fit_dataset(Dataset(y=y, v=v))
        agree = abs(float(est.params_["tau2"].ravel()[0]) - fit.tau2) / fit.tau2
        rows.append((k, ours, pymare, sm, agree))
    print("REML, full result object (estimate, CI, PI, tau², I², Q, weights)")
    print(f"{'k':>8} {'synthesis':>12} {'PyMARE':>12} {'statsmodels':>12} {'PyMARE/ours':>12} "
          f"{'statsm./ours':>12} {'tau² rel. diff vs PyMARE':>25}")
    for k, ours, pymare, sm, agree in rows:
        print(f"{k:>8,} {ours * 1e3:>10.3f}ms {pymare * 1e3:>10.3f}ms {sm * 1e3:>10.3f}ms "
              f"{pymare / ours:>11.1f}x {sm / ours:>11.1f}x {agree:>25.2e}")
    k1000 = rows[1][1]
    print(f"\nR metafor REML at k = 1,000: {METAFOR_K1000_SECONDS} s (issue) -> "
          f"{METAFOR_K1000_SECONDS / k1000:,.0f}x slower than synthesis")

    y, v = simulate(1_000)
    fit = meta_analysis(y, v)
    loo = best_time(lambda: leave_one_out(fit), min_total=1.0)
    loop = best_time(lambda: [meta_analysis(np.delete(y, i), np.delete(v, i)) for i in range(y.size)],
                     min_total=1.0)
    print(f"\nleave-one-out, REML, k = 1,000: vectorised {loo * 1e3:.1f} ms; "
          f"1,000 separate fits {loop * 1e3:.1f} ms ({loop / loo:.1f}x)")


if __name__ == "__main__":
    main()
