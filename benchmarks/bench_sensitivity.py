"""Benchmark the sensitivity multiverse against fitting its specifications one by one (not a test).

Run:  python benchmarks/bench_sensitivity.py [--no-r] [--sample 300]

A simulated review of k = 50 studies with 2x2 counts, a risk-of-bias rating and
outliers is analysed under 3 measures (OR, RR, RD) x 9 tau² estimators x 2 tests
x risk of bias (all / without high) x outliers (kept / removed) x each study left
out (none + 50): 11,016 specifications. Prints

* the multiverse's time (goal: at most 5 s on 2 cores);
* the same specifications fitted one by one with ``meta_analysis`` in Python, timed on
  a random sample and extrapolated;
* metafor's ``rma`` in an R loop (``Rscript``, ``control = list(threshold = 1e-12,
  maxiter = 1000)``), timed on a random sample in the same run and extrapolated to the
  whole grid (the goal: the multiverse at least 100x faster), with the largest
  difference of the estimates over the sample.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from synthesis.meta.effects import effect_sizes
from synthesis.meta.multiverse import _outlier_mask, fit_specification, multiverse_analysis

K = 50
MEASURES = ("OR", "RR", "RD")

R_CODE = r"""
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
sets <- fromJSON(args[1])
specs <- fromJSON(args[2], simplifyDataFrame = FALSE)
est <- numeric(length(specs))
elapsed <- system.time(for (i in seq_along(specs)) {
  s <- specs[[i]]
  d <- sets[[s$measure]]
  keep <- s$keep
  fit <- tryCatch(rma(d$yi[keep], d$vi[keep], method = s$method, test = s$test,
                      control = list(threshold = 1e-12, maxiter = 1000)), error = function(e) NULL)
  est[i] <- if (is.null(fit)) NA else as.numeric(fit$b)
})[["elapsed"]]
cat(toJSON(list(seconds = elapsed, estimate = est), digits = NA, auto_unbox = TRUE))
"""


def simulate(seed: int = 20261123) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], np.ndarray]:
    """Effect sets of k = 50 trials with 2x2 counts, and which trials are at high risk of bias."""
    rng = np.random.default_rng(seed)
    n = rng.integers(40, 400, K)
    p_control = rng.uniform(0.2, 0.6, K)
    log_or = rng.normal(0.3, 0.25, K)
    odds = p_control / (1 - p_control) * np.exp(log_or)
    p_treat = odds / (1 + odds)
    events_t, events_c = rng.binomial(n, p_treat), rng.binomial(n, p_control)
    data = pd.DataFrame({"ai": events_t, "bi": n - events_t, "ci": events_c, "di": n - events_c})
    sets = {}
    for measure in MEASURES:
        es = effect_sizes(data, measure, append=False, ai="ai", bi="bi", ci="ci", di="di")
        sets[measure] = (es["yi"].to_numpy(float), es["vi"].to_numpy(float))
    return sets, rng.random(K) < 0.3


def grid(sets: dict, high_risk: np.ndarray):
    labels = [f"Trial {i + 1}" for i in range(K)]
    return multiverse_analysis(sets, labels=labels, exclusions={"risk_of_bias": ("all", "without high", ~high_risk)},
                               leave_one_out=True)


def keep_mask(row: pd.Series, high_risk: np.ndarray, outliers: np.ndarray) -> np.ndarray:
    keep = np.ones(K, dtype=bool)
    if row["risk_of_bias"] != "all":
        keep &= ~high_risk
    if row["outliers"] == "removed":
        keep &= outliers
    if row["left_out"] != "none":
        keep[int(row["left_out"].split()[1]) - 1] = False
    return keep


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-r", action="store_true", help="skip the R loop")
    parser.add_argument("--sample", type=int, default=300, help="specifications fitted one by one (default 300)")
    args = parser.parse_args()
    sets, high_risk = simulate()
    grid(sets, high_risk)  # warm-up (imports, first calls)
    start = time.perf_counter()
    result = grid(sets, high_risk)
    seconds = time.perf_counter() - start
    table = result.table
    print(f"{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores "
          f"(load average {os.getloadavg()[0]:.1f})")
    print(f"multiverse: {result.size:,} specifications (k = {K}) in {seconds:.2f} s "
          f"({1e6 * seconds / result.size:.0f} µs each); goal at most 5 s: {'met' if seconds <= 5 else 'NOT met'}")
    rng = np.random.default_rng(1)
    sample = table.iloc[np.sort(rng.choice(len(table), min(args.sample, len(table)), replace=False))]
    outliers = {m: _outlier_mask(*sets[m], "REML", 0.95) for m in MEASURES}
    keeps = [keep_mask(row, high_risk, outliers[row["measure"]]) for _, row in sample.iterrows()]
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        loop = [fit_specification(*sets[row["measure"]], keep=keep, method=row["method"], test=row["test"])
                for keep, (_, row) in zip(keeps, sample.iterrows())]
    per_fit = (time.perf_counter() - start) / len(sample)
    diff = max(abs(f["estimate"] - e) for f, e in zip(loop, sample["estimate"]))
    print(f"Python one by one (meta_analysis): {per_fit * 1e3:.2f} ms a fit, extrapolated {per_fit * len(table):.1f} s "
          f"for the grid ({per_fit * len(table) / seconds:.0f}x slower); largest difference {diff:.1e}")
    if args.no_r or shutil.which("Rscript") is None:
        print("R loop: skipped (" + ("--no-r" if args.no_r else "Rscript not found") + ")")
        return
    with tempfile.TemporaryDirectory() as tmp:
        sets_json, specs_json = Path(tmp, "sets.json"), Path(tmp, "specs.json")
        sets_json.write_text(json.dumps({m: {"yi": y.tolist(), "vi": v.tolist()} for m, (y, v) in sets.items()}))
        specs_json.write_text(json.dumps([{"measure": row["measure"], "method": row["method"],
                                           "test": row["test"], "keep": keep.tolist()}
                                          for keep, (_, row) in zip(keeps, sample.iterrows())]))
        out = subprocess.run(["Rscript", "-e", R_CODE, str(sets_json), str(specs_json)], capture_output=True,
                             text=True, check=True)
    r = json.loads(out.stdout)
    r_per_fit = r["seconds"] / len(sample)
    r_est = np.array([np.nan if e is None else e for e in r["estimate"]], dtype=float)
    r_diff = np.nanmax(np.abs(r_est - sample["estimate"].to_numpy(float)))
    extrapolated = r_per_fit * len(table)
    ratio = extrapolated / seconds
    print(f"metafor rma one by one (R loop over {len(sample)} sampled specifications, extrapolated): "
          f"{r_per_fit * 1e3:.2f} ms a fit, {extrapolated:.1f} s for the grid; the multiverse is {ratio:.0f}x faster "
          f"(goal at least 100x: {'met' if ratio >= 100 else 'NOT met'}); largest difference of the estimates "
          f"{r_diff:.1e}")


if __name__ == "__main__":
    main()
