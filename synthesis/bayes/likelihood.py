"""The marginal likelihood of effects that share a study, as PyMC and as NumPy sees it.

Within study ``j`` the effect sizes are multivariate normal,
``y_j ~ N(eta_j, diag(v_j + tau_effect^2) + tau_study^2 11')`` (study- and
effect-level deviations integrated out). The strategy model writes this as an
*observed* variable so that PyMC and ArviZ know the data: its log-density is the
chain-rule factorisation ``log p(y_j) = sum_i log p(y_ji | y_j1, ..., y_j,i-1)``,
each factor normal (Sherman-Morrison), so the sum over effects is exactly the
multivariate-normal log-density. For replicated data (prior and posterior
predictive) the same variable draws joint replicates from the marginal.

The pointwise log-likelihood stored for LOO is the marginal log-density of each
*study* (its effect sizes jointly), so ``az.loo`` is leave-one-study-out: effects
of one study are correlated, and studies are the exchangeable units.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["earlier_in_study", "marginal_observed", "study_loglik"]


def earlier_in_study(study_index: np.ndarray) -> np.ndarray:
    """``E[i, k] = 1`` when effect ``k`` precedes effect ``i`` in the same study.

    Examples
    --------
    >>> earlier_in_study(np.array([0, 1, 0, 0])).astype(int)
    array([[0, 0, 0, 0],
           [0, 0, 0, 0],
           [1, 0, 0, 0],
           [1, 0, 1, 0]])
    """
    idx = np.asarray(study_index)
    same = idx[:, None] == idx[None, :]
    return (same & np.tri(len(idx), k=-1, dtype=bool)).astype(float)


def _chain_rule_logp(value: Any, eta: Any, tau_study: Any, tau_effect: Any, v: Any,
                     onehot: Any, earlier: Any) -> Any:
    """Per-effect conditional log-densities whose sum is the marginal log-density."""
    import pytensor.tensor as pt

    total = v + tau_effect ** 2
    weight = 1.0 / total
    resid = value - eta
    g = tau_study ** 2
    w_prev = pt.dot(earlier, weight)
    s_prev = pt.dot(earlier, weight * resid)
    var_study = g / (1.0 + g * w_prev)  # posterior variance of the study effect so far
    mean = var_study * s_prev
    var = total + var_study
    return -0.5 * (np.log(2 * np.pi) + pt.log(var) + (resid - mean) ** 2 / var)


def _joint_replicate(eta: np.ndarray, tau_study: np.ndarray, tau_effect: np.ndarray, v: np.ndarray,
                     onehot: np.ndarray, earlier: np.ndarray, rng: np.random.Generator | None = None,
                     size: Any = None) -> np.ndarray:
    """Replicated effect sizes: new study effects, new effect-level deviations, new sampling error."""
    rng = rng or np.random.default_rng()
    batch = (np.broadcast_shapes(np.shape(eta)[:-1], np.shape(tau_study), np.shape(tau_effect))
             if size is None else tuple(size))
    n_effects, n_studies = np.shape(onehot)[-2:]
    study = rng.standard_normal((*batch, n_studies)) @ np.swapaxes(onehot, -1, -2)
    noise = rng.standard_normal((*batch, n_effects))
    return (eta + np.asarray(tau_study)[..., None] * study
            + np.sqrt(v + np.asarray(tau_effect)[..., None] ** 2) * noise)


def marginal_observed(name: str, eta: Any, tau_study: Any, tau_effect: Any, data: Any,
                      dims: str = "effect") -> Any:
    """The observed effect sizes ``data["effects"]`` as a PyMC variable with the study-marginal density.

    ``data`` holds the model's ``pm.Data``: ``y``, ``v``, ``onehot`` (effects x
    studies) and ``earlier`` (:func:`earlier_in_study`). Call inside a model context.
    """
    import pymc as pm

    return pm.CustomDist(name, eta, tau_study, tau_effect, data["v"], data["onehot"],
                         data["earlier"], logp=_chain_rule_logp, random=_joint_replicate,
                         signature="(n),(),(),(n),(n,s),(n,n)->(n)", observed=data["effects"],
                         dims=dims)


def study_loglik(y: np.ndarray, v: np.ndarray, study_index: np.ndarray, n_studies: int,
                 eta: np.ndarray, tau_study: np.ndarray, tau_effect: np.ndarray) -> np.ndarray:
    """Marginal log-density of each study's effect sizes, draw by draw: shape (..., studies).

    ``eta`` has shape (..., effects); ``tau_study`` and ``tau_effect`` shape (...).
    Sherman-Morrison: with weights ``a = 1 / (v + tau_effect^2)`` and ``g = tau_study^2``,
    ``log p(y_j) = -(n_j log 2 pi + sum log(1/a) + log(1 + g sum a)
    + sum a r^2 - g (sum a r)^2 / (1 + g sum a)) / 2``.

    Examples
    --------
    >>> from scipy import stats
    >>> y, v = np.array([0.1, 0.3, -0.2]), np.array([0.02, 0.03, 0.05])
    >>> ll = study_loglik(y, v, np.array([0, 0, 1]), 2, np.zeros(3), np.array(0.2), np.array(0.1))
    >>> block = np.diag(v[:2] + 0.01) + 0.04
    >>> bool(np.isclose(ll[0], stats.multivariate_normal.logpdf(y[:2], np.zeros(2), block)))
    True
    """
    weight = 1.0 / (v + np.asarray(tau_effect)[..., None] ** 2)
    resid = y - eta
    onehot = np.eye(n_studies)[study_index]
    g = np.asarray(tau_study)[..., None] ** 2
    sum_w = weight @ onehot
    sum_wr = (weight * resid) @ onehot
    quad = (weight * resid ** 2) @ onehot - g * sum_wr ** 2 / (1.0 + g * sum_w)
    log_det = (-np.log(weight)) @ onehot + np.log1p(g * sum_w)
    count = onehot.sum(axis=0)
    return -0.5 * (count * np.log(2 * np.pi) + log_det + quad)
