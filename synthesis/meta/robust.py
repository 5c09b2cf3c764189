"""Cluster-robust inference for several effects per study, and the CHE working model's V.

* :func:`impute_covariance`: the sampling covariance of the correlated-and-hierarchical
  effects (CHE) working model, a constant correlation ``rho`` between the sampling
  errors of the effects of one study (clubSandwich's
  ``impute_covariance_matrix(vi, cluster, r = rho)``; Pustejovsky & Tipton 2022,
  Prevention Science 23:425-438).
* :func:`cr2_coef_test`: the CR2 ("bias-reduced linearization") sandwich estimator
  with Satterthwaite degrees of freedom per coefficient, as
  ``clubSandwich::coef_test(fit, vcov = "CR2", test = "Satterthwaite")`` on an
  ``rma.mv`` fit (Bell & McCaffrey 2002; Pustejovsky & Tipton 2018, JBES 36:672-683);
  its :meth:`RobustTest.contrast_df` (``linear_contrast``) and :meth:`RobustTest.wald_htz`
  (``Wald_test(..., test = "HTZ")``) for predictions and tests of several coefficients.

Studies are handled in batches of equal size (arrays of shape ``(m, n, ...)`` for
``m`` studies of ``n`` effects), so no ``k x k`` matrix is ever formed.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["impute_covariance", "che_blocks", "cr2_coef_test", "RobustTest", "WaldTest"]

#: eigenvalues of the CR2 adjustment's G below this are taken as 0 (clubSandwich's matrix_power)
EIGEN_TOLERANCE = 1e-12


def che_blocks(vi: np.ndarray, rho: float) -> np.ndarray:
    """Sampling covariance blocks ``rho * sqrt(vi_a vi_b)`` (``vi`` on the diagonal).

    ``vi`` has shape ``(m, n)`` (``m`` studies of ``n`` effects); returns ``(m, n, n)``.

    Examples
    --------
    >>> che_blocks(np.array([[0.04, 0.09]]), 0.5).round(3).tolist()
    [[[0.04, 0.03], [0.03, 0.09]]]
    """
    vi = np.asarray(vi, dtype=float)
    sd = np.sqrt(vi)
    blocks = rho * sd[:, :, None] * sd[:, None, :]
    n = vi.shape[1]
    blocks[:, np.arange(n), np.arange(n)] = vi
    return blocks


def impute_covariance(vi: Sequence[float], cluster: Sequence[Any], rho: float) -> dict[Any, np.ndarray]:
    """The CHE working model's sampling covariance, one block per cluster (study).

    Same numbers as clubSandwich's ``impute_covariance_matrix(vi, cluster, r = rho)``:
    the effects of one study share a sampling correlation ``rho``; effects of different
    studies are independent.

    Parameters
    ----------
    vi : sequence of float
        Sampling variances.
    cluster : sequence
        Study of each effect.
    rho : float
        Assumed within-study correlation of the sampling errors (between -1 and 1).

    Returns
    -------
    dict
        Cluster (in sorted order) -> its covariance block, rows in data order.

    Examples
    --------
    >>> blocks = impute_covariance([0.04, 0.09, 0.01], ["a", "a", "b"], rho=0.5)
    >>> blocks["a"].round(3).tolist(), blocks["b"].tolist()
    ([[0.04, 0.03], [0.03, 0.09]], [[0.01]])
    """
    if not -1 < float(rho) < 1:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho!r}")
    vi = np.asarray(vi, dtype=float)
    labels = pd.Series(list(cluster))
    return {name: che_blocks(vi[rows.to_numpy()][None, :], float(rho))[0]
            for name, rows in labels.groupby(labels, sort=True).groups.items()}


@dataclass(frozen=True)
class RobustTest:
    """CR2 variance, standard errors, t statistics, Satterthwaite df, p-values and t intervals.

    :meth:`contrast_df` gives the Satterthwaite df of any linear combination of the
    coefficients (as ``clubSandwich::linear_contrast``), the df of a prediction.
    """

    vcov: np.ndarray
    se: np.ndarray
    tval: np.ndarray
    df: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    #: per batch ``B E L`` (m, p, n) and, stacked over clusters, ``B E X chol(B)`` (J, p, p)
    parts: tuple[list[np.ndarray], np.ndarray] | None = field(default=None, repr=False)

    def contrast_df(self, contrasts: np.ndarray) -> np.ndarray:
        """Satterthwaite df of each row ``c`` of ``contrasts`` (the estimate ``c'beta``).

        Examples
        --------
        >>> X = np.ones((3, 2, 1)); theta = np.broadcast_to(np.eye(2), (3, 2, 2)).copy()
        >>> resid = np.array([[0.1, 0.3], [-0.2, 0.0], [0.2, -0.4]])
        >>> test = cr2_coef_test(np.array([0.0]), np.array([[1 / 6]]), [(X, theta, resid)])
        >>> round(float(test.contrast_df(np.array([[2.0]]))[0]), 10)  # df does not depend on the scale of c
        2.0
        """
        C = np.atleast_2d(np.asarray(contrasts, dtype=float))
        U, H = self.parts
        d = np.concatenate([np.sum(np.einsum("qp,mpn->mqn", C, u) ** 2, axis=2) for u in U])
        return _satterthwaite(d, np.einsum("qp,jpr->jqr", C, H))

    def wald_htz(self, beta: np.ndarray, contrasts: np.ndarray) -> WaldTest:
        """HTZ test that ``C beta = 0`` (``clubSandwich::Wald_test(..., test = "HTZ")``).

        Hotelling's T² approximation of Pustejovsky & Tipton (2018): ``Q = (C b)'(C V C')^-1
        (C b)`` with the CR2 ``V``; ``nu = q (q + 1) / sum(Var)``, where ``Var[s, t] =
        sum(B_st * B_ts) + sum(B_ss * B_tt)`` and ``B_st = diag(g_s g_t) - h_s h_t'`` are the
        clusters' terms for the contrasts standardised by ``Omega^-1/2`` (``Omega[s, t] =
        tr(P_st)``); ``F = (nu - q + 1) / nu * Q / q`` on ``(q, nu - q + 1)`` df. With one
        contrast it is the Satterthwaite t test squared.

        Examples
        --------
        >>> X = np.ones((3, 2, 1)); theta = np.broadcast_to(np.eye(2), (3, 2, 2)).copy()
        >>> resid = np.array([[0.1, 0.3], [-0.2, 0.0], [0.2, -0.4]])
        >>> test = cr2_coef_test(np.array([0.3]), np.array([[1 / 6]]), [(X, theta, resid)])
        >>> w = test.wald_htz(np.array([0.3]), np.eye(1))
        >>> round(w.F, 6) == round(float(test.tval[0]) ** 2, 6), round(w.df_denom, 6)
        (True, 2.0)
        """
        C = np.atleast_2d(np.asarray(contrasts, dtype=float))
        beta = np.asarray(beta, dtype=float)
        q = C.shape[0]
        Cb = C @ beta
        Q = float(Cb @ np.linalg.solve(C @ self.vcov @ C.T, Cb))
        U, H = self.parts

        def terms(K: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """g·g per cluster (J, q, q) and h (J, q, p) for the contrasts ``K``."""
            g = [np.einsum("qp,mpn->mqn", K, u) for u in U]
            gg = np.concatenate([np.einsum("msn,mtn->mst", x, x) for x in g])
            return gg, np.einsum("qp,jpr->jqr", K, H)

        gg, h = terms(C)
        omega = np.einsum("jst->st", gg) - np.einsum("jsr,jtr->st", h, h)
        values, vectors = np.linalg.eigh(omega)
        gg, h = terms((vectors * values ** -0.5) @ vectors.T @ C)
        hh = np.einsum("jsr,jtr->jst", h, h)  # (h_s h_t')[a, a] for every cluster a
        cross = np.einsum("asr,atq->rqst", h, h)  # (h_s' h_t)[r, q], indexed [r, q, s, t]

        def product_sum(s: int, t: int, u: int, v: int) -> float:
            """sum(B_st * B_uv) over the J x J entries, without forming them."""
            return float(np.sum(gg[:, s, t] * gg[:, u, v]) - np.sum(gg[:, s, t] * hh[:, u, v])
                         - np.sum(gg[:, u, v] * hh[:, s, t]) + np.sum(cross[:, :, s, u] * cross[:, :, t, v]))

        total = sum(product_sum(s, t, t, s) + product_sum(s, s, t, t) for s in range(q) for t in range(q))
        nu = q * (q + 1) / total
        df_denom = nu - q + 1
        F = max((nu - q + 1) / nu, 0.0) * Q / q
        p = float(stats.f.sf(F, q, df_denom)) if df_denom > 0 else float("nan")
        return WaldTest(F=F, df_num=q, df_denom=df_denom, pval=p, Q=Q)


@dataclass(frozen=True)
class WaldTest:
    """A robust Wald test of several coefficients: ``F`` on ``(df_num, df_denom)`` df, its p-value and ``Q``."""

    F: float
    df_num: int
    df_denom: float
    pval: float
    Q: float


def _inverse_sqrt(G: np.ndarray) -> np.ndarray:
    """Symmetric ``G^(-1/2)`` of a batch, eigenvalues below the tolerance set to 0 (a pseudo-inverse)."""
    values, vectors = np.linalg.eigh(G)
    safe = np.where(values > EIGEN_TOLERANCE, values, 1.0)
    power = np.where(values > EIGEN_TOLERANCE, safe ** -0.5, 0.0)
    return np.einsum("mij,mj,mkj->mik", vectors, power, vectors)


def cr2_coef_test(beta: np.ndarray, bread: np.ndarray,
                  groups: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], *,
                  level: float = 0.95) -> RobustTest:
    """CR2 cluster-robust tests of each coefficient with Satterthwaite degrees of freedom.

    The model is a weighted least-squares fit with the inverse of the working
    covariance ``theta`` as weights (an ``rma.mv`` fit: ``theta`` is its marginal
    ``M``). With ``L`` the lower Cholesky factor of a cluster's ``theta``, the CR2
    adjustment is ``A = L (L' (theta - X B X') L)^(-1/2) L'`` and the estimator is
    ``B (sum_j X_j' W_j A_j e_j e_j' A_j' W_j X_j) B`` with ``B = (X' W X)^(-1)``, the
    ``bread``. Satterthwaite df per coefficient as ``clubSandwich::coef_test``
    (working model = ``theta``).

    Parameters
    ----------
    beta : ndarray, shape (p,)
        Estimates.
    bread : ndarray, shape (p, p)
        ``(X' W X)^(-1)``.
    groups : iterable of (X, theta, resid)
        Clusters of equal size ``n`` batched: ``X`` of shape ``(m, n, p)``, ``theta``
        ``(m, n, n)``, residuals ``y - X beta`` ``(m, n)``.
    level : float
        Confidence level of the t intervals.

    Returns
    -------
    RobustTest

    Examples
    --------
    >>> X = np.ones((3, 2, 1)); theta = np.broadcast_to(np.eye(2), (3, 2, 2)).copy()
    >>> resid = np.array([[0.1, 0.3], [-0.2, 0.0], [0.2, -0.4]])
    >>> test = cr2_coef_test(np.array([0.0]), np.array([[1 / 6]]), [(X, theta, resid)])
    >>> round(float(test.se[0]), 4), round(float(test.df[0]), 4)
    (0.1, 2.0)
    """
    beta = np.asarray(beta, dtype=float)
    p = beta.size
    meat = np.zeros((p, p))
    u_parts, h_parts = [], []
    for X, theta, resid in groups:
        L = np.linalg.cholesky(theta)
        W = np.linalg.inv(theta)
        XB = X @ bread  # (m, n, p)
        G = np.swapaxes(L, 1, 2) @ (theta - XB @ np.swapaxes(X, 1, 2)) @ L
        A = L @ _inverse_sqrt(G) @ np.swapaxes(L, 1, 2)
        E = np.swapaxes(X, 1, 2) @ W @ A  # (m, p, n): the adjusted estimating matrices
        components = np.einsum("mpn,mn->mp", E, resid)
        meat += components.T @ components
        ME = bread @ E
        u_parts.append(ME @ L)
        h_parts.append(ME @ X)  # times chol(bread) below
    vcov = bread @ meat @ bread
    se = np.sqrt(np.diag(vcov))
    H = np.concatenate(h_parts) @ np.linalg.cholesky(bread)  # (J, p, p)
    df = _satterthwaite(np.concatenate([np.sum(u ** 2, axis=2) for u in u_parts]), H)
    tval = beta / se
    pval = 2 * stats.t.sf(np.abs(tval), df)
    crit = stats.t.ppf(0.5 + level / 2, df)
    return RobustTest(vcov=vcov, se=se, tval=tval, df=df, pval=pval, ci_lb=beta - crit * se,
                      ci_ub=beta + crit * se, parts=(u_parts, H))


def _satterthwaite(d: np.ndarray, H: np.ndarray) -> np.ndarray:
    """Satterthwaite df of each of q contrasts from ``d`` (J, q) and ``H`` (J, q, p).

    clubSandwich's ``P = diag(d) - H H'`` (J x J) enters as ``tr(P)² / ||P||²_F``,
    computed through p x p products only.
    """
    df = np.empty(d.shape[1])
    for i in range(d.shape[1]):
        Hi, di = H[:, i, :], d[:, i]
        row_norms = np.sum(Hi ** 2, axis=1)
        trace = di.sum() - row_norms.sum()
        frobenius = np.sum(di ** 2) - 2 * np.sum(di * row_norms) + np.sum((Hi.T @ Hi) ** 2)
        df[i] = trace ** 2 / frobenius
    return df
