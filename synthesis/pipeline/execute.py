"""Executing a review's notebook with papermill in a fresh kernel, and explaining failures.

The kernel always runs this interpreter (``sys.executable``), also in a
virtual environment, with ``MPLBACKEND=Agg`` and ``PYTHONHASHSEED=0``. A
failure becomes one short line naming the failing cell and the error, never a
traceback: the kernel process's own stderr (e.g. ipykernel's traceback when a
timeout stops it) goes to a log file (kept with a failed run's notebook), and
papermill's log stays off the terminal.

Examples
--------
>>> KERNEL_NAME
'synthesis-python3'
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthesis.errors import PipelineError

if TYPE_CHECKING:  # pragma: no cover
    from synthesis.pipeline.plan import ReviewPlan

__all__ = ["KERNEL_NAME", "ensure_kernel", "execute_notebook", "read_results", "failure_message"]

KERNEL_NAME = "synthesis-python3"


def _logged_kernel_manager(log_path: Path) -> type:
    """A jupyter kernel manager whose kernel writes its process stderr to ``log_path``."""
    from jupyter_client.manager import AsyncKernelManager

    class LoggedKernelManager(AsyncKernelManager):
        async def _async_launch_kernel(self, kernel_cmd: list[str], **kw: Any) -> None:
            with open(log_path, "ab") as log:  # the kernel holds its own copy of the descriptor
                kw["stderr"] = log
                await super()._async_launch_kernel(kernel_cmd, **kw)
    return LoggedKernelManager


def ensure_kernel() -> str:
    """Register a kernelspec running this interpreter (``sys.executable``) and return its name.

    The spec lives in a private folder added to ``JUPYTER_PATH``, so the
    kernel always uses the same Python as the pipeline, also in a venv.

    Examples
    --------
    >>> ensure_kernel()
    'synthesis-python3'
    """
    tag = hashlib.sha256(sys.executable.encode()).hexdigest()[:12]
    root = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "synthesis" / f"jupyter-{tag}"
    spec_dir = root / "kernels" / KERNEL_NAME
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}",
                     "--IPKernelApp.log_level=ERROR"],
            "display_name": "Python 3 (synthesis)", "language": "python",
            "metadata": {"supported_encryption": ["curve"]}}
    spec_file = spec_dir / "kernel.json"
    if not spec_file.is_file() or json.loads(spec_file.read_text()) != spec:
        spec_dir.mkdir(parents=True, exist_ok=True)
        tmp = spec_file.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(spec))
        os.replace(tmp, spec_file)
    paths = os.environ.get("JUPYTER_PATH", "")
    if str(root) not in paths.split(os.pathsep):
        os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in (str(root), paths) if p)
    return KERNEL_NAME


def execute_notebook(plan: ReviewPlan, out_nb: Path, results_path: Path,
                     previous: dict[str, Any] | None, kernel_log: Path | None = None) -> dict[str, float]:
    """Run the plan's notebook with papermill; return the kernel start and execution times.

    Parameters
    ----------
    plan : ReviewPlan
        From :func:`synthesis.pipeline.plan.plan_review`.
    out_nb : Path
        Where papermill writes the executed notebook (also when a cell fails).
    results_path : Path
        Passed to the notebook, which writes its results there as JSON.
    previous : dict or None
        The previous version's manifest (for the "what changed" section).
    kernel_log : Path, optional
        Where the kernel process's own stderr goes (default: ``kernel.log`` beside
        ``out_nb``); never the terminal.

    Returns
    -------
    dict
        ``kernel_start`` and ``execution`` in seconds.

    Raises
    ------
    papermill.exceptions.PapermillExecutionError
        When a cell raises (see :func:`failure_message`).
    TimeoutError
        When a cell runs longer than ``plan.timeout`` seconds.

    Examples
    --------
    >>> execute_notebook(plan, Path("out.ipynb"), Path("results.json"), None)  # doctest: +SKIP
    {'kernel_start': 1.2, 'execution': 8.5}
    """
    import papermill

    from synthesis.pipeline.executors import SCHEDULER_VARIABLE

    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PYTHONHASHSEED"] = "0"
    # never nested: a review running on a Dask worker that waited for its grid's tasks on the same
    # cluster would hold the worker's only slot (two reviews on two workers deadlocked the cluster)
    os.environ.pop(SCHEDULER_VARIABLE, None)
    params = {"review_id": plan.review_id, "project_dir": plan.project_dir, "overrides": plan.overrides,
              "results_path": str(results_path), "manifest_draft": plan.manifest_draft,
              "previous_manifest": previous}
    logging.getLogger("papermill").addHandler(logging.NullHandler())  # failures are reported by us, in one line
    start = time.perf_counter()
    try:
        nb = papermill.execute_notebook(plan.notebook, str(out_nb), parameters=params,
                                        kernel_name=ensure_kernel(), progress_bar=False,
                                        log_output=False, cwd=plan.project_dir,
                                        execution_timeout=getattr(plan, "timeout", None),
                                        kernel_manager_class=_logged_kernel_manager(
                                            kernel_log or Path(out_nb).with_name("kernel.log")))
    finally:
        wall = time.perf_counter() - start
    cells = sum(float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in nb.cells)
    return {"kernel_start": round(max(wall - cells, 0.0), 3), "execution": round(cells, 3)}


def read_results(results_path: Path) -> dict[str, Any]:
    """The results JSON the notebook wrote to ``results_path``.

    Raises
    ------
    PipelineError
        When the notebook wrote nothing there, or not valid JSON.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "results.json"
    >>> _ = p.write_text('{"answer": "yes"}')
    >>> read_results(p)
    {'answer': 'yes'}
    """
    if not results_path.is_file():
        raise PipelineError(f"the notebook finished but wrote no results to results_path ({results_path})")
    try:
        return json.loads(results_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"results written by the notebook are not valid JSON: {exc}") from exc


def failure_message(exc: Exception, kept: Path, timeout: float | None = None) -> str:
    """One short line: the failing cell's first line and the error (no traceback).

    Parameters
    ----------
    exc : Exception
        What execution raised.
    kept : Path
        Folder where the executed notebook was kept.
    timeout : float, optional
        The cell timeout in force (named when a cell ran out of time).

    Examples
    --------
    >>> failure_message(PipelineError("no results"), Path("reports/r/failed/x"))
    'no results (executed notebook kept in reports/r/failed/x)'
    >>> failure_message(TimeoutError("Cell execution timed out"), Path("f"), 5)
    'a cell ran longer than the 5 s timeout and was stopped; raise it with --timeout SECONDS if the review needs longer (executed notebook kept in f)'
    """
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PipelineError):
        return f"{exc} (executed notebook kept in {kept})"
    if isinstance(exc, TimeoutError):
        limit = f"the {timeout:g} s timeout" if timeout else "its timeout"
        return (f"a cell ran longer than {limit} and was stopped; raise it with --timeout SECONDS if the review "
                f"needs longer (executed notebook kept in {kept})")
    if not isinstance(exc, PapermillExecutionError):
        return (f"the notebook could not be executed ({type(exc).__name__}: {str(exc).strip()[:200]}); "
                f"is ipykernel installed for {sys.executable}? (details in {kept})")
    first_line = next((line for line in str(exc.source).splitlines() if line.strip()), "").strip()
    evalue = str(exc.evalue).strip().splitlines()
    evalue_text = evalue[0][:200] if evalue else ""
    return (f"cell [{exc.exec_count}] `{first_line[:80]}` raised {exc.ename}: {evalue_text} "
            f"(executed notebook kept in {kept})")
