"""The evidence-gap view of the toolkit page: strategies by context, with study counts.

Built from the ``toolkit.gap`` cells each review's analysis wrote into its
manifest (:mod:`synthesis.analysis.toolkit`); nothing is re-run. Reviews that
code their strategies in a taxonomy (ERIC, EPOC, KMb) share one table per
taxonomy, with every cluster of the taxonomy listed, so a cluster no review has
studied shows as a gap. A review without a taxonomy gets a table of its own
intervention by its contexts.

Examples
--------
>>> cell = {"taxonomy": None, "strategy_id": "", "strategy": "tutoring", "cluster": "",
...         "context": "school", "studies": 3, "effects": 3}
>>> row = {"review_id": "t", "title": "Tutoring", "certainty": "low", "certainty_symbols": "⊕⊕◯◯",
...        "outcome": "reading", "gap": [cell]}
>>> [(t["title"], t["contexts"]) for t in gap_tables([row])]
[('Tutoring', ['school'])]
"""
from __future__ import annotations

from typing import Any

__all__ = ["gap_tables", "taxonomy_clusters"]


def taxonomy_clusters(name: str) -> tuple[str, list[str]]:
    """The title and cluster labels of a shipped taxonomy (read from its YAML file, nothing else).

    Examples
    --------
    >>> title, clusters = taxonomy_clusters("eric")
    >>> len(clusters), "Provide interactive assistance" in clusters
    (9, True)
    """
    from synthesis.review.taxonomy import load_taxonomy

    taxonomy = load_taxonomy(name)
    return taxonomy.title, [cluster.label for cluster in taxonomy.clusters.values()]


def _line(row: dict[str, Any], cells: list[dict[str, Any]], strategy: str, contexts: list[str]) -> dict[str, Any]:
    by_context = {c["context"]: c for c in cells}
    versions = row.get("versions") or [1]
    return {"strategy": strategy, "review_id": row["review_id"], "version": versions[0], "title": row["title"],
            "outcome": row.get("outcome") or "", "certainty": row.get("certainty") or "",
            "certainty_symbols": row.get("certainty_symbols") or "",
            "cells": [by_context.get(context) for context in contexts]}


def _lines(rows: list[tuple[dict[str, Any], list[dict[str, Any]]]], contexts: list[str]
           ) -> dict[str, list[dict[str, Any]]]:
    """Lines of a table grouped by cluster: one per strategy and review."""
    clusters: dict[str, list[dict[str, Any]]] = {}
    for row, cells in rows:
        keyed: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for cell in cells:
            keyed.setdefault((str(cell.get("cluster") or ""), str(cell["strategy"])), []).append(cell)
        for (cluster, strategy), group in keyed.items():
            clusters.setdefault(cluster, []).append(_line(row, group, strategy, contexts))
    for lines in clusters.values():
        lines.sort(key=lambda line: (line["strategy"].lower(), line["title"].lower()))
    return clusters


def gap_tables(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tables of the evidence-gap view from the index rows (:func:`synthesis.pipeline.index.index_rows`).

    Parameters
    ----------
    rows : list of dict
        Index rows with ``gap`` cells (rows without cells, e.g. an old
        manifest or an unreadable one, are left out of the view).

    Returns
    -------
    list of dict
        One table per taxonomy, then one per review without a taxonomy: ``title``,
        ``taxonomy`` (name or None), ``contexts`` (columns), ``clusters``
        (list of ``{"label", "lines"}``; a line is ``strategy, review_id, title,
        outcome, certainty, certainty_symbols, cells`` with ``None`` for a
        context without studies; a cluster with no lines is a gap of the taxonomy).
    """
    by_taxonomy: dict[str, list[tuple[dict[str, Any], list[dict[str, Any]]]]] = {}
    tables = []
    for row in rows:
        cells = [c for c in row.get("gap") or [] if isinstance(c, dict) and c.get("strategy")]
        if not cells:
            continue
        taxonomies = {c.get("taxonomy") for c in cells}
        name = next(iter(taxonomies)) if len(taxonomies) == 1 else None
        if name:
            by_taxonomy.setdefault(str(name), []).append((row, cells))
            continue
        contexts = sorted({str(c["context"]) for c in cells})
        tables.append({"title": row["title"], "taxonomy": None, "contexts": contexts,
                       "clusters": [{"label": "", "lines": lines}
                                    for lines in _lines([(row, cells)], contexts).values()]})
    shared = []
    for name in sorted(by_taxonomy):
        members = by_taxonomy[name]
        contexts = sorted({str(c["context"]) for _, cells in members for c in cells})
        clusters = _lines(members, contexts)
        try:
            title, labels = taxonomy_clusters(name)
        except Exception:  # noqa: BLE001 - a taxonomy this version does not ship: its clusters as found
            title, labels = name, []
        order = labels + sorted(label for label in clusters if label not in labels)
        shared.append({"title": title, "taxonomy": name, "contexts": contexts,
                          "clusters": [{"label": label, "lines": clusters.get(label, [])} for label in order]})
    return shared + tables
