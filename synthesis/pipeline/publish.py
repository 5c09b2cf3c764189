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
from typing import Any

from synthesis.pipeline import store
from synthesis.pipeline.execute import execute_notebook, failure_message, read_results
from synthesis.pipeline.plan import ReviewPlan
from synthesis.pipeline.render import render_html

__all__ = ["RunOutcome", "execute_and_publish", "build_manifest"]


@dataclass
class RunOutcome:
    """Result of executing one review: ``status`` is ``done`` or ``failed``.

    Attributes
    ----------
    review_id : str
    status : str
        ``"done"`` or ``"failed"``.
    version : int or None
        The published version (``None`` when failed).
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


def execute_and_publish(plan: ReviewPlan) -> RunOutcome:
    """Execute the notebook for one review in a fresh kernel, render and publish ``v<N>``.

    Parameters
    ----------
    plan : ReviewPlan
        From :func:`synthesis.pipeline.plan.plan_review`.

    Returns
    -------
    RunOutcome
        ``done`` with the version number, or ``failed`` with a one-line message;
        a failed execution publishes nothing (the executed notebook, with
        papermill's error banner, is kept under ``reports/<id>/failed/<timestamp>/``).

    Examples
    --------
    >>> from synthesis.pipeline.plan import plan_review
    >>> execute_and_publish(plan_review("practice-facilitation", "."))  # doctest: +SKIP
    RunOutcome(review_id='practice-facilitation', status='done', version=1, ...)
    """
    start = time.perf_counter()
    project, review_id = plan.project_dir, plan.review_id
    staged = store.staging_dir(project, review_id)
    executed = staged / "report.ipynb"
    results_path = staged / "results.json"
    previous = store.read_manifest(project, review_id, plan.latest) if plan.latest else None
    created = datetime.now(timezone.utc).replace(microsecond=0).isoformat()
    plan.manifest_draft["created_at"] = created
    plan.manifest_draft["version_label"] = f"v{(plan.latest or 0) + 1}"
    try:
        durations = execute_notebook(plan, executed, results_path, previous)
        results = read_results(results_path)
    except Exception as exc:  # noqa: BLE001 - any execution failure is reported; other reviews carry on
        kept = store.failed_dir(project, review_id)
        if executed.is_file():
            os.replace(executed, kept / "report.ipynb")
        store.discard(staged)
        return RunOutcome(review_id, "failed", message=failure_message(exc, kept),
                          durations={"total": round(time.perf_counter() - start, 3)})
    except BaseException:
        store.discard(staged)
        raise
    try:
        t0 = time.perf_counter()
        title = plan.manifest_draft.get("title") or review_id
        render_html(executed, staged / "report.html", report=True, title=title)
        render_html(executed, staged / "analysis.html", report=False, title=f"{title} (analysis)")
        durations["rendering"] = round(time.perf_counter() - t0, 3)
        results_path.unlink()
        durations["total"] = round(time.perf_counter() - start, 3)
        version = store.publish(project, review_id, staged, build_manifest(plan, results, durations))
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
