"""What changed between two report versions, read from their manifests.

Pure functions of two manifest dictionaries: the page's "what changed" section
and ``synthesis diff`` both use :func:`diff_manifests`; ``synthesis diff``
starts with :func:`change_summary` (answer, certainty, headline estimate:
changed or not). Results are compared as a reader sees them, at display
precision (:mod:`synthesis.numbers`), and lists item by item.
"""
from __future__ import annotations

import json
from typing import Any

import pandas as pd

from synthesis import numbers

__all__ = ["diff_manifests", "changes_since", "change_summary", "changes_in_words", "short_hashes"]

_MISSING = object()
#: how a result is shown to a reader, by its last key (default: two decimals)
_RESULT_FORMATS = {
    "tau2": lambda v: numbers.number(v, 3), "tau": lambda v: numbers.number(v, 3),
    "I2": numbers.percent, "prob_gt_0": numbers.probability, "prob_gt_mid": numbers.probability,
    "pval": numbers.p_value, "p_value": numbers.p_value,
    **{name: (lambda v: numbers.percent(100 * v)) for name in ("share_same", "share_direction", "share_mid")},
}


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys; lists item by item (``moderators[0].name``)."""
    if isinstance(obj, dict) and obj:
        flat: dict[str, Any] = {}
        for key, value in obj.items():
            flat.update(_flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(obj, list) and obj:
        flat = {}
        for i, value in enumerate(obj):
            flat.update(_flatten(value, f"{prefix}[{i}]"))
        return flat
    return {prefix: obj}


def _show(value: Any) -> str:
    if value is _MISSING:
        return "(absent)"
    if isinstance(value, str):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def _show_result(item: str, value: Any) -> str:
    """A result as the report shows it: numbers at display precision."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return _show(value)
    if isinstance(value, int) and item.rsplit(".", 1)[-1] not in _RESULT_FORMATS:
        return str(value)
    return _RESULT_FORMATS.get(item.rsplit(".", 1)[-1], numbers.number)(value)


def _results_of(manifest: dict[str, Any]) -> dict[str, Any]:
    results = manifest.get("results")
    if results is None:
        results = {k: manifest[k] for k in ("answer", "certainty", "headline", "diagnostics") if k in manifest}
    return results


def _software(manifest: dict[str, Any]) -> dict[str, Any]:
    return {"notebook": manifest.get("notebook_sha256"), "synthesis package": manifest.get("package_sha256"),
            **{f"version of {k}": v for k, v in (manifest.get("packages") or {}).items()}}


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
        (dotted key, ``[i]`` for a list item, or file name), ``before``, ``after``
        (strings; ``(absent)`` when missing on that side). Results are shown at
        display precision and a result that looks the same there is not listed.
        Empty when nothing changed.

    Examples
    --------
    >>> old = {"data": {"a.csv": "11"}, "settings": {}, "results": {"answer": "x", "headline": {"estimate": 0.2}}}
    >>> new = {"data": {"a.csv": "22"}, "settings": {}, "results": {"answer": "x", "headline": {"estimate": 0.2001}}}
    >>> diff_manifests(old, new)[["section", "item"]].values.tolist()
    [['data', 'a.csv']]
    """
    rows = []
    if old is not None:
        sections = {
            "settings": (_flatten(old.get("settings") or {}), _flatten(new.get("settings") or {})),
            "data": (dict(old.get("data") or {}), dict(new.get("data") or {})),
            "results": (_flatten(_results_of(old)), _flatten(_results_of(new))),
            "software": (_software(old), _software(new)),
        }
        for section, (before, after) in sections.items():
            show = (lambda item, v: _show(v) if v is _MISSING else _show_result(item, v)) \
                if section == "results" else (lambda item, v: _show(v))
            for item in sorted(set(before) | set(after)):
                a, b = before.get(item, _MISSING), after.get(item, _MISSING)
                if a != b and show(item, a) != show(item, b):
                    rows.append({"section": section, "item": item, "before": show(item, a), "after": show(item, b)})
    return pd.DataFrame(rows, columns=["section", "item", "before", "after"])


def short_hashes(table: pd.DataFrame) -> pd.DataFrame:
    """Data and software hashes cut to 12 digits: enough to tell versions apart when reading.

    Examples
    --------
    >>> t = pd.DataFrame([{"section": "data", "item": "a.csv", "before": "a" * 64, "after": "b" * 64}])
    >>> short_hashes(t)["before"].tolist()
    ['aaaaaaaaaaaa…']
    """
    table = table.copy()
    hashes = table["section"].isin(["data", "software"]) & table["before"].str.fullmatch(r"[0-9a-f]{64}")
    for column in ("before", "after"):
        table.loc[hashes, column] = table.loc[hashes, column].str.slice(0, 12) + "…"
    return table


def changes_since(previous: dict[str, Any] | None, draft: dict[str, Any] | None) -> pd.DataFrame | None:
    """Settings and data that differ from the previous version (None for a first version).

    Examples
    --------
    >>> changes_since(None, {}) is None
    True
    >>> changes_since({"settings": {"seed": 1}}, {"settings": {"seed": 2}}).values.tolist()
    [['settings', 'seed', '1', '2']]
    """
    if not previous or not draft:
        return None
    table = diff_manifests(previous, draft)
    return short_hashes(table[table["section"].isin(["settings", "data", "software"])].reset_index(drop=True))


def _headline(manifest: dict[str, Any]) -> str:
    headline = _results_of(manifest).get("headline") or {}
    if not isinstance(headline, dict) or headline.get("estimate") is None:
        return "not recorded"
    text = numbers.number(headline.get("estimate"))
    if headline.get("ci_lb") is not None and headline.get("ci_ub") is not None:
        text += f" ({numbers.interval(headline.get('ci_lb'), headline.get('ci_ub'))})"
    measure = headline.get("measure")
    return f"{measure} {text}" if measure else text


def change_summary(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """Lines for a person, before the details: did the answer, certainty or headline estimate change?

    Parameters
    ----------
    old, new : dict
        The earlier and the later manifest.

    Returns
    -------
    list of str
        ``answer and certainty unchanged`` (with them) or what changed, then the
        headline estimate at display precision, changed or unchanged.

    Examples
    --------
    >>> a = {"results": {"answer": "A probably helps", "certainty": "moderate",
    ...                  "headline": {"measure": "SMD", "estimate": 0.251, "ci_lb": 0.1, "ci_ub": 0.4}}}
    >>> b = {"results": {**a["results"], "headline": {**a["results"]["headline"], "estimate": 0.2549}}}
    >>> change_summary(a, b)
    ['answer and certainty unchanged: A probably helps (moderate certainty)', 'headline estimate unchanged: SMD 0.25 (0.10 to 0.40)']
    """
    before, after = _results_of(old), _results_of(new)
    lines = []
    answer = (str(before.get("answer") or "not recorded"), str(after.get("answer") or "not recorded"))
    certainty = (str(before.get("certainty") or "not recorded"), str(after.get("certainty") or "not recorded"))
    if answer[0] == answer[1] and certainty[0] == certainty[1]:
        rating = f"{certainty[1]} certainty" if certainty[1] != "not recorded" else "certainty not recorded"
        lines.append(f"answer and certainty unchanged: {answer[1]} ({rating})")
    else:
        for name, (a, b) in (("answer", answer), ("certainty", certainty)):
            lines.append(f"{name} unchanged: {b}" if a == b else f"{name} CHANGED: {a} -> {b}")
    estimate = (_headline(old), _headline(new))
    lines.append(f"headline estimate unchanged: {estimate[1]}" if estimate[0] == estimate[1]
                 else f"headline estimate CHANGED: {estimate[0]} -> {estimate[1]}")
    robust = (_robustness(old), _robustness(new))
    if robust != ("not recorded", "not recorded"):
        lines.append(f"robustness unchanged: {robust[1]}" if robust[0] == robust[1]
                     else f"robustness CHANGED: {robust[0]} -> {robust[1]}")
    return lines


def _studies(manifest: dict[str, Any]) -> int | None:
    k = (_results_of(manifest).get("headline") or {}).get("k")
    return int(k) if isinstance(k, (int, float)) and not isinstance(k, bool) else None


def changes_in_words(previous: dict[str, Any] | None, new: dict[str, Any]) -> list[str]:
    """What changed since the previous version, in sentences for the top of the version section.

    Studies added or removed, data or settings changed, and whether the answer or its
    certainty changed ("The answer changed from ... to ... after 3 studies were added.").
    Empty for a first version.

    Examples
    --------
    >>> old = {"settings": {"seed": 1}, "results": {"answer": "X may improve Y.", "certainty": "low",
    ...                                           "headline": {"k": 20}}}
    >>> new = {"settings": {"seed": 1}, "results": {"answer": "X probably improves Y.", "certainty": "moderate",
    ...                                           "headline": {"k": 23}}}
    >>> changes_in_words(old, new)[0]
    "The answer changed from 'X may improve Y.' to 'X probably improves Y.' after 3 studies were added."
    """
    if not previous:
        return []
    before, after = _results_of(previous), _results_of(new)
    k0, k1 = _studies(previous), _studies(new)
    studies = ""
    if k0 is not None and k1 is not None and k0 != k1:
        n = abs(k1 - k0)
        studies = f"{n} stud{'y was' if n == 1 else 'ies were'} {'added' if k1 > k0 else 'removed'}"
    table = diff_manifests(previous, new)
    settings = table.loc[table["section"] == "settings", "item"].tolist()
    data_changed = bool((table["section"] == "data").any())
    causes = [c for c in (studies, (f"{len(settings)} setting{'s' if len(settings) > 1 else ''} changed ("
                                    f"{', '.join(settings)})") if settings else "",
                          "the study data changed" if data_changed and not studies else "",
                          "the analysis software was updated" if (table["section"] == "software").any() else "")
              if c]
    after_text = " after " + " and ".join(causes) if causes else ""
    lines = []
    answer = (before.get("answer"), after.get("answer"))
    certainty = (before.get("certainty"), after.get("certainty"))
    if answer[0] != answer[1]:
        lines.append(f"The answer changed from '{answer[0]}' to '{answer[1]}'{after_text}.")
    if certainty[0] != certainty[1]:
        lines.append(f"The certainty of the evidence changed from {certainty[0]} to {certainty[1]}"
                     f"{'' if lines else after_text}.")
    if not lines:
        lines.append("The answer and its certainty did not change"
                     + (f" ({after_text.strip().removeprefix('after ')})" if causes else "") + ".")
    return lines


def _robustness(manifest: dict[str, Any]) -> str:
    """``same answer in 94% of 1,296 analyses`` (the sensitivity multiverse), at display precision.

    Examples
    --------
    >>> _robustness({"results": {"sensitivity": {"share_same": 0.9371, "fitted": 1296}}})
    'same answer in 94% of 1,296 analyses'
    """
    sensitivity = _results_of(manifest).get("sensitivity") or {}
    if not isinstance(sensitivity, dict) or sensitivity.get("share_same") is None:
        return "not recorded"
    return (f"same answer in {numbers.percent(100 * sensitivity['share_same'])} of "
            f"{int(sensitivity.get('fitted') or 0):,} analyses")
