"""``synthesis validate`` and ``synthesis list``: the review commands of the CLI.

Each handler takes the parsed arguments (``args.ids``, ``args.project``) and
returns the exit code; user mistakes are printed as plain messages, never as
a traceback.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from synthesis.errors import ReviewError, SynthesisError
from synthesis.review.loader import REVIEWS_DIR, list_review_ids, validate_review

__all__ = ["cmd_validate", "cmd_list"]


def _reviews_root(project: str | Path) -> Path:
    root = Path(project) / REVIEWS_DIR
    if not root.is_dir():
        raise ReviewError(f"{root} not found: run the command in the project folder (the one holding "
                          f"{REVIEWS_DIR}/) or pass --project DIR")
    return root


def _wanted(args: Any) -> list[str]:
    project = getattr(args, "project", ".") or "."
    _reviews_root(project)
    ids = list(getattr(args, "ids", None) or [])
    return ids or list_review_ids(project)


def cmd_validate(args: Any, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Check review settings and study data; one line per valid review.

    Parameters
    ----------
    args : namespace
        ``ids`` (list of review ids; all reviews when empty) and ``project``
        (the project folder).
    out, err : text streams, optional
        Where the summary and the problems go (default: stdout, stderr).

    Returns
    -------
    int
        0 when every review is valid, 1 otherwise.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cmd_validate(SimpleNamespace(ids=[], project="."))  # doctest: +SKIP
    ok  practice-facilitation: 23 studies, SMD, 4 moderators, REML
    0
    """
    out, err = out or sys.stdout, err or sys.stderr
    project = getattr(args, "project", ".") or "."
    ids = _wanted(args)
    if not ids:
        print(f"no reviews in {Path(project) / REVIEWS_DIR}", file=err)
        return 1
    failed = 0
    for review_id in ids:
        try:
            review = validate_review(review_id, project)
        except SynthesisError as exc:
            failed += 1
            print(f"FAIL {review_id}:", file=err)
            for line in str(exc).splitlines():
                print(f"  {line}", file=err)
            continue
        print(f"ok   {review.summary()}", file=out)
        for note in review.notes:
            print(f"     note: {note}", file=out)
    if failed:
        print(f"{failed} of {len(ids)} review(s) have problems", file=err)
    return 1 if failed else 0


def cmd_list(args: Any, out: TextIO | None = None) -> int:
    """Print each review's id, title, number of studies and latest report version.

    Returns
    -------
    int
        0, or 1 when a review cannot be loaded (it is still listed, marked
        ``invalid``; run ``synthesis validate`` for the reasons).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cmd_list(SimpleNamespace(project="."))  # doctest: +SKIP
    id                      studies  report  title
    practice-facilitation        23  none    Practice facilitation ...
    0
    """
    from synthesis.pipeline.store import latest_version

    out = out or sys.stdout
    project = getattr(args, "project", ".") or "."
    ids = _wanted(args)
    if not ids:
        print(f"no reviews in {Path(project) / REVIEWS_DIR}", file=out)
        return 0
    rows, status = [], 0
    for review_id in ids:
        try:
            review = validate_review(review_id, project)
            studies = str(review.n_studies)
            title = review.title + (" [simulated data]" if review.spec.provenance.simulated else "")
        except SynthesisError:
            studies, title, status = "invalid", "(run `synthesis validate` for the problems)", 1
        version = latest_version(project, review_id)
        rows.append((review_id, studies, "none" if version is None else f"v{version}", title))
    header = ("id", "studies", "report", "title")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}", file=out)
    return status
