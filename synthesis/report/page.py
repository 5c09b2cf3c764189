"""The policymaker page for one review, section by section (GUIDE §5).

Each function here takes a :class:`~synthesis.analysis.ReviewAnalysis` and returns
one displayable section (a :class:`~synthesis.report.templating.Fragment`, shown by
Jupyter as HTML inside its own ``<div class="syn-report">``). The notebook
``notebooks/review.ipynb`` calls them one cell each, so the notebook *is* the
outline of ``report.html``: move, drop or add a cell and the page follows.
:func:`report_sections` lists them in the default order and :func:`report_page`
joins them into one block.
"""
from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from synthesis.analysis import ReviewAnalysis, _spec_get, analyse_review, strategy_ranking
from synthesis.grading.measures import back_transform, measure_words
from synthesis.grading.units import natural_units
from synthesis.grading.wording import face_value_note, probability_labels
from synthesis.numbers import level_percent, number
from synthesis.report import plots
from synthesis.report.appendix import NATURAL_UNITS_METHODS, methods_section
from synthesis.report.changes import changes_in_words, changes_since
from synthesis.report.moderation import moderator_effects_section
from synthesis.report.robustness_section import robustness
from synthesis.report.sections import (banner_simulated, certainty_section, glossary, headline_section,
                                       probability_section, publication_bias_sensitivity, render, section)
from synthesis.report.tables import strategy_table, studies_table, version_section
from synthesis.report.templating import Fragment, join

__all__ = ["banner", "headline", "certainty", "probability", "where_it_works", "figures", "studies", "version",
           "methods", "report_sections", "report_page"]

F = TypeVar("F", bound=Callable[..., Fragment])


def _quiet(func: F) -> F:
    """Run a section without printing library warnings into the page (they are in ``analysis.html``)."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Fragment:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return func(*args, **kwargs)
    return wrapper  # type: ignore[return-value]


@functools.lru_cache(maxsize=1)
def _example() -> ReviewAnalysis:
    """The shipped practice-facilitation review (in a source checkout), analysed once for the examples."""
    return analyse_review("practice-facilitation", Path(__file__).resolve().parents[2])


def _measure(a: ReviewAnalysis) -> str:
    return _spec_get(a.spec, "effect.measure")


def _chance(a: ReviewAnalysis, threshold: float) -> float:
    """The Bayesian chance the question asks about beyond ``threshold``: of a benefit, or of
    harm for an exposure (an exposure is asked whether it harms)."""
    if _kind(a) == "exposure":
        return 1.0 - a.bayes_probability(-threshold)
    return a.bayes_probability(threshold)


def _direction(a: ReviewAnalysis) -> str:
    return _spec_get(a.spec, "effect.direction", "higher_is_better")


def banner(a: ReviewAnalysis) -> Fragment:
    """The simulated-data banner, or nothing for real data.

    Examples
    --------
    >>> banner(_example())  # real data: no banner
    <report section: 0 characters of HTML>
    """
    return banner_simulated() if _spec_get(a.spec, "provenance.simulated", False) else Fragment("")


def headline(a: ReviewAnalysis) -> Fragment:
    """Title, question, one-sentence answer, certainty badge and the effect in natural units.

    Examples
    --------
    >>> _example().answer in headline(_example())
    True
    """
    nu = a.natural_units
    return headline_section(_spec_get(a.spec, "question.plain_question"), a.answer, a.certainty,
                            getattr(nu, "phrase", None), getattr(nu, "detail", None),
                            title=_spec_get(a.spec, "title"),
                            effect_context=f"on {_spec_get(a.spec, 'question.outcome')}"
                            + (", if the studies are taken at face value" if a.certainty.level == "very low" else "")
                            + ":")


def _kind(a: ReviewAnalysis) -> str:
    return _spec_get(a.spec, "question.kind", "intervention")


def _glossary_terms(a: ReviewAnalysis) -> list[str]:
    """The technical terms this review's page uses, in reading order."""
    terms = ["certainty", "CI", _measure(a) if _measure(a) in ("SMD", "OR", "RR") else None, "I2", "PI"]
    terms += ["MID"] if _spec_get(a.spec, "decision.mid") is not None else []
    terms += ["egger", "trimfill"] if a.egger is not None else []
    terms += ["posterior", "prior"] if a.bayes is not None else []
    return [t for t in terms if t]


def certainty(a: ReviewAnalysis) -> Fragment:
    """How sure are we: the GRADE rating with one sentence per domain, and the page's terms explained.

    Examples
    --------
    >>> "How sure are we?" in certainty(_example())
    True
    """
    return join([certainty_section(a.certainty), glossary(_glossary_terms(a))])


def probability(a: ReviewAnalysis) -> Fragment:
    """Chances of any benefit and of an important one from the Bayesian model (nothing without one).

    Examples
    --------
    >>> "Chance of any improvement in the use of evidence-based guidelines" in probability(_example())
    True
    """
    if a.bayes is None and not a.bayes_error:
        return Fragment("")
    mid = _spec_get(a.spec, "decision.mid")
    kind = _kind(a)
    outcome = _spec_get(a.spec, "question.outcome")
    harm = kind == "exposure"

    def chance(threshold: float) -> float | None:
        return _chance(a, threshold) if a.bayes is not None else None

    mid_text = None
    if mid is not None:
        mid_text = f"{measure_words(_measure(a)).short} {number(float(mid), 2, back_transform(_measure(a)))}"
    concerns = [d.name.lower() + ("" if d.assessed else " (not assessed)") for d in a.certainty.reasons]
    title = f"If the studies are taken at face value, how likely is {'harm' if harm else 'a benefit'}?"
    exact = a.bayes is not None and not hasattr(a.bayes, "idata")
    model_text = ("a Bayesian random-effects model, computed exactly by numerical integration"
                  if exact else "a Bayesian hierarchical model of strategies (sampled with NUTS)")
    prior = a.bayes.prior_description() if a.bayes is not None else None
    ok = a.bayes_error is None and (exact or bool(a.bayes.diagnostics.get("ok")))
    messages = ([a.bayes_error] if a.bayes_error else
                ([] if exact else list(a.bayes.diagnostics.get("messages", []))))
    return probability_section(chance(0.0), chance(float(mid)) if mid is not None else None, mid, prior, ok,
                               messages, model_text=model_text, title=title,
                               labels=probability_labels(kind, _direction(a), outcome, mid_text),
                               note=face_value_note(a.certainty.level, concerns, kind=kind))


def _unit_phrase(a: ReviewAnalysis) -> Callable[[float, float, float], str]:
    """(estimate, lower, upper) -> the effect in this review's natural units (as the headline's)."""
    spec = a.spec

    def phrase(est: float, lb: float, ub: float) -> str:
        return natural_units(_measure(a), est, lb, ub, baseline_risk=_spec_get(spec, "decision.baseline_risk"),
                             months_progress=bool(_spec_get(spec, "decision.months_progress", False)),
                             direction=_direction(a), level=a.meta.level,
                             people=_spec_get(spec, "decision.people") or "people",
                             event=_spec_get(spec, "decision.event")).phrase
    return phrase


@_quiet
def where_it_works(a: ReviewAnalysis) -> Fragment:
    """Strategies ranked (several strategies) and moderators and subgroups, each with its figure.

    Examples
    --------
    >>> "Where and at what scale does it work?" in where_it_works(_example())
    True
    """
    spec, transform = a.spec, back_transform(_measure(a))
    mid = _spec_get(spec, "decision.mid")
    higher_is_better = _direction(a) == "higher_is_better"
    parts: list[Fragment] = []
    if a.bayes is not None and hasattr(a.bayes, "idata") and _spec_get(spec, "strategy.column"):
        ranking = strategy_ranking(a.bayes, mid=mid, higher_is_better=higher_is_better)
        lev = level_percent(getattr(a.bayes, "level", None) or a.meta.level)
        parts.append(strategy_table(ranking, label="strategy", higher_is_better=higher_is_better,
                                    transform=transform, interval_label=f"{lev} credible interval"))
        fig = plots.strategy_plot(ranking, label="strategy", higher_is_better=higher_is_better, mid=mid,
                                  transform=transform, level=a.bayes.level)
        parts.append(plots.figure_to_html(fig, caption="Strategies ranked by their estimated effect, "
                                          f"with {lev} credible intervals."))
    predictions = a.moderator_effects  # computed with the analysis (analysis.moderators.moderator_predictions)
    if predictions is not None:
        parts.append(moderator_effects_section(predictions, unit_phrase=_unit_phrase(a), transform=transform,
                                               level=a.meta.level, direction=_direction(a),
                                               effect_name=measure_words(_measure(a)).name.capitalize(),
                                               title=("Is the effect larger in some kinds of study?"
                                                      if _kind(a) == "exposure" else
                                                      "Where and at what scale does it work?")))
        shown = predictions[predictions["pred"].notna()]
        if len(shown):  # the figure shows the table's own numbers: the effect predicted in each group
            plot_table = pd.DataFrame({"level": [f"{lab}: {st}" for lab, st in zip(shown["label"], shown["setting"])],
                                       "estimate": shown["pred"], "ci_lb": shown["ci_lb"], "ci_ub": shown["ci_ub"],
                                       "k": shown["k"]})
            fig = plots.moderator_plot(plot_table, transform=transform, level=a.meta.level,
                                       xlabel=f"Effect expected in each group ({measure_words(_measure(a)).short})")
            parts.append(plots.figure_to_html(fig))
    return join(parts)


@_quiet
def figures(a: ReviewAnalysis) -> Fragment:
    """What the studies show: forest plot, contour-enhanced funnel plot and the posterior.

    Examples
    --------
    >>> figures(_example()).count('role="img"')
    3
    """
    meta, spec, measure = a.meta, a.spec, _measure(a)
    transform = back_transform(measure)
    words = measure_words(measure)
    out = []
    favours = (_spec_get(spec, "question.intervention"), _spec_get(spec, "question.comparison"))
    # several effects per study: the rows are the studies' combined effects, the diamond the headline model's
    summary, summary_label = None, None
    if a.dependent is not None:
        summary = {key: a.headline()[key] for key in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub")}
        summary_label = f"Pooled estimate (all {a.dependent.k} effects)"
    forest = plots.forest_plot(meta, labels=list(meta.labels), transform=transform, xlabel=words.label,
                               refline=0.0, level=meta.level, direction=_direction(a),
                               favours=favours if all(favours) else None, summary=summary,
                               summary_label=summary_label)
    out.append(plots.figure_to_html(forest, caption="Forest plot: each study's effect with its confidence "
                                    "interval; the diamond is the pooled estimate and the bar below it the "
                                    "prediction interval for a new setting."))
    if meta.k >= 3:
        funnel = plots.funnel_plot(meta.yi, meta.vi, estimate=meta.estimate,
                                   filled=a.trimfill.filled if a.trimfill is not None and a.trimfill.k0 else None,
                                   transform=transform, xlabel=words.label,
                                   egger_p=a.egger.pval if a.egger is not None else None)
        out.append(plots.figure_to_html(funnel, caption="Contour-enhanced funnel plot: studies in the white "
                                        "area would not be statistically significant; gaps there can "
                                        "suggest missing studies."))
    if a.egger is not None:  # the small-study analyses ran (k >= MIN_STUDIES)
        out.append(publication_bias_sensitivity(a.selection, a.pet_peese, estimate=meta.estimate,
                                                transform=transform, level=meta.level))
    if a.bayes is not None and hasattr(a.bayes, "density"):
        mid = _spec_get(spec, "decision.mid")
        post = plots.posterior_plot(a.bayes.density("mu"), mid=mid, direction=_direction(a),
                                    xlabel=f"Average effect ({words.short})", transform=transform,
                                    prob_any=_chance(a, 0.0),
                                    prob_mid=_chance(a, float(mid)) if mid is not None else None,
                                    harm=_kind(a) == "exposure")
        out.append(plots.figure_to_html(post, caption="How likely each size of average effect is, given "
                                        "the studies and the prior (Bayesian model)."))
    return section("What the studies show", out)


def studies(a: ReviewAnalysis) -> Fragment:
    """The included studies with citations, effects, weights and risk of bias.

    Examples
    --------
    >>> studies(_example()).count('<tr>')  # the header and 23 studies
    24
    """
    spec, meta = a.spec, a.meta
    citation_columns = _spec_get(spec, "data.citation") or []
    data = a.data.loc[a.data.index[meta.kept]] if meta.kept is not None else a.data
    return studies_table(data.reset_index(drop=True), label="study",
                         citation=citation_columns[0] if citation_columns else None,
                         risk_of_bias=_spec_get(spec, "certainty.risk_of_bias_column"), weights=meta.weights,
                         measure=_measure(a), level=meta.level,
                         not_assessed=_spec_get(spec, "certainty.risk_of_bias_reason"))


def version(a: ReviewAnalysis, manifest_draft: dict[str, Any] | None = None,
            previous_manifest: dict[str, Any] | None = None) -> Fragment:
    """Version label, date, fingerprint and what changed since the previous version.

    Examples
    --------
    >>> "first version" in version(_example(), {"version_label": "v1"})
    True
    """
    draft = manifest_draft or {}
    summary = changes_in_words(previous_manifest, {**draft, "results": a.results()}) if previous_manifest else []
    return version_section(draft.get("version_label", "unpublished"), draft.get("created_at", "not published"),
                           draft.get("fingerprint", "not computed"), changes_since(previous_manifest, draft),
                           summary=summary)


def _data_sentence(spec: Any) -> str:
    parts = [str(_spec_get(spec, "provenance.citation", "")).strip().rstrip(".")]
    source = _spec_get(spec, "provenance.source")
    if source:
        parts.append(f"Source: {str(source).strip().rstrip('.')}")
    credit = _spec_get(spec, "provenance.data_credit")
    if credit:
        parts.append(f"Data set credit: {str(credit).strip().rstrip('.')}")
    return "Data: " + ". ".join(parts) + "."


def methods(a: ReviewAnalysis) -> Fragment:
    """The methods appendix: estimators, tests, priors, sampler, GRADE rules and the data source.

    Examples
    --------
    >>> "restricted maximum-likelihood" in methods(_example())
    True
    """
    meta = a.meta
    prior = a.bayes.prior_description() if a.bayes is not None else None
    sampler = sensitivity = None
    if a.bayes is not None and hasattr(a.bayes, "idata"):
        sampler = getattr(a.bayes, "settings", None) or "NUTS"
        sensitivity = a.bayes.prior_sensitivity()  # power-scaling by importance sampling, cached
    elif a.bayes is not None:
        sampler = "exact numerical integration over tau (no sampling)"
    return methods_section(
        measure=_measure(a), method=meta.method, test=meta.test, level=meta.level, k=meta.k, prior=prior,
        sampler=sampler, bias_tests=a.egger is not None, prior_sensitivity=sensitivity, dependent=a.dependent,
        natural_units=NATURAL_UNITS_METHODS.get(getattr(a.natural_units, "kind", None)),
        extra=[_data_sentence(a.spec)] + [f"Note: {n}" for n in a.notes])


def report_sections(a: ReviewAnalysis, manifest_draft: dict[str, Any] | None = None,
                    previous_manifest: dict[str, Any] | None = None) -> list[Fragment]:
    """The sections of the policymaker page in the default reading order (empty ones left out).

    Examples
    --------
    >>> [str(s)[:30] for s in report_sections(_example())][:2]
    ['<section class="syn-headline" ', '<section class="syn-section sy']
    """
    parts = [banner(a), headline(a), certainty(a), probability(a), where_it_works(a), figures(a), robustness(a),
             studies(a), version(a, manifest_draft, previous_manifest), methods(a)]
    return [part for part in parts if part]


def report_page(a: ReviewAnalysis, manifest_draft: dict[str, Any] | None = None,
                previous_manifest: dict[str, Any] | None = None) -> Any:
    """The whole policymaker page as one displayable HTML block (the sections in the default order).

    Examples
    --------
    >>> "syn-report" in report_page(_example())._repr_html_()
    True
    """
    return render(report_sections(a, manifest_draft, previous_manifest))
