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
from typing import Any

import numpy as np
import pandas as pd

from synthesis.meta.small_study import (MIN_STUDIES, BeggResult, EggerResult, TrimFillResult, begg_test, egger_test,
                                        trim_and_fill)
from synthesis.meta.case_diagnostics import influence, leave_one_out
from synthesis.meta.pooled import MetaResult, meta_analysis
from synthesis.meta.regression import SubgroupResult, meta_regression, sorted_levels, subgroup_analysis
from synthesis.results import jsonable
from synthesis.review.data_file import same_level

__all__ = ["analyse_review", "ReviewAnalysis", "moderator_table"]

def _spec_get(obj: Any, dotted: str, default: Any = None) -> Any:
    for part in dotted.split("."):
        if obj is None:
            return default
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
    return default if obj is None else obj


def labelled_levels(data: pd.DataFrame, moderators: list[Any]) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Replace coded levels of categorical moderators by their labels (``level_labels``).

    Returns the relabelled copy and each moderator's reference level, relabelled
    too, so tables and figures read "tailored vs not tailored" instead of "1 vs 0".

    Examples
    --------
    >>> d = pd.DataFrame({"meta": [0.0, 1.0, None]})
    >>> out, ref = labelled_levels(d, [{"name": "meta", "type": "categorical", "reference": 0,
    ...                                 "level_labels": {0: "no prompts", 1: "prompts"}}])
    >>> out["meta"].tolist(), ref
    (['no prompts', 'prompts', nan], {'meta': 'no prompts'})
    """
    out = data.copy()
    references: dict[str, Any] = {}
    for mod in moderators:
        name = _spec_get(mod, "name")
        reference = _spec_get(mod, "reference")
        labels = _spec_get(mod, "level_labels") or {}
        if _spec_get(mod, "type") != "categorical" or name not in out.columns:
            continue
        if labels:
            def relabel(value: Any, labels: dict = labels) -> Any:
                if value is None or pd.isna(value):
                    return None
                return next((str(lab) for key, lab in labels.items() if same_level(value, key)), str(value))
            out[name] = out[name].map(relabel).astype(object)
            if reference is not None:
                reference = relabel(reference)
        references[name] = reference
    return out, references


def moderator_table(data: pd.DataFrame, moderators: list[Any], *, method: str, test: str,
                    level: float) -> pd.DataFrame:
    """One row per moderator term from single-moderator meta-regressions.

    Columns: ``moderator, label, term, comparison, estimate, ci_lb, ci_ub, pval, QMp, R2, k, note``.
    Each moderator is analysed on its own (one at a time), so the table answers
    "does this characteristic explain differences between studies?".

    Examples
    --------
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
    ...                   "dose": [1, 2, 3, 1, 4, 2]})
    >>> moderator_table(d, [{"name": "dose"}], method="REML", test="z", level=0.95)["term"].tolist()
    ['dose']
    """
    data, references = labelled_levels(data, moderators)
    rows = []
    for mod in moderators:
        name = _spec_get(mod, "name")
        label = _spec_get(mod, "label", name)
        categorical = _spec_get(mod, "type", "") == "categorical"
        reference = references.get(name, _spec_get(mod, "reference"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                fit = meta_regression(data, [name], categorical=[name] if categorical else [],
                                      reference={name: reference} if reference is not None else None,
                                      method=method, test=test, level=level)
            except ValueError as exc:  # e.g. too few studies for the levels: say so in the table
                rows.append({"moderator": name, "label": label, "term": "", "comparison": "",
                             "estimate": np.nan,
                             "ci_lb": np.nan, "ci_ub": np.nan, "pval": np.nan, "QMp": np.nan,
                             "R2": np.nan, "k": 0, "note": str(exc)})
                continue
        ref_level = str(reference) if reference is not None else None
        if categorical and ref_level is None:
            levels = sorted_levels(data[name])  # the regression's own order, so the names agree
            ref_level = str(levels[0]) if levels else ""
        for i, term in enumerate(fit.coef_names[1:], start=1):
            comparison = (f"{term[len(name) + 1:-1]} vs {ref_level}" if categorical and term.startswith(f"{name}[")
                          else "per unit increase")
            rows.append({"moderator": name, "label": label, "term": term, "comparison": comparison,
                         "estimate": fit.coef[i],
                         "ci_lb": fit.ci_lb[i], "ci_ub": fit.ci_ub[i], "pval": fit.pval[i],
                         "QMp": fit.QMp, "R2": fit.R2, "k": fit.k, "note": ""})
    return pd.DataFrame(rows, columns=["moderator", "label", "term", "comparison", "estimate", "ci_lb", "ci_ub",
                                       "pval", "QMp", "R2", "k", "note"])


@dataclass
class ReviewAnalysis:
    """All results for one review. Built by :func:`analyse_review`."""

    review: Any
    meta: MetaResult
    egger: EggerResult | None = None
    egger_classic: EggerResult | None = None
    begg: BeggResult | None = None
    trimfill: TrimFillResult | None = None
    influence: pd.DataFrame | None = None
    leave_one_out: pd.DataFrame | None = None
    moderators: pd.DataFrame | None = None
    subgroups: SubgroupResult | None = None
    bayes: Any = None
    bayes_error: str | None = None
    #: settings given but not used by the chosen model (``{setting, value, reason}``)
    unused_settings: list[dict[str, Any]] = field(default_factory=list)
    certainty: Any = None
    natural_units: Any = None
    answer: str = ""
    notes: list[str] = field(default_factory=list)
    analysed: pd.DataFrame | None = None  # the rows the frequentist models used (one per study)

    @property
    def spec(self) -> Any:
        return self.review.spec

    @property
    def data(self) -> pd.DataFrame:
        """The rows of the frequentist analyses (one per study; all effect sizes if none repeat)."""
        return self.analysed if self.analysed is not None else self.review.data

    # ------------------------------------------------------------------ results JSON
    def headline(self) -> dict[str, Any]:
        m = self.meta
        out = {"measure": _spec_get(self.spec, "effect.measure"), "estimate": m.estimate, "se": m.se,
               "ci_lb": m.ci_lb, "ci_ub": m.ci_ub, "pi_lb": m.pi_lb, "pi_ub": m.pi_ub, "tau2": m.tau2,
               "I2": m.I2, "k": m.k, "method": m.method, "test": m.test, "pval": m.pval,
               "prob_gt_0": None, "prob_gt_mid": None,
               "mid": _spec_get(self.spec, "decision.mid")}
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
        """JSON-able summary: ``answer, certainty, simulated, headline, diagnostics`` and details."""
        certainty = getattr(self.certainty, "level", None)
        out = {
            "answer": self.answer,
            "certainty": certainty,
            "simulated": bool(_spec_get(self.spec, "provenance.simulated", False)),
            "headline": self.headline(),
            "diagnostics": self.diagnostics(),
            "meta": self.meta.to_dict(),
        }
        if self.egger is not None:
            out["small_study"] = {"egger": self.egger.to_dict(),
                                  "egger_classic": self.egger_classic.to_dict() if self.egger_classic else None,
                                  "begg": self.begg.to_dict() if self.begg else None,
                                  "trimfill": self.trimfill.to_dict() if self.trimfill else None}
        if self.certainty is not None and hasattr(self.certainty, "to_dict"):
            out["certainty_detail"] = self.certainty.to_dict()
        if self.natural_units is not None and hasattr(self.natural_units, "to_dict"):
            out["natural_units"] = self.natural_units.to_dict()
        if self.bayes is not None and hasattr(self.bayes, "to_dict"):
            out["bayes"] = self.bayes.to_dict()
            if hasattr(self.bayes, "workflow_summary"):  # sampled: LOO and predictive check
                out["bayes"].update(self.bayes.workflow_summary())
        out["unused_settings"] = list(self.unused_settings)
        return jsonable(out)

    def write_results(self, path: str | Path) -> None:
        """Write :meth:`results` as JSON (the pipeline reads it into the manifest)."""
        Path(path).write_text(json.dumps(self.results(), indent=2, sort_keys=True), encoding="utf-8")


#: assumed correlation of sampling errors between effect sizes of the same study
WITHIN_STUDY_RHO = 0.6


def study_level_data(review: Any) -> tuple[pd.DataFrame, str | None]:
    """One row per study for the frequentist models.

    Where a study contributes several effect sizes (several arms or outcomes),
    treating them as independent would overstate the evidence; they are
    combined first (:func:`synthesis.meta.effects.aggregate_effects`, within-study
    correlation :data:`WITHIN_STUDY_RHO`), as metafor's ``aggregate()``. The
    Bayesian strategy model uses every effect size with a study random effect.
    """
    spec, data = review.spec, review.data
    cluster = _spec_get(spec, "data.study_id")
    if not cluster or cluster not in data.columns or not data[cluster].duplicated().any():
        return data, None
    from synthesis.meta.effects import aggregate_effects

    moderators = [_spec_get(m, "name") for m in (_spec_get(spec, "moderators") or [])]
    citation = list(_spec_get(spec, "data.citation") or [])
    rob = [_spec_get(spec, "certainty.risk_of_bias_column")]
    keep = tuple(dict.fromkeys(c for c in ["study", *moderators, *citation, *rob] if c and c in data.columns))
    combined = aggregate_effects(data, cluster, rho=WITHIN_STUDY_RHO, keep=keep)
    combined["sei"] = np.sqrt(combined["vi"])
    if "study" in combined.columns:  # effect-level labels (naming an arm or outcome): the study's id
        unlabelled = combined["study"].isna()
        combined.loc[unlabelled, "study"] = combined.loc[unlabelled, cluster].astype(str)
    note = (f"The {len(data)} effect sizes come from {len(combined)} studies; for the pooled, moderator and "
            f"small-study analyses the effects of each study were combined into one, assuming a "
            f"within-study correlation of {WITHIN_STUDY_RHO} (metafor's aggregate); the Bayesian model "
            f"uses every effect size.")
    return combined, note


def frequentist_analysis(review: Any) -> ReviewAnalysis:
    """Pooled model, small-study diagnostics, influence, moderators and subgroups."""
    spec = review.spec
    data, aggregation_note = study_level_data(review)
    method = _spec_get(spec, "analysis.method", "REML")
    test = _spec_get(spec, "analysis.test", "z")
    level = _spec_get(spec, "analysis.level", 0.95)
    meta = meta_analysis(data, labels="study", method=method, test=test, level=level)
    result = ReviewAnalysis(review=review, meta=meta, analysed=data)
    if aggregation_note:
        result.notes.append(aggregation_note)
    if meta.k >= 3:
        result.influence = influence(meta).to_frame()
        result.leave_one_out = leave_one_out(meta).to_frame()
    if meta.k >= MIN_STUDIES:
        result.egger = egger_test(meta, "rma")
        result.egger_classic = egger_test(meta, "lm")
        result.begg = begg_test(meta)
        result.trimfill = trim_and_fill(meta)
    else:
        result.notes.append(f"Only {meta.k} studies: tests for small-study effects (Egger, Begg, "
                            f"trim-and-fill) have too little power below {MIN_STUDIES} studies "
                            "(Sterne et al. 2011), so they are not reported or used for the rating.")
    moderators = list(_spec_get(spec, "moderators", []) or [])
    if moderators:
        result.moderators = moderator_table(data, moderators, method=method, test=test, level=level)
    subgroup = _spec_get(spec, "subgroup")
    if subgroup:
        mod = next((m for m in moderators if _spec_get(m, "name") == subgroup), None)
        labelled, references = labelled_levels(data, [mod] if mod is not None else [])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            result.subgroups = subgroup_analysis(labelled, subgroup, method=method, test=test, level=level,
                                                 reference=references.get(subgroup))
    return result


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
def _plural(noun_phrase: str) -> bool:
    """Whether a noun phrase's head noun is plural ("writing-to-learn activities", not "facilitation").

    Examples
    --------
    >>> _plural("implementation strategies (audit and feedback, reminders)"), _plural("practice facilitation")
    (True, False)
    """
    head = noun_phrase.split("(")[0].split(",")[0].strip()
    last = head.split()[-1].lower().strip(".;:") if head else ""
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))


def rate_and_answer(analysis: ReviewAnalysis) -> None:
    """Fill in the certainty rating, the natural-unit effect and the one-sentence answer."""
    from synthesis.grading.certainty import assess_certainty
    from synthesis.grading.units import natural_units
    from synthesis.grading.wording import direction_of_effect, plain_language_answer

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
        meta, risk_of_bias=data[rob_column].tolist() if rob_column else None,
        egger=analysis.egger if use_bias_tests else None,
        trimfill=analysis.trimfill if use_bias_tests else None, mid=mid, direction=direction,
        total_n=total_n, indirectness=_spec_get(spec, "certainty.indirectness"),
        indirectness_reason=_spec_get(spec, "certainty.indirectness_reason"),
        start=_spec_get(spec, "certainty.start", "high"), measure=measure)
    analysis.natural_units = natural_units(
        measure, meta.estimate, meta.ci_lb, meta.ci_ub,
        baseline_risk=_spec_get(spec, "decision.baseline_risk"),
        months_progress=bool(_spec_get(spec, "decision.months_progress", False)), direction=direction,
        level=meta.level, people=_spec_get(spec, "decision.people") or "people")
    effect_direction = direction_of_effect(meta.estimate, mid=mid)
    beneficial = ((effect_direction == "increase") == (direction == "higher_is_better")
                  if effect_direction != "none" else None)
    intervention = _spec_get(spec, "question.intervention")
    analysis.answer = plain_language_answer(analysis.certainty, intervention,
                                            _spec_get(spec, "question.outcome"), effect_direction,
                                            beneficial=beneficial, plural=_plural(intervention))


def analyse_review(review_id: str, project_dir: str | Path = ".",
                   overrides: dict[str, Any] | None = None) -> ReviewAnalysis:
    """Run every analysis of one review through the library.

    Parameters
    ----------
    review_id : str
        Folder name under ``reviews/``.
    project_dir : str or Path
        The project folder (holding ``reviews/``).
    overrides : dict, optional
        Dotted settings to override (``{"analysis.method": "PM"}``), validated by the schema.

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
    analysis = frequentist_analysis(review)
    analysis.bayes, analysis.bayes_error = bayesian_analysis(review, analysis.meta)
    analysis.unused_settings = unused_bayes_settings(review)
    rate_and_answer(analysis)
    return analysis
