"""Live differential test of the selection model and PET-PEESE against R (issue 11, item 3).

When ``Rscript`` with metafor is installed, random data sets are simulated (k from 10 to
200, with and without publication selection, tau² 0 or positive, EE / DL / ML / REML fits,
one-sided ``greater`` and ``less`` and two-sided p-values, one or two cut-points, a continuous
moderator in some), written to ONE csv batch, fitted by ONE ``Rscript tests/r/selection.R``
call (metafor's ``selmodel(type="stepfun")`` and R's ``lm`` for PET and PEESE) and compared.

Seed: fresh on every run and printed; ``SYNTHESIS_SELECTION_SEED=<n>`` repeats a run.
Size: ``SYNTHESIS_SELECTION_N`` data sets (default 20 under ``CI``, else 30; a set costs metafor several seconds). metafor's
likelihood is an R loop over the studies, so R needs several seconds per data set on a busy
machine: outside ``CI`` the module is marked ``slow`` (run it with ``-m slow``).
Without R: skipped locally, a failure under ``CI``.

Tolerances and the one argued disagreement:

* ``beta``, ``tau2``, ``delta``, ``LRT``, ``LRTp``: rtol 1e-6 (atol 1e-6). metafor's optimiser
  (``optim``'s BFGS with ``reltol = 1e-15`` and finite-difference gradients) can still stop
  short of the maximum, and on a flat likelihood a parameter can then
  be off by more than 1e-6. Such a set passes only if our log-likelihood is at least metafor's
  minus 1e-8: ours is the (better) maximum of the same likelihood, which is what the estimator
  is defined as; a lower likelihood on our side is always a failure.
* ``ll0`` (the ML model without selection) rtol 1e-9; PET and PEESE (closed form) rtol 1e-8.
* Standard errors rtol 1e-3 and only where the estimate is interior (tau² > 1e-4 or fixed,
  delta away from its bounds) and the point agrees: they are finite-difference curvatures
  (numDeriv) at metafor's slightly different optimum.
* A set metafor refuses because a p-value interval is empty must be one we return None for;
  sets metafor fails to fit for other reasons (optimiser error) are counted and must stay rare.
"""
from __future__ import annotations

import os
import secrets
import time
import warnings

import numpy as np
import pandas as pd
import pytest

from synthesis import meta_analysis, meta_regression
from synthesis.meta.precision_effect import pet_peese
from synthesis.meta.selection import selection_model
from test_selection import batch_frame, run_r
from r_oracle import require_r  # tests/ is on sys.path

RTOL, ATOL = 1e-6, 1e-6

# minutes of R: run it with -m slow (the default suite checks the reference JSON, tests/test_selection.py)
pytestmark = [pytest.mark.slow]  # about 15 s of metafor per data set: too slow for the default suite, even under CI


def simulate(rng: np.random.Generator) -> tuple[pd.DataFrame, str, str, str, bool]:
    """One data set: studies published with probability 1 if significant, else ``keep``."""
    k = int(np.exp(rng.uniform(np.log(10), np.log(200))))
    alternative = rng.choice(["greater", "greater", "greater", "less", "two.sided"])
    steps = "0.05" if alternative == "two.sided" else rng.choice(["0.025", "0.025", "0.025", "0.025;0.5"])
    mods = rng.random() < 0.15
    tau2 = 0.0 if rng.random() < 0.3 else rng.uniform(0.005, 0.1)
    mu = rng.normal(0.2, 0.2) * (-1 if alternative == "less" else 1)
    keep = 1.0 if rng.random() < 0.4 else rng.uniform(0.1, 0.7)
    rows: list[tuple[float, float, float]] = []
    while len(rows) < k:
        sei = rng.uniform(0.05, 0.5)
        x = rng.normal()
        y = rng.normal(mu + (0.1 * x if mods else 0.0), np.sqrt(sei ** 2 + tau2))
        z = y / sei * (-1 if alternative == "less" else 1)
        significant = abs(z) > 1.96 if alternative == "two.sided" else z > 1.96
        if significant or rng.random() < keep:
            rows.append((y, sei ** 2, x))
    frame = pd.DataFrame(rows, columns=["yi", "vi", "x"])
    method = str(rng.choice(["REML", "REML", "ML", "DL", "EE"]))
    return frame, method, str(alternative), str(steps), bool(mods)


def _fit(frame: pd.DataFrame, method: str, mods: bool):
    return meta_regression(frame, "x", method=method) if mods else meta_analysis(frame["yi"], frame["vi"],
                                                                                   method=method)


def _close(a: float, b: float | None, rtol: float = RTOL) -> bool:
    if b is None or np.isnan(a):
        return b is None and np.isnan(a)
    return bool(np.isclose(a, b, rtol=rtol, atol=ATOL))


@pytest.fixture(scope="module")
def seed() -> int:
    value = os.environ.get("SYNTHESIS_SELECTION_SEED")
    return int(value) if value else secrets.randbelow(2**31)


def test_selection_model_agrees_with_metafor_on_random_data(seed):
    require_r("metafor")
    n_sets = int(os.environ.get("SYNTHESIS_SELECTION_N") or (20 if os.environ.get("CI") else 30))
    print(f"\nselection differential: seed {seed} (repeat with SYNTHESIS_SELECTION_SEED={seed}), {n_sets} sets")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    sets = {f"s{i}": simulate(rng) for i in range(n_sets)}
    theirs_all = run_r(batch_frame(sets))
    r_seconds = time.perf_counter() - started
    failures: list[str] = []
    counts = {"compared": 0, "metafor failed": 0, "empty interval": 0, "likelihood argued": 0}
    for name, (frame, method, alternative, steps, mods) in sets.items():
        theirs = theirs_all[name]
        label = f"{name} (k {len(frame)}, {method}, {alternative}, steps {steps}, mods {mods})"
        fit = _fit(frame, method, mods)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            sel = selection_model(fit, steps=[float(s) for s in steps.split(";")], alternative=alternative)
        if "error" in theirs:
            if theirs["error"][0] == 1:
                counts["empty interval"] += 1
                if sel is not None:
                    failures.append(f"{label}: metafor found an empty p-value interval, we fitted")
            else:
                counts["metafor failed"] += 1
            continue
        if sel is None:
            failures.append(f"{label}: we returned None, metafor fitted")
            continue
        counts["compared"] += 1
        for reg, fitted in (("pet", (r := pet_peese(fit)).pet), ("peese", r.peese)):
            for key, ours in (("estimate", fitted.estimate), ("se", fitted.se), ("pval", fitted.pval)):
                if not _close(ours, theirs[f"{reg}.{key}"][0], 1e-8):
                    failures.append(f"{label}: {reg}.{key} ours {ours!r} R {theirs[f'{reg}.{key}'][0]!r}")
        if not _close(sel.ll0, theirs["ll0"][0], 1e-9):
            failures.append(f"{label}: ll0 ours {sel.ll0!r} metafor {theirs['ll0'][0]!r}")
        point = {"beta": sel.coefficients["estimate"].to_numpy(), "tau2": [sel.tau2], "delta": sel.delta,
                 "LRT": [sel.LRT], "LRTp": [sel.LRTp]}
        off = [f"{q}[{i}] ours {a!r} metafor {b!r}" for q, ours in point.items()
               for i, (a, b) in enumerate(zip(ours, theirs[q])) if not _close(float(a), b)]
        if off:
            if sel.ll >= theirs["ll"][0] - 1e-8:
                counts["likelihood argued"] += 1
                continue
            failures.append(f"{label}: lower log-likelihood than metafor ({sel.ll!r} < {theirs['ll'][0]!r}); "
                            + "; ".join(off))
            continue
        interior = (method == "EE" or sel.tau2 > 1e-4) and np.all((sel.delta[1:] > 1e-3) & (sel.delta[1:] < 99))
        if interior:
            for i, (a, b) in enumerate(zip(sel.coefficients["se"], theirs["se"])):
                if not _close(float(a), b, 1e-3):
                    failures.append(f"{label}: se[{i}] ours {a!r} metafor {b!r}")
    elapsed = time.perf_counter() - started
    print(f"selection differential: {counts} in {elapsed:.1f} s (R {r_seconds:.1f} s)")
    assert counts["metafor failed"] <= max(2, n_sets // 20), f"seed {seed}: metafor failed too often: {counts}"
    assert not failures, (f"seed {seed}: {len(failures)} disagreements with metafor, e.g.\n"
                          + "\n".join(failures[:30]))
