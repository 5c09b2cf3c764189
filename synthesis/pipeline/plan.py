"""Planning one review's run: load it, choose its notebook, compute its fingerprint.

Planning is cheap (no kernel, no PyMC, no matplotlib), so an unchanged review
is recognised as up to date in well under a second.

Examples
--------
>>> DEFAULT_NOTEBOOK, REVIEW_NOTEBOOK
('notebooks/review.ipynb', 'report.ipynb')
"""
from __future__ import annotations

import os
import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from synthesis.errors import PipelineError
from synthesis.pipeline import store
from synthesis.pipeline.fingerprint import (compute_fingerprint, data_hashes, dependency_versions, file_sha256,
                                            notebook_hash, package_source_hash, project_path)

__all__ = ["DEFAULT_NOTEBOOK", "REVIEW_NOTEBOOK", "DEFAULT_TIMEOUT", "ReviewPlan", "find_notebook", "plan_review",
           "changed_inputs", "unchanged_version"]

#: seconds one notebook cell may run before the run fails (``synthesis run --timeout``)
DEFAULT_TIMEOUT = 1800.0

#: the project's notebook: the report's outline, one cell per section
DEFAULT_NOTEBOOK = "notebooks/review.ipynb"
#: a review's own notebook, inside its folder, used instead of the default when present
REVIEW_NOTEBOOK = "report.ipynb"


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
        Manifest fields known before execution (``inputs``: SHA-256 of every file the run reads).
    same_as : int or None
        The newest version with the same fingerprint (the latest one when up to date).
    timeout : float
        Seconds a notebook cell may run (:data:`DEFAULT_TIMEOUT`).
    force : bool
        Publish a new version even when one has the same fingerprint.

    Examples
    --------
    >>> ReviewPlan("r", "/p", {}, "/p/notebooks/review.ipynb", "f" * 64, None, False).up_to_date
    False
    """

    review_id: str
    project_dir: str
    overrides: dict[str, Any]
    notebook: str
    fingerprint: str
    latest: int | None
    up_to_date: bool
    manifest_draft: dict[str, Any] = field(default_factory=dict)
    same_as: int | None = None
    timeout: float = 1800.0
    force: bool = False


def find_notebook(project_dir: str | os.PathLike[str],
                  review_folder: str | os.PathLike[str] | None = None) -> Path:
    """The notebook a review runs: ``reviews/<id>/report.ipynb`` if the review ships one,
    else the project's ``notebooks/review.ipynb``.

    Parameters
    ----------
    project_dir : path
        The project folder.
    review_folder : path, optional
        The review's folder (``reviews/<id>``).

    Raises
    ------
    PipelineError
        When neither notebook exists.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> project = pathlib.Path(tempfile.mkdtemp())
    >>> try:
    ...     find_notebook(project)
    ... except Exception as exc:
    ...     print(type(exc).__name__)
    PipelineError
    >>> (project / "reviews/r").mkdir(parents=True)
    >>> _ = (project / "reviews/r/report.ipynb").write_text("{}")
    >>> find_notebook(project, project / "reviews/r").name
    'report.ipynb'
    """
    if review_folder is not None:
        own = Path(review_folder) / REVIEW_NOTEBOOK
        if own.is_file():
            return own
    path = Path(project_dir) / DEFAULT_NOTEBOOK
    if not path.is_file():
        raise PipelineError(f"{path} not found: the project folder needs {DEFAULT_NOTEBOOK} "
                            f"(or the review its own reviews/<id>/{REVIEW_NOTEBOOK}); "
                            "run from the project folder or pass --project DIR")
    return path


def _load_review(review_id: str, project_dir: str, overrides: dict[str, Any]) -> Any:
    # imported at call time: the pipeline tests swap sys.modules["synthesis.review.loader"]
    from synthesis.review.loader import load_review

    return load_review(review_id, project_dir, overrides)


def plan_review(review_id: str, project_dir: str | os.PathLike[str], overrides: dict[str, Any] | None = None,
                notebook: str | os.PathLike[str] | None = None) -> ReviewPlan:
    """Load and validate a review and compute its fingerprint (no kernel started).

    Parameters
    ----------
    review_id : str
    project_dir : path
        The project folder.
    overrides : dict, optional
        Parsed ``--set`` overrides.
    notebook : path, optional
        Notebook to execute instead of the one :func:`find_notebook` chooses.

    Returns
    -------
    ReviewPlan

    Raises
    ------
    ReviewError
        When the review or an override is invalid.
    PipelineError
        When the notebook is missing.

    Examples
    --------
    >>> plan_review("practice-facilitation", ".").fingerprint  # doctest: +SKIP
    '5f0c...'
    """
    project = str(Path(project_dir).resolve())
    overrides = dict(overrides or {})
    review = _load_review(review_id, project, overrides)
    nb_path = Path(notebook) if notebook is not None else find_notebook(project, getattr(review, "folder", None))
    settings = review.settings()
    data = data_hashes(review.data_files, project)
    folder = getattr(review, "folder", None)
    read = [*review.data_files, nb_path] + ([Path(folder) / "review.yaml"] if folder is not None else [])
    inputs = data_hashes(read, project)
    parts = {"notebook": notebook_hash(nb_path), "package": package_source_hash(),
             "dependencies": dependency_versions()}
    fingerprint = compute_fingerprint(settings, data, parts["notebook"], parts["package"], parts["dependencies"])
    latest = store.latest_version(project, review_id)
    same_as = store.find_version(project, review_id, fingerprint)
    up_to_date = same_as is not None and same_as == latest
    provenance = settings.get("provenance") or {}
    draft = {
        "review_id": review_id,
        "title": settings.get("title"),
        "fingerprint": fingerprint,
        "settings": settings,
        "data": data,
        "inputs": inputs,
        "overrides": overrides,
        "seed": getattr(getattr(review, "spec", None), "seed", settings.get("seed")),
        "simulated": bool(provenance.get("simulated", False)),
        "notebook": project_path(nb_path, project),
        "notebook_sha256": parts["notebook"],
        "package_sha256": parts["package"],
        "python": sys.version.split()[0],
        "packages": parts["dependencies"],
        "platform": platform.platform(),
        "previous_version": latest,
    }
    return ReviewPlan(review_id, project, overrides, str(nb_path), fingerprint, latest, up_to_date, draft, same_as)


def changed_inputs(plan: ReviewPlan) -> list[str]:
    """Input files whose bytes are no longer those hashed when the run was planned.

    Checked after execution: a file edited during the run would make the
    manifest's hashes describe other bytes than the ones analysed.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()); _ = (p / "d.csv").write_text("yi,vi")
    >>> plan = ReviewPlan("r", str(p), {}, "nb", "f", None, False, {"inputs": data_hashes([p / "d.csv"], p)})
    >>> changed_inputs(plan)
    []
    >>> _ = (p / "d.csv").write_text("yi,vi,edited"); changed_inputs(plan)
    ['d.csv']
    """
    changed = []
    for name, digest in (plan.manifest_draft.get("inputs") or {}).items():
        try:
            same = file_sha256(Path(plan.project_dir) / name) == digest
        except OSError:
            same = False
        if not same:
            changed.append(name)
    return changed


def unchanged_version(review_id: str, project_dir: str | os.PathLike[str]) -> int | None:
    """The latest version when nothing it was made from changed, judged from file bytes alone.

    The cheap half of the up-to-date check, run before :func:`plan_review`:
    when the latest manifest was made without overrides, from the notebook
    :func:`find_notebook` chooses today, and every input file it records
    (``review.yaml``, the data, the notebook) still has the recorded SHA-256,
    with the same package source and dependency versions, loading the review
    would give the same fingerprint. So an unchanged ``synthesis run`` needs
    neither the review loader nor pandas. ``None`` means "not sure": plan it.

    Examples
    --------
    >>> import tempfile
    >>> unchanged_version("r", tempfile.mkdtemp()) is None
    True
    """
    project = Path(project_dir).resolve()
    latest = store.latest_version(project, review_id)
    if latest is None:
        return None
    try:
        manifest = store.read_manifest(project, review_id, latest)
        notebook = find_notebook(project, project / "reviews" / review_id)
    except PipelineError:
        return None
    inputs = manifest.get("inputs")
    if (manifest.get("overrides") or not isinstance(inputs, dict)
            or f"reviews/{review_id}/review.yaml" not in inputs
            or manifest.get("notebook") != project_path(notebook, project) or manifest.get("notebook") not in inputs):
        return None
    for name, digest in inputs.items():
        try:
            if file_sha256(project / name) != digest:
                return None
        except (OSError, ValueError):
            return None
    if manifest.get("package_sha256") != package_source_hash() or manifest.get("packages") != dependency_versions():
        return None
    return latest
