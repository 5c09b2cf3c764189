"""R as a live oracle for the differential tests (``tests/test_metafor_live*.py``).

One place for: whether Rscript and the needed R packages are present (skip on a
laptop without them, fail under ``CI``, where ``.ci/run`` installs them), and running
one batched ``Rscript <script> in.csv out.csv`` call whose output rows are
``set, quantity, index, value``, and comparing one data set's quantities with
R's at the tolerances of the reference tests. The fresh seed per run is the ``seed``
fixture in ``tests/conftest.py``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

#: closed forms are exact and iterations converged tightly on both sides
RTOL, ATOL = 1e-6, 1e-9
Quantities = dict[tuple[str, int], float]
#: beyond this magnitude a statistic is a ratio whose denominator is 0 in exact arithmetic
ROUNDOFF_INFINITY = 1e6
ROUNDOFF_REASON = ("infinite up to round-off: a ratio over a standard error or Q that is exactly 0 in exact "
                   "arithmetic, 1e-17 or 0 by the order of floating-point operations")


def infinite_up_to_roundoff(a: float, b: float) -> bool:
    """Both beyond :data:`ROUNDOFF_INFINITY` in magnitude (either may be inf), with the same sign.

    Written for the cases the live tests met: two proportions exactly equal (9/36 and
    26/104) leave a Knapp-Hartung leave-one-out fit with Q = 0, so its z and the
    deleted residuals divide by 0 (metafor: inf; ours: 1e9 over a Q of 2e-17; seed
    1264354851, set 190); three points of which two coincide put Egger's line through
    all three, a slope over a standard error of 0 (metafor -9.4e14 or -inf, ours -3.6e13;
    seed 1784640555, set 366). No statistic of these generated data is legitimately above 1e6.
    """
    return bool(np.sign(a) == np.sign(b) and min(abs(a), abs(b)) > ROUNDOFF_INFINITY)


@lru_cache(maxsize=None)
def r_packages_available(*packages: str) -> bool:
    """Whether ``Rscript`` exists and loads every package in ``packages``."""
    if shutil.which("Rscript") is None:
        return False
    code = "; ".join(f"library({name})" for name in packages)
    return subprocess.run(["Rscript", "-e", code], capture_output=True).returncode == 0


def require_r(*packages: str) -> None:
    """Skip without R and ``packages``; under ``CI`` fail instead (``.ci/run`` installs them)."""
    if r_packages_available(*packages):
        return
    names = " and ".join(packages)
    if os.environ.get("CI"):
        pytest.fail(f"Rscript with {names} is required under CI (see .ci/run)")
    pytest.skip(f"Rscript with {names} not installed")


def run_batch(script: Path, batch: pd.DataFrame, tmp_path: Path, seed: int
              ) -> dict[int, dict[tuple[str, int], float]]:
    """Write ``batch``, run ``Rscript script in out`` once, return ``{set: {(quantity, index): value}}``."""
    src, dst = tmp_path / "in.csv", tmp_path / "out.csv"
    batch.to_csv(src, index=False, float_format="%.17g")
    run = subprocess.run(["Rscript", str(script), str(src), str(dst)], capture_output=True, text=True)
    assert run.returncode == 0, f"seed {seed}: {run.stderr[-2000:]}"
    return {s: dict(zip(zip(g["quantity"], g["index"]), g["value"].astype(float)))
            for s, g in pd.read_csv(dst).groupby("set")}


def agree(a: float, b: float, rtol: float = RTOL, atol: float = ATOL) -> bool:
    """Equal at ``rtol``/``atol`` (1e-6 / 1e-9), or both missing."""
    if np.isnan(a) and np.isnan(b):
        return True
    return bool(np.isclose(a, b, rtol=rtol, atol=atol))


def compare_quantities(mine: Quantities, theirs: Quantities,
                       excluded: Callable[[str, int, Quantities, Quantities], str | None] | None = None,
                       skip: frozenset[tuple[str, int]] = frozenset()) -> tuple[list[str], dict[str, int], int]:
    """One data set's quantities against R's: the disagreements (``"q[i] ours x metafor y"``),
    the exclusions by their written reason, and how many quantities were compared.

    ``excluded(quantity, index, mine, theirs)`` returns the reason a disagreement is one of
    metafor's documented limits, or None; two values :func:`infinite_up_to_roundoff` are
    always excluded. ``skip``: quantities R emits for the exclusions
    only (not compared).
    """
    failures: list[str] = []
    exclusions: dict[str, int] = {}
    keys = sorted((set(mine) | set(theirs)) - skip)
    for key in keys:
        got, expected = mine.get(key, np.nan), theirs.get(key, np.nan)
        if agree(got, expected):
            continue
        reason = ROUNDOFF_REASON if infinite_up_to_roundoff(got, expected) else None
        reason = reason or (excluded(key[0], key[1], mine, theirs) if excluded is not None else None)
        if reason:
            exclusions[reason] = exclusions.get(reason, 0) + 1
        else:
            failures.append(f"{key[0]}[{key[1]}] ours {got!r} metafor {expected!r}")
    return failures, exclusions, len(keys)
