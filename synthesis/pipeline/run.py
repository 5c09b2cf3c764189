"""The report pipeline: fingerprint, execute, render, publish, index.

One review goes through :func:`plan_review` (cheap: loads the review and
computes its fingerprint; no kernel, no PyMC, no matplotlib) and, when the
fingerprint differs from the latest published version's, through
:func:`execute_and_publish` (papermill in a fresh kernel, nbconvert to two
self-contained HTML files, atomic publish via :mod:`synthesis.pipeline.store`).
What changed between versions is :func:`synthesis.report.changes.diff_manifests`.
"""
from __future__ import annotations

import hashlib
import html
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthesis.pipeline import store
from synthesis.errors import PipelineError

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

__all__ = [
    "KEY_PACKAGES",
    "ReviewPlan",
    "RunOutcome",
    "find_notebook",
    "notebook_hash",
    "package_source_hash",
    "dependency_versions",
    "file_sha256",
    "compute_fingerprint",
    "plan_review",
    "execute_and_publish",
    "render_html",
    "write_index",
]

KEY_PACKAGES = ("numpy", "scipy", "pandas", "pydantic", "pymc", "pytensor", "arviz",
                "matplotlib", "papermill", "nbconvert", "ipykernel")
PACKAGE_DIR = Path(__file__).resolve().parent
TEMPLATES_DIR = PACKAGE_DIR / "templates"
REPORT_CSS = PACKAGE_DIR.parent / "report" / "templates" / "report.css"
KERNEL_NAME = "synthesis-python3"
# tags of cells that report.html drops entirely
REPORT_REMOVE_TAGS = frozenset({"analyst", "parameters", "injected-parameters"})


# ---------------------------------------------------------------- fingerprint
def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file's bytes.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.NamedTemporaryFile(delete=False) as f:
    ...     _ = f.write(b"abc")
    >>> file_sha256(f.name)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str).encode("utf-8")


def find_notebook(project_dir: str | os.PathLike[str]) -> Path:
    """The review notebook: ``<project>/notebooks/review.ipynb``.

    Raises
    ------
    PipelineError
        When the project has no notebook.

    Examples
    --------
    >>> import tempfile
    >>> try:
    ...     find_notebook(tempfile.mkdtemp())
    ... except Exception as exc:
    ...     print(type(exc).__name__)
    PipelineError
    """
    path = Path(project_dir) / "notebooks" / "review.ipynb"
    if not path.is_file():
        raise PipelineError(f"{path} not found: the project folder needs notebooks/review.ipynb "
                            "(run from the project folder or pass --project DIR)")
    return path


def notebook_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 over a notebook's cell types, tags and sources (not outputs or metadata).

    Examples
    --------
    >>> import tempfile, json
    >>> nb = {"cells": [{"cell_type": "code", "source": "1", "metadata": {}, "outputs": [1]}]}
    >>> p = tempfile.mktemp(suffix=".ipynb"); _ = open(p, "w").write(json.dumps(nb))
    >>> nb["cells"][0]["outputs"] = []; q = tempfile.mktemp(); _ = open(q, "w").write(json.dumps(nb))
    >>> notebook_hash(p) == notebook_hash(q)
    True
    """
    try:
        cells = json.loads(Path(path).read_text(encoding="utf-8"))["cells"]
    except (OSError, ValueError, KeyError) as exc:
        raise PipelineError(f"{path}: not a readable notebook ({exc})") from exc
    content = [
        {
            "type": cell.get("cell_type"),
            "tags": sorted(cell.get("metadata", {}).get("tags", [])),
            "source": "".join(cell.get("source", "")),
        }
        for cell in cells
    ]
    return hashlib.sha256(_canonical(content)).hexdigest()


@lru_cache(maxsize=1)
def package_source_hash() -> str:
    """SHA-256 over the ``synthesis`` package's source, data and template files.

    Examples
    --------
    >>> len(package_source_hash())
    64
    """
    digest = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        digest.update(path.relative_to(PACKAGE_DIR).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@lru_cache(maxsize=1)
def dependency_versions() -> dict[str, str]:
    """Versions of Python and the key dependencies (no imports; package metadata only).

    Examples
    --------
    >>> "python" in dependency_versions() and "numpy" in dependency_versions()
    True
    """
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for name in KEY_PACKAGES + ("synthesis",):
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def compute_fingerprint(settings: dict[str, Any], data: dict[str, str], notebook: str,
                        package: str, dependencies: dict[str, str]) -> str:
    """SHA-256 over the canonical JSON of everything that determines a report.

    Parameters
    ----------
    settings : dict
        Resolved review settings (overrides applied).
    data : dict
        Data file name -> SHA-256 of its bytes.
    notebook, package : str
        :func:`notebook_hash`, :func:`package_source_hash`.
    dependencies : dict
        :func:`dependency_versions`.

    Examples
    --------
    >>> a = compute_fingerprint({"seed": 1}, {}, "n", "p", {})
    >>> a == compute_fingerprint({"seed": 1}, {}, "n", "p", {}), a == compute_fingerprint({"seed": 2}, {}, "n", "p", {})
    (True, False)
    """
    payload = {"settings": settings, "data": data, "notebook": notebook,
               "package": package, "dependencies": dependencies}
    return hashlib.sha256(_canonical(payload)).hexdigest()


# ---------------------------------------------------------------- planning
@dataclass
class ReviewPlan:
    """Everything known about one review before execution.

    Attributes
    ----------
    review_id, project_dir : str
    overrides : dict
        Parsed ``--set`` overrides (dotted key -> value).
    notebook : str
        Path of the notebook to execute.
    fingerprint : str
    latest : int or None
        Latest published version.
    up_to_date : bool
        The latest version has the same fingerprint.
    manifest_draft : dict
        Manifest fields known before execution.
    """

    review_id: str
    project_dir: str
    overrides: dict[str, Any]
    notebook: str
    fingerprint: str
    latest: int | None
    up_to_date: bool
    manifest_draft: dict[str, Any] = field(default_factory=dict)


def _load_review(review_id: str, project_dir: str, overrides: dict[str, Any]) -> Any:
    from synthesis.review.loader import load_review

    return load_review(review_id, project_dir, overrides)


def _data_hashes(review: Any, project_dir: str) -> dict[str, str]:
    hashes = {}
    for path in sorted(Path(p) for p in review.data_files):
        try:
            name = path.resolve().relative_to(Path(project_dir).resolve()).as_posix()
        except ValueError:
            name = path.as_posix()
        hashes[name] = file_sha256(path)
    return hashes


def plan_review(review_id: str, project_dir: str | os.PathLike[str], overrides: dict[str, Any] | None = None,
                notebook: str | os.PathLike[str] | None = None) -> ReviewPlan:
    """Load and validate a review and compute its fingerprint (no kernel started).

    Raises
    ------
    ReviewError
        When the review or an override is invalid.
    PipelineError
        When the notebook is missing.
    """
    project = str(Path(project_dir).resolve())
    overrides = dict(overrides or {})
    nb_path = Path(notebook) if notebook is not None else find_notebook(project)
    review = _load_review(review_id, project, overrides)
    settings = review.settings()
    data = _data_hashes(review, project)
    parts = {"notebook": notebook_hash(nb_path), "package": package_source_hash(),
             "dependencies": dependency_versions()}
    fingerprint = compute_fingerprint(settings, data, parts["notebook"], parts["package"], parts["dependencies"])
    latest = store.latest_version(project, review_id)
    up_to_date = False
    if latest is not None:
        up_to_date = store.read_manifest(project, review_id, latest).get("fingerprint") == fingerprint
    provenance = settings.get("provenance") or {}
    draft = {
        "review_id": review_id,
        "title": settings.get("title"),
        "fingerprint": fingerprint,
        "settings": settings,
        "data": data,
        "overrides": overrides,
        "seed": getattr(getattr(review, "spec", None), "seed", settings.get("seed")),
        "simulated": bool(provenance.get("simulated", False)),
        "notebook_sha256": parts["notebook"],
        "package_sha256": parts["package"],
        "python": sys.version.split()[0],
        "packages": parts["dependencies"],
        "platform": platform.platform(),
        "previous_version": latest,
    }
    return ReviewPlan(review_id, project, overrides, str(nb_path), fingerprint, latest, up_to_date, draft)


# ---------------------------------------------------------------- execution
@dataclass
class RunOutcome:
    """Result of executing one review: ``status`` is ``done`` or ``failed``."""

    review_id: str
    status: str
    version: int | None = None
    message: str = ""
    durations: dict[str, float] = field(default_factory=dict)


def _ensure_kernel() -> str:
    """Register a kernelspec running this interpreter (``sys.executable``) and return its name.

    The spec lives in a private folder added to ``JUPYTER_PATH``, so the
    kernel always uses the same Python as the pipeline, also in a venv.
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


def _failure_message(exc: Exception, kept: Path) -> str:
    """One short line: the failing cell's first line and the error (no traceback)."""
    from papermill.exceptions import PapermillExecutionError

    if isinstance(exc, PipelineError):
        return f"{exc} (executed notebook kept in {kept})"
    if not isinstance(exc, PapermillExecutionError):
        return (f"the notebook could not be executed ({type(exc).__name__}: {str(exc).strip()[:200]}); "
                f"is ipykernel installed for {sys.executable}? (details in {kept})")
    first_line = next((line for line in str(exc.source).splitlines() if line.strip()), "").strip()
    evalue = str(exc.evalue).strip().splitlines()
    evalue_text = evalue[0] if evalue else ""
    return (f"cell [{exc.exec_count}] `{first_line[:80]}` raised {exc.ename}: {evalue_text} "
            f"(executed notebook kept in {kept})")


def _execute(plan: ReviewPlan, out_nb: Path, results_path: Path, previous: dict | None) -> dict[str, float]:
    import papermill

    os.environ["MPLBACKEND"] = "Agg"
    os.environ["PYTHONHASHSEED"] = "0"
    params = {"review_id": plan.review_id, "project_dir": plan.project_dir, "overrides": plan.overrides,
              "results_path": str(results_path), "manifest_draft": plan.manifest_draft,
              "previous_manifest": previous}
    start = time.perf_counter()
    try:
        nb = papermill.execute_notebook(plan.notebook, str(out_nb), parameters=params,
                                        kernel_name=_ensure_kernel(), progress_bar=False,
                                        log_output=False, cwd=plan.project_dir)
    finally:
        wall = time.perf_counter() - start
    cells = sum(float(c.get("metadata", {}).get("papermill", {}).get("duration") or 0.0) for c in nb.cells)
    return {"kernel_start": round(max(wall - cells, 0.0), 3), "execution": round(cells, 3)}


def _template_dirs() -> list[str]:
    """Our template folder; in a venv made with system packages, also expose nbconvert's
    templates installed under the base interpreter's prefix (via ``JUPYTER_PATH``)."""
    base = Path(sys.base_prefix) / "share" / "jupyter"
    if Path(sys.prefix) != Path(sys.base_prefix) and (base / "nbconvert" / "templates").is_dir():
        paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
        if str(base) not in paths:
            os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in paths + [str(base)] if p)
    return [str(TEMPLATES_DIR)]


def render_html(executed: Path, out_path: Path, *, report: bool, title: str | None = None) -> None:
    """Render an executed notebook to self-contained HTML.

    Parameters
    ----------
    executed : Path
        The executed notebook.
    out_path : Path
        Where to write the HTML.
    report : bool
        ``True`` for the policymaker version (no code, no prompts, cells
        tagged ``analyst``/``parameters`` removed); ``False`` for the
        analyst version with every cell and its code.
    title : str, optional
        The page title.
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(executed), as_version=4)
    if title:
        nb.metadata["title"] = title
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=_template_dirs(),
                            embed_images=True, exclude_anchor_links=True)
    if report:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
        remover = TagRemovePreprocessor(remove_cell_tags=set(REPORT_REMOVE_TAGS), enabled=True)
        exporter.register_preprocessor(remover, enabled=True)
    resources = {"synthesis_css": REPORT_CSS.read_text(encoding="utf-8") if REPORT_CSS.is_file() else ""}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    out_path.write_text(body, encoding="utf-8")


def _read_results(results_path: Path) -> dict[str, Any]:
    if not results_path.is_file():
        raise PipelineError(f"the notebook finished but wrote no results to results_path ({results_path})")
    try:
        return json.loads(results_path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"results written by the notebook are not valid JSON: {exc}") from exc


def execute_and_publish(plan: ReviewPlan) -> RunOutcome:
    """Execute the notebook for one review in a fresh kernel, render and publish ``v<N>``.

    A failed execution publishes nothing: the executed notebook (with
    papermill's error banner) is kept under ``reports/<id>/failed/<timestamp>/``.
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
        durations = _execute(plan, executed, results_path, previous)
        results = _read_results(results_path)
    except Exception as exc:  # noqa: BLE001 - any execution failure is reported; other reviews carry on
        kept = store.failed_dir(project, review_id)
        if executed.is_file():
            os.replace(executed, kept / "report.ipynb")
        store.discard(staged)
        return RunOutcome(review_id, "failed", message=_failure_message(exc, kept),
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
        manifest = _manifest(plan, results, durations)
        version = store.publish(project, review_id, staged, manifest)
    except BaseException:
        store.discard(staged)
        raise
    return RunOutcome(review_id, "done", version=version, durations=durations)


def _manifest(plan: ReviewPlan, results: dict[str, Any], durations: dict[str, float]) -> dict[str, Any]:
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


# ---------------------------------------------------------------- index.html
def _review_ids_on_disk(project_dir: str | os.PathLike[str]) -> list[str]:
    ids: set[str] = set()
    try:
        from synthesis.review.loader import list_review_ids

        ids.update(list_review_ids(project_dir))
    except Exception:  # noqa: BLE001 - the index lists what is on disk even if a review is broken
        pass
    reports = Path(project_dir) / "reports"
    if reports.is_dir():
        ids.update(p.name for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
    return sorted(ids)


_INDEX_CSS = """body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2rem auto;
max-width:70rem;padding:0 1rem;color:#1a1a1a;line-height:1.45}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.5rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f3f3f3}.sim{background:#fff3cd;padding:0 .3rem;border-radius:3px;font-size:.85em}"""


def _index_row(project_dir: str | os.PathLike[str], review_id: str) -> str:
    e = html.escape
    versions = store.list_versions(project_dir, review_id)
    if not versions:
        return (f"<tr><td>{e(review_id)}</td><td colspan='5'>no report published yet "
                f"(run <code>synthesis run {e(review_id)}</code>)</td></tr>")
    latest = store.read_manifest(project_dir, review_id, versions[-1])
    title = latest.get("title") or review_id
    sim = " <span class='sim'>simulated data</span>" if latest.get("simulated") else ""
    links = " ".join(f"<a href='{e(review_id)}/v{n}/report.html'>v{n}</a>" for n in reversed(versions))
    return (f"<tr><td><a href='{e(review_id)}/v{versions[-1]}/report.html'>{e(str(title))}</a>{sim}"
            f"<br><small>{e(review_id)}</small></td>"
            f"<td>v{versions[-1]}</td><td>{e(str(latest.get('created_at', ''))[:10])}</td>"
            f"<td>{e(str(latest.get('answer') or ''))}</td><td>{e(str(latest.get('certainty') or ''))}</td>"
            f"<td>{links}</td></tr>")


def write_index(project_dir: str | os.PathLike[str]) -> Path:
    """Write ``reports/index.html`` listing every review and all its versions (atomic replace).

    Examples
    --------
    >>> import tempfile
    >>> write_index(tempfile.mkdtemp()).name
    'index.html'
    """
    rows = "\n".join(_index_row(project_dir, rid) for rid in _review_ids_on_disk(project_dir))
    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Evidence synthesis reports</title><style>{_INDEX_CSS}</style></head>
<body><h1>Evidence synthesis reports</h1>
<table><thead><tr><th>Review</th><th>Latest</th><th>Date</th><th>Answer</th><th>Certainty</th><th>All versions</th></tr></thead>
<tbody>
{rows}
</tbody></table></body></html>
"""
    out = Path(project_dir) / "reports" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".index.{os.getpid()}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    return out
