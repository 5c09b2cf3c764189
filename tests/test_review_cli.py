"""Tests of `synthesis validate` and `synthesis list` (synthesis.cli.review_commands)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from synthesis.cli.app import main

ROOT = Path(__file__).resolve().parents[1]
DEMOS = ("cbt-offenders-at-scale", "practice-facilitation", "writing-to-learn")


@pytest.fixture
def project(tmp_path):
    """A copy of the shipped demo reviews."""
    for review_id in DEMOS:
        shutil.copytree(ROOT / "reviews" / review_id, tmp_path / "reviews" / review_id)
    return tmp_path


def test_validate_shipped_reviews(capsys):
    assert main(["validate", "--project", str(ROOT), *DEMOS]) == 0
    out = capsys.readouterr().out
    for review_id in DEMOS:
        assert f"ok   {review_id}: " in out
    assert "ok   practice-facilitation: 23 studies, SMD, 4 moderators, REML" in out
    assert "ok   cbt-offenders-at-scale: 58 studies, OR, 3 moderators, REML" in out


def test_validate_all_reviews_by_default(project, capsys):
    assert main(["validate", "--project", str(project)]) == 0
    out = capsys.readouterr().out
    assert [line.split()[1].rstrip(":") for line in out.splitlines() if line.startswith("ok")] == list(DEMOS)


def test_validate_runs_as_a_program():
    result = subprocess.run([sys.executable, "-m", "synthesis.cli.app", "validate", *DEMOS], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("\nok   ") + result.stdout.startswith("ok   ") == 3


def test_validate_reports_problems_without_traceback(project):
    folder = project / "reviews" / "writing-to-learn"
    text = (folder / "review.yaml").read_text().replace("  method: REML", "  methd: REML")
    (folder / "review.yaml").write_text(text)
    lines = (folder / "studies.csv").read_text().splitlines()
    lines[14] = lines[14].rsplit(",", 1)[0] + ",-0.02"
    (folder / "studies.csv").write_text("\n".join(lines) + "\n")
    result = subprocess.run([sys.executable, "-m", "synthesis.cli.app", "validate", "--project", str(project)],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert ("reviews/writing-to-learn/review.yaml: key 'analysis.methd': unknown setting; did you mean 'method'?"
            in result.stderr)
    assert "ok   practice-facilitation" in result.stdout  # the other reviews are still checked
    assert "1 of 3 review(s) have problems" in result.stderr
    # with the YAML fixed, the bad variance is found (row 14 = line 15 of the file)
    (folder / "review.yaml").write_text(text.replace("  methd: REML", "  method: REML"))
    result = subprocess.run([sys.executable, "-m", "synthesis.cli.app", "validate", "writing-to-learn",
                             "--project", str(project)], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert ("reviews/writing-to-learn/studies.csv, row 14 (line 15 of the file), column 'vi': -0.02 is not a "
            "valid variance (must be > 0)") in result.stderr


def test_validate_unknown_and_unsafe_ids(project, capsys):
    assert main(["validate", "--project", str(project), "writing-to-lern", "../etc"]) == 1
    err = capsys.readouterr().err
    assert "no review 'writing-to-lern'" in err and "did you mean 'writing-to-learn'?" in err
    assert "'../etc' is not a valid review id" in err


def test_validate_without_reviews_folder(tmp_path, capsys):
    assert main(["validate", "--project", str(tmp_path)]) == 1
    assert "reviews not found" in capsys.readouterr().err
    (tmp_path / "reviews").mkdir()
    assert main(["validate", "--project", str(tmp_path)]) == 1
    assert "no reviews in" in capsys.readouterr().err


def test_list_shows_id_title_studies_and_latest_report(project, capsys):
    assert main(["list", "--project", str(project)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["id", "studies", "report", "title"]
    rows = {line.split()[0]: line for line in lines[1:]}
    assert set(rows) == set(DEMOS)
    assert rows["writing-to-learn"].split()[1:4] == ["48", "none", "Writing-to-learn"]
    assert rows["cbt-offenders-at-scale"].split()[1:3] == ["58", "none"]
    assert "Practice facilitation to improve the uptake" in rows["practice-facilitation"]
    # a published version shows up
    version = project / "reports" / "practice-facilitation" / "v2"
    version.mkdir(parents=True)
    (version / "manifest.json").write_text("{}")
    assert main(["list", "--project", str(project)]) == 0
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["practice-facilitation"].split()[1:3] == ["23", "v2"]


def test_list_marks_invalid_reviews(project, capsys):
    (project / "reviews" / "writing-to-learn" / "studies.csv").write_text("id,author\n")
    assert main(["list", "--project", str(project)]) == 1
    rows = {line.split()[0]: line for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["writing-to-learn"].split()[1] == "invalid"
    assert rows["practice-facilitation"].split()[1] == "23"


def test_console_script_if_installed():
    script = shutil.which("synthesis")
    if script is None:
        pytest.skip("the synthesis console script is not installed")
    result = subprocess.run([script, "validate", "practice-facilitation"], cwd=ROOT, capture_output=True,
                            text=True, timeout=120, env={**os.environ})
    assert result.returncode == 0, result.stderr
