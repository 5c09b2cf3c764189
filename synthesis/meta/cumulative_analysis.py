"""Cumulative meta-analysis (metafor's ``cumul.rma.uni``).

The pooled model is refitted on the first 1, 2, ..., k studies in a given
order (by year of publication, typically), showing how the evidence
accumulated. All k fits are computed together (:mod:`synthesis.meta.refits`):
row i of a lower-triangular mask holds the first i studies.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from synthesis.errors import DataError
from synthesis.meta.case_diagnostics import CaseDeletionResult
from synthesis.meta.pooled import MetaResult
from synthesis.meta.prediction import ordered_bounds
from synthesis.meta.refits import subset_tau2, subset_weights, weighted_rows
from synthesis.numbers import number

__all__ = ["cumulative", "CumulativeResult"]

#: rows of the k x k weight matrix handled at once (bounds the memory at about 32 MB per array)
BLOCK_CELLS = 4_000_000


@dataclass(repr=False)
class CumulativeResult(CaseDeletionResult):
    """Result of :func:`cumulative`: one row per step, indexed by the study added at that step.

    ``to_frame()`` has metafor's columns ``estimate, se, zval (tval), pval, ci_lb, ci_ub,
    QE, QEp, tau2, I2, H2`` and ``k`` (studies in the fit); ``result[column]`` reads a column.
    ``order`` holds the positions of the fitted studies in the cumulative order.
    """

    order: np.ndarray
    transformed: bool

    def summary(self) -> pd.DataFrame:
        """The estimate, its interval and the heterogeneity as each study is added."""
        return self.table[["k", "estimate", "ci_lb", "ci_ub", "pval", "tau2", "I2"]]

    def highlights(self) -> dict[str, Any]:
        return {"level": self.fit.level, "transformed": self.transformed,
                "final": self.table.iloc[-1][["estimate", "ci_lb", "ci_ub"]].to_dict()}

    def title(self) -> str:
        first, last = self.table["estimate"].iloc[0], self.table["estimate"].iloc[-1]
        return (f"Cumulative meta-analysis ({self.fit.method}), k = {self.k}: estimate from "
                f"{number(first, 4)} (first study) to {number(last, 4)} (all studies)")


def _order(fit: MetaResult, order: Any, data: pd.DataFrame | None) -> np.ndarray:
    """Positions of the fitted studies in the cumulative order (stable, missing keys last)."""
    k = fit.k
    if order is None:
        return np.arange(k)
    if isinstance(order, str):
        if data is None:
            raise DataError(f"order={order!r} names a column: pass the data the model was fitted on "
                            "(cumulative(fit, order=..., data=...))")
        if order not in data.columns:
            raise DataError(f"column {order!r} (given as order) not found; the data have columns: "
                            + ", ".join(map(str, data.columns)))
        keys = data[order]
    else:
        keys = pd.Series(list(order) if not isinstance(order, (pd.Series, np.ndarray)) else order)
    keys = pd.Series(np.asarray(keys))
    kept = fit.kept
    if kept is not None and len(keys) == len(kept) != k:
        keys = keys[np.asarray(kept, dtype=bool)]
    if len(keys) != k:
        raise DataError(f"order has {len(keys)} values but the model has {k} studies"
                        + (f" ({len(kept)} rows before incomplete ones were dropped)" if kept is not None else ""))
    # R's order(): stable, missing values last
    return np.asarray(keys.reset_index(drop=True).sort_values(kind="stable", na_position="last").index)


def _steps(fit: MetaResult, y: np.ndarray, v: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """The fits on the first ``rows + 1`` studies (one block of rows)."""
    k = y.size
    mask = (np.arange(k)[None, :] <= rows[:, None]).astype(float)
    n = rows + 1.0
    df = n - 1
    if fit.fit_info.get("fixed_tau2"):
        tau2 = np.full(rows.size, fit.tau2)
    else:
        tau2 = subset_tau2(fit.method, y, v, mask)
    mu, var, Qgen = weighted_rows(y, subset_weights(v, tau2, mask))
    # knha: t with i - 1 df; the fit on one study uses z, as metafor's (and meta_analysis') k = 1
    knha = (fit.test == "knha") & (df >= 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(knha, var * Qgen / np.where(knha, df, 1.0), var)
        se = np.sqrt(var)
        stat = mu / se
        alpha = 1 - fit.level
        t_df = np.where(knha, df, 1.0)
        pval = np.where(knha, 2 * special.stdtr(t_df, -np.abs(stat)), 2 * special.ndtr(-np.abs(stat)))
        crit = np.where(knha, special.stdtrit(t_df, 1 - alpha / 2), special.ndtri(1 - alpha / 2))
        W0 = subset_weights(v, np.zeros(rows.size), mask)
        _, _, QE = weighted_rows(y, W0)
        sw, sw2 = W0.sum(axis=1), (W0 * W0).sum(axis=1)
        s2 = df * sw / (sw**2 - sw2)
        if fit.method == "EE":
            I2, H2 = np.maximum(0.0, 100 * (QE - df) / QE), QE / df
        else:
            I2, H2 = 100 * tau2 / (s2 + tau2), (s2 + tau2) / s2
        single = df == 0  # one study: metafor's QEp = 1, I² = 0, H² = 1
        I2, H2 = np.where(single, 0.0, I2), np.where(single, 1.0, H2)
        QEp = np.where(single, 1.0, special.chdtrc(np.where(single, 1.0, df), QE))
    return {"estimate": mu, "se": se, fit.stat_name: stat, "pval": pval, "ci_lb": mu - crit * se,
            "ci_ub": mu + crit * se, "QE": QE, "QEp": QEp, "tau2": tau2, "I2": I2, "H2": H2}


def cumulative(fit: MetaResult, order: str | Sequence[Any] | np.ndarray | None = None, *,
               data: pd.DataFrame | None = None, transf: Any = None) -> CumulativeResult:
    """Refit a pooled model on the first 1, 2, ..., k studies (metafor's ``cumul``).

    Parameters
    ----------
    fit : MetaResult
        From :func:`synthesis.meta_analysis`; method, test, level and a fixed tau² are reused.
    order : str or sequence, optional
        The values to sort the studies by (as metafor 3.8's ``order``: sort keys such as
        the year, stable for ties, missing values last): a column name of ``data``, or
        one value per study. By default, the fit's row order.
    data : DataFrame, optional
        The data the model was fitted on, when ``order`` names a column (rows the fit
        dropped for missing values are dropped here too).
    transf : callable, optional
        Applied to the estimate and the CI bounds (``np.exp`` for log odds or risk
        ratios); the standard error is then NaN, as metafor.

    Returns
    -------
    CumulativeResult
        ``to_frame()`` is indexed by the study added at each step.

    Raises
    ------
    DataError
        For a meta-regression (metafor's ``cumul`` refuses models with moderators),
        or an ``order`` of the wrong length.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> d = pd.DataFrame({"yi": [0.1, 0.5, 0.9, -0.2], "vi": [0.04, 0.05, 0.03, 0.06],
    ...                   "year": [2004, 1999, 2010, 2001]})
    >>> fit = meta_analysis(d, method="DL")
    >>> steps = cumulative(fit, order="year", data=d)
    >>> steps.table.index.tolist()
    ['Study 2', 'Study 4', 'Study 1', 'Study 3']
    >>> steps["estimate"].round(4).tolist(), steps["tau2"].round(4).tolist()
    ([0.5, 0.1571, 0.1412, 0.34], [0.0, 0.19, 0.063, 0.1979])
    """
    if not isinstance(fit, MetaResult):
        raise DataError("a cumulative meta-analysis refits the pooled model (meta_analysis); "
                        "metafor's cumul does not take a meta-regression either")
    positions = _order(fit, order, data)
    y, v = fit.yi[positions], fit.vi[positions]
    k = y.size
    block = max(1, BLOCK_CELLS // k)
    parts = [_steps(fit, y, v, np.arange(start, min(start + block, k))) for start in range(0, k, block)]
    columns = {name: np.concatenate([part[name] for part in parts]) for name in parts[0]}
    if transf is not None:
        for name in ("estimate", "ci_lb", "ci_ub"):
            columns[name] = np.asarray(transf(columns[name]), dtype=float)
        columns["se"] = np.full(k, np.nan)
        columns["ci_lb"], columns["ci_ub"] = ordered_bounds(columns["ci_lb"], columns["ci_ub"])
    table = pd.DataFrame({"k": np.arange(1, k + 1), **columns},
                         index=pd.Index(np.asarray(fit.labels)[positions], name="study"))
    return CumulativeResult(table=table, fit=fit, order=positions, transformed=transf is not None)
