"""The policymaker page for one review: the sections of :mod:`synthesis.report.sections`
put in the order a reader needs them (GUIDE §5), filled from a
:class:`~synthesis.analysis.ReviewAnalysis`.

The notebook displays :func:`report_page`; the pipeline renders it to
``report.html`` with the code hidden.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from synthesis.report import figures as plots
from synthesis.report import sections as report
from synthesis.report.changes import changes_since
from synthesis.analysis import ReviewAnalysis, _spec_get, strategy_ranking

__all__ = ["report_page", "report_sections"]

RATIO_MEASURES = ("OR", "RR")
MEASURE_LABELS = {"SMD": "Standardised mean difference (Hedges' g)", "MD": "Mean difference",
                  "OR": "Odds ratio", "RR": "Risk ratio", "RD": "Risk difference",
                  "ZCOR": "Correlation (Fisher's z)", "COR": "Correlation", "PLO": "Log odds",
                  "PR": "Proportion", "GEN": "Effect size"}


NATURAL_UNITS_METHODS = {
    "months": "Months' progress: the Education Endowment Foundation's conversion of effect sizes into "
              "months of additional progress (EEF Teaching and Learning Toolkit).",
    "absolute_risk": "Absolute effects: the pooled ratio applied to the stated baseline risk in the "
                     "comparison group, as in GRADE summary-of-findings tables.",
    "risk_difference": "Absolute effects: risk differences in events per 100 (or 1,000) people.",
    "u3": "Standardised effects are also given as Cohen's U3: the share of the comparison group that the "
          "average person receiving the intervention would do better than.",
}


def _data_sentence(spec: Any) -> str:
    parts = [str(_spec_get(spec, "provenance.citation", "")).strip().rstrip(".")]
    source = _spec_get(spec, "provenance.source")
    if source:
        parts.append(f"Source: {str(source).strip().rstrip('.')}")
    credit = _spec_get(spec, "provenance.data_credit")
    if credit:
        parts.append(f"Data set credit: {str(credit).strip().rstrip('.')}")
    return "Data: " + ". ".join(parts) + "."


def _transform(measure: str) -> Any:
    return np.exp if measure in RATIO_MEASURES else None


def _figures(a: ReviewAnalysis, measure: str, direction: str) -> list[str]:
    meta, spec = a.meta, a.spec
    transform = _transform(measure)
    xlabel = MEASURE_LABELS.get(measure, "Effect size")
    refline = 0.0
    out = []
    forest = plots.forest_plot(meta, labels=list(meta.labels), transform=transform, xlabel=xlabel,
                               refline=refline, level=meta.level, summary_label="Pooled estimate (random effects)")
    out.append(plots.figure_to_html(forest, caption="Forest plot: each study's effect with its confidence "
                                    "interval; the diamond is the pooled estimate and the bar below it the "
                                    "prediction interval for a new setting."))
    if meta.k >= 3:
        funnel = plots.funnel_plot(meta.yi, meta.vi, estimate=meta.estimate,
                                   filled=a.trimfill.filled if a.trimfill is not None and a.trimfill.k0 else None,
                                   transform=transform, xlabel=xlabel,
                                   egger_p=a.egger.pval if a.egger is not None else None)
        out.append(plots.figure_to_html(funnel, caption="Contour-enhanced funnel plot: studies in the white "
                                        "area would not be statistically significant; gaps there can "
                                        "suggest missing studies."))
    if a.bayes is not None and hasattr(a.bayes, "density"):
        short = {"SMD": "SMD", "OR": "odds ratio", "RR": "risk ratio"}.get(measure, "effect size")
        post = plots.posterior_plot(a.bayes.density("mu"), mid=_spec_get(spec, "decision.mid"),
                                    direction=direction, xlabel=f"Average effect ({short})",
                                    transform=transform)
        out.append(plots.figure_to_html(post, caption="How likely each size of average effect is, given "
                                        "the studies and the prior (Bayesian model)."))
    return out


def report_sections(a: ReviewAnalysis, manifest_draft: dict[str, Any] | None = None,
                    previous_manifest: dict[str, Any] | None = None) -> list[str]:
    """The HTML sections of the policymaker page, in reading order."""
    spec, meta = a.spec, a.meta
    measure = _spec_get(spec, "effect.measure")
    direction = _spec_get(spec, "effect.direction", "higher_is_better")
    higher_is_better = direction == "higher_is_better"
    mid = _spec_get(spec, "decision.mid")
    transform = _transform(measure)
    sections: list[str] = []
    if _spec_get(spec, "provenance.simulated", False):
        sections.append(report.banner_simulated())
    nu = a.natural_units
    sections.append(report.headline_section(
        _spec_get(spec, "question.plain_question"), a.answer, a.certainty,
        getattr(nu, "phrase", None), getattr(nu, "detail", None), title=_spec_get(spec, "title")))
    sections.append(report.certainty_section(a.certainty))
    diagnostics = a.diagnostics()
    if a.bayes is not None or a.bayes_error:
        exact = a.bayes is not None and not hasattr(a.bayes, "idata")
        model_text = ("a Bayesian random-effects model, computed exactly by numerical integration"
                      if exact else "a Bayesian hierarchical model of strategies (sampled with NUTS)")
        prior = a.bayes.prior_description() if a.bayes is not None else None
        bayes_ok = a.bayes_error is None and (exact or bool(a.bayes.diagnostics.get("ok")))
        bayes_messages = ([a.bayes_error] if a.bayes_error else
                          ([] if exact else list(a.bayes.diagnostics.get("messages", []))))
        sections.append(report.probability_section(
            a.bayes_probability(0.0) if a.bayes is not None else None,
            a.bayes_probability(float(mid)) if (a.bayes is not None and mid is not None) else None,
            mid, prior, bayes_ok, bayes_messages, model_text=model_text))
    if a.bayes is not None and hasattr(a.bayes, "idata") and _spec_get(spec, "strategy.column"):
        ranking = strategy_ranking(a.bayes, mid=mid, higher_is_better=higher_is_better)
        sections.append(report.strategy_table(ranking, label="strategy", higher_is_better=higher_is_better,
                                              transform=transform))
        fig = plots.strategy_plot(ranking, label="strategy", higher_is_better=higher_is_better, mid=mid,
                                  transform=transform)
        sections.append(plots.figure_to_html(fig, caption="Strategies ranked by their estimated effect, "
                                             "with 95% credible intervals."))
    if a.moderators is not None or a.subgroups is not None:
        sub = a.subgroups
        sub_label = None
        if sub is not None:
            mod = next((m for m in (_spec_get(spec, "moderators") or []) if _spec_get(m, "name") == sub.by), None)
            sub_label = _spec_get(mod, "label", sub.by)
        sections.append(report.moderator_table(
            a.moderators, sub.table if sub is not None else None, subgroup_name=sub_label,
            subgroup_pval=sub.pval_between if sub is not None else None, transform=transform, level=meta.level))
        table = a.moderators if a.moderators is not None and len(a.moderators) else None
        plot_table = (sub.table.reset_index().rename(columns={sub.by: "level"}) if sub is not None else table)
        if plot_table is not None and len(plot_table):
            fig = plots.moderator_plot(plot_table, transform=transform,
                                       xlabel=("Pooled effect in each subgroup" if sub is not None
                                               else "Difference in effect"))
            sections.append(plots.figure_to_html(fig))
    sections.append(report.section("What the studies show", "".join(_figures(a, measure, direction))))
    citation_columns = _spec_get(spec, "data.citation") or []
    data = a.data.loc[a.data.index[meta.kept]] if meta.kept is not None else a.data
    sections.append(report.studies_table(
        data.reset_index(drop=True), label="study", citation=citation_columns[0] if citation_columns else None,
        risk_of_bias=_spec_get(spec, "certainty.risk_of_bias_column"), weights=meta.weights, measure=measure,
        level=meta.level))
    draft = manifest_draft or {}
    sections.append(report.version_section(draft.get("version_label", "unpublished"),
                                           draft.get("created_at", "not published"),
                                           draft.get("fingerprint", "not computed"),
                                           changes_since(previous_manifest, draft)))
    prior = a.bayes.prior_description() if a.bayes is not None else None
    sampler = None
    if a.bayes is not None and hasattr(a.bayes, "idata"):
        sampler = getattr(a.bayes, "sampler_settings", None) or "NUTS"
    elif a.bayes is not None:
        sampler = "exact numerical integration over tau (no sampling)"
    sections.append(report.methods_section(
        measure=measure, method=meta.method, test=meta.test, level=meta.level, k=meta.k, prior=prior,
        sampler=sampler, bias_tests=a.egger is not None,
        natural_units=NATURAL_UNITS_METHODS.get(getattr(a.natural_units, "kind", None)),
        extra=[_data_sentence(spec)] + [f"Note: {n}" for n in a.notes]))
    return sections


def report_page(a: ReviewAnalysis, manifest_draft: dict[str, Any] | None = None,
                previous_manifest: dict[str, Any] | None = None) -> Any:
    """The whole policymaker page as one displayable HTML block."""
    return report.render(report_sections(a, manifest_draft, previous_manifest))
