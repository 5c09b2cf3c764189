"""The report store under faults (issue 13): it cannot be fooled or stuck, and says so in one line.

Execution and rendering are replaced by quick stand-ins (no kernel), and the
review loader by ``tests/pipeline_fixtures/fake_review.py``, so these tests
exercise the store's mechanics only; the real kernel runs once, for the timeout.
"""
from __future__ import annotations

import errno
import io
import json
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

import synthesis.cli.review_commands  # noqa: F401 - bound to the real review loader before any test swaps it
from synthesis.cli.app import main
from synthesis.cli.run_commands import run_reviews
from synthesis.pipeline import publish, store
from synthesis.pipeline.verify import damaged_versions

FIXTURES = Path(__file__).parent / "pipeline_fixtures"


def _fake_execute(plan, out_nb, results_path, previous, kernel_log=None):
    """Stands in for papermill: records what the notebook would have seen, then 'computes' for a moment."""
    time.sleep(float(os.environ.get("FAKE_EXECUTION_SECONDS", "0")))
    seen = {"version_label": plan.manifest_draft["version_label"],
            "previous": None if previous is None else previous["version"]}
    out_nb.write_text(json.dumps(seen))
    if plan.overrides.get("edit_data_during_run"):
        with open(Path(plan.project_dir) / "reviews" / plan.review_id / "data.csv", "a") as handle:
            handle.write("0.9,0.04\n")
    mid = float("inf") if plan.overrides.get("infinite") else 0.2
    results_path.write_text(json.dumps({"answer": "X probably improves Y", "certainty": "moderate",
                                        "headline": {"estimate": 0.25, "mid": mid}, "diagnostics": {"ok": True}}))
    return {"kernel_start": 0.0, "execution": 0.0}


def _fake_render(executed, dest, report, title):
    Path(dest).write_text(f"<p>{title}: probably improves</p>{Path(executed).read_text()}")


@pytest.fixture
def project(tmp_path, monkeypatch):
    sys.path.insert(0, str(FIXTURES))
    import fake_review

    sys.path.remove(str(FIXTURES))
    monkeypatch.setitem(sys.modules, "synthesis.review.loader", fake_review)
    monkeypatch.setattr(publish, "execute_notebook", _fake_execute)
    monkeypatch.setattr(publish, "render_html", _fake_render)
    for rid in ("alpha", "beta"):
        folder = tmp_path / "reviews" / rid
        folder.mkdir(parents=True)
        (folder / "review.yaml").write_text(f"id: {rid}\ntitle: Review {rid}\nseed: 1\n")
        (folder / "data.csv").write_text("yi,vi\n0.1,0.04\n0.3,0.04\n")
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "review.ipynb", tmp_path / "notebooks" / "review.ipynb")
    return tmp_path


def _run(project, ids=("alpha",), overrides=(), **kwargs):
    out = io.StringIO()
    code = run_reviews(list(ids), project, list(overrides), jobs=1, out=out, **kwargs)
    return code, out.getvalue()


def _in_child(project, overrides, queue):
    os.environ["FAKE_EXECUTION_SECONDS"] = "1.5"
    queue.put(_run(project, ["alpha"], overrides))


def _two_runs(project, first, second):
    ctx = mp.get_context("fork")
    queue = ctx.Queue()
    runs = [ctx.Process(target=_in_child, args=(str(project), o, queue)) for o in (first, second)]
    for p in runs:
        p.start()
    results = [queue.get(timeout=60) for _ in runs]
    for p in runs:
        p.join(30)
    return results


def test_concurrent_runs_with_the_same_settings_publish_one_version(project):
    results = _two_runs(project, [], [])
    assert [code for code, _ in results] == [0, 0]
    lines = sorted(out.strip().splitlines()[-1] for _, out in results)
    assert "alpha: done v1" in lines[0] and "alpha: same as v1" in lines[1], lines
    assert store.list_versions(project, "alpha") == [1]


def test_concurrent_runs_with_different_settings_get_their_own_labels(project):
    _two_runs(project, ["seed=1"], ["seed=2"])
    assert store.list_versions(project, "alpha") == [1, 2]
    for n in (1, 2):
        seen = json.loads((project / f"reports/alpha/v{n}/report.ipynb").read_text())
        assert seen == {"version_label": f"v{n}", "previous": None if n == 1 else 1}
        assert store.read_manifest(project, "alpha", n)["previous_version"] == (None if n == 1 else 1)


def test_reverting_to_an_earlier_configuration_is_recognised(project):
    assert _run(project)[0] == 0
    assert _run(project, overrides=["seed=5"])[0] == 0
    code, out = _run(project, overrides=["seed=1"])
    assert code == 0 and "alpha: same as v1" in out and "no new version" in out
    assert store.list_versions(project, "alpha") == [1, 2]


def test_stray_folders_and_deleted_versions_never_reuse_a_number(project):
    assert _run(project)[0] == 0
    (project / "reports/alpha/v2").mkdir()  # a partial folder without a manifest
    (project / "reports/alpha/v2/report.html").write_text("half")
    code, out = _run(project, overrides=["seed=2"])
    assert code == 0 and "alpha: done v3" in out, out
    assert "alpha: warning: v2: modified or incomplete since publishing" in out
    assert damaged_versions(project, "alpha") == ["v2"]
    shutil.rmtree(project / "reports/alpha/v2")
    shutil.rmtree(project / "reports/alpha/v3")  # delete the latest version
    code, out = _run(project, overrides=["seed=3"])
    assert code == 0 and "alpha: done v4" in out, out
    assert store.list_versions(project, "alpha") == [1, 4]


def test_leftover_temporary_folders_are_cleaned_when_stale(project):
    stale, fresh = store.staging_dir(project, "alpha"), store.staging_dir(project, "alpha")
    old = time.time() - 10 * 24 * 3600
    os.utime(stale, (old, old))
    assert _run(project)[0] == 0
    assert not stale.exists() and fresh.exists()


def test_published_versions_are_readable_per_umask(project):
    previous = os.umask(0o022)
    try:
        assert _run(project)[0] == 0
    finally:
        os.umask(previous)
    assert (project / "reports/alpha/v1").stat().st_mode & 0o777 == 0o755
    assert (project / "reports/alpha/v1/manifest.json").stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize("code,words", [(errno.EROFS, "read-only"), (errno.ENOSPC, "disk is full")])
def test_read_only_or_full_disk_is_one_line_and_others_still_run(project, monkeypatch, code, words):
    real_rename = os.rename

    def failing_rename(src, dst, *args, **kwargs):
        if "alpha" in str(dst):
            raise OSError(code, os.strerror(code), str(dst))
        return real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", failing_rename)
    status, out = _run(project, ["alpha", "beta"])
    assert status == 1 and "Traceback" not in out
    line = next(l for l in out.splitlines() if l.startswith("alpha: failed"))
    assert words in line and "earlier versions are unchanged" in line
    assert "beta: done v1" in out and (project / "reports/index.html").is_file()
    assert store.list_versions(project, "alpha") == [] and not list((project / "reports/alpha").glob(".tmp-*"))


def test_disk_full_while_the_notebook_is_written(project, monkeypatch):
    def full(plan, out_nb, results_path, previous, kernel_log=None):
        raise OSError(errno.ENOSPC, "No space left on device", str(out_nb))

    monkeypatch.setattr(publish, "execute_notebook", full)
    status, out = _run(project, ["alpha", "beta"])
    line = next(l for l in out.splitlines() if l.startswith("alpha: failed"))
    assert status == 1 and "disk is full" in line and "ipykernel" not in line
    assert not (project / "reports/alpha/failed").exists() and not list((project / "reports/alpha").glob(".tmp-*"))


def test_unwritable_reports_folder_via_chmod(project):
    (project / "reports/alpha").mkdir(parents=True)
    os.chmod(project / "reports/alpha", 0o555)
    try:
        if os.access(project / "reports/alpha", os.W_OK):  # root ignores the mode
            pytest.skip("running as root: chmod does not make a folder read-only")
        status, out = _run(project, ["alpha", "beta"])
    finally:
        os.chmod(project / "reports/alpha", 0o755)
    assert status == 1 and "alpha: failed" in out and "permission denied" in out and "beta: done v1" in out


def test_index_write_failure_is_one_line(project, monkeypatch):
    real_replace = os.replace

    def failing_replace(src, dst, *args, **kwargs):
        if str(dst).endswith("index.html"):
            raise OSError(errno.ENOSPC, "No space left on device", str(dst))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", failing_replace)
    status, out = _run(project)
    assert status == 1 and "alpha: done v1" in out and "index: failed" in out and "disk is full" in out
    assert not list((project / "reports").glob(".index.*"))


def test_broken_manifest_of_another_review_does_not_stop_a_run(project):
    assert _run(project, ["alpha", "beta"])[0] == 0
    (project / "reports/alpha/v1/manifest.json").write_text("{not json")
    status, out = _run(project, ["beta"], overrides=["seed=9"])
    assert status == 0 and "beta: done v2" in out
    index = (project / "reports/index.html").read_text()
    assert "beta/v2/report.html" in index and "Cannot be shown" in index
    status, out = _run(project, ["alpha"], overrides=["seed=9"])  # and alpha itself can publish again
    assert status == 0 and "alpha: done v2" in out and "alpha: warning: v1" in out


def test_tampering_is_noticed_by_verify_list_run_diff_and_index(project, capsys, monkeypatch):
    assert _run(project)[0] == 0 and _run(project, overrides=["seed=2"])[0] == 0
    assert main(["verify", "--project", str(project)]) == 0
    page = project / "reports/alpha/v2/report.html"
    page.write_text(page.read_text().replace("probably improves", "does NOT improve"))
    manifest = project / "reports/alpha/v1/manifest.json"
    manifest.write_text(manifest.read_text().replace("X probably improves Y", "X does NOT improve Y"))
    capsys.readouterr()
    assert main(["verify", "alpha", "--project", str(project)]) == 1
    out = capsys.readouterr().out
    assert "FAIL alpha v1: manifest.json does not match its recorded SHA-256" in out
    assert "FAIL alpha v2: report.html does not match its recorded SHA-256" in out
    with monkeypatch.context() as real:
        real.delitem(sys.modules, "synthesis.review.loader")  # `list` loads reviews with the real loader
        assert main(["list", "--project", str(project)]) == 1
    assert "MODIFIED: v1, v2" in capsys.readouterr().out
    assert main(["diff", "alpha", "--project", str(project)]) == 0
    assert "warning: v2 was modified after publishing" in capsys.readouterr().out
    code, out = _run(project, overrides=["seed=2"])
    assert code == 0 and "alpha: warning: v1, v2: modified or incomplete since publishing" in out
    assert "Modified after publishing" in (project / "reports/index.html").read_text()


def test_input_edited_during_the_run_publishes_nothing(project):
    code, out = _run(project, overrides=["edit_data_during_run=true"])
    assert code == 1 and "reviews/alpha/data.csv changed during the run" in out and "nothing was published" in out
    assert store.list_versions(project, "alpha") == []


def test_manifest_is_strict_json(project):
    code, out = _run(project, overrides=["infinite=true"])
    assert code == 1 and "not finite" in out and store.list_versions(project, "alpha") == []


def test_diff_under_a_closed_pipe_exits_quietly(project):
    big = {f"setting_{i:05d}": i for i in range(6000)}  # more output than a pipe buffer holds
    for n, value in ((1, 0), (2, 1)):
        folder = project / f"reports/alpha/v{n}"
        folder.mkdir(parents=True)
        (folder / "manifest.json").write_text(json.dumps({"settings": {k: v + value for k, v in big.items()}}))
    code = "import sys; from synthesis.cli.app import main; sys.exit(main())"
    shell = f"{sys.executable} -c '{code}' diff alpha --project {project} | head -n 2"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    done = subprocess.run(["bash", "-o", "pipefail", "-c", shell], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.stdout.splitlines()[0] == "alpha: v1 -> v2"
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 141


def test_timeout_reaches_papermill_and_reads_as_one_line(project, monkeypatch):
    import papermill
    from nbclient.exceptions import CellTimeoutError

    from synthesis.pipeline import execute

    seen = {}

    def hanging(*args, execution_timeout=None, **kwargs):
        seen["timeout"] = execution_timeout
        raise CellTimeoutError("Cell execution timed out")

    monkeypatch.setattr(publish, "execute_notebook", execute.execute_notebook)
    monkeypatch.setattr(papermill, "execute_notebook", hanging)
    code, out = _run(project, timeout=7)
    assert code == 1 and seen == {"timeout": 7.0}
    assert "alpha: failed" in out and "ran longer than the 7 s timeout" in out and "Traceback" not in out


@pytest.mark.slow
def test_timeout_stops_a_hanging_cell(tmp_path, monkeypatch, capfd):
    import nbformat

    sys.path.insert(0, str(FIXTURES))
    import fake_review

    sys.path.remove(str(FIXTURES))
    monkeypatch.setitem(sys.modules, "synthesis.review.loader", fake_review)
    (tmp_path / "reviews/slow").mkdir(parents=True)
    (tmp_path / "reviews/slow/review.yaml").write_text("id: slow\ntitle: Slow\n")
    (tmp_path / "reviews/slow/data.csv").write_text("yi,vi\n0.1,0.04\n")
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                           "display_name": "Python 3"}})
    nb.cells = [nbformat.v4.new_code_cell('review_id = "x"', metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("import time\ntime.sleep(600)")]
    nbformat.write(nb, str(tmp_path / "reviews/slow/report.ipynb"))
    start = time.perf_counter()
    out = io.StringIO()
    code = run_reviews(["slow"], tmp_path, jobs=1, out=out, timeout=3)
    assert code == 1 and time.perf_counter() - start < 120
    line = next(l for l in out.getvalue().splitlines() if l.startswith("slow: failed"))
    assert "ran longer than the 3 s timeout" in line and "--timeout" in line
    assert store.list_versions(tmp_path, "slow") == []
    # the stopped kernel's own traceback goes to kernel.log beside the kept notebook, not the terminal
    assert "Traceback" not in capfd.readouterr().err
    assert list((tmp_path / "reports/slow/failed").glob("*/report.ipynb"))
