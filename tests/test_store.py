"""Tests of the report store: version listing, manifests, atomic locked publishing."""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
from pathlib import Path

import pytest

from synthesis.pipeline import store
from synthesis.errors import PipelineError


def _make_version(project: Path, rid: str, n: int, manifest: dict | None = None) -> None:
    folder = project / "reports" / rid / f"v{n}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest or {"version": n}))


def test_no_reports_means_no_versions(tmp_path):
    assert store.list_versions(tmp_path, "r") == []
    assert store.latest_version(tmp_path, "r") is None


def test_versions_sorted_numerically_and_need_a_manifest(tmp_path):
    for n in (1, 2, 10):
        _make_version(tmp_path, "r", n)
    (tmp_path / "reports/r/v11").mkdir()          # no manifest: not a version
    (tmp_path / "reports/r/.tmp-abc").mkdir()     # staging folder
    (tmp_path / "reports/r/v0").mkdir()           # not a valid number
    assert store.list_versions(tmp_path, "r") == [1, 2, 10]
    assert store.latest_version(tmp_path, "r") == 10


def test_read_manifest_accepts_labels_and_explains_missing(tmp_path):
    _make_version(tmp_path, "r", 1, {"fingerprint": "abc"})
    assert store.read_manifest(tmp_path, "r", "v1") == {"fingerprint": "abc"}
    assert store.read_manifest(tmp_path, "r", 1) == {"fingerprint": "abc"}
    with pytest.raises(PipelineError, match=r"no report version v3 \(published versions: v1\)"):
        store.read_manifest(tmp_path, "r", "v3")
    with pytest.raises(PipelineError, match="not a version"):
        store.parse_version("latest")


def test_publish_is_atomic_and_numbers_increase(tmp_path):
    staged = store.staging_dir(tmp_path, "r")
    (staged / "report.html").write_text("x")
    assert store.publish(tmp_path, "r", staged, {"a": 1}) == 1
    assert not staged.exists()
    manifest = json.loads((tmp_path / "reports/r/v1/manifest.json").read_text())
    record = {k: manifest.pop(k) for k in ("files", "record_sha256")}  # the content record (issue 13)
    assert manifest == {"a": 1, "version": 1, "version_label": "v1"}
    assert record["files"] == {"report.html": hashlib.sha256(b"x").hexdigest()}
    assert store.publish(tmp_path, "r", store.staging_dir(tmp_path, "r"), {}) == 2
    assert not list((tmp_path / "reports/r").glob(".tmp-*"))


def _publish_many(project: str, count: int) -> list[int]:
    return [store.publish(project, "r", store.staging_dir(project, "r"), {}) for _ in range(count)]


def test_concurrent_publishers_never_share_a_version(tmp_path):
    ctx = mp.get_context("fork")
    with ctx.Pool(4) as pool:
        results = pool.starmap(_publish_many, [(str(tmp_path), 10)] * 4)
    numbers = sorted(n for chunk in results for n in chunk)
    assert numbers == list(range(1, 41))
    assert store.list_versions(tmp_path, "r") == list(range(1, 41))


def test_failed_dirs_are_distinct(tmp_path):
    a, b = store.failed_dir(tmp_path, "r"), store.failed_dir(tmp_path, "r")
    assert a != b and a.parent == b.parent == tmp_path / "reports/r/failed"


def _hold_lock(project: str, held, release) -> None:
    with store.review_lock(project, "r"):
        held.set()
        release.wait(30)


def test_lock_is_held_across_processes(tmp_path):
    ctx = mp.get_context("fork")
    held, release = ctx.Event(), ctx.Event()
    holder = ctx.Process(target=_hold_lock, args=(str(tmp_path), held, release))
    holder.start()
    try:
        assert held.wait(30)
        with pytest.raises(PipelineError, match="being published by another run"):
            with store.review_lock(tmp_path, "r", timeout=0.2):
                pass
        with ctx.Pool(1) as pool:
            waiting = pool.apply_async(_publish_many, (str(tmp_path), 1))
            waiting.wait(0.5)
            assert not waiting.ready() and store.list_versions(tmp_path, "r") == []
            release.set()
            assert waiting.get(30) == [1]
        with store.review_lock(tmp_path, "r", timeout=5):
            pass
    finally:
        release.set()
        holder.join(30)
    assert holder.exitcode == 0


def test_failed_publish_leaves_earlier_versions_alone(tmp_path):
    staged = store.staging_dir(tmp_path, "r")
    (staged / "report.html").write_text("first")
    store.publish(tmp_path, "r", staged, {"a": 1})
    before = {p.name: p.read_bytes() for p in (tmp_path / "reports/r/v1").iterdir()}
    with pytest.raises(TypeError):
        store.publish(tmp_path, "r", store.staging_dir(tmp_path, "r"), {"a": object()})
    assert store.list_versions(tmp_path, "r") == [1]
    assert {p.name: p.read_bytes() for p in (tmp_path / "reports/r/v1").iterdir()} == before
