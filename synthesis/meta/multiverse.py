"""A sensitivity multiverse: every combination of reasonable analytic choices, solved as arrays.

A *specification* is one combination of choices: the effect set (the measure,
or the within-study correlation of aggregated effects), which studies are
excluded (each exclusion rule a dimension with two levels, and optionally each
study left out in turn), the tau² estimator, the test (z or Knapp-Hartung) and
the publication-bias adjustment. The grid is the full product of the levels.

Specifications are grouped by effect set and subset of studies: the subsets of
one effect set are the rows of a 0/1 mask, and :func:`synthesis.meta.refits.subset_tau2`
solves each estimator on all rows at once (the way leave-one-out is
vectorised); the weighted means, both tests and the intervals follow as array
operations. Nothing loops over specifications except the adjustments for
publication bias (trim-and-fill and the selection model are per-subset fits),
which run only on subsets of at least :data:`MIN_BIAS_STUDIES` studies, through
a ``map`` the caller may replace by a parallel one.
"""
from __future__ import annotations

import itertools
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from synthesis.meta.core import METHODS
from synthesis.meta.pooled import TESTS, fit_pooled, normalise_level
from synthesis.meta.refits import subset_tau2
from synthesis.meta.small_study import MIN_STUDIES
from synthesis.results import Result, jsonable

__all__ = ["multiverse_analysis", "MultiverseResult", "BIAS_ADJUSTMENTS", "MIN_BIAS_STUDIES", "OUTCOMES",
           "fit_specification"]

#: the publication-bias adjustments: none, trim-and-fill (metafor's ``trimfill``), the 3PSM selection model
BIAS_ADJUSTMENTS = ("none", "trimfill", "selection")
#: adjustments for publication bias are fitted only on subsets of at least this many studies
MIN_BIAS_STUDIES = MIN_STUDIES
#: the numbers of each specification (the table's columns after the choices)
OUTCOMES = ("k", "estimate", "se", "ci_lb", "ci_ub", "pval", "tau2", "status")
#: how the set of studies is chosen: keep the rows of these dimensions as columns of the table
LEAVE_OUT = "left_out"
_NUMBERS = ("estimate", "se", "ci_lb", "ci_ub", "pval", "tau2")
OUTLIERS = "outliers"
#: Above this many studies the outlier rule uses the internally studentized residual of the
#: full fit instead of the externally studentized one: k leave-one-out REML refits cost
#: O(k^2) (15 s at k = 10,000), and one study moves tau² by O(1/k), so the two differ little.
OUTLIER_REFIT_CAP = 500


@dataclass(frozen=True)
class _BiasTask:
    """One publication-bias fit (picklable, for a parallel ``map``)."""

    y: np.ndarray
    v: np.ndarray
    method: str
    test: str
    level: float
    adjustment: str
    alternative: str


def _bias_fit(task: _BiasTask) -> tuple[float, ...]:
    """``estimate, se, ci_lb, ci_ub, pval, tau2, unchanged`` of one adjusted fit (NaN when it cannot be fitted).

    ``unchanged`` is 1 when trim-and-fill filled no study (its result is then the
    unadjusted fit, under the unadjusted fit's test).
    """
    from synthesis.meta.selection import selection_model
    from synthesis.meta.small_study import trim_and_fill

    fit = fit_pooled(task.y, task.v, None, method=task.method, test=task.test, level=task.level)
    unchanged = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if task.adjustment == "trimfill":
            filled = trim_and_fill(fit)
            adjusted: Any = filled.fit
            unchanged = float(filled.k0 == 0)
        else:
            adjusted = selection_model(fit, alternative=task.alternative)
    if adjusted is None:
        return (np.nan,) * 6 + (0.0,)
    return (adjusted.estimate, adjusted.se, adjusted.ci_lb, adjusted.ci_ub, adjusted.pval, adjusted.tau2,
            unchanged)


def _bias_key(adjustment: str, set_index: int, row: int, method: str) -> tuple[Any, ...]:
    """Fits that give the same adjusted result: the selection model refits by ML (only EE differs),
    trim-and-fill uses the method, and neither depends on the test (trim-and-fill's refit is z)."""
    if adjustment == "selection":
        return adjustment, set_index, row, method == "EE"
    return adjustment, set_index, row, method


def _rows(y: np.ndarray, v: np.ndarray, mask: np.ndarray, tau2: np.ndarray, test: str, level: float
          ) -> dict[str, np.ndarray]:
    """The pooled fit of every subset (row of ``mask``) at its tau², as :func:`fit_pooled`, vectorised."""
    n = mask.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        W = mask / (v[None, :] + tau2[:, None])
        sw = W.sum(axis=1)
        mu = W @ y / sw
        var = 1 / sw
        knha = (test == "knha") & (n >= 2)  # k = 1: metafor falls back to z
        df = np.maximum(n - 1, 1)
        if test == "knha":
            resid = y[None, :] - mu[:, None]
            Q = np.einsum("ij,ij->i", W, resid * resid)
            var = np.where(knha, var * Q / df, var)
        se = np.sqrt(var)
        stat = mu / se
        alpha = 1 - level
        pval = np.where(knha, 2 * special.stdtr(df, -np.abs(stat)), 2 * special.ndtr(-np.abs(stat)))
        crit = np.where(knha, special.stdtrit(df, 1 - alpha / 2), special.ndtri(1 - alpha / 2))
    empty = n == 0
    nan = np.where(empty, np.nan, 1.0)
    return {"k": n, "estimate": mu * nan, "se": se * nan, "ci_lb": (mu - crit * se) * nan,
            "ci_ub": (mu + crit * se) * nan, "pval": pval * nan, "tau2": tau2 * nan}


def _outlier_mask(y: np.ndarray, v: np.ndarray, method: str, level: float) -> np.ndarray:
    """Studies kept by the outlier rule: |studentized residual| at most the normal critical value.

    Externally studentized (metafor's ``rstudent``) up to :data:`OUTLIER_REFIT_CAP`
    studies, internally studentized (``rstandard``: ``e_i / sqrt(v_i + tau² - 1/sum w)``) above.
    """
    from synthesis.meta.case_diagnostics import influence

    keep = np.ones(y.size, dtype=bool)
    if y.size < 3:
        return keep
    fit = fit_pooled(y, v, None, method=method, test="z", level=level)
    if y.size > OUTLIER_REFIT_CAP:
        w = 1 / (v + fit.tau2)
        residual = (y - fit.estimate) / np.sqrt(v + fit.tau2 - 1 / w.sum())
    else:
        residual = influence(fit).to_frame()["rstudent"].to_numpy(dtype=float)
    limit = special.ndtri(1 - (1 - level) / 2)
    return ~(np.abs(residual) > limit)


def _as_set_levels(effect_sets: Mapping[Any, tuple[Any, Any]], dimensions: Sequence[str]
                   ) -> list[tuple[tuple[str, ...], np.ndarray, np.ndarray]]:
    out = []
    for key, (y, v) in effect_sets.items():
        levels = tuple(map(str, key if isinstance(key, tuple) else (key,)))
        if len(levels) != len(dimensions):
            raise ValueError(f"effect set {key!r} names {len(levels)} choice(s) for the dimensions "
                             f"{list(dimensions)}")
        out.append((levels, np.asarray(y, dtype=float), np.asarray(v, dtype=float)))
    return out


@dataclass(repr=False)
class MultiverseResult(Result):
    """Every specification of a sensitivity multiverse (:func:`multiverse_analysis`).

    Attributes
    ----------
    table : DataFrame
        One row per specification: a column per choice (``dimensions``), then
        ``k, estimate, se, ci_lb, ci_ub, pval, tau2`` and ``status`` (``ok``,
        ``no studies``, or why an adjustment was not fitted).
    dimensions : dict
        Each choice and its levels, in the order of the grid.
    level : float
        Confidence level of the intervals.
    notes : list of str
        What was left out and why.
    """

    table: pd.DataFrame
    dimensions: dict[str, list[str]]
    level: float
    notes: list[str] = field(default_factory=list)
    _title = "Sensitivity multiverse"

    @property
    def size(self) -> int:
        """The number of specifications (the product of the numbers of levels)."""
        return len(self.table)

    @property
    def fitted(self) -> pd.DataFrame:
        """The specifications that could be fitted (``status == "ok"``)."""
        return self.table[self.table["status"] == "ok"]

    def title(self) -> str:
        return f"Sensitivity multiverse: {self.size} specifications, {len(self.fitted)} fitted"

    def to_frame(self) -> pd.DataFrame:
        """The table of every specification (a copy)."""
        return self.table.copy()

    def summary(self) -> pd.DataFrame:
        """Per choice and level: specifications fitted, median estimate and share with a positive estimate.

        Examples
        --------
        >>> res = multiverse_analysis({"SMD": ([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06])},
        ...                           methods=("DL", "REML"), tests=("z",), outliers=False)
        >>> res.summary()[["fitted", "positive"]]
                      fitted  positive
        choice level                  
        method DL          1       1.0
               REML        1       1.0
        """
        fitted = self.fitted
        rows = []
        for name, levels in self.dimensions.items():
            if len(levels) < 2:
                continue
            for level in levels:
                part = fitted[fitted[name] == level]
                rows.append({"choice": name, "level": level, "fitted": len(part),
                             "median_estimate": float(part["estimate"].median()) if len(part) else np.nan,
                             "positive": float((part["estimate"] > 0).mean()) if len(part) else np.nan})
        return pd.DataFrame(rows, columns=["choice", "level", "fitted", "median_estimate", "positive"]
                            ).set_index(["choice", "level"])

    def to_dict(self) -> dict[str, Any]:
        """Size, dimensions, how many were fitted and the range of the estimates (JSON-able)."""
        est = self.fitted["estimate"]
        return jsonable({"size": self.size, "fitted": len(self.fitted), "dimensions": self.dimensions,
                         "level": self.level, "estimate_min": est.min() if len(est) else None,
                         "estimate_median": est.median() if len(est) else None,
                         "estimate_max": est.max() if len(est) else None, "notes": self.notes})


def multiverse_analysis(effect_sets: Mapping[Any, tuple[Any, Any]], *, set_dimensions: Sequence[str] = ("measure",),
                        labels: Sequence[str] | None = None, exclusions: Mapping[str, Any] | None = None,
                        outliers: bool = True, leave_one_out: bool = False,
                        methods: Iterable[str] = METHODS, tests: Iterable[str] = TESTS,
                        bias: Iterable[str] = ("none",), level: float = 0.95, outlier_method: str = "REML",
                        alternative: str = "greater",
                        map: Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]] | None = None
                        ) -> MultiverseResult:
    """Fit every combination of analytic choices (a specification curve's grid), vectorised.

    Parameters
    ----------
    effect_sets : mapping
        ``{levels: (yi, vi)}``: the same k studies, in the same order, under each
        level of ``set_dimensions`` (e.g. ``{"OR": ..., "RR": ..., "RD": ...}``, or
        ``{("SMD", "0.6"): ...}`` with two set dimensions).
    set_dimensions : sequence of str
        The names of the choices that change the effect sizes themselves.
    labels : sequence of str, optional
        Study labels (the levels of the leave-one-out dimension).
    exclusions : mapping, optional
        ``{dimension: (included_level, excluded_level, keep)}`` with ``keep`` a
        boolean array over the k studies: each rule is a dimension of two levels.
    outliers : bool
        Add the dimension ``outliers`` (``kept`` / ``removed``): a study is an
        outlier when its externally studentized residual in the full fit of
        the effect set (``outlier_method``, z) exceeds the normal critical value
        of ``level`` (1.96 at 95%) in absolute value; above :data:`OUTLIER_REFIT_CAP`
        studies the internally studentized residual is used (and a note says so).
    leave_one_out : bool
        Add the dimension ``left_out``: ``none`` and each study left out in turn.
    methods, tests : iterable of str
        tau² estimators and tests (``z``, ``knha``).
    bias : iterable of str
        Publication-bias adjustments (:data:`BIAS_ADJUSTMENTS`); trim-and-fill and the
        selection model are fitted only on subsets of at least :data:`MIN_BIAS_STUDIES` studies.
    level : float
        Confidence level.
    alternative : str
        Direction of the selection model's p-values (``"greater"``, ``"less"``).
    map : callable, optional
        ``map(function, tasks)`` for the per-subset adjustment fits (default: in process);
        a parallel executor's map can be passed.

    Returns
    -------
    MultiverseResult

    Examples
    --------
    >>> res = multiverse_analysis({"SMD": ([0.1, 0.5, 0.9, -0.2, 0.3], [0.04, 0.05, 0.03, 0.06, 0.02])},
    ...                           methods=("DL", "REML"), leave_one_out=True, outliers=False)
    >>> res.size, list(res.dimensions)
    (24, ['measure', 'left_out', 'method', 'test', 'bias'])
    >>> res.table.loc[0, ["left_out", "method", "test"]].tolist(), int(res.table.loc[0, "k"])
    (['none', 'DL', 'z'], 5)
    """
    level = normalise_level(level)
    methods, tests, bias = tuple(methods), tuple(tests), tuple(bias)
    unknown = [b for b in bias if b not in BIAS_ADJUSTMENTS]
    if unknown:
        raise ValueError(f"unknown publication-bias adjustment(s) {unknown}; choose from {BIAS_ADJUSTMENTS}")
    sets = _as_set_levels(effect_sets, set_dimensions)
    k = sets[0][1].size
    labels = [f"Study {i + 1}" for i in range(k)] if labels is None else [str(x) for x in labels]
    rules = {name: (str(inc), str(exc), np.asarray(keep, dtype=bool))
             for name, (inc, exc, keep) in (exclusions or {}).items()}
    subset_dims: dict[str, list[str]] = {name: [inc, exc] for name, (inc, exc, _) in rules.items()}
    if outliers:
        subset_dims[OUTLIERS] = ["kept", "removed"]
    if leave_one_out:
        subset_dims[LEAVE_OUT] = ["none", *labels]
    dimensions = {name: sorted({levels[i] for levels, _, _ in sets}, key=[s[0][i] for s in sets].index)
                  for i, name in enumerate(set_dimensions)}
    dimensions.update(subset_dims)
    dimensions.update(method=list(methods), test=list(tests), bias=list(bias))
    subset_levels = list(itertools.product(*subset_dims.values()))
    tasks: dict[tuple[Any, ...], _BiasTask] = {}
    pending: list[tuple[dict[str, np.ndarray], int, tuple[Any, ...], dict[str, np.ndarray]]] = []
    blocks = []
    for set_index, (set_levels, y, v) in enumerate(sets):
        if y.size != k:
            raise ValueError(f"effect set {set_levels} has {y.size} studies, the first has {k}")
        masks = _subset_masks(subset_dims, subset_levels, rules, labels, y, v, outlier_method, level)
        for method in methods:
            tau2 = subset_tau2(method, y, v, masks)
            for test in tests:
                fits = _rows(y, v, masks, tau2, test, level)
                for adjustment in bias:
                    block = {key: np.array(val, dtype=float, copy=True) for key, val in fits.items()}
                    block["status"] = np.where(block["k"] > 0, "ok", "no studies").astype(object)
                    if adjustment != "none":
                        small = (block["k"] < MIN_BIAS_STUDIES) & (block["k"] > 0)
                        block["status"][small] = f"not fitted: fewer than {MIN_BIAS_STUDIES} studies"
                        for col in _NUMBERS:
                            block[col][small] = np.nan
                        for row in np.flatnonzero(~small & (block["k"] > 0)):
                            key = _bias_key(adjustment, set_index, int(row), method)
                            if key not in tasks:
                                keep = masks[row] > 0
                                tasks[key] = _BiasTask(y[keep], v[keep], method, "z", level, adjustment,
                                                       alternative)
                            pending.append((block, int(row), key, fits))
                    blocks.append((set_levels, method, test, adjustment, block))
    done = dict(zip(tasks, (map or _builtin_map)(_bias_fit, list(tasks.values()))))
    for block, row, key, fits in pending:
        values = done[key]
        source = {col: fits[col][row] for col in _NUMBERS} if values[6] else dict(zip(_NUMBERS, values))
        for col in _NUMBERS:
            block[col][row] = source[col]
        if not np.isfinite(values[0]):
            block["status"][row] = "not fitted: the model did not converge"
    table = _assemble(blocks, subset_dims, subset_levels, list(dimensions), set_dimensions)
    notes = []
    adjusted = [{"trimfill": "Trim-and-fill", "selection": "The selection model"}[b] for b in bias if b != "none"]
    if adjusted:
        notes.append(f"{' and '.join(adjusted)} {'was' if len(adjusted) == 1 else 'were'} fitted only where at "
                     f"least {MIN_BIAS_STUDIES} studies remain.")
    if OUTLIERS in subset_dims and any(y.size > OUTLIER_REFIT_CAP for _, y, _ in sets):
        notes.append(f"With more than {OUTLIER_REFIT_CAP} studies, outliers were found from the full fit's "
                     "standardized residuals rather than by refitting without each study.")
    return MultiverseResult(table=table, dimensions=dimensions, level=level, notes=notes)


def _builtin_map(function: Callable[[Any], Any], tasks: list[Any]) -> Iterable[Any]:
    return [function(task) for task in tasks]


def _subset_masks(subset_dims: Mapping[str, list[str]], subset_levels: list[tuple[str, ...]],
                  rules: Mapping[str, tuple[str, str, np.ndarray]], labels: list[str], y: np.ndarray,
                  v: np.ndarray, outlier_method: str, level: float) -> np.ndarray:
    """The 0/1 mask (subsets x studies) of every combination of the exclusion levels."""
    k = y.size
    keep_outliers = _outlier_mask(y, v, outlier_method, level) if OUTLIERS in subset_dims else None
    masks = np.ones((len(subset_levels), k))
    for j, name in enumerate(subset_dims):
        for i, combo in enumerate(subset_levels):
            choice = combo[j]
            if name in rules and choice == rules[name][1]:
                masks[i] *= rules[name][2]
            elif name == OUTLIERS and choice == "removed":
                masks[i] *= keep_outliers
            elif name == LEAVE_OUT and choice != "none":
                masks[i, labels.index(choice)] = 0.0
    return masks


def _assemble(blocks: list[Any], subset_dims: Mapping[str, list[str]], subset_levels: list[tuple[str, ...]],
              columns: list[str], set_dimensions: Sequence[str]) -> pd.DataFrame:
    """One tidy table, in grid order (effect set, exclusions, method, test, bias)."""
    frames = []
    for set_levels, method, test, adjustment, block in blocks:
        part = pd.DataFrame(subset_levels, columns=list(subset_dims)) if subset_dims else pd.DataFrame(index=[0])
        for name, value in zip(set_dimensions, set_levels):
            part[name] = value
        part["method"], part["test"], part["bias"] = method, test, adjustment
        for col in OUTCOMES:
            part[col] = block[col]
        part["_subset"] = np.arange(len(part))
        frames.append(part)
    table = pd.concat(frames, ignore_index=True)
    order = [*set_dimensions, "_subset", "method", "test", "bias"]
    keys = {name: {lev: i for i, lev in enumerate(dict.fromkeys(table[name]))} for name in order
            if name != "_subset"}
    sort = [table[name].map(keys[name]) if name in keys else table[name] for name in order]
    index = np.lexsort([s.to_numpy() for s in reversed(sort)])
    table = table.iloc[index].reset_index(drop=True)
    table["k"] = table["k"].astype(int)
    return table[[*columns, *OUTCOMES]]


def fit_specification(y: Any, v: Any, *, keep: Any = None, method: str = "REML", test: str = "z",
                      bias: str = "none", level: float = 0.95, alternative: str = "greater") -> dict[str, float]:
    """One specification fitted on its own (the loop the multiverse replaces; for checks and benchmarks).

    Examples
    --------
    >>> out = fit_specification([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06], method="DL")
    >>> round(out["estimate"], 4), out["k"]
    (0.34, 4)
    """
    from synthesis.meta.pooled import meta_analysis

    y, v = np.asarray(y, dtype=float), np.asarray(v, dtype=float)
    keep = np.ones(y.size, dtype=bool) if keep is None else np.asarray(keep, dtype=bool)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = meta_analysis(y[keep], v[keep], method=method, test=test, level=level)
    if bias == "none":
        values: tuple[float, ...] = (fit.estimate, fit.se, fit.ci_lb, fit.ci_ub, fit.pval, fit.tau2)
    else:
        values = _bias_fit(_BiasTask(y[keep], v[keep], fit.method, test, level, bias, alternative))[:6]
    return dict(zip(_NUMBERS, values), k=int(keep.sum()))
