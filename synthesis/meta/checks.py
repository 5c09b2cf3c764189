"""Validation of the numbers handed to the engine.

Rows are named the way a spreadsheet user counts them: the first study is
row 1. Messages say which rows, which column, what is wrong and what to do.
Missing values (NaN) are dropped with a warning that lists the rows, as
metafor does; everything else that is invalid is refused.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from synthesis.errors import DataError

__all__ = ["as_float_array", "check_effects", "format_rows", "pooling_problems", "Infeasible",
           "VARIANCE_RATIO_LIMIT"]

#: metafor's bound on the ratio of sampling variances (``1 / control$evtol``): from 1e7 it warns
#: that it "may not be able to obtain stable results" (the weights then differ by seven orders of
#: magnitude and one study is the whole analysis). :func:`pooling_problems` refuses a study whose
#: variance is this far from the median of the studies, a bound relative to the other studies
#: rather than an absolute one, since variances scale with the effect measure.
VARIANCE_RATIO_LIMIT = 1e7


def format_rows(index: Sequence[int] | np.ndarray, limit: int = 8) -> str:
    """Name 0-based positions as 1-based rows: ``'rows 2, 5 and 9'``.

    Examples
    --------
    >>> format_rows([1, 4])
    'rows 2 and 5'
    >>> format_rows([0])
    'row 1'
    """
    rows = [str(int(i) + 1) for i in index]
    more = ""
    if len(rows) > limit:
        more = f" (and {len(rows) - limit} more)"
        rows = rows[:limit]
    if len(rows) == 1:
        return f"row {rows[0]}" + more
    return "rows " + ", ".join(rows[:-1]) + " and " + rows[-1] + more


def as_float_array(values: Any, column: str) -> np.ndarray:
    """Convert ``values`` to a 1-D float array, naming the bad cells if that fails.

    Examples
    --------
    >>> as_float_array([1, "2.5", None], "yi")
    array([1. , 2.5, nan])
    """
    try:
        return np.asarray(values, dtype=float).ravel()
    except (TypeError, ValueError):
        raw = np.asarray(values, dtype=object).ravel()
    bad, out = [], np.empty(len(raw))
    for i, cell in enumerate(raw):
        if cell is None or (isinstance(cell, float) and np.isnan(cell)):
            out[i] = np.nan
            continue
        try:
            out[i] = float(cell)
        except (TypeError, ValueError):
            bad.append(i)
    if bad:
        examples = ", ".join(repr(raw[i]) for i in bad[:3])
        raise DataError(
            f"column {column!r}, {format_rows(bad)}: not a number ({examples}); "
            "fix the value or leave the cell empty")
    return out


def check_effects(yi: Any, vi: Any, *, names: tuple[str, str] = ("yi", "vi"),
                  extra: dict[str, Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Validate effect sizes and sampling variances.

    Returns the float arrays with rows holding a missing or infinite value
    removed, and the boolean mask of the rows kept. Raises
    :class:`~synthesis.errors.DataError` for mismatched lengths, non-numeric
    cells, zero or negative variances, or when no study is left.

    Examples
    --------
    >>> y, v, kept = check_effects([0.1, 0.2], [0.01, 0.02])
    >>> kept.tolist()
    [True, True]
    """
    y = as_float_array(yi, names[0])
    v = as_float_array(vi, names[1])
    if y.shape != v.shape:
        raise DataError(f"{names[0]!r} has {y.size} values but {names[1]!r} has {v.size}; "
                        "give one variance per effect size")
    arrays = {names[0]: y, names[1]: v}
    for key, value in (extra or {}).items():
        arr = np.asarray(value)
        if len(arr) != y.size:
            raise DataError(f"{key!r} has {len(arr)} values but {names[0]!r} has {y.size}")
    finite = np.isfinite(y) & np.isfinite(v)
    infinite = np.flatnonzero(np.isinf(y) | np.isinf(v))
    if infinite.size:
        raise DataError(f"{format_rows(infinite)}: infinite effect size or variance; "
                        "check the data (a zero cell or a zero standard deviation?)")
    bad_v = np.flatnonzero(finite & (v <= 0))
    if bad_v.size:
        examples = ", ".join(f"{v[i]:g}" for i in bad_v[:3])
        raise DataError(f"column {names[1]!r}, {format_rows(bad_v)}: {examples} is not a valid "
                        "variance (must be > 0)")
    if not finite.all():
        missing = np.flatnonzero(~finite)
        if not finite.any():
            raise DataError(f"no study left: every row has a missing {names[0]!r} or {names[1]!r}")
        warnings.warn(f"{format_rows(missing)} dropped: missing {names[0]!r} or {names[1]!r} "
                      "(as metafor does)", UserWarning, stacklevel=3)
    for key, arr in arrays.items():
        arrays[key] = arr[finite]
    used = arrays[names[1]]
    if used.size and used.max() / used.min() >= VARIANCE_RATIO_LIMIT:
        warnings.warn(f"the largest sampling variance is {used.max() / used.min():.3g} times the smallest "
                      f"(from {VARIANCE_RATIO_LIMIT:.0e} metafor warns that the results may not be stable); "
                      f"check the extreme values in {names[1]!r}", UserWarning, stacklevel=3)
    if finite.sum() == 0:
        raise DataError("no studies: k = 0; give at least one effect size and variance")
    return arrays[names[0]], arrays[names[1]], finite


@dataclass(frozen=True)
class Infeasible:
    """A reason the analysis cannot be run on the data: 0-based ``rows`` (empty: the data as a whole)."""

    rows: tuple[int, ...]
    message: str


def pooling_problems(yi: Any, vi: Any, *, test: str = "z", min_studies: int = 1,
                     studies: Sequence[Any] | None = None) -> list[Infeasible]:
    """What would stop or void a pooled analysis of these effects, before it is fitted.

    One function, so that checking the data (``synthesis validate``) and analysing them
    (``synthesis run``) refuse the same things with the same words: no usable row;
    fewer than ``min_studies`` distinct studies with an effect (``studies`` names each
    row's study; each row is a study when None); a sampling variance more than
    :data:`VARIANCE_RATIO_LIMIT` times above or below the median of the studies (a
    standard error of 1e-300 gives a variance of 0); all effects identical under the
    Knapp-Hartung test (its standard error is then 0, as metafor returns).

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and sampling variances; missing values are left out, as the engine does.
    test : str
        ``"z"`` or ``"knha"``.
    min_studies : int
        Fewest studies the analysis accepts.
    studies : sequence, optional
        The study of each row (several rows may belong to one study).

    Returns
    -------
    list of Infeasible
        Empty when the analysis can run.

    Examples
    --------
    >>> pooling_problems([0.3, 0.2, 0.5], [1e-300 ** 2, 0.01, 0.04])[0].rows
    (0,)
    >>> [p.message[:32] for p in pooling_problems([0.3, 0.3], [0.01, 0.01], test="knha")]
    ['all 2 effect sizes are identical']
    >>> pooling_problems([0.1, 0.4], [0.02, 0.03], min_studies=2)
    []
    """
    y, v = as_float_array(yi, "yi"), as_float_array(vi, "vi")
    usable = np.flatnonzero(np.isfinite(y) & np.isfinite(v) & (v >= 0))
    if usable.size == 0:
        return [Infeasible((), "no row has both an effect size and a sampling variance, so there is "
                               "nothing to analyse; fill in the effect-size columns")]
    problems = []
    n_studies = len(set(np.asarray(studies, dtype=object)[usable])) if studies is not None else usable.size
    if n_studies < min_studies:
        problems.append(Infeasible((), f"only {n_studies} stud{'y has' if n_studies == 1 else 'ies have'} an "
                                       f"effect size and a variance ({format_rows(usable)}), and a review "
                                       f"pools at least {min_studies}; add the other studies (a single "
                                       "study is reported on its own, not as a synthesis)"))
    median = float(np.median(v[usable]))
    ratio = v[usable] / median if median > 0 else np.ones(usable.size)
    extreme = usable[(ratio >= VARIANCE_RATIO_LIMIT) | (ratio <= 1 / VARIANCE_RATIO_LIMIT) | (v[usable] == 0)]
    for row in extreme:
        value = ("sampling variance 0 (a standard error this small squares to 0)" if v[row] == 0 else
                 f"sampling variance {v[row]:.3g} (standard error {np.sqrt(v[row]):.3g})")
        side = "smaller" if v[row] < median else "larger"
        problems.append(Infeasible((int(row),), f"{value} is more than {VARIANCE_RATIO_LIMIT:.0e} "
                                                f"times {side} than the median of the studies ({median:.3g}), so "
                                                "the results cannot be computed stably (metafor warns from this "
                                                "ratio); check the value (a unit or typing error?) or leave the "
                                                "study out"))
    if test == "knha" and usable.size > 1 and np.all(y[usable] == y[usable[0]]):
        problems.append(Infeasible((), f"all {usable.size} effect sizes are identical ({y[usable[0]]:g}), so "
                                       "the Knapp-Hartung (knha) standard error is 0 and the confidence "
                                       "interval has no width; use the z test, or check the data"))
    return problems
