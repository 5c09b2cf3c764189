"""The analysis step's engine calls at large k (issue 11, item 7; not a test).

Run:  python benchmarks/bench_large_k.py [k ...]      (default: 8000 10000 1000000)

Issue 11: "a review of 8,000 effects takes 29 s in the analysis step (leave-one-out and
influence) and 1,000,000 rows does not finish"; goal: the analysis step for 10,000 effects
under 10 s on 2 cores. For each k this times, on simulated data with a continuous and a
categorical moderator and a subgroup, what :func:`synthesis.analysis.frequentist_analysis`
runs (pooled REML model, Egger, trim-and-fill, moderator table, subgroups; influence,
leave-one-out and Begg only up to :data:`synthesis.analysis.CASE_DIAGNOSTICS_CAP` studies,
beyond it a note says they were not computed) and the exact Bayesian posterior of the
one-strategy model. Then, to show what the cap saves, leave-one-out and influence forced at
k = 2,000 (their REML refits are O(k²) work: about 40 s each at k = 8,000). Prints the timings
with the date.
"""
from __future__ import annotations

import sys
import time
import warnings
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")

from synthesis.analysis import CASE_DIAGNOSTICS_CAP, frequentist_analysis  # noqa: E402
from synthesis.bayes.exact import random_effects_exact  # noqa: E402
from synthesis.meta.case_diagnostics import influence, leave_one_out  # noqa: E402

FORCED_K = 2_000
SPEC = {"analysis": {"method": "REML", "test": "z", "level": 0.95},
        "moderators": [{"name": "dose", "type": "continuous"},
                       {"name": "setting", "type": "categorical", "reference": "school"}],
        "subgroup": "setting"}


def simulate(k: int, seed: int = 20261123) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    vi = rng.uniform(0.01, 0.2, k)
    dose = rng.uniform(0, 10, k)
    setting = rng.choice(["school", "home", "online"], k)
    yi = rng.normal(0.2 + 0.02 * dose, np.sqrt(vi + 0.05))
    return pd.DataFrame({"study": [f"S{i}" for i in range(k)], "yi": yi, "vi": vi, "sei": np.sqrt(vi),
                         "dose": dose, "setting": setting})


def timed(label: str, func):
    start = time.perf_counter()
    out = func()
    print(f"  {label:<46} {time.perf_counter() - start:8.2f} s", flush=True)
    return out


def main(sizes: list[int]) -> None:
    print(f"bench_large_k  {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}  (case diagnostics cap "
          f"{CASE_DIAGNOSTICS_CAP} studies)")
    for k in sizes:
        data = simulate(k)
        review = SimpleNamespace(spec=SPEC, data=data)
        print(f"k = {k:,}")
        start = time.perf_counter()
        analysis = timed("frequentist analysis (as the analysis step)", lambda: frequentist_analysis(review))
        timed("exact Bayesian posterior", lambda: random_effects_exact(analysis.meta.yi, analysis.meta.vi,
                                                                         labels=list(analysis.meta.labels)))
        print(f"  {'analysis step engine calls, total':<46} {time.perf_counter() - start:8.2f} s")
    k = FORCED_K
    fit = frequentist_analysis(SimpleNamespace(spec={"analysis": SPEC["analysis"]}, data=simulate(k))).meta
    print(f"k = {k:,}, case diagnostics forced (what the cap saves):")
    timed("leave-one-out (REML, blocks of rows)", lambda: leave_one_out(fit))
    timed("influence (REML, pooled: vectorised)", lambda: influence(fit))


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [8_000, 10_000, 1_000_000])
