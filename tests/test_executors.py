"""Executors (serial, local pool, Dask cluster), ``synthesis run --scheduler`` and the live progress lines.

The Dask tests start a ``distributed.LocalCluster`` of two worker processes
(dask is a dependency: they never skip). The fast one runs the fixture
notebook and stand-in review module of ``tests/pipeline_fixtures`` on the
cluster and compares its published results with a local run; the slow one
does the same with every shipped review.
"""
from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthesis.cli.app import main
from synthesis.cli.progress import Progress
from synthesis.cli.run_commands import run_reviews
from synthesis.errors import PipelineError
from synthesis.pipeline import store
from synthesis.pipeline.executors import map_tasks, report_stage, run_tasks, scheduler_target

FIXTURES = Path(__file__).parent / "pipeline_fixtures"
REPO = Path(__file__).resolve().parents[1]
SAME = ("answer", "certainty", "headline", "simulated", "diagnostics")


def _square(x: int) -> int:
    report_stage(str(x), "executing")
    return x * x


def _die(x: int) -> int:
    if x == 1:
        os._exit(3)  # the worker process dies
    return x


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                      silence_logs=40) as local:
        yield local.scheduler_address


@pytest.fixture
def fixture_project(tmp_path, monkeypatch):
    sys.path.insert(0, str(FIXTURES))
    import fake_review

    sys.path.remove(str(FIXTURES))
    monkeypatch.setitem(sys.modules, "synthesis.review.loader", fake_review)

    def make(name: str) -> Path:
        project = tmp_path / name
        for rid, values in (("alpha", "0.1,0.3,0.5"), ("beta", "0.2,0.2")):
            folder = project / "reviews" / rid
            folder.mkdir(parents=True)
            (folder / "review.yaml").write_text(f"id: {rid}\ntitle: Review {rid}\nseed: 1\n")
            (folder / "data.csv").write_text("yi,vi\n" + "".join(f"{v},0.04\n" for v in values.split(",")))
        (project / "notebooks").mkdir()
        shutil.copy(FIXTURES / "review.ipynb", project / "notebooks" / "review.ipynb")
        return project

    return make


def _published(project: Path) -> dict[str, dict]:
    out = {}
    for rid in sorted(p.name for p in (project / "reports").iterdir() if p.is_dir()):
        manifest = store.read_manifest(project, rid, store.latest_version(project, rid))
        out[rid] = {key: manifest.get(key) for key in SAME}
    return out


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_map_tasks_serial_and_local_pool_keep_order_and_report_stages():
    assert map_tasks(_square, [3, 1, 2], jobs=1) == [9, 1, 4]
    stages = []
    done = list(run_tasks(_square, [3, 1, 2], ["3", "1", "2"], jobs=2, on_stage=lambda k, s: stages.append((k, s))))
    assert sorted((d.key, d.value) for d in done) == [("1", 1), ("2", 4), ("3", 9)]
    # "queued" from this process, "executing" from the workers through the queue
    assert {(key, stage) for key in "123" for stage in ("queued", "executing")} == set(stages)


def test_a_dying_local_worker_is_one_clear_message():
    with pytest.raises(PipelineError, match="worker process running it died"):
        map_tasks(_die, [0, 1, 2], jobs=2)


@pytest.mark.parametrize("text", ["tcp://host:0", "tcp://host:70000", "not an address", "", "http://h:1/x"])
def test_scheduler_flag_is_validated(text, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["run", "--scheduler", text])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "--scheduler" in err and "Traceback" not in err


def test_scheduler_targets(tmp_path):
    assert scheduler_target("127.0.0.1:8786") == ("address", "tcp://127.0.0.1:8786")
    assert scheduler_target("tls://[::1]:8786") == ("address", "tls://[::1]:8786")
    (tmp_path / "scheduler.json").write_text("{}")
    assert scheduler_target(str(tmp_path / "scheduler.json")) == ("file", str(tmp_path / "scheduler.json"))


def test_unreachable_scheduler_is_one_line_and_exit_1(fixture_project, capsys, monkeypatch):
    from synthesis.pipeline import executors

    monkeypatch.setattr(executors, "CONNECT_TIMEOUT", 1.0)
    project = fixture_project("p")
    code = main(["run", "--project", str(project), "--scheduler", "tcp://127.0.0.1:9"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("error: cannot reach the Dask scheduler at tcp://127.0.0.1:9") and err.count("\n") == 1
    assert not (project / "reports" / "alpha").exists()


def test_dask_cluster_publishes_what_the_local_run_publishes(fixture_project, cluster):
    # the local reference run (one review, in this process) also shows the live lines on a terminal
    local, remote = fixture_project("local"), fixture_project("dask")
    tty = Tty()
    assert run_reviews(["alpha"], local, jobs=1, out=tty) == 0, tty.getvalue()
    text = tty.getvalue()
    for stage in ("planning", "queued", "executing", "rendering", "publishing"):
        assert f"alpha: {stage} (" in text
    assert "\x1b[1F\x1b[J" in text  # redrawn in place
    assert len([line for line in text.replace("\x1b[J", "\n").split("\n") if ": done v1" in line]) == 1

    # both reviews on the two workers: the same results as the local run; quiet when not a terminal
    out = io.StringIO()
    assert run_reviews([], remote, scheduler=cluster, out=out) == 0, out.getvalue()
    lines = out.getvalue().splitlines()
    assert len(lines) == 2 and {line.split(" (")[0] for line in lines} == {"alpha: done v1", "beta: done v1"}
    assert _published(remote)["alpha"] == _published(local)["alpha"]
    assert _published(remote)["beta"]["headline"]["k"] == 2
    assert {p.name for p in (remote / "reports/alpha/v1").iterdir()} == {"report.html", "analysis.html",
                                                                         "report.ipynb", "manifest.json"}
    assert (remote / "reports/index.html").is_file()
    # an unchanged rerun is recognised without contacting the cluster; generic tasks run there too
    out = io.StringIO()
    assert run_reviews([], remote, scheduler=cluster, out=out) == 0 and "alpha: up to date (v1" in out.getvalue()
    assert map_tasks(_square, [1, 2, 3], scheduler=cluster) == [1, 4, 9]
    # ... and, as a fresh `synthesis run` process, without importing the analysis stack or dask
    heavy = ("pandas", "numpy", "jinja2", "papermill", "distributed", "synthesis.review.loader")
    code = ("import sys; from synthesis.cli.app import main; code = main(['run', '--project', sys.argv[1]]); "
            f"print('heavy:', [m for m in {heavy!r} if m in sys.modules]); raise SystemExit(code)")
    done = subprocess.run([sys.executable, "-c", code, str(remote)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "alpha: up to date (v1" in done.stdout and "heavy: []" in done.stdout, done.stdout


def test_a_sensitivity_grid_on_the_cluster_equals_the_grid_in_process(cluster, monkeypatch):
    """grid_map(): in an analyst's session with SYNTHESIS_SCHEDULER set, the notebook's per-subset
    publication-bias fits go to that cluster, with the same table as in process."""
    import warnings

    from synthesis.analysis.review_analysis import frequentist_analysis
    from synthesis.analysis.sensitivity import review_multiverse
    from synthesis.pipeline.executors import SCHEDULER_VARIABLE, grid_map
    from synthesis.review.loader import load_review

    review = load_review("writing-to-learn", REPO, {"sensitivity.methods": ["DL", "REML"]})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = frequentist_analysis(review).data
        here = review_multiverse(review, data)
        monkeypatch.setenv(SCHEDULER_VARIABLE, cluster)
        there = review_multiverse(review, data, map=grid_map())
    assert (here.table["bias"] == "trimfill").sum() > 0
    assert here.table.equals(there.table)


def test_pipeline_kernels_never_send_their_grid_to_a_cluster(monkeypatch, tmp_path):
    """A review running on a Dask worker that waited for its own grid's tasks on the same cluster
    deadlocked it (two reviews, two single-thread workers): the kernel's environment has no scheduler."""
    import papermill

    from synthesis.pipeline import execute
    from synthesis.pipeline.executors import SCHEDULER_VARIABLE
    from synthesis.pipeline.plan import ReviewPlan

    seen = {}

    def record(*args, **kwargs):
        seen["variable"] = os.environ.get(SCHEDULER_VARIABLE)
        raise RuntimeError("stop")

    monkeypatch.setenv(SCHEDULER_VARIABLE, "tcp://127.0.0.1:9")
    monkeypatch.setattr(papermill, "execute_notebook", record)
    plan = ReviewPlan("alpha", str(tmp_path), {}, str(FIXTURES / "review.ipynb"), "f" * 64, None, False)
    with pytest.raises(RuntimeError, match="stop"):
        execute.execute_notebook(plan, tmp_path / "out.ipynb", tmp_path / "results.json", None)
    assert seen == {"variable": None}


def test_progress_redraws_elapsed_and_ignores_late_stages():
    out, now = Tty(), [0.0]
    progress = Progress(out, clock=lambda: now[0])
    progress.stage("a", "queued")
    progress.stage("b", "queued")
    now[0] = 12.4
    progress.tick()
    assert out.getvalue().endswith("\x1b[2F\x1b[Ja: queued (12 s)\nb: queued (12 s)\n")
    progress.say("a: done v1 (12.4 s)", key="a")
    progress.stage("a", "publishing")  # a late update from a worker: the review is finished
    progress.close()
    assert out.getvalue().endswith("\x1b[1F\x1b[J")
    assert "a: publishing" not in out.getvalue()


@pytest.mark.slow
def test_dask_cluster_runs_the_shipped_reviews_like_the_local_run(tmp_path, cluster):
    projects = {}
    for name in ("local", "dask"):
        projects[name] = tmp_path / name
        shutil.copytree(REPO / "reviews", projects[name] / "reviews")
        shutil.copytree(REPO / "notebooks", projects[name] / "notebooks")
    out = io.StringIO()
    assert run_reviews([], projects["local"], jobs=2, out=out) == 0, out.getvalue()
    out = io.StringIO()
    assert run_reviews([], projects["dask"], scheduler=cluster, out=out) == 0, out.getvalue()
    local, remote = _published(projects["local"]), _published(projects["dask"])
    assert set(remote) == {p.name for p in (REPO / "reviews").iterdir() if (p / "review.yaml").is_file()}
    assert json.dumps(remote, sort_keys=True) == json.dumps(local, sort_keys=True)
