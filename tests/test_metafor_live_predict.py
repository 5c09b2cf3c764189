"""Live differential test of predict() and cumulative() against R's metafor (issue 11, items 4-5).

When ``Rscript`` with metafor is installed, random data sets are generated (every tau²
method, z and Knapp-Hartung tests, levels 90 and 95, back-transformation by ``exp`` or
none; pooled models with a cumulative order whose sort keys have ties; meta-regressions
on a continuous moderator, a categorical one or both, predicted at new settings given
by value and level name, and their fitted values), written to ONE csv batch, fitted by
ONE ``Rscript tests/r/predict.R`` call and compared number by number at rtol 1e-6
(atol 1e-9), metafor converged tightly (``threshold = 1e-12, maxiter = 1000, tol = 1e-12``).

Seed: fresh on every run and printed; ``SYNTHESIS_DIFF_SEED=<n>`` repeats a run.
Size: ``SYNTHESIS_PREDICT_N`` data sets (default 300 under ``CI``, else 30).
Without R: skipped locally, a failure under ``CI``.

Exclusion, narrow and argued as in tests/test_metafor_live.py: I² and H² of a cumulative
step when our tau² is 0 and metafor's below 1e-10 (metafor's Fisher scoring stops at
tau² of about 1e-12 on the boundary by step halving; I² multiplies that by 100/s²).
"""
from __future__ import annotations

import os
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from synthesis import cumulative, meta_analysis, meta_regression
from r_oracle import compare_quantities, require_r, run_batch  # tests/ is on sys.path

SCRIPT = Path(__file__).parent / "r" / "predict.R"
METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
PREDICTION = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")
#: metafor's cumul column -> ours (the statistic's column is named by the test)
CUMUL = {"estimate": "estimate", "se": "se", "zval": None, "pvals": "pval", "ci.lb": "ci_lb", "ci.ub": "ci_ub",
         "Q": "QE", "Qp": "QEp", "tau2": "tau2", "I2": "I2", "H2": "H2"}
N_NEW = 3


def generate(rng: np.random.Generator, set_id: int) -> pd.DataFrame:
    """One random data set (role "study") and its new settings (role "new"), spec on every row."""
    mods = str(rng.choice(["none", "x", "g", "x+g"], p=[0.5, 0.2, 0.1, 0.2]))
    low = 2 if mods == "none" else 8
    k = int(np.round(np.exp(rng.uniform(np.log(low), np.log(60)))))
    tau = np.sqrt(rng.choice([0.0, 0.01, 0.05, 0.2, 0.6]))
    vi = np.round(rng.uniform(0.005, 0.5, k), 4)
    x = np.round(rng.normal(0, 1, k), 3)
    g = np.array(list("abc"))[rng.integers(0, 3, k)]
    g[:2], g[2:4] = "a", "b"  # every level used in a new setting occurs in the data
    theta = rng.normal(0, 0.4) + (0.2 * x if "x" in mods else 0) + rng.normal(0, tau, k)
    study = pd.DataFrame({"role": "study", "yi": np.round(rng.normal(theta, np.sqrt(vi)), 4), "vi": vi,
                          "x": x, "g": g, "ord": rng.integers(1990, 2000, k)})
    new = pd.DataFrame({"role": "new", "x": np.round(rng.normal(0, 1.5, N_NEW), 3),
                        "g": rng.choice(sorted(set(g)), N_NEW)})
    frame = pd.concat([study, new], ignore_index=True)
    for position, (name, value) in enumerate((("set", set_id), ("method", str(rng.choice(METHODS))),
                                              ("test", str(rng.choice(["z", "knha"]))), ("mods", mods),
                                              ("transf", str(rng.choice(["none", "exp"]))),
                                              ("level", int(rng.choice([90, 95]))))):
        frame.insert(position, name, value)
    return frame


def ours(frame: pd.DataFrame) -> dict[tuple[str, int], float]:
    spec = frame.iloc[0]
    data = frame[frame["role"] == "study"].reset_index(drop=True)
    new = frame[frame["role"] == "new"].reset_index(drop=True)
    transf = np.exp if spec["transf"] == "exp" else None
    options = {"method": spec["method"], "test": spec["test"], "level": int(spec["level"])}
    out: dict[tuple[str, int], float] = {}

    def emit(prefix: str, table: pd.DataFrame, columns: dict[str, str]) -> None:
        for theirs, mine in columns.items():
            for i, value in enumerate(table[mine].to_numpy(dtype=float)):
                out[(prefix + theirs, i)] = float(value)

    prediction = {name.replace("_", "."): name for name in PREDICTION}
    if spec["mods"] == "none":
        fit = meta_analysis(data, **options)
        emit("pred.", fit.predict(transf=transf).to_frame(), prediction)
        steps = cumulative(fit, order=data["ord"].to_numpy(), transf=transf).to_frame()
        columns = {theirs: mine or fit.stat_name for theirs, mine in CUMUL.items()
                   if not (theirs == "tau2" and fit.method == "EE")}  # metafor's cumul has no tau2 for EE
        emit("cumul.", steps, columns)
        return out
    moderators = spec["mods"].split("+")
    fit = meta_regression(data, moderators, categorical=["g"], **options)
    emit("new.", fit.predict(new[moderators], transf=transf).to_frame(), prediction)
    emit("fitted.", fit.predict(transf=transf).to_frame(), prediction)
    return out


def excluded(quantity: str, index: int, mine: dict, theirs: dict) -> str | None:
    if quantity in ("cumul.I2", "cumul.H2") and mine.get(("cumul.tau2", index)) == 0 \
            and theirs.get(("cumul.tau2", index), 1) < 1e-10:
        return "I2/H2 of metafor's boundary stop at tau2 ~ 1e-12 instead of 0"
    return None


def test_predict_and_cumul_agree_with_metafor(tmp_path, seed):
    require_r("metafor")
    n_sets = int(os.environ.get("SYNTHESIS_PREDICT_N") or (300 if os.environ.get("CI") else 30))
    print(f"\npredict/cumul differential: seed {seed} (repeat with SYNTHESIS_DIFF_SEED={seed}), {n_sets} data sets")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    frames = [generate(rng, i) for i in range(n_sets)]
    theirs_by_set = run_batch(SCRIPT, pd.concat(frames, ignore_index=True), tmp_path, seed)
    r_seconds = time.perf_counter() - started
    failures, exclusions, compared = [], Counter(), 0
    for frame in frames:
        set_id = int(frame["set"].iloc[0])
        theirs = theirs_by_set.get(set_id, {})
        spec = frame.iloc[0]
        label = f"set {set_id} ({spec['method']}, {spec['test']}, mods {spec['mods']}, {spec['transf']})"
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mine = ours(frame)
            except Exception as error:  # noqa: BLE001 - every failure is reported with its data set
                failures.append(f"{label}: ours raised {error!r}")
                continue
        if not theirs:
            failures.append(f"{label}: metafor gave nothing")
        found, excluded_here, n = compare_quantities(mine, theirs, excluded)
        failures += [f"{label}: {failure}" for failure in found]
        exclusions.update(excluded_here)
        compared += n
    print(f"predict/cumul differential: {n_sets} data sets, {compared} quantities compared in "
          f"{time.perf_counter() - started:.1f} s (R {r_seconds:.1f} s); excluded: {dict(exclusions) or 'none'}")
    assert not failures, (f"seed {seed}: {len(failures)} disagreements with metafor, e.g.\n"
                          + "\n".join(failures[:40]))
