"""Benchmark of ``synthesis run``: cold run, unchanged rerun, one changed review.

Copies the project's ``reviews/`` and ``notebooks/`` into a temporary folder
and times three scenarios, splitting each executed review's time into kernel
start, cell execution and rendering (from the ``durations`` in its manifest):

1. cold run of all reviews (``--jobs`` as given);
2. unchanged rerun of all reviews (target: <= 2 s in total, no kernel);
3. one review rerun after a changed setting (``--set seed=<new>``; target <= 20 s).

Usage::

    python benchmarks/bench_pipeline.py [--project DIR] [--jobs N] [--fixture]

``--fixture`` uses the small test notebook and a stand-in review module
(tests/pipeline_fixtures) to time the pipeline's own overhead only.
"""
from __future__ import annotations

import argparse
import io
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


def _scenario(name: str, project: Path, ids: list[str], overrides: list[str], jobs: int | None) -> None:
    from synthesis.pipeline import store
    from synthesis.cli.run_commands import run_reviews

    before = {rid: store.latest_version(project, rid) for rid in _ids(project)}
    out = io.StringIO()
    start = time.perf_counter()
    code = run_reviews(ids, project, overrides, jobs=jobs, out=out)
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
    code = prelude + "from synthesis.cli.app import main; raise SystemExit(main())"
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code, "run", "--project", str(project)],
                          capture_output=True, text=True)
    wall = time.perf_counter() - start
    print(f"\n== unchanged rerun as a fresh `synthesis run` process (target <= 2 s): {wall:.2f} s, "
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
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as tmp:
        project = Path(tmp)
        if args.fixture:
            _fixture_project(project)
        else:
            _copy_project(args.project, project)
        ids = _ids(project)
        print(f"reviews: {', '.join(ids)}; jobs: {args.jobs or 'cores'}")
        _scenario("cold run, all reviews", project, [], [], args.jobs)
        _scenario("unchanged rerun, all reviews, in-process", project, [], [], args.jobs)
        _unchanged_cli(project, args.fixture)
        _scenario(f"one changed review ({ids[0]}, seed=20261122; target <= 20 s)", project, [ids[0]],
                  ["seed=20261122"], args.jobs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
