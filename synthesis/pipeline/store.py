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
Numbers are never reused: ``reports/<id>/.last-version`` remembers the highest
number ever given, also after a version is deleted, and a stray ``v<N>``
folder (no manifest) is stepped over, never overwritten. Leftover ``.tmp-*``
folders of killed runs are removed under the lock once older than any run can
last. Folders are readable as the user's umask allows (not 0700), and an
unwritable or full disk becomes one :class:`PipelineError` line
(:func:`storage_error`).

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
import errno
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import filelock

from synthesis.errors import PipelineError
from synthesis.pipeline.record import manifest_text, seal

__all__ = [
    "MANIFEST_NAME",
    "COUNTER_NAME",
    "next_version",
    "version_folders",
    "find_version",
    "publish_locked",
    "clean_stale",
    "storage_error",
    "STORAGE_ERRNOS",
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
#: highest version number ever published, kept when versions are deleted
COUNTER_NAME = ".last-version"
_VERSION_RE = re.compile(r"^v([1-9][0-9]*)$")
STORAGE_ERRNOS = frozenset({errno.EROFS, errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM})
_STORAGE_WORDS = {errno.EROFS: "the file system is read-only", errno.ENOSPC: "the disk is full",
                  errno.EDQUOT: "the disk quota is used up", errno.EACCES: "permission denied",
                  errno.EPERM: "permission denied"}


def storage_error(exc: OSError, what: str = "the report store") -> PipelineError:
    """One line for a failed write to the store (read-only file system, full disk, permissions).

    Examples
    --------
    >>> print(storage_error(OSError(errno.ENOSPC, "No space left on device", "reports/r/v1"), "publishing"))
    publishing failed: the disk is full (reports/r/v1); free some space (or check the permissions of reports/) and run again; earlier versions are unchanged
    """
    reason = _STORAGE_WORDS.get(exc.errno or 0, exc.strerror or type(exc).__name__)
    where = f" ({exc.filename})" if exc.filename else ""
    return PipelineError(f"{what} failed: {reason}{where}; free some space (or check the permissions of "
                         "reports/) and run again; earlier versions are unchanged")


def _readable(path: Path) -> None:
    """Give a folder the permissions the user's umask allows (mkdtemp makes it 0700)."""
    mask = os.umask(0)
    os.umask(mask)
    os.chmod(path, 0o777 & ~mask)


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
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PipelineError(f"{path}: manifest is not valid JSON ({str(exc)[:80]}); the report store is damaged "
                            "(see `synthesis verify`)") from None
    except OSError as exc:
        raise PipelineError(f"{path}: cannot be read ({exc.strerror})") from None
    if not isinstance(manifest, dict):
        raise PipelineError(f"{path}: manifest is not a JSON object; the report store is damaged "
                            "(see `synthesis verify`)")
    return manifest


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
    staged = Path(tempfile.mkdtemp(prefix=".tmp-", dir=folder))
    _readable(staged)
    return staged


def clean_stale(project_dir: str | os.PathLike[str], review_id: str, older_than: float) -> list[str]:
    """Remove ``.tmp-*`` folders older than ``older_than`` seconds; call it holding the review lock.

    A run builds its version in a ``.tmp-*`` folder while holding the lock and
    for no longer than its timeout, so an older one was left by a killed run.

    Returns
    -------
    list of str
        The names removed.

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mkdtemp(); fresh = staging_dir(p, "r")
    >>> clean_stale(p, "r", older_than=3600), clean_stale(p, "r", older_than=-1) == [fresh.name]
    ([], True)
    """
    folder = review_reports_dir(project_dir, review_id)
    removed = []
    if folder.is_dir():
        now = time.time()
        for entry in os.scandir(folder):
            if entry.name.startswith(".tmp-") and entry.is_dir() and now - entry.stat().st_mtime > older_than:
                shutil.rmtree(entry.path, ignore_errors=True)
                removed.append(entry.name)
    return sorted(removed)


def _read_counter(folder: Path) -> int:
    try:
        return int((folder / COUNTER_NAME).read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def next_version(project_dir: str | os.PathLike[str], review_id: str) -> int:
    """The number the next version gets: above every number ever given and every ``v<N>`` folder.

    A deleted version's number is not reused (``reports/<id>/.last-version``
    remembers it) and a stray ``v<N>`` folder without a manifest is stepped over.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> (p / "reports/r/v4").mkdir(parents=True)   # stray: no manifest
    >>> next_version(p, "r")
    5
    """
    numbers = [number for number, _ in version_folders(project_dir, review_id)]
    return max([_read_counter(review_reports_dir(project_dir, review_id)), *numbers]) + 1


def version_folders(project_dir: str | os.PathLike[str], review_id: str) -> list[tuple[int, Path]]:
    """Every folder named like a version (``v<N>``), with or without a manifest, ascending.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> (p / "reports/r/v10").mkdir(parents=True); (p / "reports/r/v9").mkdir()
    >>> [(n, path.name) for n, path in version_folders(p, "r")]
    [(9, 'v9'), (10, 'v10')]
    """
    folder = review_reports_dir(project_dir, review_id)
    if not folder.is_dir():
        return []
    found = []
    for entry in os.scandir(folder):
        match = _VERSION_RE.match(entry.name)
        if match and entry.is_dir():
            found.append((int(match.group(1)), Path(entry.path)))
    return sorted(found)


def find_version(project_dir: str | os.PathLike[str], review_id: str, fingerprint: str) -> int | None:
    """The newest published version with this fingerprint, or ``None`` (damaged manifests are skipped).

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mkdtemp()
    >>> _ = publish(p, "r", staging_dir(p, "r"), {"fingerprint": "abc"})
    >>> find_version(p, "r", "abc"), find_version(p, "r", "other")
    (1, None)
    """
    for number in reversed(list_versions(project_dir, review_id)):
        try:
            if read_manifest(project_dir, review_id, number).get("fingerprint") == fingerprint:
                return number
        except PipelineError:
            continue
    return None


def publish_locked(project_dir: str | os.PathLike[str], review_id: str, staged: Path,
                   manifest: dict[str, Any], number: int | None = None) -> int:
    """Publish ``staged`` as a version; the caller holds :func:`review_lock`.

    Fills in ``version`` and ``version_label``, seals the manifest (the SHA-256
    of every file, :func:`synthesis.pipeline.record.seal`), writes it as strict
    JSON, renames ``staged`` to ``v<N>`` and records ``N`` in the counter file.

    Parameters
    ----------
    number : int, optional
        The number fixed earlier under the same lock (default: :func:`next_version`).

    Examples
    --------
    >>> import tempfile
    >>> p = tempfile.mkdtemp()
    >>> with review_lock(p, "r"):
    ...     publish_locked(p, "r", staging_dir(p, "r"), {})
    1
    """
    number = next_version(project_dir, review_id) if number is None else number
    manifest["version"] = number
    manifest["version_label"] = f"v{number}"
    text = manifest_text(seal(staged, manifest))
    with open(staged / MANIFEST_NAME, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    folder = review_reports_dir(project_dir, review_id)
    os.rename(staged, folder / f"v{number}")
    counter = folder / f"{COUNTER_NAME}.{os.getpid()}.tmp"
    counter.write_text(f"{number}\n", encoding="ascii")
    os.replace(counter, folder / COUNTER_NAME)
    return number


def publish(project_dir: str | os.PathLike[str], review_id: str, staged: Path,
            manifest: dict[str, Any]) -> int:
    """Publish a staged folder as the next version, atomically, under the review lock.

    Parameters
    ----------
    project_dir : path
    review_id : str
    staged : Path
        Folder from :func:`staging_dir` holding the other report files.
    manifest : dict
        Manifest contents; ``version``, ``version_label``, ``files`` and
        ``record_sha256`` are filled in (:func:`publish_locked`).

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
        return publish_locked(project_dir, review_id, staged, manifest)


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
