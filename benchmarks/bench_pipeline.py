"""Benchmark of ``synthesis run``: cold run, unchanged rerun, one changed review.

Copies the project's ``reviews/`` and ``notebooks/`` into a temporary folder
and times three scenarios, splitting each executed review's time into kernel
start, cell execution and rendering (from the ``durations`` in its manifest):

1. cold run of all reviews (``--jobs`` as given, or on a Dask cluster);
2. unchanged rerun of all reviews, in this process and as a fresh ``synthesis run``
   process (target: <= 1 s, no kernel, and none of pandas, numpy, jinja2,
   papermill, dask imported: the fresh process lists the heavy modules it loaded);
3. one review rerun after a changed setting (``--set seed=<new>``; target <= 20 s).

Usage::

    python benchmarks/bench_pipeline.py [--project DIR] [--jobs N] [--fixture]
                                        [--scheduler ADDRESS | --dask-workers N]

``--fixture`` uses the small test notebook and a stand-in review module
(tests/pipeline_fixtures) to time the pipeline's own overhead only.
``--scheduler`` executes on an existing Dask cluster; ``--dask-workers N`` starts
a ``distributed.LocalCluster`` of N single-threaded worker processes for the
run (its start-up time is printed apart). The load average is printed before
and after: numbers from a busy machine are not the README's.

Last run (2026-11-23, ``--jobs 2``, a BUSY machine: load average 12-15 on 2 cores,
about 6x oversubscribed; the README table is from a quiet machine):

- cold run of the 4 shipped reviews: 532 s (the illustrative strategy review's MCMC
  420 s of execution; the three real reviews 52-145 s each, kernel start 8-12 s);
- unchanged rerun in-process: 0.15 s; as a fresh ``synthesis run`` process: 2.6-3.0 s
  wall, of which interpreter start 0.5 s and ``importlib.metadata`` (dependency
  versions, part of the fingerprint) 1.2 s; heavy modules imported: none;
- one changed review (cbt-offenders-at-scale, ``--set seed=...``): 88 s (kernel
  start 10.6 s, execution 32.7 s, rendering 14.8 s);
- a 2-worker ``LocalCluster`` takes 8-12 s to start here, against ~0 s for the
  process pool, so the local default stays a process pool.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _fixture_project(target: Path) -> None:
    sys.path.insert(0, str(REPO / "tests" / "pipeline_fixtures"))
    import fake_review

    sys.modules["synthesis.review.loader"] = fake_review
    for rid in ("alpha", "beta"):
        folder = target / "reviews" / rid
        folder.mkdir(parents=True)
        (folder / "review.yaml").write_text(f"id: {rid}\nseed: 1\n")
        (folder / "data.csv").write_text("yi,vi\n0.1,0.04\n0.3,0.05\n")
    (target / "notebooks").mkdir()
    shutil.copy(REPO / "tests" / "pipeline_fixtures" / "review.ipynb", target / "notebooks" / "review.ipynb")


def _copy_project(source: Path, target: Path) -> None:
    shutil.copytree(source / "reviews", target / "reviews")
    shutil.copytree(source / "notebooks", target / "notebooks")


HEAVY = ("pandas", "numpy", "scipy", "jinja2", "papermill", "nbconvert", "matplotlib", "pydantic", "distributed",
         "synthesis.review.loader")


def _scenario(name: str, project: Path, ids: list[str], overrides: list[str], jobs: int | None,
              scheduler: str | None = None) -> None:
    from synthesis.pipeline import store
    from synthesis.cli.run_commands import run_reviews

    before = {rid: store.latest_version(project, rid) for rid in _ids(project)}
    out = io.StringIO()
    start = time.perf_counter()
    code = run_reviews(ids, project, overrides, jobs=jobs, out=out, scheduler=scheduler)
    wall = time.perf_counter() - start
    print(f"\n== {name}: {wall:.2f} s wall, exit code {code}")
    for line in out.getvalue().splitlines():
        print(f"   {line}")
    for rid in _ids(project):
        latest = store.latest_version(project, rid)
        if latest is not None and latest != before.get(rid):
            d = store.read_manifest(project, rid, latest)["durations"]
            print(f"   {rid} v{latest}: kernel start {d.get('kernel_start', 0):.2f} s, "
                  f"execution {d.get('execution', 0):.2f} s, rendering {d.get('rendering', 0):.2f} s, "
                  f"total {d.get('total', 0):.2f} s")


def _unchanged_cli(project: Path, fixture: bool) -> None:
    """Time ``synthesis run`` as a fresh process (interpreter start and imports included)."""
    import subprocess

    prelude = ""
    if fixture:
        prelude = (f"import sys; sys.path.insert(0, {str(REPO / 'tests' / 'pipeline_fixtures')!r}); "
                   "import fake_review; sys.modules['synthesis.review.loader'] = fake_review; ")
    code = prelude + ("from synthesis.cli.app import main; code = main(); "
                      f"print('heavy modules imported:', [m for m in {HEAVY!r} if m in sys.modules] or 'none'); "
                      "raise SystemExit(code)")
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", "import sys; " + code, "run", "--project", str(project)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"\n== unchanged rerun as a fresh `synthesis run` process (target <= 1 s): {wall:.2f} s, "
          f"exit code {done.returncode}")
    for line in (done.stdout + done.stderr).splitlines():
        print(f"   {line}")


def _ids(project: Path) -> list[str]:
    from synthesis.review.loader import list_review_ids

    return list(list_review_ids(project))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO)
    parser.add_argument("--jobs", type=int, default=None)
    parser.add_argument("--fixture", action="store_true")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--scheduler", default=None, help="address or scheduler file of a running Dask cluster")
    where.add_argument("--dask-workers", type=int, default=None, help="start a LocalCluster of N workers")
    args = parser.parse_args(argv)
    with contextlib.ExitStack() as stack:
        scheduler = args.scheduler
        if args.dask_workers:
            from distributed import LocalCluster

            start = time.perf_counter()
            cluster = stack.enter_context(LocalCluster(n_workers=args.dask_workers, threads_per_worker=1,
                                                       processes=True, dashboard_address=None))
            scheduler = cluster.scheduler_address
            print(f"LocalCluster of {args.dask_workers} workers started in {time.perf_counter() - start:.2f} s")
        _run_all(args, scheduler)
    print(f"\nload average at the end: {_load()}")
    return 0


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg()) + f" on {os.cpu_count()} cores"
    except OSError:
        return "unknown"


def _run_all(args: argparse.Namespace, scheduler: str | None) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        project = Path(tmp)
        if args.fixture:
            _fixture_project(project)
        else:
            _copy_project(args.project, project)
        ids = _ids(project)
        where = f"Dask cluster {scheduler}" if scheduler else f"jobs: {args.jobs or 'cores'}"
        print(f"reviews: {', '.join(ids)}; {where}; load average at the start: {_load()}")
        _scenario("cold run, all reviews", project, [], [], args.jobs, scheduler)
        _scenario("unchanged rerun, all reviews, in-process", project, [], [], args.jobs, scheduler)
        _unchanged_cli(project, args.fixture)
        _scenario(f"one changed review ({ids[0]}, seed=20261122; target <= 20 s)", project, [ids[0]],
                  ["seed=20261122"], args.jobs, scheduler)


if __name__ == "__main__":
    raise SystemExit(main())
