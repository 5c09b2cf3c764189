"""What changed between two report versions, read from their manifests.

Pure functions of two manifest dictionaries: the page's "what changed" section
and ``synthesis diff`` both use :func:`diff_manifests`.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

__all__ = ["diff_manifests", "changes_since"]


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(obj, dict):
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    return {prefix: obj}


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


_MISSING = object()


def _results_of(manifest: dict[str, Any]) -> dict[str, Any]:
    results = manifest.get("results")
    if results is None:
        results = {k: manifest[k] for k in ("answer", "certainty", "headline", "diagnostics") if k in manifest}
    return results


def diff_manifests(old: dict[str, Any] | None, new: dict[str, Any]) -> pd.DataFrame:
    """What changed between two manifests: settings, data files and results.

    Parameters
    ----------
    old : dict or None
        The earlier manifest (``None``: nothing to compare, empty table).
    new : dict
        The later manifest, or a draft manifest with a ``results`` entry.

    Returns
    -------
    pandas.DataFrame
        Columns ``section`` (``settings``, ``data``, ``results``, ``software``: the
        notebook, the synthesis package source and dependency versions), ``item``
        (dotted key or file name), ``before``, ``after`` (strings;
        ``(absent)`` when missing on that side). Empty when nothing changed.

    Examples
    --------
    >>> old = {"data": {"a.csv": "11"}, "settings": {}, "results": {"answer": "x"}}
    >>> new = {"data": {"a.csv": "22"}, "settings": {}, "results": {"answer": "x"}}
    >>> diff_manifests(old, new)[["section", "item"]].values.tolist()
    [['data', 'a.csv']]
    """
    rows = []
    if old is not None:
        sections = {
            "settings": (_flatten(old.get("settings") or {}), _flatten(new.get("settings") or {})),
            "data": (dict(old.get("data") or {}), dict(new.get("data") or {})),
            "results": (_flatten(_results_of(old)), _flatten(_results_of(new))),
            "software": ({"notebook": old.get("notebook_sha256"), "synthesis package": old.get("package_sha256"),
                          **{f"version of {k}": v for k, v in (old.get("packages") or {}).items()}},
                         {"notebook": new.get("notebook_sha256"), "synthesis package": new.get("package_sha256"),
                          **{f"version of {k}": v for k, v in (new.get("packages") or {}).items()}}),
        }
        for section, (before, after) in sections.items():
            for item in sorted(set(before) | set(after)):
                a, b = before.get(item, _MISSING), after.get(item, _MISSING)
                if a != b:
                    rows.append({"section": section, "item": item, "before": _show(a), "after": _show(b)})
    return pd.DataFrame(rows, columns=["section", "item", "before", "after"])


def changes_since(previous: dict[str, Any] | None, draft: dict[str, Any] | None) -> pd.DataFrame | None:
    """Settings and data that differ from the previous version (None for a first version)."""
    if not previous or not draft:
        return None
    table = diff_manifests(previous, draft)
    table = table[table["section"].isin(["settings", "data", "software"])].reset_index(drop=True)
    hashes = table["section"].isin(["data", "software"]) & table["before"].str.fullmatch(r"[0-9a-f]{64}")
    for column in ("before", "after"):  # a hash prefix is enough to tell versions apart on the page
        table.loc[hashes, column] = table.loc[hashes, column].str.slice(0, 12) + "…"
    return table
