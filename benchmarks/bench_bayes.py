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

``--fresh`` measures what a pipeline run pays, for the strategy model on the
illustrative review with nutpie, each step in a fresh Python process (one
process with an empty compile cache, then ``--repeats`` with it warm; medians
reported, and each process's figures printed as JSON as they come):

* first fit in a fresh process with an empty compile cache (imports, model
  build, numba compilation, sampling);
* first fit in a fresh process with the compile cache warm (the numba code is
  loaded from ``synthesis.bayes.compile_cache``, keyed by the model structure);
* a second fit in the same process (compiled model reused from memory), and the
  power-scaling prior sensitivity;

each with the smallest bulk ESS per second of wall time. ``--pipeline`` times a
changed multi-strategy review end to end: ``synthesis run
implementation-strategies-illustrative --set seed=<new>`` in a temporary copy of
the project, as a fresh process (a first run fills the caches, then
``--repeats`` timed runs with new seeds), with the manifest's ``durations`` and
the fit's ESS per second. Both print the date and the load average (``/proc/loadavg``):
on a shared machine wall times are several times a quiet machine's.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
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
for label, seed in (("first fit", 1), ("same-process fit", 2)):
    start = time.perf_counter()
    fit = strategy_model(data, components="components", moderators=moderators, seed=seed)
    seconds = time.perf_counter() - start
    ess = fit.diagnostics["min_ess_bulk"]
    out[label] = {{"wall s": seconds, "compile s": fit.timing["compile_seconds"],
                  "sampling s": fit.timing["sampling_seconds"], "min ESS bulk": ess,
                  "ESS/s (wall)": ess / seconds, "gate ok": fit.diagnostics["ok"],
                  "compile cache": fit.idata.posterior.attrs.get("compile_cache")}}
start = time.perf_counter()
fit.prior_sensitivity()
out["power-scaling sensitivity s"] = time.perf_counter() - start
print(json.dumps(out))
"""


CLI = "from synthesis.cli.app import main; raise SystemExit(main())"


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def header(what: str) -> None:
    print(f"{what}: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC, "
          f"{os.cpu_count()} cores, load average (1, 5, 15 min) {load_average()}")
    print("Caveat: on a shared (busy) machine wall times are several times a quiet machine's; "
          "compare medians and the load average.\n")


def fresh_process(cache_dir: Path) -> dict:
    """One fresh interpreter: first fit, same-process fit, prior sensitivity (module docstring)."""
    code = FRESH.format(moderators=MODERATORS, review=str(REVIEW))
    # PYTHONHASHSEED=0 as in the pipeline's kernel: PyTensor's rewrites order commutative
    # operands by hash, so with a random hash seed the graph (and its cache key) has a few variants
    env = dict(os.environ, SYNTHESIS_CACHE_DIR=str(cache_dir), PYTHONHASHSEED="0",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env=env)
    result = json.loads(out.stdout.strip().splitlines()[-1])
    result["process wall s"] = time.perf_counter() - start
    return result


def fresh_table(repeats: int, cache_dir: Path) -> pd.DataFrame:
    """One fresh process with an empty compile cache, then ``repeats`` with it warm (medians).

    Each process's figures are printed as they come (JSON), so a run cut short still reports.
    """
    rows = []
    for i in range(repeats + 1):
        label = "fresh process, cold compile cache" if i == 0 else "fresh process, warm compile cache"
        result = fresh_process(cache_dir)
        print(json.dumps({"step": label, **result}), flush=True)
        rows.append({"step": label, "process wall s": result["process wall s"],
                     "import s": result["import s"], **result["first fit"]})
        if i > 0:
            rows.append({"step": "second fit, same process", **result["same-process fit"]})
            rows.append({"step": "power-scaling prior sensitivity",
                         "wall s": result["power-scaling sensitivity s"]})
    frame = pd.DataFrame(rows)
    numeric = frame.select_dtypes("number").columns
    return frame.groupby("step", sort=False)[list(numeric)].median()


def slowest_cells(notebook: Path, n: int = 5) -> list[tuple[str, float]]:
    """The ``n`` slowest cells of an executed notebook (papermill's per-cell durations)."""
    try:
        cells = json.loads(notebook.read_text())["cells"]
    except (OSError, ValueError, KeyError):
        return []
    timed = [("".join(c.get("source", ""))[:60], float(c.get("metadata", {}).get("papermill", {})
                                                      .get("duration") or 0.0))
             for c in cells if c.get("cell_type") == "code"]
    return sorted(timed, key=lambda item: -item[1])[:n]


def pipeline_runs(repeats: int) -> pd.DataFrame:
    """A changed multi-strategy review through ``synthesis run`` (fresh process each time)."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-bayes-") as tmp:
        project = Path(tmp)
        shutil.copytree(ROOT / "reviews", project / "reviews")
        shutil.copytree(ROOT / "notebooks", project / "notebooks")
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(
            filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        review = "implementation-strategies-illustrative"
        for i in range(repeats + 1):  # the first run fills the compile cache and the kernel's caches
            seed = 20261200 + i
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-c", CLI, "run", review, "--project",
                                   str(project), "--set", f"seed={seed}"],
                                  capture_output=True, text=True, env=env)
            wall = time.perf_counter() - start
            if done.returncode != 0:
                raise SystemExit(f"synthesis run failed:\n{done.stdout}\n{done.stderr}")
            versions = sorted((project / "reports" / review).glob("v*"), key=lambda p: int(p.name[1:]))
            manifest = json.loads((versions[-1] / "manifest.json").read_text())
            bayes = manifest.get("results", {}).get("bayes", {})
            ess = bayes.get("diagnostics", {}).get("min_ess_bulk", float("nan"))
            durations = manifest.get("durations", {})
            print(json.dumps({"pipeline run": i, "seed": seed, "wall s": wall, "durations": durations,
                              "min ESS bulk": ess, "timing": bayes.get("timing"),
                              "slowest cells s": slowest_cells(versions[-1] / "report.ipynb")}),
                  flush=True)
            if i == 0:
                continue
            rows.append({"step": "changed review, `synthesis run` (fresh process)", "wall s": wall,
                         **{f"{k} s": v for k, v in durations.items()},
                         "compile s": bayes.get("timing", {}).get("compile_seconds"),
                         "sampling s": bayes.get("timing", {}).get("sampling_seconds"),
                         "min ESS bulk": ess, "ESS/s (wall)": ess / wall})
    return pd.DataFrame(rows).groupby("step").median()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 200-effect case and PyMC on it")
    parser.add_argument("--fresh", action="store_true",
                        help="fresh-process first fit (cold and warm compile cache), same-process fit")
    parser.add_argument("--pipeline", action="store_true",
                        help="a changed multi-strategy review through `synthesis run`")
    parser.add_argument("--repeats", type=int, default=3, help="repeats for --fresh/--pipeline (medians)")
    parser.add_argument("--cache-dir", default=None,
                        help="compile cache folder for --fresh (default: a new temporary folder, cold)")
    args = parser.parse_args()
    if args.fresh or args.pipeline:
        header(f"bench_bayes ({'--fresh' if args.fresh else ''} {'--pipeline' if args.pipeline else ''}, "
               f"medians of {args.repeats})")
        tables = []
        if args.fresh:
            with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
                tables.append(fresh_table(args.repeats, Path(args.cache_dir or tmp)))
        if args.pipeline:
            tables.append(pipeline_runs(args.repeats))
        with pd.option_context("display.width", 200, "display.max_columns", 30,
                               "display.float_format", "{:.2f}".format):
            for table in tables:
                print()
                print(table.to_string())
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
