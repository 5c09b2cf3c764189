"""Unit tests of the pipeline's fingerprint, diff and index (no kernel started)."""
from __future__ import annotations

import hashlib
import json

import nbformat as nbf
import pandas as pd
from bs4 import BeautifulSoup

from synthesis.pipeline import fingerprint as pipeline
from synthesis.pipeline.fingerprint import compute_fingerprint, notebook_hash
from synthesis.pipeline.index import write_index
from synthesis.report.changes import diff_manifests


def _nb(path, source, outputs=(), tags=()):
    nb = nbf.v4.new_notebook()
    nb.cells = [nbf.v4.new_code_cell(source, outputs=list(outputs), metadata={"tags": list(tags)})]
    nb.metadata["anything"] = str(outputs)
    nbf.write(nb, str(path))
    return path


def test_file_hash_is_sha256_of_bytes(tmp_path):
    (tmp_path / "a.csv").write_bytes(b"yi,vi\n1,2\n")
    assert pipeline.file_sha256(tmp_path / "a.csv") == hashlib.sha256(b"yi,vi\n1,2\n").hexdigest()


def test_notebook_hash_ignores_outputs_and_metadata_but_not_source_or_tags(tmp_path):
    base = notebook_hash(_nb(tmp_path / "a.ipynb", "x = 1"))
    out = nbf.v4.new_output("stream", name="stdout", text="1")
    assert notebook_hash(_nb(tmp_path / "b.ipynb", "x = 1", outputs=[out])) == base
    assert notebook_hash(_nb(tmp_path / "c.ipynb", "x = 2")) != base
    assert notebook_hash(_nb(tmp_path / "d.ipynb", "x = 1", tags=["analyst"])) != base


def test_fingerprint_changes_with_every_input():
    args = dict(settings={"seed": 1, "a": {"b": 2}}, data={"d.csv": "h"}, notebook="n", package="p",
                dependencies={"numpy": "2"})
    base = compute_fingerprint(**args)
    # key order does not matter (canonical JSON)
    assert compute_fingerprint(**{**args, "settings": {"a": {"b": 2}, "seed": 1}}) == base
    changes = [("settings", {"seed": 123, "a": {"b": 2}}), ("data", {"d.csv": "other"}), ("notebook", "n2"),
               ("package", "p2"), ("dependencies", {"numpy": "3"})]
    for key, value in changes:
        assert compute_fingerprint(**{**args, key: value}) != base, key
    expected = hashlib.sha256(json.dumps(
        {"settings": args["settings"], "data": args["data"], "notebook": "n", "package": "p",
         "dependencies": args["dependencies"]}, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    assert base == expected


def test_diff_manifests_reports_settings_data_and_results():
    old = {"settings": {"seed": 1, "analysis": {"method": "REML"}}, "data": {"a.csv": "h1", "b.csv": "h2"},
           "results": {"answer": "same", "headline": {"estimate": 0.2, "tau2": 0.01}}}
    new = {"settings": {"seed": 123, "analysis": {"method": "REML"}}, "data": {"a.csv": "h1", "c.csv": "h3"},
           "results": {"answer": "same", "headline": {"estimate": 0.25, "tau2": 0.01}}}
    table = diff_manifests(old, new)
    assert list(table.columns) == ["section", "item", "before", "after"]
    assert table.values.tolist() == [
        ["settings", "seed", "1", "123"],
        ["data", "b.csv", "h2", "(absent)"],
        ["data", "c.csv", "(absent)", "h3"],
        ["results", "headline.estimate", "0.20", "0.25"],  # at display precision (issue 13)
    ]
    assert diff_manifests(old, old).empty
    assert diff_manifests(None, new).empty and isinstance(diff_manifests(None, new), pd.DataFrame)


def test_index_lists_reviews_and_escapes(tmp_path):
    (tmp_path / "reports/a/v1").mkdir(parents=True)
    (tmp_path / "reports/a/v2").mkdir(parents=True)
    for n in (1, 2):
        (tmp_path / f"reports/a/v{n}/manifest.json").write_text(json.dumps(
            {"title": "<script>alert(1)</script>", "answer": "A & B", "certainty": "low",
             "created_at": "2026-11-22T10:00:00+00:00", "simulated": True}))
    (tmp_path / "reports/b").mkdir()
    page = write_index(tmp_path).read_text()
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    soup = BeautifulSoup(page, "html.parser")
    scripts = soup.find_all("script")  # only the page's own sorting script, inline, and no title in it
    assert len(scripts) == 1 and not scripts[0].get("src") and "alert" not in scripts[0].get_text()
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert {"a/v1/report.html", "a/v2/report.html"} <= set(hrefs)
    assert "A & B" in soup.get_text() and "2026-11-22" in soup.get_text() and "simulated data" in soup.get_text()
    assert "b" in [td.get_text() for td in soup.find_all("td")]


def _write_manifest(project, rid, n, manifest):
    folder = project / "reports" / rid / f"v{n}"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_diff_command_compares_last_two_or_named_versions(tmp_path, capsys):
    import argparse

    import pytest

    from synthesis.errors import PipelineError
    from synthesis.cli.run_commands import cmd_diff

    base = {"settings": {"seed": 1}, "data": {"d.csv": "h"}, "results": {"answer": "a"}}
    _write_manifest(tmp_path, "r", 1, base)
    _write_manifest(tmp_path, "r", 2, {**base, "settings": {"seed": 123}})
    _write_manifest(tmp_path, "r", 3, {**base, "settings": {"seed": 123}, "data": {"d.csv": "h2"}})
    args = argparse.Namespace(id="r", versions=[], project=str(tmp_path))
    assert cmd_diff(args) == 0
    assert capsys.readouterr().out.splitlines() == [
        "r: v2 -> v3", "  answer and certainty unchanged: a (certainty not recorded)",
        "  headline estimate unchanged: not recorded", "data:", "  d.csv: h -> h2"]
    assert cmd_diff(argparse.Namespace(id="r", versions=["v1", "2"], project=str(tmp_path))) == 0
    assert "  seed: 1 -> 123" in capsys.readouterr().out
    with pytest.raises(PipelineError, match="no report version v9"):
        cmd_diff(argparse.Namespace(id="r", versions=["v1", "v9"], project=str(tmp_path)))
    with pytest.raises(PipelineError, match="no such review 'other'"):
        cmd_diff(argparse.Namespace(id="other", versions=[], project=str(tmp_path)))
