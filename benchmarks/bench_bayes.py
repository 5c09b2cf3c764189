"""Benchmark the Bayesian models: PyMC's NUTS against nutpie in the same run (not a test).

Run:  python benchmarks/bench_bayes.py [--quick]

Prints, for the simulated illustrative review (reviews/implementation-strategies-illustrative,
95 effect sizes) and a 200-effect simulated review:

* import time of the packages (each in a fresh interpreter);
* for each model and sampler: the first fit in the process (compile + sampling),
  a repeat fit with another seed (nutpie reuses its in-process compiled model;
  PyMC compiles again, from its on-disk C cache), the sampling time alone, the
  smallest bulk ESS over the reported parameters, ESS per second of sampling,
  divergences and whether the diagnostics gate passed.

Both samplers use 4 chains on at most 2 cores. The default sampler
(``synthesis.bayes.DEFAULT_SAMPLER``) is chosen from these figures.

``--fresh`` measures instead what a pipeline run pays, for the strategy model on
the illustrative review with nutpie, in a fresh Python process: the first fit
(imports, model build, numba compilation through PyTensor's on-disk numba
cache, sampling), a second fit in the same process (compiled model cached in
memory), each with ESS per second of wall time, and the power-scaling prior
sensitivity (``BayesResult.prior_sensitivity()``, no refit) against the old
three refits under alternative priors.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import warnings
from pathlib import Path

warnings.simplefilter("ignore")

import pandas as pd  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
REVIEW = ROOT / "reviews" / "implementation-strategies-illustrative" / "studies.csv"
MODERATORS = [{"name": "scale", "reference": "research"}, {"name": "setting", "reference": "primary care"}]


def import_seconds(statement: str) -> float:
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def fit_row(label: str, fit_fn, sampler: str) -> dict:
    start = time.perf_counter()
    first = fit_fn(sampler, 1)
    first_seconds = time.perf_counter() - start
    start = time.perf_counter()
    repeat = fit_fn(sampler, 2)
    repeat_seconds = time.perf_counter() - start
    sampling = repeat.timing["sampling_seconds"]
    ess = repeat.diagnostics["min_ess_bulk"]
    return {"model": label, "sampler": sampler, "first fit s": first_seconds,
            "compile s": first.timing["compile_seconds"], "repeat fit s": repeat_seconds,
            "sampling s": sampling, "min ESS bulk": ess, "ESS/s": ess / sampling,
            "divergences": repeat.diagnostics["divergences"], "gate ok": repeat.diagnostics["ok"]}


FRESH = """
import json, time, warnings
warnings.simplefilter("ignore")
t0 = time.perf_counter()
import pandas as pd
from synthesis.bayes import strategy_model
moderators = {moderators!r}
data = pd.read_csv({review!r})
out = {{"import s": time.perf_counter() - t0}}
for label, seed in (("first fit", 1), ("cached-process fit", 2)):
    start = time.perf_counter()
    fit = strategy_model(data, components="components", moderators=moderators, seed=seed)
    seconds = time.perf_counter() - start
    ess = fit.diagnostics["min_ess_bulk"]
    out[label] = {{"wall s": seconds, "compile s": fit.timing["compile_seconds"],
                  "sampling s": fit.timing["sampling_seconds"], "min ESS bulk": ess,
                  "ESS/s (wall)": ess / seconds, "gate ok": fit.diagnostics["ok"]}}
start = time.perf_counter()
fit.prior_sensitivity()
out["power-scaling sensitivity s"] = time.perf_counter() - start
start = time.perf_counter()
fit.prior_sensitivity("defaults")
out["three refits (old path) s"] = time.perf_counter() - start
print(json.dumps(out))
"""


def fresh_process() -> dict:
    """The strategy model's first fit in a fresh interpreter, a cached-process fit and the
    prior sensitivity (see the module docstring)."""
    code = FRESH.format(moderators=MODERATORS, review=str(REVIEW))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process wall s"] = time.perf_counter() - start
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 200-effect case and PyMC on it")
    parser.add_argument("--fresh", action="store_true",
                        help="fresh-process first fit, cached-process fit and prior sensitivity only")
    args = parser.parse_args()
    if args.fresh:
        print(json.dumps(fresh_process(), indent=2))
        return

    imports = {name: import_seconds(f"import {name}") for name in
               ("synthesis.bayes", "numpy, scipy, pandas", "pymc", "nutpie", "arviz")}
    print("import time (fresh interpreter):")
    for name, seconds in imports.items():
        print(f"  {name:<22} {seconds:6.2f} s")

    start = time.perf_counter()
    from synthesis.bayes import random_effects, strategy_model
    from synthesis.bayes.simulate import simulate_strategy_data
    print(f"  (this process: synthesis.bayes + simulate {time.perf_counter() - start:.2f} s; "
          "PyMC/nutpie/ArviZ load on the first fit)\n")

    review = pd.read_csv(REVIEW)
    large, _ = simulate_strategy_data(n_studies=100, effects_per_study=(2, 2), seed=7)

    def strategy(data):
        return lambda sampler, seed: strategy_model(data, components="components",
                                                    moderators=MODERATORS, sampler=sampler, seed=seed)

    def plain(data):
        return lambda sampler, seed: random_effects(data.yi, data.vi, sampler=sampler, seed=seed)

    cases = [("random effects, 95 effects", plain(review)),
             ("strategy model, 95 effects", strategy(review))]
    if not args.quick:
        cases.append(("strategy model, 200 effects", strategy(large)))
    rows = []
    for label, fn in cases:
        for sampler in ("pymc", "nutpie"):
            rows.append(fit_row(label, fn, sampler))
            print(f"done: {label}, {sampler}", flush=True)
    table = pd.DataFrame(rows).set_index(["model", "sampler"])
    with pd.option_context("display.width", 160, "display.float_format", "{:.2f}".format):
        print()
        print(table.to_string())
    print("\nfirst fit = compile + sampling in a fresh process (PyMC/nutpie already imported); "
          "repeat fit = the same model with new data or seed in the same process.")


if __name__ == "__main__":
    main()
