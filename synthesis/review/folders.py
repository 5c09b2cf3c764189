"""Where reviews live in a project: ``reviews/<id>/review.yaml``.

Kept apart from :mod:`synthesis.review.loader` (pandas, pydantic) so that
listing the reviews costs no heavy import.

Examples
--------
>>> REVIEWS_DIR, SPEC_FILE
('reviews', 'review.yaml')
"""
from __future__ import annotations

from pathlib import Path

__all__ = ["REVIEWS_DIR", "SPEC_FILE", "list_review_ids"]

REVIEWS_DIR = "reviews"
SPEC_FILE = "review.yaml"


def list_review_ids(project_dir: str | Path = ".") -> list[str]:
    """Ids of the reviews in ``<project_dir>/reviews/`` (folders with a ``review.yaml``).

    Examples
    --------
    >>> import tempfile
    >>> list_review_ids(tempfile.mkdtemp())
    []
    """
    root = Path(project_dir).expanduser() / REVIEWS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and (p / SPEC_FILE).is_file())
