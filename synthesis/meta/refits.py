"""tau² and weighted means of many subsets of the studies at once (intercept-only models).

Leave-one-out (each study left out in turn) and cumulative meta-analysis (the
first 1, 2, ..., k studies) refit the same model on many subsets. A subset is a
row of a 0/1 ``mask`` (subsets x studies); every estimator then iterates on
all rows together, the rows' weights being a masked matrix (PyMARE's idea of
fitting many data sets as one array operation). Callers bound the memory by
passing blocks of rows.
"""
from __future__ import annotations

import numpy as np

from synthesis.meta import core as _rma

__all__ = ["subset_weights", "weighted_rows", "subset_tau2"]


def subset_weights(v: np.ndarray, tau2: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Inverse-variance weights ``1 / (vi + tau2)`` of each subset (row), 0 outside it."""
    return mask / (v[None, :] + tau2[:, None])


def weighted_rows(y: np.ndarray, W: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row of ``W``: the weighted mean, its variance and the generalised Q.

    Examples
    --------
    >>> mu, var, Q = weighted_rows(np.array([1.0, 3.0]), np.array([[1.0, 1.0], [1.0, 0.0]]))
    >>> mu.tolist(), var.tolist(), Q.tolist()
    ([2.0, 1.0], [0.5, 1.0], [2.0, 0.0])
    """
    sw = W.sum(axis=1)
    mu = W @ y / sw
    resid = y[None, :] - mu[:, None]
    Q = np.einsum("ij,ij->i", W, resid * resid)
    return mu, 1 / sw, Q


def _row_by_row(method: str, y: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The scalar estimator on each subset (the fallback when the joint iteration stalls)."""
    out = np.empty(mask.shape[0])
    for i, row in enumerate(mask > 0):
        out[i] = _rma.estimate_tau2(method, y[row], v[row], np.ones((int(row.sum()), 1)))[0]
    return out


def subset_tau2(method: str, y: np.ndarray, v: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """tau² of the intercept-only model on each subset (row of ``mask``), vectorised.

    Exactly :func:`synthesis.meta.core.estimate_tau2` on each subset: the moment
    estimators in closed form, PM by Newton's method and ML, REML and EB by Fisher
    scoring with step halving on all rows together, then metafor's ``ll0check``.
    A subset of one study has tau² = 0 (metafor's k = 1 fit).

    Examples
    --------
    >>> y, v = np.array([0.1, 0.5, 0.9, -0.2]), np.array([0.04, 0.05, 0.03, 0.06])
    >>> cumulative_rows = np.tril(np.ones((4, 4)))
    >>> subset_tau2("DL", y, v, cumulative_rows).round(4).tolist()
    [0.0, 0.035, 0.1408, 0.1979]
    """
    mask = np.asarray(mask, dtype=float)
    n = mask.sum(axis=1)
    out = np.zeros(mask.shape[0])
    usable = n >= 2
    if method == "EE" or not usable.any():
        return out
    if not usable.all():
        out[usable] = subset_tau2(method, y, v, mask[usable])
        return out
    df = n - 1
    zeros = np.zeros(mask.shape[0])
    W0 = subset_weights(v, zeros, mask)
    if method in ("DL", "HS"):
        _, _, Q = weighted_rows(y, W0)
        sw, sw2 = W0.sum(axis=1), (W0 * W0).sum(axis=1)
        if method == "DL":
            return np.maximum(0.0, (Q - df) / (sw - sw2 / sw))
        return np.maximum(0.0, (Q - n) / sw)
    if method in ("HE", "SJ"):
        ybar = mask @ y / n
        rss = np.einsum("ij,ij->i", mask, (y[None, :] - ybar[:, None]) ** 2)
        if method == "HE":
            return np.maximum(0.0, (rss - (mask @ v) * df / n) / df)
        t0 = rss / n
        _, _, Q = weighted_rows(y, subset_weights(v, t0, mask))
        return t0 * Q / df
    if method == "PM":
        # Newton on the convex, decreasing Q(tau2) from tau2 = 0 converges monotonically
        tau2 = zeros.copy()
        _, _, Q = weighted_rows(y, W0)
        active = Q > df
        for _ in range(_rma.MAX_ITER):
            W = subset_weights(v, tau2, mask)
            mu, _, Q = weighted_rows(y, W)
            resid = y[None, :] - mu[:, None]
            slope = -np.einsum("ij,ij->i", W * W, resid * resid)
            step = np.where(active, -(Q - df) / np.where(active, slope, 1.0), 0.0)
            tau2 = np.maximum(0.0, tau2 + step)
            if np.all(np.abs(step) <= _rma.TOLERANCE * np.maximum(1.0, tau2)):
                return tau2
        return _row_by_row(method, y, v, mask)
    # Fisher scoring for ML, REML, EB with step halving, all rows together
    tau2 = subset_tau2("HE", y, v, mask)
    active = np.ones(mask.shape[0], dtype=bool)  # a row stops where the scalar fit stops (same iterates)
    for _ in range(_rma.MAX_ITER):
        W = subset_weights(v, tau2, mask)
        sw = W.sum(axis=1)
        mu = W @ y / sw
        resid = y[None, :] - mu[:, None]
        W2 = W * W
        sw2 = W2.sum(axis=1)
        yPPy = np.einsum("ij,ij->i", W2, resid * resid)
        if method == "REML":
            trP = sw - sw2 / sw
            trPP = sw2 - 2 * (W2 * W).sum(axis=1) / sw + (sw2 / sw) ** 2
            step = (yPPy - trP) / trPP
        elif method == "ML":
            step = (yPPy - sw) / sw2
        else:  # EB
            Q = np.einsum("ij,ij->i", W, resid * resid)
            step = (Q * n / df - n) / sw
        step = np.where(active, step, 0.0)
        while True:  # step halving as core's: a step shrunk below the tolerance lands on 0 exactly
            negative = tau2 + step < 0
            if not negative.any():
                break
            step = np.where(negative, step / 2, step)
            step = np.where(negative & (np.abs(step) < _rma.TOLERANCE), -tau2, step)
        tau2 = tau2 + step
        active &= ~(np.abs(step) <= _rma.TOLERANCE * np.maximum(1.0, tau2))
        if not active.any():
            break
    else:
        return _row_by_row(method, y, v, mask)
    if method in ("ML", "REML"):  # metafor's ll0check, row by row: a lesser local maximum is redone
        for i in np.flatnonzero(tau2 > 0):
            row = mask[i] > 0
            y_, v_, ones = y[row], v[row], np.ones((int(row.sum()), 1))
            if _rma.zero_beats(method, float(tau2[i]), y_, v_, ones):
                tau2[i] = _rma.likelihood_maximum(method, y_, v_, ones)
    return tau2
