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

__all__ = ["labelled_levels", "moderator_table", "moderator_predictions"]


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


def _fit_one(data: pd.DataFrame, name: str, categorical: bool, reference: Any, *, method: str, test: str,
             level: float, fitter: Callable[..., Any] | None = None) -> Any:
    """The single-moderator meta-regression (library warnings kept out of the page); ``fitter``
    as in :func:`moderator_table` (the dependent-effects model), else :func:`meta_regression`."""
    fit_with = fitter or functools.partial(meta_regression, method=method, test=test, level=level)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return fit_with(data, [name], categorical=[name] if categorical else [],
                        reference={name: reference} if reference is not None else None)


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
        try:
            fit = _fit_one(data, name, categorical, reference, method=method, test=test, level=level,
                           fitter=fitter)
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


def _quartiles(values: pd.Series) -> list[float]:
    """The lower quartile, median and upper quartile of a continuous moderator (distinct values only)."""
    x = pd.to_numeric(values, errors="coerce").dropna().to_numpy(float)
    return list(dict.fromkeys(float(v) for v in np.quantile(x, [0.25, 0.5, 0.75]))) if x.size else []


def moderator_predictions(data: pd.DataFrame, moderators: list[Any], *, method: str, test: str,
                          level: float, fitter: Callable[..., Any] | None = None,
                          study: str | None = None) -> pd.DataFrame:
    """The effect predicted at each level of every moderator (at its quartiles if continuous).

    One single-moderator meta-regression per moderator, as :func:`moderator_table` (with
    the same ``fitter``: for several effects per study, the working model on every effect
    size), and its ``predict`` at each level; ``pval`` is the one test of whether the effect
    differs by the moderator (the omnibus ``QMp``), the same on every row of that moderator,
    so a page shows it once.

    Columns: ``moderator, label, role, setting, value, pred, ci_lb, ci_ub, k, pval, note``
    (``k``: studies at the level, counted by the column ``study`` when rows are effect
    sizes; ``note``: why a moderator could not be analysed).

    Examples
    --------
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
    ...                   "phase": ["primary", "primary", "secondary", "primary", "secondary", "secondary"]})
    >>> t = moderator_predictions(d, [{"name": "phase", "type": "categorical", "reference": "primary"}],
    ...                           method="REML", test="z", level=0.95)
    >>> t[["setting", "k"]].values.tolist(), round(float(t["pred"].iloc[1]), 3)
    ([['primary', 3], ['secondary', 3]], 0.533)
    """
    def n_studies(rows: pd.DataFrame) -> int:
        return int(rows[study].nunique()) if study else int(len(rows))

    data, references = labelled_levels(data, moderators)
    rows: list[dict[str, Any]] = []
    for mod in moderators:
        name = _spec_get(mod, "name")
        base = {"moderator": name, "label": _spec_get(mod, "label", name), "role": _spec_get(mod, "role")}
        categorical = _spec_get(mod, "type", "") == "categorical"
        reference = references.get(name, _spec_get(mod, "reference"))
        used = data.dropna(subset=[name, "yi", "vi"]) if name in data.columns else data.iloc[:0]
        try:
            fit = _fit_one(data, name, categorical, reference, method=method, test=test, level=level,
                           fitter=fitter)
            if categorical:
                levels = [str(v) for v in sorted_levels(used[name])]
                named = [str(v) for v in (_spec_get(mod, "level_labels") or {}).values()]
                levels = [v for v in named if v in levels] + [v for v in levels if v not in named]
                if reference is not None and str(reference) in levels:
                    levels.remove(str(reference))
                    levels.insert(0, str(reference))
                counts = [n_studies(used[used[name].astype(str) == v]) for v in levels]
                values: list[Any] = levels
            else:
                values = _quartiles(used[name])
                counts = [n_studies(used)] * len(values)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                pred = fit.predict({name: values}).table
        except ValueError:  # too few studies for the levels: said in words, the error in analysis.html
            rows.append({**base, "setting": "", "value": np.nan, "pred": np.nan, "ci_lb": np.nan,
                         "ci_ub": np.nan, "k": n_studies(used), "pval": np.nan,
                         "note": "too few studies in some groups to compare them"})
            continue
        for i, value in enumerate(values):
            setting = str(value) if categorical else f"{('lower quartile', 'median', 'upper quartile')[i]}"
            rows.append({**base, "setting": setting, "value": value if not categorical else np.nan,
                         "pred": float(pred["pred"].iloc[i]), "ci_lb": float(pred["ci_lb"].iloc[i]),
                         "ci_ub": float(pred["ci_ub"].iloc[i]), "k": counts[i], "pval": float(fit.QMp),
                         "note": ""})
    return pd.DataFrame(rows, columns=["moderator", "label", "role", "setting", "value", "pred", "ci_lb", "ci_ub",
                                       "k", "pval", "note"])
