"""Handlers of ``synthesis run`` and ``synthesis diff`` (called by :mod:`synthesis.cli.app`).

Each handler returns the exit code: 0 when everything succeeded, 1 when a
review failed (the others still run).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from synthesis.cli.progress import Progress
from synthesis.pipeline import store
from synthesis.errors import PipelineError, SynthesisError

__all__ = ["cmd_run", "cmd_diff", "run_reviews"]


def _resolve_ids(ids: list[str], project_dir: str) -> tuple[list[str], list[str]]:
    """Split requested ids into known ones and unknown ones (all reviews when none given)."""
    from synthesis.review.folders import list_review_ids

    known = list(list_review_ids(project_dir))
    if not ids:
        return known, []
    return [i for i in ids if i in known], [i for i in ids if i not in known]


def _parse_overrides(items: list[str]) -> dict[str, Any]:
    if not items:  # no --set: the review loader (pandas, pydantic) is not needed yet
        return {}
    from synthesis.review.loader import parse_overrides

    return parse_overrides(items)


def _run_one(plan: Any) -> Any:
    """The task sent to a worker (a local process or a Dask worker): one review, plan to published version."""
    from functools import partial

    from synthesis.pipeline.executors import report_stage
    from synthesis.pipeline.publish import RunOutcome, execute_and_publish

    if not (Path(plan.project_dir) / "reviews").is_dir():
        import socket

        return RunOutcome(plan.review_id, "failed",
                          message=f"the project folder {plan.project_dir} is not visible on the worker "
                                  f"({socket.gethostname()}): Dask workers need the project at the same path")
    try:
        return execute_and_publish(plan, on_stage=partial(report_stage, plan.review_id))
    except Exception as exc:  # noqa: BLE001 - one broken review must not stop the others
        return RunOutcome(plan.review_id, "failed", message=_unexpected(exc))


def _unexpected(exc: BaseException) -> str:
    from synthesis.cli.terminal import clean

    if isinstance(exc, OSError):
        return str(store.storage_error(exc, "writing the report"))
    return clean(f"{type(exc).__name__}: {exc}", limit=300)


def run_reviews(ids: list[str], project_dir: str | os.PathLike[str] = ".", overrides: list[str] | None = None,
                jobs: int | None = None, force: bool = False, notebook: str | os.PathLike[str] | None = None,
                out: TextIO | None = None, timeout: float | None = None, scheduler: str | None = None) -> int:
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
        Parallel processes (default: number of cores; ignored with ``scheduler``).
    force : bool
        Re-execute even when the fingerprint is unchanged.
    notebook : path, optional
        Notebook to execute for every review, instead of the review's own
        ``reviews/<id>/report.ipynb`` or the project's ``notebooks/review.ipynb``.
    out : text stream, optional
        Where progress goes (default: standard output): on a terminal a live
        line per review (stage, elapsed seconds), elsewhere only the final lines.
    timeout : float, optional
        Seconds a notebook cell may run (default
        :data:`synthesis.pipeline.plan.DEFAULT_TIMEOUT`).
    scheduler : str, optional
        Address (``tcp://host:port``) or scheduler file of an existing Dask
        cluster to execute the reviews on; its workers need ``synthesis`` and
        the project folder at the same path. Default: local processes.

    Returns
    -------
    int
        0 when every review is done, up to date or the same as an earlier
        version, 1 otherwise (also when the index page cannot be written).

    Raises
    ------
    PipelineError
        When the Dask scheduler cannot be reached (nothing executed).

    Examples
    --------
    >>> import io, tempfile
    >>> try:
    ...     run_reviews([], tempfile.mkdtemp(), out=io.StringIO())
    ... except PipelineError as exc:
    ...     print(str(exc).split(": ", 1)[0].endswith("has no reviews/ folder"))
    True
    """
    progress = Progress(out or sys.stdout)
    try:
        return _run_reviews(list(ids), str(Path(project_dir).resolve()), list(overrides or []), jobs, force,
                            notebook, progress, timeout, scheduler)
    finally:
        progress.close()


def _run_reviews(ids: list[str], project: str, overrides: list[str], jobs: int | None, force: bool,
                 notebook: str | os.PathLike[str] | None, progress: Progress, timeout: float | None,
                 scheduler: str | None) -> int:
    from synthesis.pipeline.plan import DEFAULT_TIMEOUT, plan_review, unchanged_version
    from synthesis.pipeline.verify import damaged_versions

    if not (Path(project) / "reviews").is_dir():
        raise PipelineError(f"{project} has no reviews/ folder: run from the project folder or pass --project DIR")
    parsed = _parse_overrides(overrides)
    wanted, unknown = _resolve_ids(ids, project)
    failed = bool(unknown)
    for review_id in unknown:
        progress.say(f"{review_id}: failed: no such review (see `synthesis list` for the review ids)", key=review_id)
    plans, stale_index = [], False
    for review_id in wanted:
        start = time.perf_counter()
        progress.stage(review_id, "planning")
        damaged = damaged_versions(project, review_id)
        stale_index |= bool(damaged)
        if damaged:  # reported, not fatal: the run itself publishes a sound version
            progress.say(f"{review_id}: warning: {', '.join(damaged)}: modified or incomplete since publishing "
                         "(see `synthesis verify`)")
        quick = None if (parsed or notebook is not None or force or damaged) else unchanged_version(review_id, project)
        if quick is not None:  # nothing it was made from changed: no need to load the review
            progress.say(f"{review_id}: up to date (v{quick}, {time.perf_counter() - start:.1f} s)", key=review_id)
            continue
        try:
            plan = plan_review(review_id, project, parsed, notebook)
        except SynthesisError as exc:
            failed = True
            progress.say(f"{review_id}: failed: {exc}", key=review_id)
            continue
        except Exception as exc:  # noqa: BLE001 - one broken review must not stop the others
            failed = True
            progress.say(f"{review_id}: failed: {_unexpected(exc)}", key=review_id)
            continue
        plan.timeout, plan.force = float(timeout or DEFAULT_TIMEOUT), bool(force)
        elapsed = time.perf_counter() - start
        if plan.up_to_date and not force:
            progress.say(f"{review_id}: up to date (v{plan.latest}, {elapsed:.1f} s)", key=review_id)
        elif plan.same_as is not None and not force:
            progress.say(f"{review_id}: same as v{plan.same_as} (same settings, data and software: "
                         f"no new version; --force publishes one, {elapsed:.1f} s)", key=review_id)
        else:
            progress.stage(review_id, "queued")
            plans.append(plan)
    failed |= _execute_plans(plans, jobs, scheduler, progress)
    if plans or stale_index or not (Path(project) / "reports" / "index.html").is_file():
        from synthesis.pipeline.index import write_index

        try:
            write_index(project)
        except OSError as exc:
            progress.say(f"index: failed: {store.storage_error(exc, 'writing reports/index.html')}")
            failed = True
    return 1 if failed else 0


def _report(outcome: Any, elapsed: float, progress: Progress) -> bool:
    key = outcome.review_id
    if outcome.status == "done":
        progress.say(f"{key}: done v{outcome.version} ({elapsed:.1f} s)", key=key)
        return False
    if outcome.status == "same":
        progress.say(f"{key}: same as v{outcome.version} (published meanwhile by another run: "
                     f"no new version, {elapsed:.1f} s)", key=key)
        return False
    progress.say(f"{key}: failed ({elapsed:.1f} s): {outcome.message}", key=key)
    return True


def _execute_plans(plans: list[Any], jobs: int | None, scheduler: str | None, progress: Progress) -> bool:
    """Execute plans (local processes, or the Dask cluster at ``scheduler``); return whether any failed."""
    if not plans:
        return False
    from synthesis.pipeline.executors import describe_failure, run_tasks

    started: dict[str, float] = {}

    def on_stage(key: str, stage: str) -> None:
        if stage != "queued":  # the clock starts when a worker takes the review, as each line's seconds say
            started.setdefault(key, time.perf_counter())
        progress.stage(key, stage)

    submitted, failed = time.perf_counter(), False
    for done in run_tasks(_run_one, plans, [plan.review_id for plan in plans], jobs=jobs, scheduler=scheduler,
                          on_stage=on_stage, on_tick=progress.tick):
        elapsed = time.perf_counter() - started.get(done.key, submitted)
        if done.error is None:
            failed |= _report(done.value, elapsed, progress)
        else:  # the worker died, the cluster went away, or the plan could not be sent
            reason = describe_failure(done.error) or _unexpected(done.error)
            progress.say(f"{done.key}: failed ({elapsed:.1f} s): {reason}", key=done.key)
            failed = True
    return failed


def cmd_run(args: argparse.Namespace) -> int:
    """``synthesis run [ID ...] [--set k=v ...] [--jobs N] [--scheduler ADDRESS] [--force] [--timeout S] [--project DIR]``."""
    return run_reviews(list(args.ids or []), args.project, list(args.overrides or []),
                       args.jobs, bool(args.force), timeout=getattr(args, "timeout", None),
                       scheduler=getattr(args, "scheduler", None))


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
