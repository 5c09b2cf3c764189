"""Benchmark several effects per study against R's metafor + clubSandwich (not a test).

Run:  python benchmarks/bench_multilevel.py [--no-r]

For 2,000 effects in 500 studies and 10,000 effects in 2,000 studies (simulated, a
continuous moderator), times

* the three-level model: ``multilevel_meta_analysis(..., robust=None)`` against
  ``rma.mv(yi, vi, mods = ~ x, random = ~ 1 | study/esid, sparse = TRUE)``;
* CHE (rho = 0.6) with CR2: ``multilevel_meta_analysis(..., structure="che")`` against
  ``impute_covariance_matrix`` + ``rma.mv(..., sparse = TRUE)`` + ``coef_test(vcov = "CR2")``,

R timed in the same run through ``Rscript`` (metafor's default optimiser settings) when it
is installed, and prints the date, the times, the ratios and the largest relative
difference of the estimates. The issue's goal: at least 50x faster than metafor.

Measured 2026-11-23 on 2 cores shared by 8 busy sessions (load average 5-14; R timed in the
same run, metafor's default optimiser settings, ``sparse = TRUE``):

    k = 2,000 effects in 500 studies      three-level  ours 0.026 s  metafor    3.41 s  ratio   131x
                                          CHE + CR2    ours 0.035 s  metafor    4.67 s  ratio   133x
    k = 10,000 effects in 2,000 studies   three-level  ours 0.070 s  metafor  345.35 s  ratio  4914x
                                          CHE + CR2    ours 0.090 s  metafor 2040.84 s  ratio 22650x

largest relative difference of beta, CR2 se and df: 6.9e-09 and 4.0e-08.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import tempfile
import timeit
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from synthesis.meta.multilevel import multilevel_meta_analysis

SIZES = ((2_000, 500), (10_000, 2_000))
#: rma.mv at 10,000 effects takes minutes (more on a busy machine): a generous limit per R run
R_TIMEOUT = 3600

R_CODE = r"""
suppressPackageStartupMessages({library(metafor); library(clubSandwich); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
d <- read.csv(args[1])
t_ml <- system.time(ml <- rma.mv(yi, vi, mods = ~ x, random = ~ 1 | study/esid, data = d,
                                 sparse = TRUE))[["elapsed"]]
t_che <- system.time({
  V <- impute_covariance_matrix(d$vi, cluster = d$study, r = 0.6, return_list = FALSE)
  che <- rma.mv(yi, V, mods = ~ x, random = ~ 1 | study/esid, data = d, sparse = TRUE)
  ct <- coef_test(che, vcov = "CR2", cluster = d$study)
})[["elapsed"]]
cat(toJSON(list(multilevel = t_ml, che = t_che, beta_ml = as.numeric(ml$beta),
                sigma2_ml = ml$sigma2, se_che = ct$SE, df_che = ct$df_Satt),
           digits = NA, auto_unbox = TRUE))
"""


def simulate(k: int, n_studies: int, seed: int = 20261123) -> pd.DataFrame:
    """``k`` effects spread over ``n_studies`` studies (1 to about 2k/n effects each)."""
    rng = np.random.default_rng(seed)
    study = np.sort(np.r_[np.arange(n_studies), rng.integers(0, n_studies, k - n_studies)])
    vi = rng.uniform(0.01, 0.2, k)
    x = rng.normal(size=k)
    yi = (0.2 + 0.1 * x + rng.normal(0, 0.3, n_studies)[study] + rng.normal(0, 0.2, k)
          + rng.normal(0, np.sqrt(vi)))
    esid = pd.Series(study).groupby(study).cumcount().to_numpy() + 1
    return pd.DataFrame({"study": study + 1, "esid": esid, "yi": yi, "vi": vi, "x": x})


def best_time(func, repeat: int = 3) -> float:
    return min(timeit.repeat(func, number=1, repeat=repeat))


def r_times(data: pd.DataFrame) -> dict | None:
    if shutil.which("Rscript") is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        csv, script = Path(folder) / "d.csv", Path(folder) / "bench.R"
        data.to_csv(csv, index=False, float_format="%.17g")
        script.write_text(R_CODE)
        try:
            run = subprocess.run(["Rscript", str(script), str(csv)], capture_output=True, text=True,
                                 timeout=R_TIMEOUT)
        except subprocess.TimeoutExpired:
            print(f"  R did not finish within {R_TIMEOUT} s")
            return None
    if run.returncode != 0:
        print(f"  R failed: {run.stderr.strip()[-300:]}")
        return None
    return json.loads(run.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-r", action="store_true", help="time only this package")
    options = parser.parse_args()
    warnings.simplefilter("ignore")
    print(f"bench_multilevel, {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC")
    for k, n_studies in SIZES:
        data = simulate(k, n_studies)
        ours_ml = best_time(lambda: multilevel_meta_analysis(data, effect="esid", moderators="x", robust=None))
        ours_che = best_time(lambda: multilevel_meta_analysis(data, effect="esid", moderators="x",
                                                              structure="che", rho=0.6))
        print(f"k = {k:,} effects in {n_studies:,} studies")
        theirs = None if options.no_r else r_times(data)
        for label, ours, key in (("three-level (REML)", ours_ml, "multilevel"),
                                 ("CHE rho 0.6 + CR2", ours_che, "che")):
            line = f"  {label:20s} ours {ours:8.3f} s"
            if theirs:
                line += f"   metafor {theirs[key]:8.2f} s   ratio {theirs[key] / ours:7.0f}x"
            print(line)
        if theirs:
            ml = multilevel_meta_analysis(data, effect="esid", moderators="x", robust=None)
            che = multilevel_meta_analysis(data, effect="esid", moderators="x", structure="che", rho=0.6)
            diff = max(np.max(np.abs(ml.coef / np.asarray(theirs["beta_ml"]) - 1)),
                       np.max(np.abs(che.se / np.asarray(theirs["se_che"]) - 1)),
                       np.max(np.abs(che.df / np.asarray(theirs["df_che"]) - 1)))
            print(f"  largest relative difference (beta, CR2 se, df; metafor's default tolerance): {diff:.1e}")


if __name__ == "__main__":
    main()
