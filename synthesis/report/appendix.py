"""The methods appendix: every estimator, test, prior and rule named in words.

:data:`METHOD_NAMES` has one entry per tau² estimator of
:data:`synthesis.meta.core.METHODS` (a test checks that they match); the measure
words come from :data:`synthesis.grading.measures.MEASURE_WORDS`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from synthesis.grading import certainty as rules
from synthesis.grading.measures import measure_words
from synthesis.meta.small_study import MIN_STUDIES
from synthesis.numbers import level_percent, number
from synthesis.report.templating import Fragment, render_template

__all__ = ["METHOD_NAMES", "TEST_TEXT", "NATURAL_UNITS_METHODS", "PRIOR_SENSITIVITY_TEXT", "DEPENDENCE_MODELS",
           "dependence_text", "methods_section", "prior_sensitivity_rows"]

#: tau² estimators (metafor ``method``) in words; ``FE`` is metafor's alias of ``EE``
METHOD_NAMES = {
    "EE": "a common-effect (inverse-variance) model", "FE": "a common-effect (inverse-variance) model",
    "DL": "a random-effects model with the DerSimonian-Laird estimator of between-study variance",
    "HE": "a random-effects model with the Hedges (method of moments) estimator of between-study variance",
    "HS": "a random-effects model with the Hunter-Schmidt estimator of between-study variance",
    "SJ": "a random-effects model with the Sidik-Jonkman estimator of between-study variance",
    "ML": "a random-effects model with the maximum-likelihood estimator of between-study variance",
    "REML": "a random-effects model with the restricted maximum-likelihood (REML) estimator of "
            "between-study variance",
    "EB": "a random-effects model with the empirical Bayes estimator of between-study variance",
    "PM": "a random-effects model with the Paule-Mandel estimator of between-study variance",
}
#: how intervals and p-values are computed (metafor ``test``)
TEST_TEXT = {
    "z": "Confidence intervals and p-values use the normal distribution (Wald-type).",
    "knha": "Confidence intervals and p-values use the Hartung-Knapp-Sidik-Jonkman method "
            "(t distribution with k - 1 degrees of freedom; IntHout et al. 2014, BMC Med Res Methodol 14:25).",
}
#: the models of several effects per study (``MultilevelResult.structure``) in words
DEPENDENCE_MODELS = {
    "che": "the correlated and hierarchical effects (CHE) working model (Pustejovsky & Tipton 2022, Prev Sci "
           "23:425-438): a random effect for each study and for each effect within a study, with the sampling "
           "errors of one study's effects assumed to correlate {rho:g}",
    "multilevel": "a three-level model (Konstantopoulos 2011, Res Synth Methods 2:61-76): a random effect for "
                  "each study and for each effect within a study, with independent sampling errors",
}


def dependence_text(fit: Any) -> str:
    """The methods sentence of a model of several effects per study (a ``MultilevelResult``).

    Examples
    --------
    >>> from types import SimpleNamespace
    >>> fit = SimpleNamespace(structure="che", rho=0.6, k=95, n_studies=48, method="REML")
    >>> "95 effect sizes from 48 studies" in dependence_text(fit) and "CR2" in dependence_text(fit)
    True
    """
    model = DEPENDENCE_MODELS[fit.structure].format(rho=fit.rho)
    return (f"Several effects per study: the {fit.k} effect sizes from {fit.n_studies} studies were pooled "
            f"with {model}; the two variance components were estimated by {fit.method}. Confidence intervals "
            "and p-values use CR2 cluster-robust standard errors with Satterthwaite degrees of freedom "
            "(Tipton 2015, Psychol Methods 20:375-393; as clubSandwich), which stay valid when the working "
            "model is wrong; moderators and subgroups use the same model. I² is the multilevel I² (Nakagawa & "
            "Santos 2012), and the certainty rating counts studies, not effects.")


#: the natural-unit translations (:attr:`synthesis.grading.units.NaturalUnits.kind`) in words
NATURAL_UNITS_METHODS = {
    "months": "Months' progress: the Education Endowment Foundation's conversion of effect sizes into "
              "months of additional progress (EEF Teaching and Learning Toolkit).",
    "absolute_risk": "Absolute effects: the pooled ratio applied to the stated baseline risk in the "
                     "comparison group, as in GRADE summary-of-findings tables.",
    "risk_difference": "Absolute effects: risk differences in events per 100 (or 1,000) people.",
    "u3": "Standardised effects are also given as Cohen's U3: the share of the comparison group that the "
          "average person receiving the intervention would do better than.",
}

#: the sentence above the power-scaling table (synthesis.bayes.sensitivity)
PRIOR_SENSITIVITY_TEXT = (
    "Prior sensitivity: power-scaling (Kallioinen et al. 2024, Stat Comput 34:57; the priorsense "
    "method). The prior and the likelihood were each raised to the powers 0.99 and 1.01 by "
    "Pareto-smoothed importance weighting of the posterior draws, without refitting; a sensitivity "
    "of 0.05 or more (cumulative Jensen-Shannon distance per unit log2 power) marks a parameter as "
    "sensitive. Pareto k above 0.7 means the weighting could not be trusted and the model was refitted.")


def prior_sensitivity_rows(table: Any) -> list[dict[str, str]]:
    """Rows of the power-scaling table as shown (``BayesResult.prior_sensitivity()`` or its records).

    Examples
    --------
    >>> prior_sensitivity_rows([{"parameter": "mu", "prior_sensitivity": 0.0123,
    ...     "likelihood_sensitivity": 0.1, "diagnosis": "-", "pareto_k": 0.2}])
    [{'parameter': 'mu', 'prior': '0.01', 'likelihood': '0.10', 'diagnosis': '-', 'pareto_k': '0.20'}]
    """
    records = table.to_dict(orient="records") if hasattr(table, "to_dict") and \
        not isinstance(table, Mapping) else list(table)
    return [{"parameter": str(r["parameter"]), "prior": number(r.get("prior_sensitivity")),
             "likelihood": number(r.get("likelihood_sensitivity")),
             "diagnosis": str(r.get("diagnosis", "")), "pareto_k": number(r.get("pareto_k"))}
            for r in records]


def _sampler_text(sampler: Mapping[str, Any] | str) -> str:
    if isinstance(sampler, Mapping):
        keys = ("sampler", "chains", "draws", "tune", "target_accept", "seed")
        return ", ".join(f"{k} {sampler[k]}" for k in keys if k in sampler)
    return str(sampler)


def methods_section(*, measure: str, method: str, test: str = "z", level: float = 0.95, k: int | None = None,
                    prior: str | None = None, sampler: Mapping[str, Any] | str | None = None,
                    bias_tests: bool = True, natural_units: str | None = None,
                    extra: Sequence[str] = (), title: str = "Methods",
                    prior_sensitivity: Any = None, dependent: Any = None) -> Fragment:
    """A short methods appendix naming every estimator and prior.

    ``prior_sensitivity`` (the table of ``BayesResult.prior_sensitivity()`` or its
    records) adds the power-scaling sensitivity table after the list. ``dependent``
    (the ``MultilevelResult`` of a review with several effects per study) names that
    model (:func:`dependence_text`) in place of the pooling method and test.

    Examples
    --------
    >>> s = methods_section(measure="SMD", method="REML", test="knha", prior="mu ~ Normal(0, 1)")
    >>> "restricted maximum-likelihood" in s and "Hartung-Knapp" in s
    True
    >>> table = [{"parameter": "mu", "prior_sensitivity": 0.2, "likelihood_sensitivity": 0.01,
    ...           "diagnosis": "strong prior / weak likelihood", "pareto_k": 0.1}]
    >>> "strong prior / weak likelihood" in methods_section(measure="SMD", method="REML",
    ...                                                     prior_sensitivity=table)
    True
    """
    items = [f"Effect measure: {measure_words(measure).detail}."]
    pooled = METHOD_NAMES.get(str(method).upper(), f"the {method} estimator")
    if dependent is not None:
        items.append(dependence_text(dependent) + f" Intervals are {level_percent(level)} intervals.")
    else:
        items.append(f"Studies were pooled with {pooled}" + (f" ({k} studies)." if k is not None else "."))
        items.append(TEST_TEXT.get(str(test), f"Test: {test}.") + f" Intervals are {level_percent(level)} "
                     "intervals.")
    items.append("Heterogeneity: I² (Higgins & Thompson 2002, Stat Med 21:1539-1558) and a prediction interval "
                 "for the effect in a new setting (Riley et al. 2011, BMJ 342:d549).")
    if bias_tests:
        items.append(f"Small-study effects (with at least {MIN_STUDIES} studies): Egger's regression test "
                     "(Egger et al. 1997, BMJ 315:629-634), Begg's rank correlation test and trim-and-fill "
                     "(Duval & Tweedie 2000, Biometrics 56:455-463, L0 estimator).")
    if prior:
        text = f"Bayesian model priors: {prior}."
        if sampler:
            text += f" Sampler: {_sampler_text(sampler)}."
        items.append(text)
    items.append(
        "Certainty of evidence: GRADE (Guyatt et al. 2011), starting high for randomised trials; rated down for "
        f"risk of bias (≥{rules.ROB_HIGH_SERIOUS:g}% of weight from high-risk studies: one level; "
        f"≥{rules.ROB_HIGH_VERY_SERIOUS:g}%: two), inconsistency (I² ≥ {rules.I2_SERIOUS:g}% with a prediction "
        "interval crossing no effect or the minimal important difference), imprecision (confidence interval "
        "crossing no effect or the minimal important difference; fewer than "
        f"{rules.OIS_PARTICIPANTS} participants), publication bias (Egger p < {rules.EGGER_ALPHA:g} with a "
        f"trim-and-fill shift over {100 * rules.TRIMFILL_SHIFT:g}%) and the reviewer's judgement of indirectness. "
        "Answers are worded as recommended by Santesso et al. 2020 (J Clin Epidemiol 119:126-135).")
    if natural_units:
        items.append(natural_units)
    items += [str(x) for x in extra]
    sensitivity = prior_sensitivity_rows(prior_sensitivity) if prior_sensitivity is not None else []
    return render_template("methods.html.j2", title=title, items=items, sensitivity=sensitivity,
                           sensitivity_text=PRIOR_SENSITIVITY_TEXT)
