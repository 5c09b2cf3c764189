"""The report store: immutable, numbered versions of each review's report.

Layout under the project folder::

    reports/<id>/v<N>/{report.html, analysis.html, report.ipynb, manifest.json}
    reports/<id>/failed/<UTC timestamp>/
    reports/<id>/.lock            (per-review lock file)
    reports/<id>/.tmp-*           (versions being built; never read)

A version exists once ``reports/<id>/v<N>/manifest.json`` exists. Versions
are published by building them in a temporary folder and renaming it to
``v<N>`` while holding the review's lock, so two concurrent runs of the same
review never get the same number and a reader never sees half a version.

The lock is a :class:`filelock.FileLock` (``flock`` on POSIX, ``msvcrt`` on
Windows). Only the standard library and ``filelock`` are imported here, so
listing versions is cheap.

Examples
--------
>>> import tempfile
>>> project = tempfile.mkdtemp()
>>> list_versions(project, "demo"), latest_version(project, "demo")
([], None)
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import filelock

from synthesis.errors import PipelineError

__all__ = [
    "MANIFEST_NAME",
    "review_reports_dir",
    "list_versions",
    "latest_version",
    "read_manifest",
    "parse_version",
    "review_lock",
    "staging_dir",
    "publish",
    "failed_dir",
    "discard",
]

MANIFEST_NAME = "manifest.json"
_VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")


def review_reports_dir(project_dir: str | os.PathLike[str], review_id: str) -> Path:
    """Folder holding every report version of one review (``reports/<id>``).

    Examples
    --------
    >>> review_reports_dir("/proj", "x").as_posix()
    '/proj/reports/x'
    """
    return Path(project_dir) / "reports" / review_id


def list_versions(project_dir: str | os.PathLike[str], review_id: str) -> list[int]:
    """Published version numbers of a review, ascending.

    A version counts only when ``reports/<id>/v<N>/manifest.json`` exists.

    Parameters
    ----------
    project_dir : path
        The project folder.
    review_id : str
        The review id.

    Returns
    -------
    list of int
        For example ``[1, 2, 3]``; empty when nothing was published.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> (p / "reports/r/v2").mkdir(parents=True)
    >>> _ = (p / "reports/r/v2/manifest.json").write_text("{}")
    >>> list_versions(p, "r")
    [2]
    """
    folder = review_reports_dir(project_dir, review_id)
    if not folder.is_dir():
        return []
    versions = []
    for entry in os.scandir(folder):
        match = _VERSION_RE.match(entry.name)
        if match and entry.is_dir() and os.path.isfile(os.path.join(entry.path, MANIFEST_NAME)):
            versions.append(int(match.group(1)))
    return sorted(versions)


def latest_version(project_dir: str | os.PathLike[str], review_id: str) -> int | None:
    """Highest published version number of a review, or ``None``.

    Examples
    --------
    >>> import tempfile
    >>> latest_version(tempfile.mkdtemp(), "r") is None
    True
    """
    versions = list_versions(project_dir, review_id)
    return versions[-1] if versions else None


def parse_version(label: str | int) -> int:
    """Turn ``"v3"``, ``"3"`` or ``3`` into ``3``.

    Raises
    ------
    PipelineError
        When the label is not a positive version number.

    Examples
    --------
    >>> parse_version("v3"), parse_version("2"), parse_version(1)
    (3, 2, 1)
    """
    text = str(label).strip()
    match = _VERSION_RE.match(text if text.startswith("v") else f"v{text}")
    if not match:
        raise PipelineError(f"{label!r} is not a version: write it as v1, v2, ... or 1, 2, ...")
    return int(match.group(1))


def read_manifest(project_dir: str | os.PathLike[str], review_id: str, version: int | str) -> dict[str, Any]:
    """Read ``reports/<id>/v<N>/manifest.json``.

    Parameters
    ----------
    project_dir : path
    review_id : str
    version : int or str
        ``3`` or ``"v3"``.

    Raises
    ------
    PipelineError
        When that version does not exist (the message lists the ones that do)
        or its manifest is not valid JSON.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> (p / "reports/r/v1").mkdir(parents=True)
    >>> _ = (p / "reports/r/v1/manifest.json").write_text('{"version": 1}')
    >>> read_manifest(p, "r", "v1")
    {'version': 1}
    """
    number = parse_version(version)
    path = review_reports_dir(project_dir, review_id) / f"v{number}" / MANIFEST_NAME
    if not path.is_file():
        existing = ", ".join(f"v{n}" for n in list_versions(project_dir, review_id)) or "none"
        raise PipelineError(
            f"review {review_id!r} has no report version v{number} (published versions: {existing}); "
            f"run `synthesis run {review_id}` to publish one"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise PipelineError(f"{path}: manifest is not valid JSON ({exc}); the report store is damaged") from exc


@contextlib.contextmanager
def review_lock(project_dir: str | os.PathLike[str], review_id: str, timeout: float | None = None) -> Iterator[None]:
    """Hold the review's exclusive lock, ``reports/<id>/.lock``, across processes.

    Parameters
    ----------
    project_dir : path
    review_id : str
    timeout : float, optional
        Seconds to wait for another process holding the lock (default: wait
        as long as it takes).

    Raises
    ------
    PipelineError
        When ``timeout`` passes while another process holds the lock.

    Examples
    --------
    >>> import tempfile
    >>> with review_lock(tempfile.mkdtemp(), "r"):
    ...     pass
    """
    folder = review_reports_dir(project_dir, review_id)
    folder.mkdir(parents=True, exist_ok=True)
    lock = filelock.FileLock(str(folder / ".lock"), timeout=-1 if timeout is None else timeout)
    try:
        lock.acquire()
    except filelock.Timeout:
        raise PipelineError(f"review {review_id!r} is being published by another run (lock {folder / '.lock'} "
                            f"held for over {timeout} s); wait for it to finish and run again") from None
    try:
        yield
    finally:
        lock.release()


def staging_dir(project_dir: str | os.PathLike[str], review_id: str) -> Path:
    """Create a fresh ``reports/<id>/.tmp-*`` folder to build a version in.

    Examples
    --------
    >>> import tempfile
    >>> staging_dir(tempfile.mkdtemp(), "r").name.startswith(".tmp-")
    True
    """
    folder = review_reports_dir(project_dir, review_id)
    folder.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))


def publish(project_dir: str | os.PathLike[str], review_id: str, staged: Path,
            manifest: dict[str, Any]) -> int:
    """Publish a staged folder as the next version, atomically.

    Under the review lock: picks ``N = latest + 1``, writes ``manifest.json``
    (with ``version = N`` and ``version_label = "vN"``) into ``staged`` and
    renames ``staged`` to ``v<N>``.

    Parameters
    ----------
    project_dir : path
    review_id : str
    staged : Path
        Folder from :func:`staging_dir` holding the other report files.
    manifest : dict
        Manifest contents; ``version`` and ``version_label`` are filled in.

    Returns
    -------
    int
        The published version number.

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mkdtemp()
    >>> publish(p, "r", staging_dir(p, "r"), {}), publish(p, "r", staging_dir(p, "r"), {})
    (1, 2)
    """
    with review_lock(project_dir, review_id):
        number = (latest_version(project_dir, review_id) or 0) + 1
        manifest["version"] = number
        manifest["version_label"] = f"v{number}"
        with open(staged / MANIFEST_NAME, "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2, sort_keys=True, ensure_ascii=False)
            handle.write("\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(staged, review_reports_dir(project_dir, review_id) / f"v{number}")
    return number


def failed_dir(project_dir: str | os.PathLike[str], review_id: str) -> Path:
    """Create ``reports/<id>/failed/<UTC timestamp>/`` for a failed execution.

    Examples
    --------
    >>> import tempfile
    >>> failed_dir(tempfile.mkdtemp(), "r").parent.name
    'failed'
    """
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    folder = review_reports_dir(project_dir, review_id) / "failed" / stamp
    folder.mkdir(parents=True, exist_ok=False)
    return folder


def discard(path: Path) -> None:
    """Remove a staging folder (ignores a folder that is already gone).

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mkdtemp()
    >>> staged = staging_dir(p, "r")
    >>> discard(staged); discard(staged); staged.exists()
    False
    """
    shutil.rmtree(path, ignore_errors=True)
