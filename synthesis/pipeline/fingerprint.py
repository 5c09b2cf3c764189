"""What determines a report, hashed: data files, the notebook, the package source, dependency versions.

A review's fingerprint is the SHA-256 of the canonical JSON of its resolved
settings, the hashes of its data files, the hash of the notebook that runs it,
the hash of the ``synthesis`` source and the versions of the key dependencies.
An unchanged fingerprint means an unchanged report, so the pipeline does not
run it again. Only the standard library is imported here.

Examples
--------
>>> len(compute_fingerprint({"seed": 1}, {}, "n", "p", {}))
64
"""
from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

from synthesis.errors import PipelineError

__all__ = [
    "KEY_PACKAGES",
    "file_sha256",
    "project_path",
    "data_hashes",
    "notebook_hash",
    "package_source_hash",
    "dependency_versions",
    "compute_fingerprint",
]

KEY_PACKAGES = ("numpy", "scipy", "pandas", "pydantic", "pymc", "pytensor", "arviz",
                "matplotlib", "papermill", "nbconvert", "ipykernel")
#: the ``synthesis`` package folder, whose every source, data and template file is hashed
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


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


def project_path(path: str | os.PathLike[str], project_dir: str | os.PathLike[str]) -> str:
    """A path as recorded in a manifest: relative to the project folder when inside it.

    Examples
    --------
    >>> project_path("/proj/reviews/a/studies.csv", "/proj")
    'reviews/a/studies.csv'
    >>> project_path("/elsewhere/x.csv", "/proj")
    '/elsewhere/x.csv'
    """
    try:
        return Path(path).resolve().relative_to(Path(project_dir).resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def data_hashes(paths: Iterable[str | os.PathLike[str]], project_dir: str | os.PathLike[str]) -> dict[str, str]:
    """Data file name (relative to the project folder) -> SHA-256 of its bytes.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (p / "d.csv").write_bytes(b"abc")
    >>> {k: v[:12] for k, v in data_hashes([p / "d.csv"], p).items()}
    {'d.csv': 'ba7816bf8f01'}
    """
    return {project_path(path, project_dir): file_sha256(path) for path in sorted(Path(p) for p in paths)}


def notebook_hash(path: str | os.PathLike[str]) -> str:
    """SHA-256 over a notebook's cell types, tags and sources (not outputs or metadata).

    Raises
    ------
    PipelineError
        When the file is not a readable notebook.

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
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise PipelineError(f"{path}: not a readable notebook ({exc}); open it in Jupyter "
                            "and save it again, or restore it from version control") from exc
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
    for path in sorted(PACKAGE_ROOT.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix in {".pyc", ".pyo"}:
            continue
        digest.update(path.relative_to(PACKAGE_ROOT).as_posix().encode() + b"\0")
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
        Data file name -> SHA-256 of its bytes (:func:`data_hashes`).
    notebook, package : str
        :func:`notebook_hash` of the notebook used, :func:`package_source_hash`.
    dependencies : dict
        :func:`dependency_versions`.

    Returns
    -------
    str
        64 hexadecimal digits.

    Examples
    --------
    >>> a = compute_fingerprint({"seed": 1}, {}, "n", "p", {})
    >>> a == compute_fingerprint({"seed": 1}, {}, "n", "p", {}), a == compute_fingerprint({"seed": 2}, {}, "n", "p", {})
    (True, False)
    """
    payload = {"settings": settings, "data": data, "notebook": notebook,
               "package": package, "dependencies": dependencies}
    return hashlib.sha256(_canonical(payload)).hexdigest()
