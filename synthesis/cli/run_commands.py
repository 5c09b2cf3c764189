"""Handlers of ``synthesis run`` and ``synthesis diff`` (called by :mod:`synthesis.cli.app`).

Each handler returns the exit code: 0 when everything succeeded, 1 when a
review failed (the others still run).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any, TextIO

from synthesis.pipeline import store
from synthesis.errors import PipelineError, SynthesisError

__all__ = ["cmd_run", "cmd_diff", "run_reviews"]


def _say(stream: TextIO, text: str) -> None:
    from synthesis.cli.terminal import clean

    print(clean(text, limit=2000), file=stream, flush=True)


def _resolve_ids(ids: list[str], project_dir: str) -> tuple[list[str], list[str]]:
    """Split requested ids into known ones and unknown ones (all reviews when none given)."""
    from synthesis.review.loader import list_review_ids

    known = list(list_review_ids(project_dir))
    if not ids:
        return known, []
    return [i for i in ids if i in known], [i for i in ids if i not in known]


def _run_one(plan: Any) -> Any:
    from synthesis.pipeline.publish import RunOutcome, execute_and_publish

    try:
        return execute_and_publish(plan)
    except Exception as exc:  # noqa: BLE001 - one broken review must not stop the others
        return RunOutcome(plan.review_id, "failed", message=_unexpected(exc))


def _unexpected(exc: BaseException) -> str:
    from synthesis.cli.terminal import clean

    if isinstance(exc, OSError):
        return str(store.storage_error(exc, "writing the report"))
    return clean(f"{type(exc).__name__}: {exc}", limit=300)


def run_reviews(ids: list[str], project_dir: str | os.PathLike[str] = ".", overrides: list[str] | None = None,
                jobs: int | None = None, force: bool = False, notebook: str | os.PathLike[str] | None = None,
                out: TextIO | None = None, timeout: float | None = None) -> int:
    """Run the pipeline for several reviews; print progress; return the exit code.

    Parameters
    ----------
    ids : list of str
        Review ids (empty: every review in the project).
    project_dir : path
        The project folder.
    overrides : list of str
        ``key=value`` strings from ``--set``.
    jobs : int, optional
        Parallel processes (default: number of cores).
    force : bool
        Re-execute even when the fingerprint is unchanged.
    notebook : path, optional
        Notebook to execute for every review, instead of the review's own
        ``reviews/<id>/report.ipynb`` or the project's ``notebooks/review.ipynb``.
    out : text stream, optional
        Where progress goes (default: standard output).
    timeout : float, optional
        Seconds a notebook cell may run (default
        :data:`synthesis.pipeline.plan.DEFAULT_TIMEOUT`).

    Returns
    -------
    int
        0 when every review is done, up to date or the same as an earlier
        version, 1 otherwise (also when the index page cannot be written).
    """
    from synthesis.pipeline.index import write_index
    from synthesis.pipeline.plan import DEFAULT_TIMEOUT, plan_review
    from synthesis.pipeline.verify import damaged_versions
    from synthesis.review.loader import parse_overrides

    out = out or sys.stdout
    project = str(Path(project_dir).resolve())
    if not (Path(project) / "reviews").is_dir():
        raise PipelineError(f"{project} has no reviews/ folder: run from the project folder or pass --project DIR")
    parsed = parse_overrides(list(overrides or []))
    wanted, unknown = _resolve_ids(list(ids), project)
    failed = bool(unknown)
    for review_id in unknown:
        _say(out, f"{review_id}: failed: no such review (see `synthesis list` for the review ids)")
    plans, stale_index = [], False
    for review_id in wanted:
        start = time.perf_counter()
        try:
            plan = plan_review(review_id, project, parsed, notebook)
        except SynthesisError as exc:
            failed = True
            _say(out, f"{review_id}: failed: {exc}")
            continue
        except Exception as exc:  # noqa: BLE001 - one broken review must not stop the others
            failed = True
            _say(out, f"{review_id}: failed: {_unexpected(exc)}")
            continue
        plan.timeout, plan.force = float(timeout or DEFAULT_TIMEOUT), bool(force)
        elapsed = time.perf_counter() - start
        damaged = damaged_versions(project, review_id)
        stale_index |= bool(damaged)
        if damaged:  # reported, not fatal: the run itself publishes a sound version
            _say(out, f"{review_id}: warning: {', '.join(damaged)}: modified or incomplete since publishing "
                      "(see `synthesis verify`)")
        if plan.up_to_date and not force:
            _say(out, f"{review_id}: up to date (v{plan.latest}, {elapsed:.1f} s)")
        elif plan.same_as is not None and not force:
            _say(out, f"{review_id}: same as v{plan.same_as} (same settings, data and software: "
                      f"no new version; --force publishes one, {elapsed:.1f} s)")
        else:
            plans.append(plan)
    failed |= _execute_plans(plans, jobs, out)
    if plans or stale_index or not (Path(project) / "reports" / "index.html").is_file():
        try:
            write_index(project)
        except OSError as exc:
            _say(out, f"index: failed: {store.storage_error(exc, 'writing reports/index.html')}")
            failed = True
    return 1 if failed else 0


def _report(outcome: Any, elapsed: float, out: TextIO) -> bool:
    if outcome.status == "done":
        _say(out, f"{outcome.review_id}: done v{outcome.version} ({elapsed:.1f} s)")
        return False
    if outcome.status == "same":
        _say(out, f"{outcome.review_id}: same as v{outcome.version} (published meanwhile by another run: "
                  f"no new version, {elapsed:.1f} s)")
        return False
    _say(out, f"{outcome.review_id}: failed ({elapsed:.1f} s): {outcome.message}")
    return True


def _execute_plans(plans: list[Any], jobs: int | None, out: TextIO) -> bool:
    """Execute plans (in parallel processes when useful); return whether any failed."""
    jobs = max(1, jobs or os.cpu_count() or 1)
    failed = False
    if jobs == 1 or len(plans) <= 1:
        for plan in plans:
            _say(out, f"{plan.review_id}: running")
            start = time.perf_counter()
            failed |= _report(_run_one(plan), time.perf_counter() - start, out)
        return failed
    with ProcessPoolExecutor(max_workers=min(jobs, len(plans))) as pool:
        started = {}
        for plan in plans:
            started[pool.submit(_run_one, plan)] = (plan.review_id, time.perf_counter())
            _say(out, f"{plan.review_id}: running")
        for future in as_completed(started):
            review_id, start = started[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - one broken review must not stop the others
                _say(out, f"{review_id}: failed: {_unexpected(exc)}")
                failed = True
                continue
            failed |= _report(outcome, time.perf_counter() - start, out)
    return failed


def cmd_run(args: argparse.Namespace) -> int:
    """``synthesis run [ID ...] [--set k=v ...] [--jobs N] [--force] [--timeout S] [--project DIR]``."""
    return run_reviews(list(args.ids or []), args.project, list(args.overrides or []),
                       args.jobs, bool(args.force), timeout=getattr(args, "timeout", None))


def _known_review(project: str, review_id: str) -> None:
    """Refuse an id that is not a review of this project (also ``../elsewhere``): "no such review"."""
    from synthesis.pipeline.verify import reviews_with_reports
    from synthesis.review.loader import list_review_ids

    if review_id not in set(list_review_ids(project)) | set(reviews_with_reports(project)):
        from synthesis.cli.terminal import clean

        raise PipelineError(f"no such review {clean(review_id, limit=80)!r} in {Path(project) / 'reviews'} "
                            "(see `synthesis list` for the review ids)")


def cmd_diff(args: argparse.Namespace, out: TextIO | None = None) -> int:
    """``synthesis diff ID [VA VB]``: what changed between two versions (default: the last two).

    A summary comes first (answer, certainty, headline estimate: changed or
    not), then settings, data, results (at display precision) and software.
    """
    from synthesis.cli.terminal import clean
    from synthesis.report.changes import change_summary, diff_manifests, short_hashes

    out = out or sys.stdout
    project, review_id = args.project, args.id
    _known_review(project, review_id)
    versions = store.list_versions(project, review_id)
    if args.versions:
        if len(args.versions) != 2:
            raise PipelineError("give two versions to compare (for example: synthesis diff ID v1 v2) or none")
        va, vb = (store.parse_version(v) for v in args.versions)
    else:
        if len(versions) < 2:
            have = ", ".join(f"v{n}" for n in versions) or "none"
            raise PipelineError(f"review {review_id!r} needs two published versions to compare (has: {have})")
        va, vb = versions[-2], versions[-1]
    old, new = store.read_manifest(project, review_id, va), store.read_manifest(project, review_id, vb)
    table = short_hashes(diff_manifests(old, new))
    print(f"{review_id}: v{va} -> v{vb}", file=out)
    from synthesis.pipeline.verify import damaged_versions

    for label in sorted(set(damaged_versions(project, review_id)) & {f"v{va}", f"v{vb}"}):
        print(f"  warning: {label} was modified after publishing (see `synthesis verify`)", file=out)
    for line in change_summary(old, new):
        print(f"  {clean(line)}", file=out)
    if table.empty:
        print("  no change in settings, data or results", file=out)
        return 0
    for section, rows in table.groupby("section", sort=False):
        print(f"{section}:", file=out)
        for row in rows.itertuples(index=False):
            print(f"  {clean(row.item, 120)}: {clean(row.before, 200)} -> {clean(row.after, 200)}", file=out)
    return 0
