"""Checking the report store against its record: ``synthesis verify``, ``list`` and the index.

Every ``reports/<id>/v<N>`` folder is checked with
:func:`synthesis.pipeline.record.check_folder`: a hand-edited page or
manifest, a missing or added file, a damaged manifest and a stray folder
without a manifest are each one line. Only the standard library is imported.

Examples
--------
>>> import tempfile
>>> p = tempfile.mkdtemp()
>>> _ = store.publish(p, "r", store.staging_dir(p, "r"), {"answer": "yes"})
>>> verify_review(p, "r")
[VersionCheck(review_id='r', label='v1', problems=[], recorded=True)]
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from synthesis.pipeline import store
from synthesis.pipeline.record import check_folder, is_recorded, read_folder_manifest

__all__ = ["VersionCheck", "verify_review", "damaged_versions", "reviews_with_reports"]


@dataclass
class VersionCheck:
    """The check of one ``v<N>`` folder: ``problems`` is empty when it matches its record.

    ``recorded`` is false for a version published before records were kept
    (nothing to check it against).

    Examples
    --------
    >>> VersionCheck("r", "v2", ["report.html is missing"]).ok
    False
    """

    review_id: str
    label: str
    problems: list[str] = field(default_factory=list)
    recorded: bool = True

    @property
    def ok(self) -> bool:
        """True when the folder matches its record."""
        return not self.problems


def verify_review(project_dir: str | os.PathLike[str], review_id: str) -> list[VersionCheck]:
    """Check every ``v<N>`` folder of a review, in version order.

    Parameters
    ----------
    project_dir : path
        The project folder.
    review_id : str
        The review id.

    Returns
    -------
    list of VersionCheck
        One per folder named like a version (also stray ones without a manifest).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> (p / "reports/r/v3").mkdir(parents=True)
    >>> verify_review(p, "r")[0].problems
    ['manifest.json is missing (a partial or stray folder)']
    """
    checks = []
    for _, folder in store.version_folders(project_dir, review_id):
        manifest, reason = read_folder_manifest(folder)
        if manifest is None:
            checks.append(VersionCheck(review_id, folder.name, [reason]))
        else:
            checks.append(VersionCheck(review_id, folder.name, check_folder(folder, manifest), is_recorded(manifest)))
    return checks


def damaged_versions(project_dir: str | os.PathLike[str], review_id: str) -> list[str]:
    """Labels of the folders that do not match their record (``[]`` when all do).

    Examples
    --------
    >>> import tempfile
    >>> damaged_versions(tempfile.mkdtemp(), "r")
    []
    """
    return [check.label for check in verify_review(project_dir, review_id) if not check.ok]


def reviews_with_reports(project_dir: str | os.PathLike[str]) -> list[str]:
    """Ids of the reviews that have a ``reports/<id>`` folder.

    Examples
    --------
    >>> import tempfile
    >>> reviews_with_reports(tempfile.mkdtemp())
    []
    """
    reports = Path(project_dir) / "reports"
    if not reports.is_dir():
        return []
    return sorted(p.name for p in reports.iterdir() if p.is_dir() and not p.name.startswith("."))
