"""The three-level / CHE likelihood: batches of equal-sized studies, the profiled (RE)ML
log-likelihood with its score and expected information, and the Fisher scoring of the two
variance components (for :func:`synthesis.meta.multilevel.multilevel_meta_analysis`).

The variance components maximise the REML (or ML) likelihood with the fixed effects
profiled out, by Fisher scoring with step halving, kept at 0 when the likelihood is
highest there, to a change below :data:`TOLERANCE`. The marginal covariance is
block-diagonal by study; studies of equal size are one batch of small dense blocks, so
no ``k x k`` matrix is formed.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from synthesis.meta.robust import che_blocks

__all__ = ["TOLERANCE", "MAX_ITERATIONS"]

TOLERANCE = 1e-10
MAX_ITERATIONS = 1000
LOG_2PI = np.log(2 * np.pi)


@dataclass
class _Batch:
    """The studies with ``n`` effects: positions ``(m, n)``, ``y (m, n)``, ``X (m, n, p)``, ``V (m, n, n)``."""

    rows: np.ndarray
    y: np.ndarray
    X: np.ndarray
    V: np.ndarray


def _batches(study_codes: np.ndarray, y: np.ndarray, X: np.ndarray, v: np.ndarray, rho: float) -> list[_Batch]:
    """Group the effects by study and the studies by size (rows of a study keep data order)."""
    order = np.argsort(study_codes, kind="stable")
    starts = np.flatnonzero(np.r_[True, np.diff(study_codes[order]) != 0])
    sizes = np.diff(np.r_[starts, order.size])
    batches = []
    for n in np.unique(sizes):
        first = starts[sizes == n]
        rows = order[first[:, None] + np.arange(n)]
        batches.append(_Batch(rows=rows, y=y[rows], X=X[rows], V=che_blocks(v[rows], rho)))
    return batches


@dataclass
class _Profile:
    """The profiled likelihood at one ``sigma2`` and what its derivatives and the tests need."""

    ll: float
    beta: np.ndarray
    bread: np.ndarray  # (X' W X)^-1
    score: np.ndarray
    information: np.ndarray
    marginal: list[np.ndarray]  # M = V + sigma2_study J + sigma2_effect I, per batch
    residuals: list[np.ndarray]


def _profile(batches: Sequence[_Batch], sigma2: np.ndarray, reml: bool, derivatives: bool = True) -> _Profile:
    p = batches[0].X.shape[2]
    k = sum(b.y.size for b in batches)
    XtWX, XtWy, logdet, XtX = np.zeros((p, p)), np.zeros(p), 0.0, np.zeros((p, p))
    parts = []
    for b in batches:
        n = b.y.shape[1]
        M = b.V + sigma2[0] + sigma2[1] * np.eye(n)
        chol = np.linalg.cholesky(M)
        logdet += 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum()
        W = np.linalg.inv(M)
        WX = W @ b.X
        XtWX += np.einsum("mnp,mnq->pq", b.X, WX)
        XtWy += np.einsum("mnp,mn->p", WX, b.y)
        XtX += np.einsum("mnp,mnq->pq", b.X, b.X)
        parts.append((M, W, WX))
    bread = np.linalg.inv(XtWX)
    beta = bread @ XtWy
    rss, residuals, score_quad = 0.0, [], np.zeros(2)
    for b, (_, W, _) in zip(batches, parts):
        r = b.y - b.X @ beta
        Wr = np.einsum("mab,mb->ma", W, r)
        rss += float(np.sum(r * Wr))
        residuals.append(r)
        score_quad += [np.sum(Wr.sum(axis=1) ** 2), np.sum(Wr ** 2)]
    if reml:
        ll = -0.5 * ((k - p) * LOG_2PI + logdet + np.linalg.slogdet(XtWX)[1] - np.linalg.slogdet(XtX)[1] + rss)
    else:
        ll = -0.5 * (k * LOG_2PI + logdet + rss)
    score, information = np.zeros(2), np.zeros((2, 2))
    if derivatives:
        score, information = _score_information(parts, bread, score_quad, reml)
    return _Profile(ll=float(ll), beta=beta, bread=bread, score=score, information=information,
                    marginal=[M for M, _, _ in parts], residuals=residuals)


def _score_information(parts, bread: np.ndarray, score_quad: np.ndarray, reml: bool
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Score and expected information of (sigma2_study, sigma2_effect).

    dM/dsigma2 is ``J`` (all ones in a study's block) and ``I``. With ``P = W - C B C'``,
    ``C = W X``: tr(P A) = tr(W A) - tr(B C'AC) and tr(PAPB) = tr(WAWB) - 2 tr(B C'AWBC)
    + tr(B C'AC B C'BC), every term a sum over studies.
    """
    p = bread.shape[0]
    trWA, trWAWB = np.zeros(2), np.zeros((2, 2))
    CAC = np.zeros((2, p, p))
    CAWBC = np.zeros((2, 2, p, p))
    for _, W, C in parts:
        total = W.sum(axis=(1, 2))  # 1'W1
        W1 = W.sum(axis=2)
        trWA += [total.sum(), np.trace(W, axis1=1, axis2=2).sum()]
        trWAWB += [[np.sum(total ** 2), np.sum(W1 ** 2)], [np.sum(W1 ** 2), np.sum(W ** 2)]]
        if reml:
            c1 = C.sum(axis=1)  # 1'C, (m, p)
            W1C = np.einsum("mn,mnp->mp", W1, C)  # 1'W C
            CAC += [c1.T @ c1, np.einsum("mnp,mnq->pq", C, C)]
            CAWBC[0, 0] += np.einsum("m,mp,mq->pq", total, c1, c1)
            CAWBC[0, 1] += c1.T @ W1C
            CAWBC[1, 0] += W1C.T @ c1
            CAWBC[1, 1] += np.einsum("mnp,mnq->pq", C, W @ C)
    if reml:
        BCAC = bread @ CAC  # (2, p, p)
        trPA = trWA - np.trace(BCAC, axis1=1, axis2=2)
        trPAPB = (trWAWB - 2 * np.einsum("pq,abqp->ab", bread, CAWBC)
                  + np.einsum("apq,bqp->ab", BCAC, BCAC))
    else:
        trPA, trPAPB = trWA, trWAWB
    return 0.5 * (score_quad - trPA), 0.5 * trPAPB


def _scoring_step(current: _Profile, sigma2: np.ndarray, free: np.ndarray) -> np.ndarray:
    """Fisher-scoring step kept on the feasible set ``sigma2 >= 0``.

    The step maximises the quadratic model ``g'd - d'Id / 2``; a component the full step
    would take below 0 is set to move exactly to 0, and the others are re-solved given
    that move (``d_f = I_ff^-1 (g_f - I_fc d_c)``), rather than clipped after the fact
    (clipping alone can overshoot the others and stall the step halving).
    """
    step = np.zeros(2)
    moving = free.copy()
    while moving.any():
        held = ~moving
        rhs = current.score[moving] - current.information[np.ix_(moving, held)] @ step[held]
        step[moving] = np.linalg.lstsq(current.information[np.ix_(moving, moving)], rhs, rcond=None)[0]
        below = moving & (sigma2 + step < 0)
        if not below.any():
            break
        step[below] = -sigma2[below]
        moving &= ~below
    return step


def _fit_sigma2(batches: Sequence[_Batch], reml: bool, start: np.ndarray, fixed: np.ndarray
                ) -> tuple[np.ndarray, int, bool]:
    """Fisher scoring with step halving on the profiled likelihood, sigma2 kept >= 0.

    Components where ``fixed`` is true stay at their ``start`` value. If halving the
    scoring step 60 times does not raise the likelihood, the projected score (steepest
    ascent) is tried; if neither does, the fit stops and reports no convergence.
    """
    sigma2 = start.copy()
    if fixed.all():
        return sigma2, 0, True
    current = _profile(batches, sigma2, reml)
    for iteration in range(1, MAX_ITERATIONS + 1):
        # a component at 0 whose score points below 0 stays at the boundary
        free = ~fixed & ~((sigma2 <= 0) & (current.score <= 0))
        if not free.any():
            return sigma2, iteration, True
        scaled_score = np.where(free, current.score, 0.0) / max(np.trace(current.information), 1e-300)
        for step in (_scoring_step(current, sigma2, free), scaled_score):
            candidate, proposal, halved = _ascend(batches, reml, current, sigma2, step)
            small = np.all(np.abs(proposal - sigma2) <= TOLERANCE * np.maximum(1.0, proposal))
            if candidate is not None and not (small and halved):  # a step halved to nothing is a stall
                break
        else:
            return sigma2, iteration, False
        sigma2, current = proposal, candidate
        if small:
            return sigma2, iteration, True
    return sigma2, MAX_ITERATIONS, False


def _ascend(batches: Sequence[_Batch], reml: bool, current: _Profile, sigma2: np.ndarray, step: np.ndarray
            ) -> tuple[_Profile | None, np.ndarray, bool]:
    """Halve ``step`` until the likelihood does not fall: (profile, point, whether halved), or None for the profile."""
    proposal = np.maximum(sigma2 + step, 0.0)
    for halvings in range(60):
        candidate = _profile(batches, proposal, reml)
        if candidate.ll >= current.ll - 1e-12 * abs(current.ll):
            return candidate, proposal, halvings > 0
        proposal = sigma2 + (proposal - sigma2) / 2
    return None, sigma2, True


def _multilevel_I2(batches: Sequence[_Batch], sigma2: np.ndarray, residual_df: int) -> float:
    """``100 sum(sigma2) / (sum(sigma2) + (k - p) / tr(P))``, ``P`` from the sampling covariance alone."""
    p = batches[0].X.shape[2]
    trace_W, XtWX, XtWWX = 0.0, np.zeros((p, p)), np.zeros((p, p))
    for b in batches:
        W = np.linalg.inv(b.V)
        WX = W @ b.X
        trace_W += float(np.trace(W, axis1=1, axis2=2).sum())
        XtWX += np.einsum("mnp,mnq->pq", b.X, WX)
        XtWWX += np.einsum("mnp,mnq->pq", WX, WX)
    typical = residual_df / (trace_W - np.trace(np.linalg.solve(XtWX, XtWWX)))
    total = float(np.sum(sigma2))
    return 100 * total / (total + typical)


def _start(batches: Sequence[_Batch]) -> np.ndarray:
    """Half the excess of the residual variance over the mean sampling variance, for each component."""
    y = np.concatenate([b.y.ravel() for b in batches])
    X = np.concatenate([b.X.reshape(-1, b.X.shape[2]) for b in batches])
    v = np.concatenate([np.diagonal(b.V, axis1=1, axis2=2).ravel() for b in batches])
    resid = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    excess = np.var(resid) - v.mean()
    return np.full(2, max(excess, 0.1 * v.mean()) / 2)
