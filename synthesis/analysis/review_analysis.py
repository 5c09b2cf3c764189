"""Every analysis of one review question, run through the library only.

:func:`analyse_review` loads a review (``reviews/<id>/review.yaml``) and runs
the pooled model, heterogeneity, moderators and subgroups, small-study
diagnostics, influence, the Bayesian model, the certainty rating and the
natural-unit translation. The notebook shows the result;
:meth:`ReviewAnalysis.results` is the JSON the pipeline copies into the
manifest.
"""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from synthesis.meta.small_study import (MIN_STUDIES, BeggResult, EggerResult, TrimFillResult, begg_test, egger_test,
                                        trim_and_fill)
from synthesis.meta.case_diagnostics import influence, leave_one_out
from synthesis.meta.two_by_two import TWO_BY_TWO_METHODS, MantelHaenszelResult, mantel_haenszel, peto
from synthesis.meta.pooled import MetaResult, meta_analysis
from synthesis.meta.regression import SubgroupResult, subgroup_analysis
from synthesis.meta.precision_effect import PetPeeseResult, pet_peese
from synthesis.meta.selection import SelectionModelResult, selection_model
from synthesis.numbers import interval, level_percent, number, percent
from synthesis.results import jsonable

from synthesis.analysis.moderators import _spec_get, labelled_levels, moderator_predictions, moderator_table  # noqa: F401
from synthesis.analysis.dependence import (WITHIN_STUDY_RHO, certainty_input, dependent_model,  # noqa: F401
                                           dependent_subgroups, headline_fields, moderator_fitter, several_effects,
                                           study_level_data)
from synthesis.meta.multilevel import MultilevelResult

__all__ = ["analyse_review", "ReviewAnalysis", "moderator_table"]

@dataclass
class ReviewAnalysis:
    """All results for one review. Built by :func:`analyse_review`."""

    review: Any
    meta: MetaResult
    pooled: MantelHaenszelResult | None = None  # the headline when analysis.method is MH or Peto
    dependent: MultilevelResult | None = None  # the headline of several effects per study (CHE / three-level)
    egger: EggerResult | None = None
    egger_classic: EggerResult | None = None
    begg: BeggResult | None = None
    trimfill: TrimFillResult | None = None
    selection: SelectionModelResult | None = None
    pet_peese: PetPeeseResult | None = None
    influence: pd.DataFrame | None = None
    leave_one_out: pd.DataFrame | None = None
    moderators: pd.DataFrame | None = None
    moderator_effects: pd.DataFrame | None = None  # the effect predicted at each level (moderator_predictions)
    subgroups: SubgroupResult | None = None
    bayes: Any = None
    bayes_error: str | None = None
    #: settings given but not used by the chosen model (``{setting, value, reason}``)
    unused_settings: list[dict[str, Any]] = field(default_factory=list)
    certainty: Any = None
    natural_units: Any = None
    answer: str = ""
    notes: list[str] = field(default_factory=list)
    analysed: pd.DataFrame | None = None  # the rows of the study-level models (one per study)
    multiverse: Any = None  # the sensitivity multiverse and its robustness (synthesis.analysis.sensitivity)
    robustness: Any = None

    @property
    def spec(self) -> Any:
        return self.review.spec

    @property
    def data(self) -> pd.DataFrame:
        """The rows of the frequentist analyses (one per study; all effect sizes if none repeat)."""
        return self.analysed if self.analysed is not None else self.review.data

    # ------------------------------------------------------------------ results JSON
    def headline(self) -> dict[str, Any]:
        """The pooled effect as the page and the manifest give it.

        With several effects per study (:attr:`dependent`): that model's numbers, ``k``
        the number of studies, ``n_effects``, both variance components (``tau2`` is their
        sum) and ``model``, the model in words.
        """
        m = self.meta
        out = {"measure": _spec_get(self.spec, "effect.measure"), "estimate": m.estimate, "se": m.se,
               "ci_lb": m.ci_lb, "ci_ub": m.ci_ub, "pi_lb": m.pi_lb, "pi_ub": m.pi_ub, "tau2": m.tau2,
               "I2": m.I2, "k": m.k, "method": m.method, "test": m.test, "pval": m.pval,
               "prob_gt_0": None, "prob_gt_mid": None,
               "mid": _spec_get(self.spec, "decision.mid"), "n_effects": len(self.review.data), "model": None}
        if self.dependent is not None:
            out.update(headline_fields(self.dependent))
        if self.pooled is not None:  # MH / Peto: the pooled effect; tau² and the interval stay the model's
            p = self.pooled
            out.update(estimate=p.estimate, se=p.se, ci_lb=p.ci_lb, ci_ub=p.ci_ub, I2=p.I2, k=p.k,
                       method=p.method, test=p.test, pval=p.pval)
        if self.bayes is not None:
            out["prob_gt_0"] = self.bayes_probability(0.0)
            mid = _spec_get(self.spec, "decision.mid")
            if mid is not None:
                out["prob_gt_mid"] = self.bayes_probability(float(mid))
        return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in out.items()}

    def bayes_probability(self, threshold: float) -> float | None:
        """P(effect in the beneficial direction beyond ``threshold``) from the Bayesian model."""
        if self.bayes is None:
            return None
        lower_is_better = _spec_get(self.spec, "effect.direction") == "lower_is_better"
        if lower_is_better:
            return float(1 - self.bayes.prob_greater(-threshold))
        return float(self.bayes.prob_greater(threshold))

    def diagnostics(self) -> dict[str, Any]:
        messages: list[str] = list(self.notes)
        ok = True
        if self.bayes_error:
            ok = False
            messages.append(self.bayes_error)
        if self.bayes is not None:
            diag = getattr(self.bayes, "diagnostics", {}) or {}
            if not diag.get("ok", True):
                ok = False
            messages.extend(diag.get("messages", []))
        return {"ok": ok, "messages": messages}

    def results(self) -> dict[str, Any]:
        """JSON-able summary: ``answer, certainty, simulated, headline, diagnostics``, details and ``toolkit``."""
        certainty = getattr(self.certainty, "level", None)
        out = {
            "answer": self.answer,
            "certainty": certainty,
            "simulated": bool(_spec_get(self.spec, "provenance.simulated", False)),
            "headline": self.headline(),
            "diagnostics": self.diagnostics(),
            "meta": self.meta.to_dict(),
        }
        if self.pooled is not None:
            out["pooled"] = self.pooled.to_dict()
        if self.dependent is not None:
            out["dependent"] = self.dependent.to_dict()
        if self.egger is not None:
            out["small_study"] = {"egger": self.egger.to_dict(),
                                  "egger_classic": self.egger_classic.to_dict() if self.egger_classic else None,
                                  "begg": self.begg.to_dict() if self.begg else None,
                                  "trimfill": self.trimfill.to_dict() if self.trimfill else None,
                                  "selection": self.selection.to_dict() if self.selection else None,
                                  "pet_peese": self.pet_peese.to_dict() if self.pet_peese else None}
        if self.certainty is not None and hasattr(self.certainty, "to_dict"):
            out["certainty_detail"] = self.certainty.to_dict()
        if self.natural_units is not None and hasattr(self.natural_units, "to_dict"):
            out["natural_units"] = self.natural_units.to_dict()
        if self.bayes is not None and hasattr(self.bayes, "to_dict"):
            out["bayes"] = self.bayes.to_dict()
            from synthesis.bayes.sensitivity import prior_sensitivity_record

            sensitivity = prior_sensitivity_record(self.bayes)  # power-scaling, no refit (None when exact)
            if sensitivity is not None:
                out["prior_sensitivity"] = sensitivity
            if hasattr(self.bayes, "workflow_summary"):  # sampled: LOO and predictive check
                out["bayes"].update(self.bayes.workflow_summary())
        out["unused_settings"] = list(self.unused_settings)
        from synthesis.analysis.toolkit import toolkit_record

        out["toolkit"] = toolkit_record(self)  # what reports/index.html shows across reviews
        if self.robustness is not None:
            out["sensitivity"] = {**self.multiverse.to_dict(), **self.robustness.to_dict()}
        return jsonable(out)

    def write_results(self, path: str | Path) -> None:
        """Write :meth:`results` as JSON (the pipeline reads it into the manifest)."""
        Path(path).write_text(json.dumps(self.results(), indent=2, sort_keys=True), encoding="utf-8")


#: the inverse-variance model of the other analyses when the pooled effect is Mantel-Haenszel or Peto
TWO_BY_TWO_COMPANION = "REML"


def two_by_two_pooled(review: Any, method: str, level: float) -> MantelHaenszelResult:
    """The Mantel-Haenszel or Peto pooled effect of the review's 2x2 tables (one table per row)."""
    spec = review.spec
    columns = dict(_spec_get(spec, "effect.columns", {}))
    if method == "Peto":
        return peto(review.data, labels="study", level=level, **columns)
    return mantel_haenszel(review.data, _spec_get(spec, "effect.measure"), labels="study", level=level, **columns)


def two_by_two_note(pooled: MantelHaenszelResult, meta: MetaResult, measure: str) -> str:
    """What the pooled effect is, and which model the other analyses use."""
    from synthesis.grading.measures import back_transform

    transform = back_transform(measure)
    name = {"MH": "Mantel-Haenszel", "Peto": "Peto"}[pooled.method]
    return (f"The pooled effect is the {name} estimate of the {pooled.k} studies' 2x2 tables ({measure} "
            f"{number(pooled.estimate, transform=transform)}, {level_percent(pooled.level)} CI "
            f"{interval(pooled.ci_lb, pooled.ci_ub, transform=transform)}; an equal-effects model; "
            f"I² {percent(pooled.I2)}). The forest plot, tau², the prediction interval, moderators, subgroups, "
            f"influence, small-study tests, the certainty rating and the Bayesian model use the "
            f"inverse-variance random-effects model ({meta.method}: {number(meta.estimate, transform=transform)}).")


#: largest number of studies for which the analysis step computes case diagnostics (influence,
#: leave-one-out) and Begg's test. A table or plot of one row per study stops being readable
#: long before this, no single study can sway a pooled estimate of hundreds, and the k
#: deletion refits cost O(k²) (Begg's exact p-value, as metafor's ``ranktest``, O(k³)): a
#: review of 8,000 effects spent 29 s there. ``analyse_review(..., case_diagnostics_limit=None)``
#: computes them at any k.
CASE_DIAGNOSTICS_CAP = 500
#: largest number of studies for trim-and-fill and the selection model: their iterations and
#: likelihood evaluations grow with k (trim-and-fill refits REML until k0 settles: 50 refits at
#: 100,000 studies, over 100 at 1,000,000), while Egger's test and PET-PEESE stay single fits
ADJUSTMENT_CAP = 5_000


def frequentist_analysis(review: Any, case_diagnostics_limit: int | None = CASE_DIAGNOSTICS_CAP
                         ) -> ReviewAnalysis:
    """Pooled model, small-study diagnostics, influence, moderators and subgroups.

    With ``analysis.method`` MH or Peto, the pooled effect is that of the 2x2
    tables (:attr:`ReviewAnalysis.pooled`, the headline) and every other analysis
    uses the inverse-variance model with :data:`TWO_BY_TWO_COMPANION`; a note says so.
    Case diagnostics are left out, with a note, above ``case_diagnostics_limit`` studies
    (:data:`CASE_DIAGNOSTICS_CAP`; None computes them at any k), trim-and-fill and the selection
    model above :data:`ADJUSTMENT_CAP` studies.
    """
    spec = review.spec
    data, aggregation_note = study_level_data(review)
    method = _spec_get(spec, "analysis.method", "REML")
    test = _spec_get(spec, "analysis.test", "z")
    level = _spec_get(spec, "analysis.level", 0.95)
    pooled = None
    if method in TWO_BY_TWO_METHODS:
        pooled = two_by_two_pooled(review, method, level)
        method = TWO_BY_TWO_COMPANION
    meta = meta_analysis(data, labels="study", method=method, test=test, level=level)
    dependent, dependence_notes = dependent_model(review)
    result = ReviewAnalysis(review=review, meta=meta, analysed=data, pooled=pooled, dependent=dependent)
    if pooled is not None:
        result.notes.append(two_by_two_note(pooled, meta, _spec_get(spec, "effect.measure")))
    result.notes += [aggregation_note] * bool(aggregation_note) + dependence_notes
    within_cap = case_diagnostics_limit is None or meta.k <= case_diagnostics_limit
    if meta.k >= 3 and within_cap:
        result.influence = influence(meta).to_frame()
        result.leave_one_out = leave_one_out(meta).to_frame()
    elif not within_cap:
        result.notes.append(f"With {meta.k} studies, the influence and leave-one-out diagnostics "
                            f"were not computed (they are computed up to {case_diagnostics_limit} "
                            "studies): no single study sways a pooled estimate of this many, a table of one "
                            "row per study is not readable, and their cost grows with the square of the "
                            "number of studies. An analyst can compute them with "
                            "analyse_review(..., case_diagnostics_limit=None).")
    if meta.k >= MIN_STUDIES:
        result.egger = egger_test(meta, "rma")
        result.egger_classic = egger_test(meta, "lm")
        result.begg = begg_test(meta)  # exact p up to EXACT_RANK_K studies, then the normal approximation
        if meta.k <= ADJUSTMENT_CAP:
            result.trimfill = trim_and_fill(meta)
            result.selection = _selection_sensitivity(meta, spec, result.notes)
        else:
            result.notes.append(f"With {meta.k} studies, trim-and-fill and the selection model were not run (they "
                                f"are run up to {ADJUSTMENT_CAP} studies; their refits grow with the number of "
                                "studies); Egger's test, Begg's test (normal approximation) and PET-PEESE were.")
        result.pet_peese = pet_peese(meta)
    else:
        result.notes.append(f"Only {meta.k} studies: tests for small-study effects (Egger, Begg, "
                            f"trim-and-fill) and the estimates adjusted for publication bias (selection model, "
                            f"PET-PEESE) have too little power below {MIN_STUDIES} studies "
                            "(Sterne et al. 2011), so they are not reported or used for the rating.")
    moderators = list(_spec_get(spec, "moderators", []) or [])
    effects = review.data if dependent is not None else data  # CHE / three-level: every effect size
    if moderators:
        result.moderators = moderator_table(effects, moderators, method=method, test=test, level=level,
                                            fitter=moderator_fitter(review) if dependent is not None else None)
        result.moderator_effects = moderator_predictions(
            effects, [m.model_dump() if hasattr(m, "model_dump") else m for m in moderators],
            method=method, test=test, level=level,
            fitter=moderator_fitter(review) if dependent is not None else None,
            study=_spec_get(spec, "data.study_id") if dependent is not None else None)
    subgroup = _spec_get(spec, "subgroup")
    if subgroup:
        mod = next((m for m in moderators if _spec_get(m, "name") == subgroup), None)
        labelled, references = labelled_levels(effects, [mod] if mod is not None else [])
        if dependent is not None:
            result.subgroups = dependent_subgroups(review, labelled, subgroup, references.get(subgroup))
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                result.subgroups = subgroup_analysis(labelled, subgroup, method=method, test=test,
                                                     level=level, reference=references.get(subgroup))
    return result


def _selection_sensitivity(meta: MetaResult, spec: Any, notes: list[str]) -> SelectionModelResult | None:
    """The 3PSM (one-sided p = 0.025 in the beneficial direction); None, with a note, when it cannot be fitted."""
    lower_is_better = _spec_get(spec, "effect.direction") == "lower_is_better"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        selection = selection_model(meta, alternative="less" if lower_is_better else "greater")
    notes.extend(f"Selection model: {w.message}" for w in caught if issubclass(w.category, UserWarning))
    return selection


def unused_analysis_settings(review: Any) -> list[dict[str, Any]]:
    """``analysis.dependence`` / ``analysis.rho`` given but not used (one effect per study, ...)."""
    analysis_spec = _spec_get(review.spec, "analysis")
    if analysis_spec is None or not hasattr(analysis_spec, "unused"):
        return []
    return analysis_spec.unused(several_effects(review.spec, review.data))


# ---------------------------------------------------------------------- Bayesian model
def _is_multi_strategy(spec: Any, data: pd.DataFrame) -> bool:
    column = _spec_get(spec, "strategy.column")
    return bool(column) and column in data.columns and data[column].nunique() > 1


def unused_bayes_settings(review: Any) -> list[dict[str, Any]]:
    """``bayes:`` settings the review gives that its model does not use (recorded, not ignored).

    A single-intervention review uses the exact posterior, so sampler settings
    (``bayes.draws``, ``chains``, ...) do not apply; a multi-strategy review uses
    the strategy model, so ``bayes.mu_sd``, ``tau_prior`` and ``tau_scale`` do not.

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> from synthesis.review.schema import Bayes
    >>> review = SimpleNamespace(spec=SimpleNamespace(bayes=Bayes(draws=5000), strategy=None),
    ...                          data=pd.DataFrame({"yi": [0.1]}))
    >>> [u["setting"] for u in unused_bayes_settings(review)]
    ['bayes.draws']
    """
    bayes_spec = _spec_get(review.spec, "bayes")
    if bayes_spec is None or not hasattr(bayes_spec, "unused"):
        return []
    if not _spec_get(bayes_spec, "enabled", True):
        return [{"setting": f"bayes.{name}", "value": getattr(bayes_spec, name),
                 "reason": "the Bayesian model is switched off (bayes.enabled: false)"}
                for name in sorted(bayes_spec.model_fields_set - {"enabled"})]
    return bayes_spec.unused(_is_multi_strategy(review.spec, review.data))


def bayesian_analysis(review: Any, meta: MetaResult) -> tuple[Any, str | None]:
    """The Bayesian model for the review: exact quadrature for one strategy, MCMC for several.

    One intervention: the normal-normal random-effects posterior is computed
    exactly by integration over tau (no sampling error, no convergence to
    check). Several strategies: :func:`synthesis.bayes.strategy_model`,
    sampled with NUTS and checked by the diagnostics gate.
    """
    spec, data = review.spec, review.data
    bayes_spec = _spec_get(spec, "bayes")
    if bayes_spec is None or not _spec_get(bayes_spec, "enabled", True):
        return None, None
    from synthesis import bayes

    mid = _spec_get(spec, "decision.mid")
    level = _spec_get(spec, "analysis.level", 0.95)
    if not _is_multi_strategy(spec, data):
        return bayes.random_effects_exact(meta.yi, meta.vi, mu_sd=bayes_spec.mu_sd,
                                          tau_prior=bayes_spec.tau_prior, tau_scale=bayes_spec.tau_scale,
                                          level=level, mid=mid, labels=list(meta.labels)), None
    strategy = spec.strategy
    moderators = [m.model_dump(exclude_none=True) if hasattr(m, "model_dump") else m
                  for m in (_spec_get(spec, "moderators") or [])]
    moderators = [{k: v for k, v in m.items() if k in ("name", "type", "reference")} for m in moderators]
    try:
        result = bayes.strategy_model(
            data, effect="yi", variance="vi", study=_spec_get(spec, "data.study_id") or "study",
            strategy=strategy.column, strategy_class=strategy.class_column,
            components=strategy.components_column, moderators=moderators,
            interaction=bool(_spec_get(bayes_spec, "interaction", False)),
            priors=bayes_spec.strategy_priors.model_dump(), seed=spec.seed, draws=bayes_spec.draws,
            tune=bayes_spec.tune, chains=bayes_spec.chains, sampler=bayes_spec.sampler,
            target_accept=bayes_spec.target_accept, mid=mid, level=level)
    except Exception as exc:  # noqa: BLE001 - the report must say the model failed, not crash
        return None, f"The Bayesian strategy model could not be fitted ({type(exc).__name__}: {exc})."
    return result, None


def strategy_ranking(result: Any, *, mid: float | None, higher_is_better: bool = True) -> pd.DataFrame:
    """Strategies with posterior mean, interval, P(> 0), P(> MID) and P(best)."""
    summary = result.summary(var_names=["strategy_effect"])
    labels = [str(i).split("[", 1)[1].rstrip("]") if "[" in str(i) else str(i) for i in summary.index]
    table = pd.DataFrame({"strategy": labels, "estimate": summary["mean"].to_numpy(),
                          "ci_lb": summary["eti_lb"].to_numpy(), "ci_ub": summary["eti_ub"].to_numpy()})
    sign = 1.0 if higher_is_better else -1.0
    p0 = result.prob_greater(0.0, param="strategy_effect")
    table["prob_gt_0"] = np.asarray(p0 if higher_is_better else 1 - np.asarray(p0), dtype=float)
    if mid is not None:
        pm = result.prob_greater(sign * float(mid), param="strategy_effect")
        table["prob_gt_mid"] = np.asarray(pm if higher_is_better else 1 - np.asarray(pm), dtype=float)
    ranks = result.rank_probabilities(param="strategy_effect", higher_is_better=higher_is_better)
    table["prob_best"] = ranks.iloc[:, 0].reindex(table["strategy"]).to_numpy(dtype=float)
    return table.sort_values("estimate", ascending=not higher_is_better).reset_index(drop=True)


# ---------------------------------------------------------------------- certainty and the answer
def fitted_rows(data: pd.DataFrame, meta: MetaResult) -> pd.DataFrame:
    """The rows of ``data`` the pooled model used, in its order (rows with a missing effect dropped).

    Study-level columns (risk of bias, sample size) are read from these rows, so that each value
    lines up with the model's weights even when rows were left out.

    Examples
    --------
    >>> import warnings
    >>> d = pd.DataFrame({"yi": [0.1, None, 0.4], "vi": [0.02, 0.03, 0.02], "rob": ["low", "high", "some"]})
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     fit = meta_analysis(d, method="EE")
    >>> fitted_rows(d, fit)["rob"].tolist()
    ['low', 'some']
    """
    if meta.kept is None or len(meta.kept) != len(data):
        return data
    return data.loc[np.asarray(meta.kept, dtype=bool)]


def rate_and_answer(analysis: ReviewAnalysis) -> None:
    """Fill in the certainty rating, the natural-unit effect and the one-sentence answer."""
    from synthesis.grading.certainty import assess_certainty
    from synthesis.grading.units import natural_units
    from synthesis.grading.wording import direction_of_effect, is_plural, plain_language_answer

    spec, data, meta = analysis.spec, analysis.data, analysis.meta
    direction = _spec_get(spec, "effect.direction", "higher_is_better")
    mid = _spec_get(spec, "decision.mid")
    measure = _spec_get(spec, "effect.measure")
    rob_column = _spec_get(spec, "certainty.risk_of_bias_column")
    n_column = _spec_get(spec, "certainty.sample_size_column")
    # participants are counted over every row of the study data (the rows are the studies' arms)
    total_n = (float(pd.to_numeric(analysis.review.data[n_column], errors="coerce").sum())
               if n_column else None)
    use_bias_tests = meta.k >= MIN_STUDIES
    analysis.certainty = assess_certainty(
        meta if analysis.dependent is None else certainty_input(analysis.dependent, meta.weights),
        risk_of_bias=fitted_rows(data, meta)[rob_column].tolist() if rob_column else None,
        risk_of_bias_column=rob_column or "risk_of_bias",
        risk_of_bias_reason=_spec_get(spec, "certainty.risk_of_bias_reason"),
        egger=analysis.egger if use_bias_tests else None,
        trimfill=analysis.trimfill if use_bias_tests else None,
        selection=analysis.selection if use_bias_tests else None, mid=mid, direction=direction,
        total_n=total_n, indirectness=_spec_get(spec, "certainty.indirectness"),
        indirectness_reason=_spec_get(spec, "certainty.indirectness_reason"),
        start=_spec_get(spec, "certainty.start", "high"), measure=measure)
    headline = (analysis.pooled if analysis.pooled is not None else meta if analysis.dependent is None
                else SimpleNamespace(**headline_fields(analysis.dependent)))  # the page's effect
    analysis.natural_units = natural_units(
        measure, headline.estimate, headline.ci_lb, headline.ci_ub,
        baseline_risk=_spec_get(spec, "decision.baseline_risk"),
        months_progress=bool(_spec_get(spec, "decision.months_progress", False)), direction=direction,
        level=meta.level, people=_spec_get(spec, "decision.people") or "people",
        event=_spec_get(spec, "decision.event"))
    effect_direction = direction_of_effect(headline.estimate, mid=mid)
    beneficial = ((effect_direction == "increase") == (direction == "higher_is_better")
                  if effect_direction != "none" else None)
    intervention = _spec_get(spec, "question.intervention")
    analysis.answer = plain_language_answer(analysis.certainty, intervention,
                                            _spec_get(spec, "question.outcome"), effect_direction,
                                            beneficial=beneficial,
                                            plural=is_plural(intervention, _spec_get(spec, "question.plural")),
                                            kind=_spec_get(spec, "question.kind", "intervention"))


def analyse_review(review_id: str, project_dir: str | Path = ".",
                   overrides: dict[str, Any] | None = None, *,
                   case_diagnostics_limit: int | None = CASE_DIAGNOSTICS_CAP,
                   map: Any = None) -> ReviewAnalysis:
    """Run every analysis of one review through the library.

    Parameters
    ----------
    review_id : str
        Folder name under ``reviews/``.
    project_dir : str or Path
        The project folder (holding ``reviews/``).
    overrides : dict, optional
        Dotted settings to override (``{"analysis.method": "PM"}``), validated by the schema.
    case_diagnostics_limit : int or None
        Influence, leave-one-out and Begg's test only up to this many studies
        (:data:`CASE_DIAGNOSTICS_CAP`; the page says when they were left out); None: at any k.
    map : callable, optional
        ``map(function, tasks)`` for the sensitivity grid's per-subset fits (default: in
        this process; :func:`synthesis.pipeline.executors.grid_map` gives the run's Dask cluster).

    Returns
    -------
    ReviewAnalysis

    Examples
    --------
    >>> a = analyse_review("practice-facilitation")  # doctest: +SKIP
    >>> a.meta.k, a.certainty.level  # doctest: +SKIP
    (23, 'low')
    """
    from synthesis.review.loader import load_review

    review = load_review(review_id, str(project_dir), overrides)
    analysis = frequentist_analysis(review, case_diagnostics_limit)
    analysis.bayes, analysis.bayes_error = bayesian_analysis(review, analysis.meta)
    analysis.unused_settings = unused_bayes_settings(review) + unused_analysis_settings(review)
    rate_and_answer(analysis)
    from synthesis.analysis.sensitivity import add_sensitivity

    add_sensitivity(analysis, map=map)
    return analysis
