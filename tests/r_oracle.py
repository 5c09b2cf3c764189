"""R as a live oracle for the differential tests (``tests/test_metafor_live*.py``).

One place for: whether Rscript and the needed R packages are present (skip on a
laptop without them, fail under ``CI``, where ``.ci/run`` installs them), and running
one batched ``Rscript <script> in.csv out.csv`` call whose output rows are
``set, quantity, index, value``. The fresh seed per run is the ``seed`` fixture in
``tests/conftest.py``.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache
from pathlib import Path

import pandas as pd
import pytest


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
