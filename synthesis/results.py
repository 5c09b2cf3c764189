"""One protocol for every result object.

Every result the library returns (pooled model, meta-regression, subgroups,
Egger, Begg, trim-and-fill, leave-one-out, influence, the exact and sampled
Bayesian results) derives from :class:`Result` and offers

- ``summary()``: a tidy :class:`pandas.DataFrame` of what a reader looks at;
- ``to_frame()``: a tidy DataFrame of the result's rows (one row for scalar results);
- ``to_dict()``: a JSON-able dictionary (NaN and infinities become ``None``);
- a readable ``repr`` (the summary table under a one-line title).

Names follow metafor in snake_case: ``estimate, se, ci_lb, ci_ub, pi_lb, pi_ub,
tau2, I2, H2, QE, QEp`` (``Q``/``Q_pval`` are kept as aliases of ``QE``/``QEp``).
This module is a leaf: it imports nothing else from ``synthesis``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Result", "jsonable"]


def jsonable(obj: Any) -> Any:
    """Convert NumPy / pandas values to plain JSON types; NaN and infinities become ``None``.

    Examples
    --------
    >>> jsonable({"a": np.float64(1.5), "b": np.array([1, 2]), "c": float("nan"), "d": (np.int64(3),)})
    {'a': 1.5, 'b': [1, 2], 'c': None, 'd': [3]}
    """
    if isinstance(obj, Result):
        return obj.to_dict()
    if isinstance(obj, Mapping):
        return {str(key): jsonable(value) for key, value in obj.items()}
    if isinstance(obj, pd.DataFrame):
        return jsonable(obj.reset_index().to_dict(orient="records"))
    if isinstance(obj, pd.Series):
        return jsonable(obj.to_dict())
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(value) for value in obj]
    if isinstance(obj, (bool, np.bool_)):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        return value if math.isfinite(value) else None
    if obj is None or isinstance(obj, str):
        return obj
    if obj is pd.NA or obj is pd.NaT:
        return None
    return str(obj)


class Result:
    """Base class of every result object (see the module docstring).

    Subclasses implement :meth:`to_dict` and :meth:`summary`; they may override
    :meth:`to_frame` when the result has one row per study or per term, and set
    ``_title`` (or override :meth:`title`) for the first line of the ``repr``.

    Examples
    --------
    >>> class Mean(Result):
    ...     _title = "Mean"
    ...     def __init__(self, x): self.x = x
    ...     def to_dict(self): return {"estimate": float(np.mean(self.x))}
    ...     def summary(self): return pd.DataFrame({"value": [np.mean(self.x)]}, index=["estimate"])
    >>> m = Mean([1.0, 2.0])
    >>> m.to_frame()
       estimate
    0       1.5
    >>> print(m)
    Mean
              value
    estimate    1.5
    """

    _title = "Result"

    def to_dict(self) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def summary(self) -> pd.DataFrame:  # pragma: no cover - abstract
        raise NotImplementedError

    def to_frame(self) -> pd.DataFrame:
        """One-row tidy DataFrame of the scalar entries of :meth:`to_dict`."""
        scalars = {key: value for key, value in self.to_dict().items()
                   if not isinstance(value, (list, dict))}
        return pd.DataFrame([scalars])

    def title(self) -> str:
        """First line of the ``repr``."""
        return self._title

    def __repr__(self) -> str:
        with pd.option_context("display.precision", 4, "display.width", 120,
                               "display.max_columns", 20):
            return f"{self.title()}\n{self.summary().to_string()}"

    def _repr_html_(self) -> str:
        return f"<p><strong>{_escape(self.title())}</strong></p>{self.summary().to_html(float_format=_float4)}"


def _escape(text: str) -> str:
    import html

    return html.escape(text)


def _float4(x: float) -> str:
    return f"{x:.4g}"
