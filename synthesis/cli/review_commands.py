"""``synthesis validate``, ``synthesis list`` and ``synthesis verify``: the review commands of the CLI.

Each handler takes the parsed arguments (``args.ids``, ``args.project``) and
returns the exit code; user mistakes are printed as plain messages, never as
a traceback. Text from review files is printed through
:func:`synthesis.cli.terminal.clean` (no escape sequences reach the terminal),
and one review that cannot be read never stops the others.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, TextIO

from synthesis.cli.terminal import clean
from synthesis.errors import ReviewError, SynthesisError
from synthesis.review.loader import REVIEWS_DIR, list_review_ids, validate_review

__all__ = ["cmd_validate", "cmd_list", "cmd_verify"]


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
        except (SynthesisError, RecursionError, MemoryError) as exc:
            failed += 1
            print(f"FAIL {clean(review_id)}:", file=err)
            for line in _problem_lines(exc):
                print(f"  {clean(line)}", file=err)
            continue
        print(f"ok   {clean(review.summary())}", file=out)
        for note in review.notes:
            print(f"     note: {clean(note)}", file=out)
    if failed:
        print(f"{failed} of {len(ids)} review(s) have problems", file=err)
    return 1 if failed else 0


def _problem_lines(exc: BaseException) -> list[str]:
    if isinstance(exc, SynthesisError):
        return str(exc).splitlines()
    return [f"cannot be read ({type(exc).__name__}): the review is too large or too deeply nested"]


def cmd_list(args: Any, out: TextIO | None = None) -> int:
    """Print each review's id, title, number of studies and latest report version.

    Returns
    -------
    int
        0, or 1 when a review cannot be loaded (it is still listed, marked
        ``invalid``; run ``synthesis validate`` for the reasons) or one of its
        versions no longer matches its record (marked ``MODIFIED``; run
        ``synthesis verify`` for the details).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> cmd_list(SimpleNamespace(project="."))  # doctest: +SKIP
    id                      studies  report  title
    practice-facilitation        23  none    Practice facilitation ...
    0
    """
    from synthesis.pipeline.store import latest_version
    from synthesis.pipeline.verify import damaged_versions

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
            title = clean(review.title, limit=120) + (" [simulated data]" if review.spec.provenance.simulated else "")
        except (SynthesisError, RecursionError, MemoryError):
            studies, title, status = "invalid", "(run `synthesis validate` for the problems)", 1
        version = latest_version(project, review_id)
        report = "none" if version is None else f"v{version}"
        damaged = damaged_versions(project, review_id)
        if damaged:
            status = 1
            report += f" MODIFIED: {', '.join(damaged)} (run `synthesis verify`)"
        rows.append((clean(review_id), studies, report, title))
    header = ("id", "studies", "report", "title")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(3)]
    for row in [header, *rows]:
        print(f"{row[0]:<{widths[0]}}  {row[1]:>{widths[1]}}  {row[2]:<{widths[2]}}  {row[3]}", file=out)
    return status


def cmd_verify(args: Any, out: TextIO | None = None) -> int:
    """Check every published version against the SHA-256 hashes recorded when it was published.

    Parameters
    ----------
    args : namespace
        ``ids`` (review ids; every review with reports when empty) and ``project``.
    out : text stream, optional
        Where the lines go (default: stdout).

    Returns
    -------
    int
        0 when every version matches its record, 1 otherwise (each mismatch is one line).

    Examples
    --------
    >>> import tempfile
    >>> from types import SimpleNamespace
    >>> cmd_verify(SimpleNamespace(ids=[], project=tempfile.mkdtemp()))
    no published reports to verify
    0
    """
    from synthesis.pipeline.verify import reviews_with_reports, verify_review

    out = out or sys.stdout
    project = getattr(args, "project", ".") or "."
    known = reviews_with_reports(project)
    ids = list(getattr(args, "ids", None) or []) or known
    if not ids:
        print("no published reports to verify", file=out)
        return 0
    bad = 0
    for review_id in ids:
        if review_id not in known:
            print(f"FAIL {clean(review_id, limit=80)}: no such review with reports (see `synthesis list`)", file=out)
            bad += 1
            continue
        for check in verify_review(project, review_id):
            if check.ok:
                note = "" if check.recorded else " (published before hashes were recorded: nothing to check)"
                print(f"ok   {review_id} {check.label}{note}", file=out)
                continue
            bad += 1
            for problem in check.problems:
                print(f"FAIL {review_id} {check.label}: {clean(problem)}", file=out)
    if bad:
        print(f"{bad} version(s) do not match their record: restore them from a backup, or delete them "
              "(their numbers are never reused)", file=out)
    return 1 if bad else 0
