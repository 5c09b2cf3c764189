"""Bounded work (issue 13): hostile or careless input is refused quickly, in one readable line.

Each bomb from the issue (a YAML alias bomb, a huge review.yaml, deep nesting,
a long ``--set`` key, a format spec in a label template, ``.inf``, ANSI
escapes in a title, ``$`` in a study label, a ``diff`` id leaving
``reports/``) must fail within a second or two with a message that names the
problem and does not repeat the huge value.
"""
from __future__ import annotations

import argparse
import io
import shutil
import time
from pathlib import Path

import pytest

from synthesis.cli.review_commands import cmd_list, cmd_validate
from synthesis.cli.run_commands import cmd_diff
from synthesis.errors import PipelineError, ReviewError
from synthesis.review.overrides import MAX_YAML_BYTES, parse_overrides

REPO = Path(__file__).resolve().parents[1]
REVIEW = "practice-facilitation"

ALIAS_BOMB = "".join(
    [
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n',
        *(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(8)),
    ]
)


@pytest.fixture
def project(tmp_path):
    shutil.copytree(REPO / "reviews" / REVIEW, tmp_path / "reviews" / REVIEW)
    return tmp_path


def _edit_yaml(project: Path, old: str, new: str) -> None:
    path = project / "reviews" / REVIEW / "review.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def _validate(project: Path) -> tuple[int, str, float]:
    out, err = io.StringIO(), io.StringIO()
    start = time.perf_counter()
    code = cmd_validate(argparse.Namespace(ids=[], project=str(project)), out=out, err=err)
    return code, out.getvalue() + err.getvalue(), time.perf_counter() - start


@pytest.mark.parametrize("name,edit,words", [
    ("alias bomb where a title is expected",
     lambda text: ALIAS_BOMB + text.replace("\ntitle: ", "\ntitle: *i\nold_title: ", 1),
     "expands to more than 100,000 values"),
    ("29 MB of unknown keys", lambda text: text + "".join(f"unknown_{i}: {'x' * 60}\n" for i in range(20_000)),
     f"larger than {MAX_YAML_BYTES:,} bytes"),
    ("settings nested 40 deep", lambda text: text + "deep: " + "[" * 40 + "]" * 40 + "\n",
     "more than 20 levels deep"),
    ("an alias that contains itself", lambda text: text + "loop: &loop [*loop]\n", None),
])
def test_review_yaml_bombs_are_refused_quickly(project, name, edit, words):
    path = project / "reviews" / REVIEW / "review.yaml"
    path.write_text(edit(path.read_text()))
    code, text, seconds = _validate(project)
    assert code == 1 and seconds < 10, (name, seconds)
    assert "Traceback" not in text and len(text) < 2000, (name, text[:500])
    assert "lol" * 5 not in text
    if words:
        assert words in text, (name, text)


def test_a_bad_review_does_not_stop_list_or_validate_for_the_others(project):
    shutil.copytree(project / "reviews" / REVIEW, project / "reviews" / "bomb")
    path = project / "reviews" / "bomb" / "review.yaml"
    path.write_text(ALIAS_BOMB + path.read_text().replace("\ntitle: ", "\ntitle: *i\nold_title: ", 1))
    code, text, seconds = _validate(project)
    assert code == 1 and seconds < 20 and f"ok   {REVIEW}" in text and "FAIL bomb" in text
    out = io.StringIO()
    assert cmd_list(argparse.Namespace(project=str(project)), out=out) == 1
    assert "invalid" in out.getvalue() and REVIEW in out.getvalue()


@pytest.mark.parametrize("item,words", [
    ("a" * 60_000 + "=1", "too long"),
    ("title=" + "x" * 20_000, "too long"),
    ("title=[" + ALIAS_BOMB.replace("\n", ", ").rstrip(", ") + "]", None),
    ("analysis=" + "[" * 30 + "]" * 30, "more than 20 levels deep"),
])
def test_overrides_are_bounded_before_parsing(item, words):
    start = time.perf_counter()
    with pytest.raises(ReviewError) as info:
        parse_overrides([item])
    assert time.perf_counter() - start < 2
    message = str(info.value)
    assert len(message) < 600 and "..." in message
    if words:
        assert words in message
    with pytest.raises(ReviewError, match="at most 200"):
        parse_overrides(["seed=1"] * 201)


def test_label_template_format_specs_are_refused(project):
    _edit_yaml(project, 'label_template: "{author} ({year})"', 'label_template: "{author:>300000000} ({year})"')
    code, text, _ = _validate(project)
    assert code == 1 and "no format specs" in text and "Traceback" not in text


def test_infinite_minimal_important_difference_is_refused(project):
    _edit_yaml(project, "mid: 0.2", "mid: .inf")
    code, text, _ = _validate(project)
    assert code == 1 and "decision.mid" in text and "finite" in text


def test_terminal_escapes_in_a_title_are_removed(project):
    _edit_yaml(project, "title: Practice facilitation", 'title: "\\e[2J\\e[31mPractice\\x07 facilitation')
    path = project / "reviews" / REVIEW / "review.yaml"
    text = path.read_text()
    path.write_text(text.replace("guidelines in primary care\n", 'guidelines in primary care"\n', 1))
    out = io.StringIO()
    cmd_list(argparse.Namespace(project=str(project)), out=out)
    code, validated, _ = _validate(project)
    assert "Practice facilitation" in out.getvalue(), out.getvalue()
    for shown in (out.getvalue(), validated):
        assert "\x1b" not in shown and "\x07" not in shown, shown


def test_dollar_signs_in_study_labels_are_drawn_as_written():
    import matplotlib

    matplotlib.use("Agg")
    from synthesis.report.plots import forest_plot

    labels = ["Smith $x^2$ (2020)", "Jones $\\frac{1}{$ (2021)", "Lee $$ (2019)"]
    fig = forest_plot(yi=[0.1, 0.3, 0.2], vi=[0.04, 0.05, 0.03], labels=labels)
    fig.canvas.draw()  # mathtext would fail on the unbalanced label or typeset the others
    drawn = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "Smith \\$x^2\\$ (2020)" in drawn and "Lee \\$\\$ (2019)" in drawn


@pytest.mark.parametrize("review_id", ["../../elsewhere", "../reviews", "/etc", "nosuch"])
def test_diff_ids_are_validated_like_run_ids(project, review_id):
    (project / "elsewhere" / "v1").mkdir(parents=True)
    (project / "elsewhere" / "v1" / "manifest.json").write_text("{}")
    with pytest.raises(PipelineError, match="no such review"):
        cmd_diff(argparse.Namespace(id=review_id, versions=["v1", "v1"], project=str(project)))
