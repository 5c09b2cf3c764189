"""End-to-end runs of the real pipeline (papermill kernel, nbconvert, publish) in a temporary project.

The mechanics are tested with a fixture notebook and a stand-in review
module (``tests/pipeline_fixtures``), so these tests do not depend on the
statistics; ``test_real_review_end_to_end`` runs the shipped notebook on a
shipped review when both are present.
"""
from __future__ import annotations

import io
import json
import shutil
import sys
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from synthesis.pipeline import store
from synthesis.cli.run_commands import run_reviews

FIXTURES = Path(__file__).parent / "pipeline_fixtures"
REPO = Path(__file__).resolve().parents[1]
FILES = {"report.html", "analysis.html", "report.ipynb", "manifest.json"}


@pytest.fixture
def project(tmp_path, monkeypatch):
    sys.path.insert(0, str(FIXTURES))
    import fake_review

    sys.path.remove(str(FIXTURES))
    monkeypatch.setitem(sys.modules, "synthesis.review.loader", fake_review)
    for rid, values in (("alpha", "0.1,0.3,0.5"), ("beta", "0.2,0.2")):
        folder = tmp_path / "reviews" / rid
        folder.mkdir(parents=True)
        (folder / "review.yaml").write_text(f"id: {rid}\ntitle: Review <{rid}>\nseed: 1\nprovenance:\n  simulated: true\n")
        rows = "".join(f"{v},0.04\n" for v in values.split(","))
        (folder / "data.csv").write_text("yi,vi\n" + rows)
    (tmp_path / "notebooks").mkdir()
    shutil.copy(FIXTURES / "review.ipynb", tmp_path / "notebooks" / "review.ipynb")
    return tmp_path


def _run(project, ids=(), overrides=(), force=False, jobs=1):
    out = io.StringIO()
    code = run_reviews(list(ids), project, list(overrides), jobs=jobs, force=force, out=out)
    return code, out.getvalue()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_pipeline_end_to_end(project):
    # cold run of both reviews in two processes: v1 with all four files
    code, out = _run(project, jobs=2)
    assert code == 0, out
    assert "alpha: done v1" in out and "beta: done v1" in out
    v1 = project / "reports/alpha/v1"
    assert {p.name for p in v1.iterdir()} == FILES
    manifest = json.loads((v1 / "manifest.json").read_text())
    assert manifest["version"] == 1 and manifest["review_id"] == "alpha"
    assert manifest["headline"]["k"] == 3 and manifest["simulated"] is True
    assert manifest["diagnostics"] == {"ok": True, "messages": []}
    assert set(manifest["data"]) == {"reviews/alpha/data.csv"}
    assert {"fingerprint", "created_at", "overrides", "seed", "python", "packages", "platform",
            "durations", "answer", "certainty", "results", "settings"} <= set(manifest)
    executed = json.loads((v1 / "report.ipynb").read_text())
    stdout = "".join("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert "hash seed 0 backend Agg" in stdout
    assert f"kernel {sys.executable}" in stdout  # the kernel runs this interpreter
    before = _snapshot(v1)

    # index lists every review, escaped
    index = (project / "reports/index.html").read_text()
    soup = BeautifulSoup(index, "html.parser")
    assert {"alpha/v1/report.html", "beta/v1/report.html"} <= {a["href"] for a in soup.find_all("a")}
    assert "Review &lt;alpha&gt;" in index

    # unchanged rerun: nothing published
    code, out = _run(project)
    assert code == 0 and "alpha: up to date (v1" in out and "beta: up to date (v1" in out
    assert store.list_versions(project, "alpha") == [1]

    # changed setting: v2, v1 byte-identical
    code, out = _run(project, ["alpha"], ["seed=123"])
    assert code == 0 and "alpha: done v2" in out, out
    m2 = store.read_manifest(project, "alpha", 2)
    assert m2["overrides"] == {"seed": 123} and m2["seed"] == 123 and m2["fingerprint"] != manifest["fingerprint"]
    assert _snapshot(v1) == before

    # same fingerprint re-executed (--force): identical numbers
    code, out = _run(project, ["alpha"], ["seed=123"], force=True)
    assert code == 0 and "alpha: done v3" in out
    m3 = store.read_manifest(project, "alpha", 3)
    assert m3["fingerprint"] == m2["fingerprint"]
    assert m3["results"] == m2["results"] and m3["headline"] == m2["headline"]
    assert m3["headline"]["estimate"] != manifest["headline"]["estimate"]

    # a failing cell: one short message, no new version, notebook kept, others carry on
    code, out = _run(project, ["alpha", "beta"], ["fail=true"])
    assert code == 1
    line = next(l for l in out.splitlines() if l.startswith("alpha: failed"))
    assert "raised ValueError: deliberate failure for the test" in line and "`import csv, json, os, random`" in line
    assert "Traceback" not in out
    assert store.list_versions(project, "alpha") == [1, 2, 3]
    kept = list((project / "reports/alpha/failed").glob("*/report.ipynb"))
    assert len(kept) == 1 and "deliberate failure" in kept[0].read_text()
    assert not list((project / "reports/alpha").glob(".tmp-*"))
    assert _snapshot(v1) == before


def test_review_with_its_own_notebook(project):
    import nbformat

    from synthesis.pipeline.plan import plan_review

    # reviews/alpha/report.ipynb: the default notebook without the cell showing the image
    nb = nbformat.read(str(project / "notebooks/review.ipynb"), as_version=4)
    nb.cells = [c for c in nb.cells if "answer shown to policymakers" not in c.source]
    own = project / "reviews/alpha/report.ipynb"
    nbformat.write(nb, str(own))
    code, out = _run(project, jobs=1)
    assert code == 0, out
    alpha = (project / "reports/alpha/v1/report.html").read_text()
    beta = (project / "reports/beta/v1/report.html").read_text()
    assert "answer shown to policymakers" in beta and "<img" in beta
    assert "answer shown to policymakers" not in alpha and "<img" not in alpha
    assert store.read_manifest(project, "alpha", 1)["notebook"] == "reviews/alpha/report.ipynb"
    assert store.read_manifest(project, "beta", 1)["notebook"] == "notebooks/review.ipynb"

    # editing the review's notebook changes its fingerprint and publishes v2; beta stays up to date
    before = plan_review("alpha", project).fingerprint
    nb.cells[-1].source += "\nprint('edited')"
    nbformat.write(nb, str(own))
    assert plan_review("alpha", project).fingerprint != before
    code, out = _run(project, jobs=1)
    assert code == 0 and "alpha: done v2" in out and "beta: up to date (v1" in out, out


def test_user_mistakes_give_clear_messages(project):
    (project / "reviews/alpha/data.csv").write_text("yi,vi\n0.1,0.04\nnot-a-number,0.04\n")
    code, out = _run(project, ["alpha", "nosuch"])
    assert code == 1
    assert "nosuch: failed: no such review" in out
    assert "alpha: failed:" in out and "data row 2" in out and "data.csv" in out
    assert store.list_versions(project, "alpha") == []
    from synthesis.errors import ReviewError

    with pytest.raises(ReviewError, match="key=value"):
        _run(project, overrides=["seed"])


def test_real_review_end_to_end(tmp_path):
    shutil.copytree(REPO / "reviews/practice-facilitation", tmp_path / "reviews/practice-facilitation")
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    code, out = _run(tmp_path, ["practice-facilitation"])
    assert code == 0, out
    v1 = tmp_path / "reports/practice-facilitation/v1"
    assert {p.name for p in v1.iterdir()} == FILES
    manifest = json.loads((v1 / "manifest.json").read_text())
    for key in ("estimate", "ci_lb", "ci_ub", "tau2", "I2"):
        assert key in manifest["headline"]
    code, out = _run(tmp_path, ["practice-facilitation"])
    assert code == 0 and "up to date" in out
