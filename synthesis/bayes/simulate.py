"""Simulated data sets from the implementation-strategy model, with known parameters.

:func:`simulate_strategy_data` draws a multi-strategy review from the
generative model that :func:`synthesis.bayes.strategy.strategy_model` fits, and returns
the data with the true parameter values, so that recovery and calibration can
be checked. Every row carries ``simulated = True``.

The generative model (effect size ``i`` of study ``j``; components ``S_i``)::

    class_effect[c]    ~ N(mu, tau_class^2)            (unless given)
    strategy_effect[s] ~ N(class_effect[class(s)], tau_strategy^2)   (unless given)
    study_effect[j]    ~ N(0, tau_study^2)
    theta_i = sum_{s in S_i} strategy_effect[s] + X_i beta + study_effect[j]
              + interaction * [|S_i| > 1] + N(0, tau_effect^2)
    y_i ~ N(theta_i, v_i),  v_i the SMD sampling variance for the arm sizes drawn.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthesis.errors import DataError

__all__ = ["DEFAULT_CATEGORICAL", "DEFAULT_CLASSES", "simulate_strategy_data"]

#: Strategy classes (ERIC clusters, Waltz et al. 2015) and the strategies in them.
DEFAULT_CLASSES: dict[str, list[str]] = {
    "Use evaluative and iterative strategies": ["Audit and feedback"],
    "Train and educate stakeholders": ["Educational meetings", "Educational outreach"],
    "Support clinicians": ["Reminders"],
    "Develop stakeholder interrelationships": ["Local opinion leaders"],
    "Provide interactive assistance": ["Practice facilitation"],
}

#: Study-level categorical moderators: level -> effect (the first level is the reference, 0).
DEFAULT_CATEGORICAL: dict[str, dict[str, float]] = {
    "scale": {"research": 0.0, "demonstration": -0.05, "routine": -0.10},
    "setting": {"primary care": 0.0, "hospital": 0.05, "long-term care": -0.05},
}
_DEFAULT_LEVEL_PROBS = {"scale": [0.5, 0.3, 0.2], "setting": [0.5, 0.3, 0.2]}


def _level_probs(levels: Mapping[str, float], probs: Sequence[float] | None,
                 name: str) -> np.ndarray:
    if probs is None:
        return np.full(len(levels), 1.0 / len(levels))
    p = np.asarray(probs, dtype=float)
    if p.shape != (len(levels),) or (p < 0).any() or not np.isclose(p.sum(), 1.0):
        raise DataError(f"level_probs[{name!r}] must give {len(levels)} probabilities "
                        "that add up to 1")
    return p


def simulate_strategy_data(
    n_studies: int = 40,
    *,
    classes: Mapping[str, Sequence[str]] | None = None,
    mu: float = 0.25,
    tau_class: float = 0.1,
    tau_strategy: float = 0.1,
    tau_study: float = 0.1,
    tau_effect: float = 0.05,
    class_effects: Mapping[str, float] | None = None,
    strategy_effects: Mapping[str, float] | None = None,
    categorical: Mapping[str, Mapping[str, float]] | None = None,
    level_probs: Mapping[str, Sequence[float]] | None = None,
    continuous: Mapping[str, float] | None = None,
    effects_per_study: tuple[int, int] = (1, 3),
    multi_component_rate: float = 0.25,
    interaction: float = 0.0,
    arm_size: tuple[int, int] = (40, 400),
    seed: int | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Simulate a multi-strategy review from the strategy model with known parameters.

    Parameters
    ----------
    n_studies : int
        Number of studies; each has between ``effects_per_study[0]`` and
        ``effects_per_study[1]`` effect sizes (arms or outcomes). Primary
        strategies are balanced across studies.
    classes : mapping, optional
        Class name -> strategies in it (default :data:`DEFAULT_CLASSES`).
    mu, tau_class, tau_strategy, tau_study, tau_effect : float
        Overall mean and heterogeneity standard deviations (SMD scale).
    class_effects, strategy_effects : mapping, optional
        Fixed true effects; when given they replace the draws from the hierarchy
        (strategies not listed are still drawn).
    categorical : mapping, optional
        Study-level categorical moderators: name -> {level: effect}; the first
        level is the reference and must have effect 0 (default
        :data:`DEFAULT_CATEGORICAL`; pass ``{}`` for none).
    level_probs : mapping, optional
        Name -> probability of each level (default: 0.5/0.3/0.2 for the
        defaults, uniform otherwise).
    continuous : mapping, optional
        Effect-level continuous moderators: name -> effect per standard
        deviation (values are drawn as intervention hours, Gamma(2, 5)).
    effects_per_study : (int, int)
        Inclusive range of effect sizes per study.
    multi_component_rate : float
        Probability that a second or later arm of a study adds a second component.
    interaction : float
        Extra effect of any multi-component arm.
    arm_size : (int, int)
        Range of participants per arm (log-uniform); sets the sampling variances.
    seed : int, optional
        Random seed (the same seed gives the same data).

    Returns
    -------
    data : DataFrame
        Columns ``study_id, effect_id, arm`` (e.g. ``"Audit and feedback + Reminders"``),
        ``strategy`` (the study's main strategy), ``components`` (``;``-separated),
        ``strategy_class`` (one class per component), the moderators,
        ``n_treatment, n_control, yi, vi, simulated``.
    truth : dict
        ``mu``, the ``tau_*``, ``class_effect``, ``strategy_effect``, ``beta``
        (term -> value, named as in :func:`synthesis.bayes.strategy.strategy_model`),
        ``interaction``, ``study_effect``, ``moderators`` (specs for
        ``strategy_model(moderators=...)``) and ``seed``.

    Examples
    --------
    >>> data, truth = simulate_strategy_data(n_studies=12, seed=1)
    >>> bool(data["simulated"].all()), sorted(truth["beta"])[:2]
    (True, ['scale[demonstration]', 'scale[routine]'])
    """
    if int(n_studies) < 1:
        raise DataError(f"n_studies must be a positive integer, not {n_studies!r}")
    lo_eff, hi_eff = (int(x) for x in effects_per_study)
    if not 1 <= lo_eff <= hi_eff:
        raise DataError(f"effects_per_study must be (min, max) with 1 <= min <= max, "
                        f"not {effects_per_study!r}")
    if not 0.0 <= multi_component_rate <= 1.0:
        raise DataError("multi_component_rate must be between 0 and 1")
    rng = np.random.default_rng(seed)
    classes = {str(c): list(s) for c, s in (classes or DEFAULT_CLASSES).items()}
    class_of = {s: c for c, members in classes.items() for s in members}
    strategies = [s for members in classes.values() for s in members]
    if len(class_of) != len(strategies):
        raise DataError("each strategy must belong to exactly one class")
    categorical = DEFAULT_CATEGORICAL if categorical is None else categorical
    for name, levels in categorical.items():
        if not levels or list(levels.values())[0] != 0.0:
            raise DataError(f"categorical moderator {name!r}: the first level is the reference "
                            "and must have effect 0")
    continuous = dict(continuous or {})

    class_effect = {c: float(class_effects[c]) if class_effects and c in class_effects
                    else float(rng.normal(mu, tau_class)) for c in classes}
    strategy_effect = {s: float(strategy_effects[s]) if strategy_effects and s in strategy_effects
                       else float(rng.normal(class_effect[class_of[s]], tau_strategy))
                       for s in strategies}

    primaries = np.resize(rng.permutation(len(strategies)), n_studies)
    rng.shuffle(primaries)
    study_effect: dict[str, float] = {}
    rows = []
    for j in range(n_studies):
        study_id = f"S{j + 1:03d}"
        study_effect[study_id] = float(rng.normal(0.0, tau_study))
        levels = {}
        for name, effects in categorical.items():
            probs = (level_probs or {}).get(name, _DEFAULT_LEVEL_PROBS.get(name)
                                            if name in DEFAULT_CATEGORICAL else None)
            names = list(effects)
            levels[name] = names[rng.choice(len(names), p=_level_probs(effects, probs, name))]
        primary = strategies[primaries[j]]
        for e in range(int(rng.integers(lo_eff, hi_eff + 1))):
            comps = [primary]
            if e > 0 and len(strategies) > 1 and rng.random() < multi_component_rate:
                others = [s for s in strategies if s != primary]
                comps.append(others[rng.integers(len(others))])
            comps.sort(key=strategies.index)
            rows.append({"study_id": study_id, "effect_id": f"{study_id}-{e + 1}",
                         "arm": " + ".join(comps), "strategy": primary,
                         "components": ";".join(comps),
                         "strategy_class": ";".join(class_of[c] for c in comps), **levels,
                         "_comps": comps})
    data = pd.DataFrame(rows)
    n = len(data)
    for name in continuous:
        data[name] = np.round(rng.gamma(2.0, 5.0, n), 1)

    beta: dict[str, float] = {}
    linear = np.zeros(n)
    for name, effects in categorical.items():
        for level, value in list(effects.items())[1:]:
            beta[f"{name}[{level}]"] = float(value)
        linear += data[name].map(effects).to_numpy(dtype=float)
    for name, coef in continuous.items():
        x = data[name].to_numpy(dtype=float)
        spread = x.std(ddof=1) if n > 1 else 1.0
        beta[name] = float(coef)
        linear += coef * (x - x.mean()) / (spread if spread > 0 else 1.0)
    arm = np.array([sum(strategy_effect[c] for c in comps) for comps in data["_comps"]])
    multi = np.array([len(comps) > 1 for comps in data["_comps"]])
    theta = (arm + linear + data["study_id"].map(study_effect).to_numpy(dtype=float)
             + interaction * multi + rng.normal(0.0, tau_effect, n))

    lo, hi = np.log(arm_size[0]), np.log(arm_size[1])
    n_t = np.round(np.exp(rng.uniform(lo, hi, n))).astype(int)
    n_c = np.maximum(np.round(n_t * rng.uniform(0.8, 1.2, n)).astype(int), 2)
    true_var = 1.0 / n_t + 1.0 / n_c + theta ** 2 / (2.0 * (n_t + n_c))
    yi = theta + rng.normal(0.0, np.sqrt(true_var))
    # the variance is computed from the estimate, as metafor does for SMDs
    vi = 1.0 / n_t + 1.0 / n_c + yi ** 2 / (2.0 * (n_t + n_c))
    data = data.drop(columns="_comps").assign(n_treatment=n_t, n_control=n_c,
                                              yi=np.round(yi, 4), vi=np.round(vi, 6),
                                              simulated=True)
    moderators = ([{"name": name, "type": "categorical", "reference": list(levels)[0]}
                   for name, levels in categorical.items()]
                  + [{"name": name, "type": "continuous"} for name in continuous])
    truth = {"mu": float(mu), "tau_class": float(tau_class), "tau_strategy": float(tau_strategy),
             "tau_study": float(tau_study), "tau_effect": float(tau_effect),
             "class_effect": class_effect, "strategy_effect": strategy_effect, "beta": beta,
             "interaction": float(interaction), "study_effect": study_effect,
             "theta": dict(zip(data["effect_id"], map(float, theta))),
             "moderators": moderators, "seed": seed}
    return data, truth
