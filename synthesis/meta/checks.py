"""Validation of the numbers handed to the engine.

Rows are named the way a spreadsheet user counts them: the first study is
row 1. Messages say which rows, which column, what is wrong and what to do.
Missing values (NaN) are dropped with a warning that lists the rows, as
metafor does; everything else that is invalid is refused.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from synthesis.errors import DataError

__all__ = ["as_float_array", "check_effects", "format_rows"]


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
    if finite.sum() == 0:
        raise DataError("no studies: k = 0; give at least one effect size and variance")
    return arrays[names[0]], arrays[names[1]], finite
