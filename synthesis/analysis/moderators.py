"""Moderators of one review: coded levels relabelled, one meta-regression per moderator."""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from synthesis.meta.regression import meta_regression, sorted_levels
from synthesis.review.data_file import same_level

__all__ = ["labelled_levels", "moderator_table"]


def _spec_get(obj: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return default
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return default if obj is None else obj


def labelled_levels(data: pd.DataFrame, moderators: list[Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Replace coded levels of categorical moderators by their labels (``level_labels``).

    Returns the relabelled copy and each moderator's reference level, relabelled
    too, so tables and figures read "tailored vs not tailored" instead of "1 vs 0".

    Examples
    --------
    >>> d = pd.DataFrame({"meta": [0.0, 1.0, None]})
    >>> out, ref = labelled_levels(d, [{"name": "meta", "type": "categorical", "reference": 0,
    ...                                 "level_labels": {0: "no prompts", 1: "prompts"}}])
    >>> out["meta"].tolist(), ref
    (['no prompts', 'prompts', nan], {'meta': 'no prompts'})
    """
    out = data.copy()
    references: dict[str, Any] = {}
    for mod in moderators:
        name = _spec_get(mod, "name")
        reference = _spec_get(mod, "reference")
        labels = _spec_get(mod, "level_labels") or {}
        if _spec_get(mod, "type") != "categorical" or name not in out.columns:
            continue
        if labels:
            def relabel(value: Any, labels: dict = labels) -> Any:
                if value is None or pd.isna(value):
                    return None
                return next((str(lab) for key, lab in labels.items() if same_level(value, key)), str(value))
            out[name] = out[name].map(relabel).astype(object)
            if reference is not None:
                reference = relabel(reference)
        references[name] = reference
    return out, references


def moderator_table(data: pd.DataFrame, moderators: list[Any], *, method: str, test: str,
                    level: float, fitter: Callable[..., Any] | None = None) -> pd.DataFrame:
    """One row per moderator term from single-moderator meta-regressions.

    Columns: ``moderator, label, term, comparison, estimate, ci_lb, ci_ub, pval, QMp, R2, k, note``.
    Each moderator is analysed on its own (one at a time), so the table answers
    "does this characteristic explain differences between studies?". ``fitter(data,
    [name], categorical=..., reference=...)`` fits one moderator (default:
    :func:`synthesis.meta.meta_regression` with ``method``, ``test`` and ``level``;
    several effects per study: :func:`synthesis.analysis.dependence.moderator_fitter`).

    Examples
    --------
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
    ...                   "dose": [1, 2, 3, 1, 4, 2]})
    >>> moderator_table(d, [{"name": "dose"}], method="REML", test="z", level=0.95)["term"].tolist()
    ['dose']
    """
    data, references = labelled_levels(data, moderators)
    rows = []
    for mod in moderators:
        name = _spec_get(mod, "name")
        label = _spec_get(mod, "label", name)
        categorical = _spec_get(mod, "type", "") == "categorical"
        reference = references.get(name, _spec_get(mod, "reference"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = (fitter or functools.partial(meta_regression, method=method, test=test, level=level))(
                    data, [name], categorical=[name] if categorical else [],
                    reference={name: reference} if reference is not None else None)
            except ValueError as exc:  # e.g. too few studies for the levels: say so in the table
                rows.append({"moderator": name, "label": label, "term": "", "comparison": "",
                             "estimate": np.nan,
                             "ci_lb": np.nan, "ci_ub": np.nan, "pval": np.nan, "QMp": np.nan,
                             "R2": np.nan, "k": 0, "note": str(exc)})
                continue
        ref_level = str(reference) if reference is not None else None
        if categorical and ref_level is None:
            levels = sorted_levels(data[name])  # the regression's own order, so the names agree
            ref_level = str(levels[0]) if levels else ""
        for i, term in enumerate(fit.coef_names[1:], start=1):
            comparison = (f"{term[len(name) + 1:-1]} vs {ref_level}" if categorical and term.startswith(f"{name}[")
                          else "per unit increase")
            rows.append({"moderator": name, "label": label, "term": term, "comparison": comparison,
                         "estimate": fit.coef[i],
                         "ci_lb": fit.ci_lb[i], "ci_ub": fit.ci_ub[i], "pval": fit.pval[i],
                         "QMp": fit.QMp, "R2": fit.R2, "k": fit.k, "note": ""})
    return pd.DataFrame(rows, columns=["moderator", "label", "term", "comparison", "estimate", "ci_lb", "ci_ub",
                                       "pval", "QMp", "R2", "k", "note"])
