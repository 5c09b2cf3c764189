"""What the toolkit page across reviews needs from one review, written into its manifest.

``reports/index.html`` (:mod:`synthesis.pipeline.index`) reads manifests only:
it never loads a review or re-runs an analysis. :func:`toolkit_record` is the
``toolkit`` block of :meth:`ReviewAnalysis.results`: the effect in natural
units, the number of studies and effect sizes, the cost rating and the cells of
the evidence-gap view (strategy by context, with study counts).
"""
from __future__ import annotations

from typing import Any

import pandas as pd

from synthesis.analysis.moderators import _spec_get, labelled_levels

__all__ = ["toolkit_record", "gap_cells", "NO_CONTEXT", "NOT_IN_TAXONOMY"]

#: the context of a review that names no context moderator (``decision.context``)
NO_CONTEXT = "not split by context"
#: the cluster of a strategy label the review's taxonomy does not know
NOT_IN_TAXONOMY = "not in the taxonomy"


def _study_ids(data: pd.DataFrame, spec: Any) -> pd.Series:
    column = _spec_get(spec, "data.study_id")
    if column and column in data.columns:
        return data[column].astype(str)
    if "study" in data.columns:
        return data["study"].astype(str)
    return pd.Series(range(len(data)), index=data.index).astype(str)


def _strategies(data: pd.DataFrame, spec: Any) -> tuple[str | None, list[tuple[str, str, str]]]:
    """The taxonomy name and, per row, (strategy id, strategy label, cluster label)."""
    strategy = _spec_get(spec, "strategy")
    intervention = str(_spec_get(spec, "question.intervention", "the intervention"))
    if strategy is None:
        return None, [("", intervention, "")] * len(data)
    taxonomy = strategy.resolved_taxonomy()
    labels = data[strategy.column].tolist() if strategy.column else [strategy.name] * len(data)
    rows = []
    for label in labels:
        found = strategy.lookup(label, taxonomy) if label is not None and not pd.isna(label) else None
        if found is None:
            rows.append(("", "strategy not recorded" if label is None or pd.isna(label) else str(label),
                         NOT_IN_TAXONOMY))
        else:
            rows.append((found.id, found.label, taxonomy.clusters[found.cluster].label))
    return taxonomy.name, rows


def gap_cells(data: pd.DataFrame, spec: Any) -> list[dict[str, Any]]:
    """One cell per strategy (or the intervention) and context: how many studies and effect sizes.

    Parameters
    ----------
    data : DataFrame
        The review's effect sizes (one row each), as loaded.
    spec : ReviewSpec or dict
        The review's settings: ``strategy`` (taxonomy, column or name),
        ``decision.context`` (a categorical moderator) and ``question.intervention``.

    Returns
    -------
    list of dict
        ``taxonomy``, ``strategy_id``, ``strategy``, ``cluster``, ``context``,
        ``studies``, ``effects``, sorted by cluster, strategy and context.

    Examples
    --------
    >>> d = pd.DataFrame({"study": ["a", "b", "b"], "place": ["home", "school", "school"]})
    >>> spec = {"question": {"intervention": "tutoring"}, "decision": {"context": "place"},
    ...         "moderators": [{"name": "place", "type": "categorical"}]}
    >>> [(c["strategy"], c["context"], c["studies"], c["effects"]) for c in gap_cells(d, spec)]
    [('tutoring', 'home', 1, 1), ('tutoring', 'school', 1, 2)]
    """
    taxonomy, strategies = _strategies(data, spec)
    context = _spec_get(spec, "decision.context")
    if context and context in data.columns:
        moderators = [m for m in (_spec_get(spec, "moderators") or []) if _spec_get(m, "name") == context]
        labelled, _ = labelled_levels(data[[context]], moderators)
        contexts = ["not recorded" if v is None or pd.isna(v) else str(v) for v in labelled[context]]
    else:
        contexts = [NO_CONTEXT] * len(data)
    frame = pd.DataFrame(strategies, columns=["strategy_id", "strategy", "cluster"], index=data.index)
    frame["context"] = contexts
    frame["study"] = _study_ids(data, spec)
    grouped = frame.groupby(["cluster", "strategy", "strategy_id", "context"], sort=True)
    return [{"taxonomy": taxonomy, "strategy_id": sid, "strategy": label, "cluster": cluster,
             "context": ctx, "studies": int(group["study"].nunique()), "effects": int(len(group))}
            for (cluster, label, sid, ctx), group in grouped]


def toolkit_record(analysis: Any) -> dict[str, Any]:
    """The ``toolkit`` block of a review's results: one row of the toolkit page and its gap cells.

    Parameters
    ----------
    analysis : ReviewAnalysis
        A finished analysis (:func:`synthesis.analysis.analyse_review`).

    Returns
    -------
    dict
        ``intervention``, ``outcome``, ``effect`` (short natural-unit phrase),
        ``effect_detail`` (on the analysis measure), ``certainty_symbols``
        (GRADE circles, e.g. ``⊕⊕◯◯``), ``studies`` (in the pooled
        analysis), ``effects`` (effect sizes in the data), ``cost``,
        ``cost_reason``, ``gap`` (:func:`gap_cells`).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> review = SimpleNamespace(spec={"question": {"intervention": "tutoring", "outcome": "reading"},
    ...                                "decision": {"cost": 2, "cost_reason": "EEF"}},
    ...                          data=pd.DataFrame({"study": ["a", "b"]}))
    >>> a = SimpleNamespace(review=review, spec=review.spec, natural_units=None, certainty=None,
    ...                     meta=SimpleNamespace(k=2))
    >>> r = toolkit_record(a)
    >>> r["studies"], r["effects"], r["cost"], r["gap"][0]["context"]
    (2, 2, 2, 'not split by context')
    """
    spec, data = analysis.spec, analysis.review.data
    units = analysis.natural_units
    return {
        "intervention": _spec_get(spec, "question.intervention"),
        "outcome": _spec_get(spec, "question.outcome"),
        "effect": getattr(units, "short", None) or getattr(units, "detail", None),
        "effect_detail": getattr(units, "detail", None),
        "certainty_symbols": getattr(analysis.certainty, "symbols", None),
        "studies": int(analysis.meta.k),
        "effects": int(len(data)),
        "cost": _spec_get(spec, "decision.cost"),
        "cost_reason": _spec_get(spec, "decision.cost_reason"),
        "gap": gap_cells(data, spec),
    }
