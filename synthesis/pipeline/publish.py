"""One review from plan to published version: execute, render, publish atomically.

:func:`execute_and_publish` runs the plan's notebook in a fresh kernel
(:mod:`synthesis.pipeline.execute`), renders two self-contained HTML pages
(:mod:`synthesis.pipeline.render`) and publishes ``reports/<id>/v<N>/`` through
the store (:mod:`synthesis.pipeline.store`). A failed run publishes nothing and
never touches an earlier version: the executed notebook is kept under
``reports/<id>/failed/<timestamp>/``.

Examples
--------
>>> RunOutcome("r", "done", version=2)
RunOutcome(review_id='r', status='done', version=2, message='', durations={})
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from collections.abc import Callable
from typing import Any

from synthesis.errors import PipelineError, SynthesisError
from synthesis.pipeline import store
from synthesis.pipeline.store import STORAGE_ERRNOS
from synthesis.pipeline.execute import execute_notebook, failure_message, read_results
from synthesis.pipeline.plan import ReviewPlan, changed_inputs
from synthesis.pipeline.render import render_html

__all__ = ["RunOutcome", "execute_and_publish", "build_manifest", "STALE_MARGIN"]

#: seconds beyond the cell timeout after which a ``.tmp-*`` folder is a killed run's leftover
STALE_MARGIN = 3600.0


@dataclass
class RunOutcome:
    """Result of executing one review: ``status`` is ``done``, ``same`` or ``failed``.

    Attributes
    ----------
    review_id : str
    status : str
        ``"done"`` (a new version), ``"same"`` (a version with the same
        fingerprint exists: nothing published) or ``"failed"``.
    version : int or None
        The published (or equal) version (``None`` when failed).
    message : str
        One line saying why it failed.
    durations : dict
        Seconds spent: ``kernel_start``, ``execution``, ``rendering``, ``total``.

    Examples
    --------
    >>> RunOutcome("r", "failed", message="cell [3] raised ValueError").version is None
    True
    """

    review_id: str
    status: str
    version: int | None = None
    message: str = ""
    durations: dict[str, float] = field(default_factory=dict)


def execute_and_publish(plan: ReviewPlan, on_stage: Callable[[str], None] | None = None) -> RunOutcome:
    """Execute the notebook for one review in a fresh kernel, render and publish ``v<N>``.

    The whole run holds the review's lock, and under it the fingerprint is
    checked again and the version label fixed: two concurrent runs with the
    same settings publish one version (the second finds it), two with
    different settings publish v1 and v2, each page naming its own version and
    the one before. Input files are hashed again after execution and the run
    fails when one changed meanwhile.

    Parameters
    ----------
    plan : ReviewPlan
        From :func:`synthesis.pipeline.plan.plan_review`.
    on_stage : callable, optional
        Called with ``"executing"``, ``"rendering"`` and ``"publishing"`` as
        the run reaches each stage (for a progress line).

    Returns
    -------
    RunOutcome
        ``done`` with the version number; ``same`` with the version that
        already has this fingerprint (nothing executed); or ``failed`` with a
        one-line message: a failed execution publishes nothing (the executed
        notebook, with papermill's error banner, is kept under
        ``reports/<id>/failed/<timestamp>/``) and a read-only or full disk is
        reported, not raised.

    Examples
    --------
    >>> from synthesis.pipeline.plan import plan_review
    >>> execute_and_publish(plan_review("practice-facilitation", "."))  # doctest: +SKIP
    RunOutcome(review_id='practice-facilitation', status='done', version=1, ...)
    """
    start = time.perf_counter()
    project, review_id = plan.project_dir, plan.review_id
    stage = on_stage or (lambda name: None)
    try:
        with store.review_lock(project, review_id):
            store.clean_stale(project, review_id, older_than=plan.timeout + STALE_MARGIN)
            same = None if plan.force else store.find_version(project, review_id, plan.fingerprint)
            if same is not None:
                return RunOutcome(review_id, "same", version=same,
                                  durations={"total": round(time.perf_counter() - start, 3)})
            stage("executing")
            return _run_locked(plan, start, stage)
    except OSError as exc:
        return RunOutcome(review_id, "failed", message=str(store.storage_error(exc, "writing the report")),
                          durations={"total": round(time.perf_counter() - start, 3)})
    except SynthesisError as exc:
        return RunOutcome(review_id, "failed", message=str(exc),
                          durations={"total": round(time.perf_counter() - start, 3)})


def _previous(project: str, review_id: str) -> tuple[int | None, dict[str, Any] | None]:
    """The newest version whose manifest can be read (a damaged one is skipped: `synthesis verify` names it)."""
    for number in reversed(store.list_versions(project, review_id)):
        try:
            return number, store.read_manifest(project, review_id, number)
        except PipelineError:
            continue
    return None, None


def _run_locked(plan: ReviewPlan, start: float, stage: Callable[[str], None]) -> RunOutcome:
    project, review_id = plan.project_dir, plan.review_id
    number = store.next_version(project, review_id)
    latest, previous = _previous(project, review_id)
    plan.manifest_draft.update(created_at=datetime.now(timezone.utc).replace(microsecond=0).isoformat(),
                               version_label=f"v{number}", previous_version=latest)
    staged = store.staging_dir(project, review_id)
    executed = staged / "report.ipynb"
    results_path = staged / "results.json"
    kernel_log = staged / "kernel.log"  # the kernel process's stderr: kept with a failure, else dropped
    try:
        durations = execute_notebook(plan, executed, results_path, previous, kernel_log)
        results = read_results(results_path)
        changed = changed_inputs(plan)
        if changed:
            raise PipelineError(f"{', '.join(changed)} changed during the run, so the report could mix two "
                                "versions of the input; nothing was published: run again")
    except Exception as exc:  # noqa: BLE001 - any execution failure is reported; other reviews carry on
        if isinstance(exc, OSError) and not isinstance(exc, TimeoutError) and exc.errno in STORAGE_ERRNOS:
            store.discard(staged)
            raise  # a read-only or full disk: one line from execute_and_publish, nothing to keep
        try:
            kept = store.failed_dir(project, review_id)
            if executed.is_file():
                os.replace(executed, kept / "report.ipynb")
            if kernel_log.is_file() and kernel_log.stat().st_size:
                os.replace(kernel_log, kept / "kernel.log")
        finally:
            store.discard(staged)
        return RunOutcome(review_id, "failed", message=failure_message(exc, kept, plan.timeout),
                          durations={"total": round(time.perf_counter() - start, 3)})
    except BaseException:
        store.discard(staged)
        raise
    try:
        stage("rendering")
        t0 = time.perf_counter()
        title = plan.manifest_draft.get("title") or review_id
        render_html(executed, staged / "report.html", report=True, title=title)
        render_html(executed, staged / "analysis.html", report=False, title=f"{title} (analysis)")
        durations["rendering"] = round(time.perf_counter() - t0, 3)
        results_path.unlink()
        kernel_log.unlink(missing_ok=True)
        durations["total"] = round(time.perf_counter() - start, 3)
        stage("publishing")
        version = store.publish_locked(project, review_id, staged, build_manifest(plan, results, durations), number)
    except BaseException:
        store.discard(staged)
        raise
    return RunOutcome(review_id, "done", version=version, durations=durations)


def build_manifest(plan: ReviewPlan, results: dict[str, Any], durations: dict[str, float]) -> dict[str, Any]:
    """The manifest of a run: the plan's draft plus the notebook's results and the timings.

    Examples
    --------
    >>> plan = ReviewPlan("r", "/p", {}, "nb.ipynb", "f", None, False, {"review_id": "r"})
    >>> m = build_manifest(plan, {"answer": "yes", "diagnostics": {"ok": True}}, {"total": 1.0})
    >>> m["answer"], m["diagnostics"], m["simulated"]
    ('yes', {'ok': True, 'messages': []}, False)
    """
    manifest = dict(plan.manifest_draft)
    diagnostics = results.get("diagnostics") or {}
    manifest.update({
        "simulated": bool(results.get("simulated", manifest.get("simulated", False))),
        "answer": results.get("answer"),
        "certainty": results.get("certainty"),
        "headline": results.get("headline") or {},
        "diagnostics": {"ok": bool(diagnostics.get("ok", False)), "messages": list(diagnostics.get("messages", []))},
        "results": results,
        "durations": durations,
    })
    return manifest
