"""How robust is the answer: the review's sensitivity multiverse and what it says.

:func:`review_multiverse` turns a review's ``sensitivity:`` block (or the
default grid) into effect sets, exclusion rules and choices for
:func:`synthesis.meta.multiverse.multiverse_analysis`; :func:`robustness`
compares every specification's answer with the headline's:

* the *direction*: the estimate on the same side of no effect;
* the *answer*: the same direction and the same verdict on whether the
  interval excludes no effect (a scale-free criterion, so that OR, RR and RD
  can be compared);
* *beyond the MID*: on the headline's own measure only (the MID is on its scale);
* the *GRADE wording* (on the headline's measure): the plain-language answer a
  specification would get, with the certainty rating's imprecision recomputed
  from its interval (:func:`synthesis.grading.certainty.crossed_thresholds`) and
  every other domain as the review rated it, and its effect category (an effect,
  or little or no difference below the MID); with very low certainty every
  specification reads "it is unclear", :func:`same_wording`.

The choice that moves the answer most is the one whose levels differ most in
their share of specifications with the same answer (ties: the largest spread
of the median estimate on the headline's measure).

Several effects per study: the vectorised grid runs on each study's combined
effect (``aggregate`` at each within-study correlation), and the dimension
``dependence`` adds the models fitted on every effect size, CHE at each
correlation and the three-level model (which assumes correlation 0), with CR2
inference, under each exclusion rule (:func:`dependent_specifications`).
"""
from __future__ import annotations

import itertools
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from synthesis.errors import ReviewError
from synthesis.meta.multilevel import multilevel_meta_analysis
from synthesis.meta.multiverse import LEAVE_OUT, MultiverseResult, multiverse_analysis
from synthesis.numbers import percent
from synthesis.results import Result, jsonable

from synthesis.analysis.moderators import _spec_get

__all__ = ["review_multiverse", "robustness", "Robustness", "CHOICE_NAMES", "add_sensitivity", "robustness_sentence"]

#: how each choice is named to a reader
CHOICE_NAMES = {
    "measure": "the effect measure", "rho": "the assumed correlation of effects within a study",
    "risk_of_bias": "leaving out studies at high risk of bias", "design": "leaving out non-randomised studies",
    "small_studies": "leaving out small studies", "outliers": "leaving out outlying studies",
    LEAVE_OUT: "leaving out single studies", "method": "the estimator of between-study variation or the Bayesian prior",
    "test": "the test and interval (normal or Knapp-Hartung)", "bias": "the adjustment for publication bias",
    "dependence": "the model of several effects per study",
}
DEPENDENCE = "dependence"
TWO_BY_TWO = ("OR", "RR", "RD")


def _effect_sets(review: Any, data: pd.DataFrame) -> tuple[dict[Any, tuple[np.ndarray, np.ndarray]], tuple[str, ...],
                                                           pd.DataFrame]:
    """The effect sizes under each measure (2x2 counts) or within-study correlation (several effects per study)."""
    spec, sens = review.spec, review.spec.sensitivity
    measure = spec.effect.measure
    cluster = _spec_get(spec, "data.study_id")
    if cluster and cluster in review.data.columns and review.data[cluster].duplicated().any():
        from synthesis.meta.effects import aggregate_effects

        first = None
        sets = {}
        for rho in sens.rho:
            combined = aggregate_effects(review.data, cluster, rho=rho, keep=tuple(_study_columns(review)))
            if first is None:
                first = combined.assign(study=combined["study"].fillna(combined[cluster].astype(str)))
            sets[(measure, f"{rho:g}")] = (combined["yi"].to_numpy(float), combined["vi"].to_numpy(float))
        return sets, ("measure", "rho"), first
    columns = dict(spec.effect.columns)
    if measure in TWO_BY_TWO and not spec.effect.pass_through:
        from synthesis.meta.effects import effect_sizes

        sets = {}
        for m in sens.measures or TWO_BY_TWO:
            es = effect_sizes(data, m, append=False, **columns)
            sets[m] = (es["yi"].to_numpy(float), es["vi"].to_numpy(float))
        return sets, ("measure",), data
    return {measure: (data["yi"].to_numpy(float), data["vi"].to_numpy(float))}, ("measure",), data


def _study_columns(review: Any) -> list[str]:
    spec = review.spec
    names = ["study", _spec_get(spec, "certainty.risk_of_bias_column"), _spec_get(spec, "certainty.sample_size_column")]
    randomised = spec.sensitivity.randomised
    names.append(randomised.column if randomised else None)
    return [c for c in dict.fromkeys(names) if c and c in review.data.columns]


def _column(review: Any, data: pd.DataFrame, column: str, setting: str) -> pd.Series:
    if column not in data.columns:
        raise ReviewError(f"{review.folder}/review.yaml: {setting} names the column {column!r}, which the study "
                          f"data do not have (or which varies within a study); name a column of "
                          f"{review.spec.data.file} that is constant within each study")
    return data[column]


def _exclusions(review: Any, data: pd.DataFrame) -> tuple[dict[str, Any], list[str]]:
    """The exclusion rules that apply (each a dimension of two levels), and notes on those that do not."""
    spec, sens = review.spec, review.spec.sensitivity
    rules, notes = {}, []
    rob_column = _spec_get(spec, "certainty.risk_of_bias_column")
    if sens.risk_of_bias and rob_column:
        from synthesis.review.risk_of_bias import rob_judgements

        judged = np.array(rob_judgements(_column(review, data, rob_column, "certainty.risk_of_bias_column").tolist(),
                                         rob_column))
        rules["risk_of_bias"] = ("all studies", "without high risk of bias", judged != "high")
    elif sens.risk_of_bias:
        notes.append("No study was left out for risk of bias: the review gives no risk-of-bias column.")
    if sens.randomised is not None:
        design = _column(review, data, sens.randomised.column, "sensitivity.randomised.column")
        allowed = {str(v) for v in sens.randomised.values}
        rules["design"] = ("all designs", "randomised only", design.astype(str).isin(allowed).to_numpy())
    n_column = _spec_get(spec, "certainty.sample_size_column")
    if sens.small_studies_below is not None:
        if not n_column:
            raise ReviewError(f"{review.folder}/review.yaml: sensitivity.small_studies_below needs "
                              "certainty.sample_size_column (the participants of each study)")
        n = pd.to_numeric(_column(review, data, n_column, "certainty.sample_size_column"), errors="coerce")
        rules["small_studies"] = ("all sizes", f"n ≥ {sens.small_studies_below}",
                                  (n >= sens.small_studies_below).to_numpy())
    return rules, notes


def review_multiverse(review: Any, data: pd.DataFrame, *,
                      map: Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]] | None = None,
                      priors: dict[str, Any] | None = None) -> MultiverseResult | None:
    """The review's sensitivity multiverse (None when ``sensitivity.enabled`` is false).

    ``data`` are the rows of the frequentist analyses (one per study). ``map`` is
    passed on for the per-subset publication-bias fits (default: in process).
    ``priors`` (``mu_sd``, ``tau_prior``, ``tau_scale``): add the exact Bayesian model
    under the review's and alternative priors (:func:`bayesian_specifications`).

    Examples
    --------
    >>> from synthesis.review.loader import load_review
    >>> review = load_review("writing-to-learn", ".", {"sensitivity.bias": ["none"]})  # doctest: +SKIP
    >>> review_multiverse(review, review.data).size  # doctest: +SKIP
    36
    """
    sens = review.spec.sensitivity
    if not sens.enabled:
        return None
    sets, set_dimensions, rows = _effect_sets(review, data)
    usable = np.logical_and.reduce([np.isfinite(y) & np.isfinite(v) for y, v in sets.values()])
    if not usable.all():  # rows without an effect size (the pooled model drops them too)
        sets = {key: (y[usable], v[usable]) for key, (y, v) in sets.items()}
        rows = rows.loc[usable].reset_index(drop=True)
    rules, notes = _exclusions(review, rows)
    start = time.perf_counter()
    lower_is_better = _spec_get(review.spec, "effect.direction") == "lower_is_better"
    result = multiverse_analysis(sets, set_dimensions=set_dimensions, labels=rows["study"].astype(str).tolist(),
                                 exclusions=rules, outliers=sens.outliers, leave_one_out=sens.leave_one_out,
                                 methods=sens.methods, tests=sens.tests, bias=sens.bias,
                                 level=review.spec.analysis.level, alternative="less" if lower_is_better else "greater",
                                 map=map)
    result.notes = [*notes, *result.notes]
    if "rho" in set_dimensions:
        _add_dependent(result, review, rows, rules)
    if priors is not None:
        if len(rows) > BAYES_SPECIFICATIONS_CAP:
            result.notes.append(f"The Bayesian posterior under other priors was not computed for each choice "
                                f"above {BAYES_SPECIFICATIONS_CAP:,} studies.")
        else:
            _append(result, bayesian_specifications(sets, set_dimensions, rules, priors, review.spec.analysis.level))
            result.notes.append("The exact Bayesian model is included as four estimators (method \"Bayes: ...\"): "
                                "the review's priors, a vague prior on the mean (SD x10)"
                                + (" and the heterogeneity prior's scale halved and doubled" if
                                   priors["tau_prior"] in ("half_normal", "half_cauchy") else "")
                                + "; the posterior mean and credible interval under each exclusion rule.")
    result.seconds = time.perf_counter() - start  # type: ignore[attr-defined]
    return result


def _rule_subsets(rules: dict[str, Any], n: int) -> Iterable[tuple[dict[str, str], np.ndarray]]:
    """Every combination of the exclusion rules' levels and the studies it keeps (of ``n``)."""
    for combo in itertools.product(*[(rule[0], rule[1]) for rule in rules.values()]):
        keep = np.ones(n, dtype=bool)
        for (name, rule), choice in zip(rules.items(), combo):
            if choice == rule[1]:
                keep &= np.asarray(rule[2], dtype=bool)
        yield dict(zip(rules, combo)), keep


#: the priors of the exact Bayesian model the multiverse compares (method "Bayes: <label>")
PRIOR_ALTERNATIVES = {"as specified": {}, "vague mean": {"mu_sd": 10.0},
                      "heterogeneity halved": {"tau_scale": 0.5}, "heterogeneity doubled": {"tau_scale": 2.0}}
#: the exact posterior of every subset is skipped above this many studies (0.5 s each at 10,000)
BAYES_SPECIFICATIONS_CAP = 5_000


def bayesian_specifications(sets: dict[Any, tuple[np.ndarray, np.ndarray]], set_dimensions: Sequence[str],
                            rules: dict[str, Any], priors: dict[str, Any], level: float) -> pd.DataFrame:
    """The exact random-effects posterior (:func:`synthesis.bayes.random_effects_exact`) of each effect
    set under each exclusion rule, with the review's prior and :data:`PRIOR_ALTERNATIVES`.

    ``priors``: ``mu_sd``, ``tau_prior``, ``tau_scale`` as the review gives them. The
    alternatives multiply ``mu_sd`` or ``tau_scale`` (a scale prior only: half-normal or
    half-Cauchy). Rows: method ``Bayes: <label>``, test ``posterior``; ``estimate`` is the
    posterior mean of mu, ``ci_lb``/``ci_ub`` its equal-tailed credible interval, ``se``
    its posterior SD, ``tau2`` the posterior mean of tau², ``pval`` NaN.
    """
    from synthesis.bayes.exact import random_effects_exact

    scaled = priors["tau_prior"] in ("half_normal", "half_cauchy")
    rows = []
    for key, (y, v) in sets.items():
        levels = dict(zip(set_dimensions, map(str, key if isinstance(key, tuple) else (key,))))
        for combo, keep in _rule_subsets(rules, len(y)):
            for label, change in PRIOR_ALTERNATIVES.items():
                if "tau_scale" in change and not scaled:
                    continue
                args = {"mu_sd": priors["mu_sd"] * change.get("mu_sd", 1.0), "tau_prior": priors["tau_prior"],
                        "tau_scale": priors["tau_scale"] * change.get("tau_scale", 1.0)}
                row = {**levels, **combo, "method": f"Bayes: {label}", "test": "posterior", "bias": "none",
                       "k": int(keep.sum())}
                try:
                    post = random_effects_exact(y[keep], v[keep], level=level, **args).summary()
                except ValueError as exc:
                    rows.append(row | {"status": f"not fitted: {exc}"})
                    continue
                rows.append(row | {"estimate": post.loc["mu", "mean"], "se": post.loc["mu", "sd"],
                                   "ci_lb": post.loc["mu", "ci_lb"], "ci_ub": post.loc["mu", "ci_ub"],
                                   "pval": np.nan, "tau2": post.loc["tau2", "mean"], "status": "ok"})
    return pd.DataFrame(rows)


def _append(result: MultiverseResult, extra: pd.DataFrame) -> None:
    """Append rows fitted outside the grid; choices they do not vary take the grid's first level
    (outliers kept, no study left out, the combined effects), and new levels join the dimensions."""
    extra = extra.assign(**{name: levels[0] for name, levels in result.dimensions.items()
                            if name not in extra.columns})
    columns = list(result.table.columns)
    result.table = pd.concat([result.table, extra[[c for c in columns if c in extra.columns]]], ignore_index=True)
    result.dimensions = {name: list(dict.fromkeys([*levels, *extra[name]]))
                         for name, levels in result.dimensions.items()}


def dependent_specifications(review: Any, studies: pd.DataFrame, rules: dict[str, Any]) -> pd.DataFrame:
    """The CHE (each ``sensitivity.rho``) and three-level fits on every effect size, under each exclusion rule.

    ``studies`` are the combined rows (one per study, with the study id column) that
    the exclusion rules' masks refer to. One row per specification with the
    multiverse's columns: CR2 estimate, SE, interval and p-value; ``tau2`` is
    ``sum(sigma2)``; ``k`` counts studies.
    """
    from synthesis.analysis.dependence import _model_settings

    spec = review.spec
    cluster = _spec_get(spec, "data.study_id")
    measure = spec.effect.measure
    models = [("che", rho) for rho in spec.sensitivity.rho] + [("multilevel", 0.0)]
    ids = studies[cluster].to_numpy()
    rows = []
    for combo, keep in _rule_subsets(rules, len(ids)):
        effects = review.data[review.data[cluster].isin(set(ids[keep]))]
        for dependence, rho in models:
            settings = _model_settings(spec, dependence) | {"rho": rho}
            row = {"measure": measure, "rho": f"{rho:g}", **combo, DEPENDENCE: dependence,
                   "method": settings["method"], "test": "CR2", "bias": "none"}
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    fit = multilevel_meta_analysis(effects, **settings)
            except ValueError as exc:  # e.g. too few studies left, or one effect per study
                rows.append(row | {"k": int(keep.sum()), "status": f"not fitted: {exc}"})
                continue
            rows.append(row | {"k": fit.n_studies, "estimate": fit.estimate, "se": float(fit.se[0]),
                               "ci_lb": float(fit.ci_lb[0]), "ci_ub": float(fit.ci_ub[0]),
                               "pval": float(fit.pval[0]), "tau2": float(np.sum(fit.sigma2)), "status": "ok"})
    return pd.DataFrame(rows)


def _add_dependent(result: MultiverseResult, review: Any, studies: pd.DataFrame, rules: dict[str, Any]) -> None:
    """Append :func:`dependent_specifications` to the grid as the levels ``che`` and ``multilevel`` of ``dependence``."""
    names = list(result.dimensions)
    names.insert(names.index("method"), DEPENDENCE)  # the new choice sits before the estimator's
    columns = list(result.table.columns)
    columns.insert(columns.index("method"), DEPENDENCE)
    result.table = result.table.assign(**{DEPENDENCE: "aggregate"})[columns]
    result.dimensions = {name: result.dimensions.get(name, ["aggregate"]) for name in names}
    _append(result, dependent_specifications(review, studies, rules))
    result.notes.append("With several effects per study, the grid combines each study's effects into one "
                        "(at each correlation); the CHE and three-level models on every effect size, with "
                        "CR2 robust inference, are added under each exclusion rule (no outlier or single-study "
                        "exclusions, no publication-bias adjustment).")


def same_wording(table: pd.DataFrame, certainty: Any, *, estimate: float, ci_lb: float, ci_ub: float,
                 mid: float | None, direction: str) -> pd.Series:
    """Whether each specification gets the headline's GRADE wording (see the module docstring).

    Examples
    --------
    >>> from synthesis.grading.rating import Certainty, Downgrade
    >>> c = Certainty("moderate", (Downgrade("imprecision", 1, ""),), "", "high")
    >>> t = pd.DataFrame({"estimate": [0.3, 0.05, 0.3], "ci_lb": [0.05, -0.1, 0.15], "ci_ub": [0.55, 0.2, 0.45]})
    >>> same_wording(t, c, estimate=0.3, ci_lb=0.05, ci_ub=0.55, mid=0.1, direction="higher_is_better").tolist()
    [True, False, False]
    """
    from synthesis.grading.certainty import crossed_thresholds
    from synthesis.grading.rating import LEVELS
    from synthesis.grading.wording import direction_of_effect

    imprecision = sum(d.levels for d in certainty.downgrades if d.domain == "imprecision")
    others = sum(d.levels for d in certainty.downgrades) - imprecision
    # a headline interval crossing nothing, rated down for imprecision: the optimal information size
    ois = int(imprecision > 0 and crossed_thresholds(estimate, ci_lb, ci_ub, mid=mid, direction=direction) == 0)
    crossed = crossed_thresholds(table["estimate"], table["ci_lb"], table["ci_ub"], mid=mid, direction=direction)
    index = np.minimum(LEVELS.index(certainty.start) + others + np.where(crossed > 0, crossed, ois), len(LEVELS) - 1)
    same = index == LEVELS.index(certainty.level)
    if certainty.level != "very low":  # "it is unclear whether ..." names no effect
        headline = direction_of_effect(estimate, mid=mid)
        same &= np.array([direction_of_effect(e, mid=mid) == headline for e in table["estimate"]], dtype=bool)
    return pd.Series(same, index=table.index)


@dataclass(repr=False)
class Robustness(Result):
    """How often the specifications of a multiverse give the headline's answer (:func:`robustness`)."""

    size: int
    fitted: int
    share_direction: float
    share_same: float
    share_mid: float | None
    share_wording: float | None
    moved_most: str | None
    moved_levels: list[dict[str, Any]]
    by_choice: pd.DataFrame
    headline_clear: bool
    notes: list[str] = field(default_factory=list)
    _title = "Robustness of the answer"

    def summary(self) -> pd.DataFrame:
        """The share of specifications with the same answer, for each level of each choice."""
        return self.by_choice

    def to_dict(self) -> dict[str, Any]:
        return jsonable({"size": self.size, "fitted": self.fitted, "share_direction": self.share_direction,
                         "share_same": self.share_same, "share_mid": self.share_mid,
                         "share_wording": self.share_wording,
                         "moved_most": self.moved_most, "moved_levels": self.moved_levels,
                         "headline_clear": self.headline_clear, "notes": self.notes})

    def sentence(self, intervention: str, outcome: str, verb: str) -> str:
        """One plain sentence for the policymaker page (``verb``: "improve", "reduce", ...).

        Examples
        --------
        >>> r = Robustness(1296, 1296, 0.97, 0.94, None, None, "method", [{"level": "EE", "share_same": 0.8},
        ...                {"level": "DL", "share_same": 1.0}], pd.DataFrame(), True)
        >>> r.sentence("the programmes", "reoffending", "still reduce")
        'In 94% of 1,296 reasonable ways of analysing these studies the programmes still reduce reoffending; the choice that moves the answer most is the estimator of between-study variation or the Bayesian prior (80% with EE, 100% with DL).'
        """
        ways = f"{self.fitted:,} reasonable ways of analysing these studies"
        if self.headline_clear:
            main = f"In {percent(100 * self.share_same)} of {ways} {intervention} {verb} {outcome}"
        else:
            main = (f"In {percent(100 * self.share_same)} of {ways} the answer stays the same: the studies "
                    f"cannot tell whether {intervention} change {outcome}")
        if self.moved_most is None:
            return main + "."
        low, high = self.moved_levels[0], self.moved_levels[-1]
        if low["share_same"] == high["share_same"]:
            return (f"{main}; no choice changes the answer, and the one that moves the estimate most is "
                    f"{CHOICE_NAMES.get(self.moved_most, self.moved_most)}.")
        return (f"{main}; the choice that moves the answer most is {CHOICE_NAMES.get(self.moved_most, self.moved_most)} "
                f"({percent(100 * low['share_same'])} with {low['level']}, "
                f"{percent(100 * high['share_same'])} with {high['level']}).")


def robustness(multiverse: MultiverseResult, *, estimate: float, ci_lb: float, ci_ub: float, measure: str,
               mid: float | None = None, certainty: Any = None, direction: str = "higher_is_better") -> Robustness:
    """Compare every fitted specification's answer with the headline's (see the module docstring).

    ``certainty`` (the review's GRADE rating) adds the share with the same wording.

    Examples
    --------
    >>> from synthesis.meta.multiverse import multiverse_analysis
    >>> mv = multiverse_analysis({"SMD": ([0.1, 0.5, 0.9, -0.2, 0.3], [0.04, 0.05, 0.03, 0.06, 0.02])},
    ...                          methods=("DL", "REML"), outliers=False)
    >>> r = robustness(mv, estimate=0.3, ci_lb=0.05, ci_ub=0.55, measure="SMD", mid=0.1)
    >>> r.fitted, r.share_direction
    (4, 1.0)
    """
    table = multiverse.fitted.copy()
    sign = np.sign(estimate)
    clear = bool(ci_lb > 0 or ci_ub < 0)
    table["same_direction"] = np.sign(table["estimate"]) == sign
    table_clear = (table["ci_lb"] > 0) | (table["ci_ub"] < 0)
    table["same_answer"] = table["same_direction"] & (table_clear == clear) if clear else ~table_clear
    own = table["measure"] == measure if "measure" in table.columns else pd.Series(True, index=table.index)
    share_mid = None
    if mid is not None and own.any():
        share_mid = float(((sign * table.loc[own, "estimate"]) >= mid).mean())
    share_wording = None
    if certainty is not None and own.any():
        share_wording = float(same_wording(table[own], certainty, estimate=estimate, ci_lb=ci_lb, ci_ub=ci_ub,
                                           mid=mid, direction=direction).mean())
    rows, spreads = [], {}
    for name, levels in multiverse.dimensions.items():
        if len(levels) < 2:
            continue
        part = []
        for level in levels:
            sel = table[table[name] == level]
            median = sel.loc[own.reindex(sel.index), "estimate"].median() if len(sel) else np.nan
            part.append({"choice": name, "level": level, "fitted": len(sel),
                         "share_same": float(sel["same_answer"].mean()) if len(sel) else np.nan,
                         "median_estimate": float(median)})
        rows += part
        shares = [p["share_same"] for p in part if np.isfinite(p["share_same"])]
        medians = [p["median_estimate"] for p in part if np.isfinite(p["median_estimate"])]
        if shares:
            spreads[name] = (max(shares) - min(shares), (max(medians) - min(medians)) if medians else 0.0)
    by_choice = pd.DataFrame(rows, columns=["choice", "level", "fitted", "share_same", "median_estimate"])
    moved = max(spreads, key=spreads.__getitem__) if spreads else None
    moved_levels = []
    if moved is not None:
        part = by_choice[(by_choice["choice"] == moved) & (by_choice["fitted"] > 0)]
        ordered = part.sort_values(["share_same", "median_estimate"], kind="stable", na_position="last")
        moved_levels = ordered[["level", "share_same", "median_estimate"]].to_dict(orient="records")
        moved_levels = [moved_levels[0], moved_levels[-1]]
    n = len(table)
    return Robustness(size=multiverse.size, fitted=n,
                      share_direction=float(table["same_direction"].mean()) if n else float("nan"),
                      share_same=float(table["same_answer"].mean()) if n else float("nan"), share_mid=share_mid,
                      share_wording=share_wording,
                      moved_most=moved, moved_levels=moved_levels, by_choice=by_choice.set_index(["choice", "level"]),
                      headline_clear=clear, notes=list(multiverse.notes))


def add_sensitivity(analysis: Any, *,
                    map: Callable[[Callable[[Any], Any], list[Any]], Iterable[Any]] | None = None) -> None:
    """Run the review's multiverse and its robustness summary into ``analysis`` (fields ``multiverse``, ``robustness``)."""
    bayes = getattr(analysis, "bayes", None)
    exact = bayes is not None and hasattr(bayes, "tau_cdf")  # the exact posterior (one strategy)
    spec_bayes = analysis.spec.bayes
    priors = ({"mu_sd": spec_bayes.mu_sd, "tau_prior": spec_bayes.tau_prior, "tau_scale": spec_bayes.tau_scale}
              if exact else None)
    multiverse = review_multiverse(analysis.review, analysis.data, map=map, priors=priors)
    analysis.multiverse = multiverse
    if multiverse is None or not len(multiverse.fitted):
        analysis.robustness = None
        return
    head = analysis.headline()  # the working model's with several effects per study
    analysis.robustness = robustness(multiverse, estimate=head["estimate"], ci_lb=head["ci_lb"], ci_ub=head["ci_ub"],
                                     measure=analysis.spec.effect.measure, mid=_spec_get(analysis.spec, "decision.mid"),
                                     certainty=getattr(analysis, "certainty", None),
                                     direction=_spec_get(analysis.spec, "effect.direction", "higher_is_better"))


def robustness_sentence(analysis: Any) -> str:
    """The page's one sentence on robustness ("" when there is no multiverse)."""
    from synthesis.grading.wording import is_plural

    result = getattr(analysis, "robustness", None)
    if result is None:
        return ""
    spec = analysis.spec
    intervention = spec.question.intervention
    higher = _spec_get(spec, "effect.direction", "higher_is_better") == "higher_is_better"
    beneficial = (analysis.meta.estimate > 0) == higher
    plural = is_plural(intervention, _spec_get(spec, "question.plural"))
    if _spec_get(spec, "question.kind", "intervention") == "exposure":  # a harm is an increase (of risk)
        verb = "still decrease" if beneficial else "still increase"
    else:
        verb = "still improve" if beneficial else "still worsen"
    verb += "" if plural else "s"
    sentence = result.sentence(intervention, spec.question.outcome, verb)
    if result.share_wording is not None:
        sentence += (f" The wording of the answer above stays the same in {percent(100 * result.share_wording)} "
                     f"of the analyses on the {spec.effect.measure} scale (each with its own imprecision rating).")
    return sentence
