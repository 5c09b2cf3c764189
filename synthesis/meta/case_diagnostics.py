"""Leave-one-out analysis and case-deletion influence diagnostics (metafor's
``leave1out`` and ``influence``).

:func:`leave_one_out` fits the k leave-one-out models of a pooled analysis
at once: every quantity is a row-wise reduction of a k x k weight matrix with
the left-out study masked, and the tau² estimators iterate on all k data sets
together (PyMARE's idea of fitting many data sets as one array operation).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from synthesis.meta import core as _rma
from synthesis.meta.pooled import MetaResult
from synthesis.meta.refits import subset_tau2
from synthesis.meta.refits import subset_weights as _weights
from synthesis.meta.refits import weighted_rows as _wls_rows
from synthesis.meta.regression import MetaRegressionResult
from synthesis.numbers import number
from synthesis.results import Result, jsonable

__all__ = ["leave_one_out", "influence", "loo_tau2", "LeaveOneOutResult", "InfluenceResult"]


#: elements of one block of leave-one-out rows (rows x k): bounds the memory at about 32 MB
#: whatever k, so no k x k matrix is ever held (the time stays O(k²) for estimators whose
#: tau² differs between the k fits)
BLOCK_ELEMENTS = 4_000_000


def _blocks(k: int) -> list[np.ndarray]:
    """The left-out rows in blocks of at most :data:`BLOCK_ELEMENTS` / k rows."""
    size = max(1, BLOCK_ELEMENTS // max(k, 1))
    return [np.arange(start, min(start + size, k)) for start in range(0, k, size)]


def _mask(rows: np.ndarray, k: int) -> np.ndarray:
    """One row per left-out study: 1 for the studies kept, 0 for the one left out."""
    mask = np.ones((rows.size, k))
    mask[np.arange(rows.size), rows] = 0.0
    return mask


def _loo_fits(y: np.ndarray, v: np.ndarray, tau2: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Weighted mean, its variance and the generalised Q of each leave-one-out fit at its tau², by blocks."""
    k = y.size
    parts = [_wls_rows(y, _weights(v, tau2[rows], _mask(rows, k))) for rows in _blocks(k)]
    return tuple(np.concatenate([part[i] for part in parts]) for i in range(3))  # type: ignore[return-value]


def _loo_common(y: np.ndarray, v: np.ndarray, tau2: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_loo_fits` when every fit has the same tau²: totals less each study's own term, O(k).

    The effects are centred at the full weighted mean first, so the differences of sums
    do not lose digits.
    """
    w = 1.0 / (v + tau2)
    centred = y - np.dot(w, y) / w.sum()
    sw = w.sum() - w
    shift = (np.dot(w, centred) - w * centred) / sw  # leave-one-out mean less the full mean
    Q = np.maximum(np.dot(w, centred * centred) - w * centred * centred - sw * shift * shift, 0.0)
    return y - centred + shift, 1.0 / sw, Q


def _loo_q0(y: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cochran's Q (equal-effects weights) of each leave-one-out data set, and the sums of w and w², in O(k)."""
    w = 1.0 / v
    _, var, Q = _loo_common(y, v, 0.0)
    return Q, 1.0 / var, np.dot(w, w) - w * w


def loo_tau2(method: str, y: np.ndarray, v: np.ndarray) -> np.ndarray:
    """tau² of each of the k leave-one-out data sets (intercept-only), vectorised by blocks of rows.

    Examples
    --------
    >>> y, v = np.array([0.1, 0.5, 0.9, -0.2]), np.array([0.04, 0.05, 0.03, 0.06])
    >>> loo_tau2("DL", y, v).round(4).tolist()
    [0.2579, 0.3027, 0.063, 0.1408]
    """
    k = y.size
    if method == "EE" or k - 2 < 1:
        return np.zeros(k)
    if method in ("DL", "HS"):  # closed forms from the totals less each study's own term: O(k)
        Q, sw, sw2 = _loo_q0(y, v)
        if method == "DL":
            return np.maximum(0.0, (Q - (k - 2)) / (sw - sw2 / sw))
        return np.maximum(0.0, (Q - (k - 1)) / sw)
    if method == "HE":
        n = k - 1
        ybar = (y.sum() - y) / n
        rss = np.maximum((np.dot(y, y) - y * y) - n * ybar * ybar, 0.0)
        return np.maximum(0.0, (rss - (v.sum() - v) * (n - 1) / n) / (n - 1))
    # SJ, PM, ML, REML, EB: the shared vectorised estimator, one block of rows at a time
    return np.concatenate([subset_tau2(method, y, v, _mask(rows, k)) for rows in _blocks(k)])


def leave_one_out(fit: MetaResult, *, tau2: np.ndarray | None = None) -> LeaveOneOutResult:
    """Refit a pooled model k times, each time without one study (metafor's ``leave1out``).

    Parameters
    ----------
    fit : MetaResult
        From :func:`synthesis.meta_analysis`; method, test and level are reused.
    tau2 : array, optional
        tau² of each leave-one-out fit, if known (otherwise estimated).

    Returns
    -------
    LeaveOneOutResult
        ``to_frame()``: indexed by the left-out study, ``estimate, se, zval (tval), pval,
        ci_lb, ci_ub, Q, Q_pval, tau2, I2, H2`` (metafor's ``leave1out`` columns);
        ``summary()``: the range of the estimate and heterogeneity over the k fits.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2, 0.3], [0.04, 0.05, 0.03, 0.06, 0.02])
    >>> leave_one_out(fit).to_frame().shape[0]
    5
    """
    y, v, k = fit.yi, fit.vi, fit.k
    if k < 2:
        raise ValueError("leave-one-out needs at least 2 studies")
    tau2 = loo_tau2(fit.method, y, v) if tau2 is None else np.asarray(tau2, dtype=float)
    if np.all(tau2 == tau2[0]):  # one tau² for every fit (EE, or all truncated at 0): O(k)
        mu, var, Qgen = _loo_common(y, v, float(tau2[0]))
    else:
        mu, var, Qgen = _loo_fits(y, v, tau2)
    df = k - 2
    if fit.test == "knha" and df > 0:
        var = var * Qgen / df
        dist = stats.t(df)
    else:
        if fit.test == "knha":  # each fit has one study: metafor's rma sets test="z" since k = 1
            warnings.warn("leave-one-out with k = 2: each fit has one study, so the z test is used "
                          "instead of Knapp-Hartung (as metafor's leave1out); the column keeps the name "
                          "'tval'", UserWarning, stacklevel=2)
        dist = stats.norm()
    se = np.sqrt(var)
    stat = mu / se
    crit = dist.ppf(1 - (1 - fit.level) / 2)
    Q, sw, sw2 = _loo_q0(y, v)
    with np.errstate(divide="ignore", invalid="ignore"):
        s2 = df * sw / (sw**2 - sw2)
        if df == 0:  # k - 1 = 1 study left: metafor's QEp = 1, I² = 0, H² = 1
            I2, H2 = np.zeros(k), np.ones(k)
        elif fit.method == "EE":
            I2 = np.maximum(0.0, 100 * (Q - df) / Q)
            H2 = Q / df
        else:
            I2 = 100 * tau2 / (s2 + tau2)
            H2 = (s2 + tau2) / s2
    table = pd.DataFrame({"estimate": mu, "se": se, fit.stat_name: stat,
                          "pval": 2 * dist.sf(np.abs(stat)), "ci_lb": mu - crit * se,
                          "ci_ub": mu + crit * se, "Q": Q,
                          "Q_pval": stats.chi2.sf(Q, df) if df > 0 else np.ones(k),
                          "tau2": tau2, "I2": I2, "H2": H2},
                         index=pd.Index(fit.labels, name="left_out"))
    return LeaveOneOutResult(table=table, fit=fit)


def influence(fit: MetaResult | MetaRegressionResult, *, tau2_del: np.ndarray | None = None
              ) -> InfluenceResult:
    """Case-deletion diagnostics (metafor's ``influence.rma.uni``).

    Returns an :class:`InfluenceResult`; its ``to_frame()`` has one row per study and the
    columns ``rstudent`` (externally studentized residual), ``dffits``,
    ``cooks_d``, ``cov_r``, ``tau2_del``, ``QE_del``, ``hat``, ``weight`` (%),
    one ``dfbetas`` column per coefficient (``dfbetas`` for a pooled model,
    ``dfbetas_<name>`` otherwise) and ``is_influential``, flagged as metafor
    does: |DFFITS| > 3 sqrt(p/(k-p)), P(chi²_p <= Cook's D) > 0.5, hat > 3p/k,
    or any |DFBETAS| > 1 (Viechtbauer & Cheung 2010).

    ``tau2_del`` optionally supplies the tau² of each deletion fit (for
    example from another program) instead of re-estimating it.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2, 0.3], [0.04, 0.05, 0.03, 0.06, 0.02])
    >>> bool(influence(fit).to_frame()["is_influential"].dtype == bool)
    True
    """
    y, v, X = fit.yi, fit.vi, fit.X
    k, p = X.shape
    method = fit.method
    full = _rma.wls(y, v, X, fit.tau2)
    s2w_full = full.Q / (k - p) if fit.test == "knha" else 1.0
    vb_full = full.vb * s2w_full
    w = full.w
    hat = np.einsum("ij,jk,ik->i", X * w[:, None], full.vb, X)
    weight = 100 * w / w.sum()
    # Cook's distance and the covariance ratio use all p coefficients, intercept included
    # (metafor's influence.rma.uni sets btt with int.incl=FALSE), the full-model covariance
    # under the same test
    svb = np.linalg.inv(vb_full)
    if isinstance(fit, MetaResult):  # intercept only: every deletion fit from per-study sums, no loop
        table = pd.DataFrame(_pooled_deletions(fit, full.beta[0], vb_full[0, 0], hat, tau2_del),
                             index=pd.Index(fit.labels, name="study"))
        return _flagged(fit, table, hat, weight)
    rows = []
    for i in range(k):
        keep = np.arange(k) != i
        yi_, vi_, Xi_ = y[keep], v[keep], X[keep]
        if np.linalg.matrix_rank(Xi_) < p:
            # deleting the study leaves a coefficient inestimable (it alone had a factor level):
            # metafor skips the refit and reports NA for the whole row
            rows.append(dict.fromkeys(["rstudent", "dffits", "cooks_d", "cov_r", "tau2_del", "QE_del",
                                       *_dfbetas_names(fit)], np.nan))
            continue
        if tau2_del is not None:
            tau2 = float(tau2_del[i])
        elif method == "EE" or k - 1 - p < 1:
            tau2 = 0.0
        else:
            tau2, _ = _rma.estimate_tau2(method, yi_, vi_, Xi_)
        res = _rma.wls(yi_, vi_, Xi_, tau2)
        s2w = res.Q / (k - 1 - p) if (fit.test == "knha" and k - 1 - p > 0) else 1.0
        vb = res.vb * s2w
        x = X[i]
        delpred = float(x @ res.beta)
        vdelpred = float(x @ vb @ x)
        dfbeta = full.beta - res.beta
        vb_del = np.linalg.inv((X / (v + tau2)[:, None]).T @ X)  # all studies, tau² of the deletion fit
        rows.append({
            "rstudent": (y[i] - delpred) / np.sqrt(v[i] * s2w + vdelpred + tau2 * s2w),
            "dffits": (float(x @ full.beta) - delpred) / np.sqrt(s2w * hat[i] * (tau2 + v[i])),
            "cooks_d": float(dfbeta @ svb @ dfbeta),
            "cov_r": float(np.linalg.det(vb) / np.linalg.det(vb_full)),
            "tau2_del": tau2, "QE_del": _rma.wls(yi_, vi_, Xi_, 0.0).Q,
            **dict(zip(_dfbetas_names(fit), dfbeta / np.sqrt(s2w * np.diag(vb_del)))),
        })
    return _flagged(fit, pd.DataFrame(rows, index=pd.Index(fit.labels, name="study")), hat, weight)


def _flagged(fit: MetaResult | MetaRegressionResult, table: pd.DataFrame, hat: np.ndarray,
             weight: np.ndarray) -> InfluenceResult:
    """Add hat values and weights, and flag influential studies as metafor does."""
    k, p = fit.X.shape
    table["hat"] = hat
    table["weight"] = weight
    dfb = table[_dfbetas_names(fit)].abs().to_numpy()
    table["is_influential"] = ((table["dffits"].abs() > 3 * np.sqrt(p / (k - p)))
                               | (stats.chi2.cdf(table["cooks_d"], p) > 0.5)
                               | (table["hat"] > 3 * p / k)
                               | (dfb > 1).any(axis=1))
    return InfluenceResult(table=table, fit=fit)


def _pooled_deletions(fit: MetaResult, estimate: float, vb_full: float, hat: np.ndarray,
                      tau2_del: np.ndarray | None) -> dict[str, np.ndarray]:
    """The deletion columns of :func:`influence` for an intercept-only model, all k fits at once.

    The same formulas as the loop for meta-regression with p = 1: the deletion fit's mean,
    variance and Q come from :func:`_loo_fits` (blocks of rows, or O(k) sums when every fit
    has the same tau²).
    """
    y, v, k = fit.yi, fit.vi, fit.k
    if tau2_del is not None:
        tau2 = np.asarray(tau2_del, dtype=float)
    else:
        tau2 = np.zeros(k) if fit.method == "EE" else loo_tau2(fit.method, y, v)
    mu, var, Qgen = _loo_common(y, v, float(tau2[0])) if np.all(tau2 == tau2[0]) else _loo_fits(y, v, tau2)
    s2w = Qgen / (k - 2) if (fit.test == "knha" and k - 2 > 0) else np.ones(k)
    vb = var * s2w
    dfbeta = estimate - mu
    vb_del = 1.0 / (1.0 / var + 1.0 / (v + tau2))  # all studies, tau² of the deletion fit
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"rstudent": (y - mu) / np.sqrt(v * s2w + vb + tau2 * s2w),
                "dffits": dfbeta / np.sqrt(s2w * hat * (tau2 + v)),
                "cooks_d": dfbeta * dfbeta / vb_full, "cov_r": vb / vb_full, "tau2_del": tau2,
                "QE_del": _loo_q0(y, v)[0], "dfbetas": dfbeta / np.sqrt(s2w * vb_del)}


def _dfbetas_names(fit: MetaResult | MetaRegressionResult) -> list[str]:
    names = getattr(fit, "coef_names", None)
    if not names:
        return ["dfbetas"]
    return [f"dfbetas_{n}" for n in names]


# ---------------------------------------------------------------- result objects
@dataclass(repr=False)
class CaseDeletionResult(Result):
    """One row per study (left out or deleted) from a fitted model; the base of the two results below.

    ``to_frame()`` is the per-study table; ``result[column]`` reads a column of it, as
    the DataFrame these functions returned before did.
    """

    table: pd.DataFrame
    fit: MetaResult | MetaRegressionResult

    @property
    def k(self) -> int:
        return len(self.table)

    def __len__(self) -> int:
        return self.k

    def __getitem__(self, column: Any) -> Any:
        return self.table[column]

    def to_frame(self) -> pd.DataFrame:
        """The per-study table (a copy)."""
        return self.table.copy()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary: the model's method and test, :meth:`highlights` and every study's row."""
        return jsonable({"method": self.fit.method, "test": self.fit.test, "k": self.k, **self.highlights(),
                         "studies": self.table})

    def highlights(self) -> dict[str, Any]:  # pragma: no cover - abstract
        """What :meth:`to_dict` reports besides the rows."""
        raise NotImplementedError


@dataclass(repr=False)
class LeaveOneOutResult(CaseDeletionResult):
    """Result of :func:`leave_one_out`: the k fits, each without one study.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> loo = leave_one_out(meta_analysis([0.1, 0.5, 0.9, -0.2, 0.3], [0.04, 0.05, 0.03, 0.06, 0.02]))
    >>> loo.summary().columns.tolist()
    ['full', 'min', 'left_out_min', 'max', 'left_out_max']
    >>> loo.summary().index.tolist()
    ['estimate', 'pval', 'tau2', 'I2', 'QE']
    """

    #: summary row -> (attribute of the full fit, column of the table)
    _ROWS = {"estimate": ("estimate", "estimate"), "pval": ("pval", "pval"), "tau2": ("tau2", "tau2"),
             "I2": ("I2", "I2"), "QE": ("QE", "Q")}

    def summary(self) -> pd.DataFrame:
        """Range of the estimate, its p-value and the heterogeneity over the leave-one-out fits.

        ``full`` is the value with every study; ``left_out_min``/``left_out_max`` name the
        study whose omission gives the smallest / largest value.
        """
        rows = {}
        for name, (attribute, column) in self._ROWS.items():
            values = self.table[column]
            rows[name] = {"full": getattr(self.fit, attribute), "min": values.min(),
                          "left_out_min": values.idxmin() if values.notna().any() else None,
                          "max": values.max(),
                          "left_out_max": values.idxmax() if values.notna().any() else None}
        return pd.DataFrame.from_dict(rows, orient="index")

    def highlights(self) -> dict[str, Any]:
        return {"range": self.summary().to_dict(orient="index")}

    def title(self) -> str:
        estimate = self.table["estimate"]
        return (f"Leave-one-out analysis ({self.fit.method}), k = {self.k}: estimate from "
                f"{number(estimate.min(), 4)} to {number(estimate.max(), 4)} "
                f"(all studies {number(self.fit.estimate, 4)})")


@dataclass(repr=False)
class InfluenceResult(CaseDeletionResult):
    """Result of :func:`influence`: case-deletion diagnostics, one row per study.

    Examples
    --------
    >>> from synthesis import meta_analysis
    >>> res = influence(meta_analysis([0.1, 0.5, 0.9, -0.2, 2.5], [0.04, 0.05, 0.03, 0.06, 0.02]))
    >>> res.influential
    ['Study 5']
    >>> res.summary().index[0]
    'Study 5'
    """

    @property
    def influential(self) -> list[str]:
        """Labels of the studies flagged as influential."""
        return [str(label) for label in self.table.index[self.table["is_influential"].to_numpy(dtype=bool)]]

    def summary(self) -> pd.DataFrame:
        """The diagnostics a reader looks at, flagged studies first (then by Cook's distance)."""
        dfbetas = [c for c in self.table.columns if c.startswith("dfbetas")]
        columns = ["is_influential", "rstudent", "dffits", "cooks_d", "cov_r", "hat", "weight", *dfbetas]
        return self.table.sort_values(["is_influential", "cooks_d"], ascending=False, kind="stable")[columns]

    def highlights(self) -> dict[str, Any]:
        return {"influential": self.influential}

    def title(self) -> str:
        flagged = self.influential
        found = (f"{len(flagged)} influential stud{'y' if len(flagged) == 1 else 'ies'} ({', '.join(flagged)})"
                 if flagged else "no influential study")
        return f"Influence diagnostics ({self.fit.method}), k = {self.k}: {found}"
