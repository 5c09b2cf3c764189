"""Several effect sizes per study: which model a review uses, and what runs on what.

``analysis.dependence`` of a review whose studies contribute several effect sizes
(``data.study_id`` repeated):

* ``che`` (default): the correlated-and-hierarchical-effects working model,
  ``rma.mv(yi, V, random = ~ 1 | study/effect)`` with ``V`` from ``analysis.rho``
  (clubSandwich's ``impute_covariance_matrix``), tested with CR2 cluster-robust
  standard errors and Satterthwaite degrees of freedom (``coef_test(vcov = "CR2")``;
  Pustejovsky & Tipton 2022, Prevention Science 23:425-438);
* ``multilevel``: the three-level model (independent sampling errors), CR2 tests;
* ``aggregate``: each study's effects combined into one at ``rho`` first (metafor's
  ``aggregate``), then the review's random-effects model, as before CHE was the default.

Under ``che`` and ``multilevel`` the headline, the moderators (one meta-regression
per moderator with the same working model) and the subgroups (``~ 0 + subgroup``: a
mean per level, one shared pair of variance components) use every effect size.
What assumes one independent effect per study runs on the study-level data, each
study's effects combined into one (at ``rho``; at 0 under ``multilevel``, whose
sampling errors are independent), as metafor users do after ``aggregate()``, with a
note on the page: the forest and funnel plots, Egger's and Begg's tests,
trim-and-fill, the selection model and PET-PEESE (Egger's test on study-level
effects keeps its error rate under dependence, where the test on effects does not:
Rodgers & Pustejovsky 2021, Psychological Methods 26:141-160), influence and
leave-one-out (a study left out at a time), and the exact Bayesian posterior of a
one-strategy review; the strategy model uses every effect size with its own levels.
The certainty rating counts studies, not effects.
"""
from __future__ import annotations

import warnings
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from synthesis.meta.effects import aggregate_effects
from synthesis.meta.multilevel import MultilevelResult, multilevel_meta_analysis
from synthesis.meta.regression import SubgroupResult, moderator_coding
from synthesis.analysis.moderators import _spec_get
from synthesis.review.loader import several_effects_per_study
from synthesis.review.schema import DEFAULT_RHO

__all__ = ["WITHIN_STUDY_RHO", "several_effects", "dependence_of", "study_level_data", "dependent_model",
           "describe_model", "dependent_regression", "dependent_subgroups", "headline_fields",
           "certainty_input"]

#: the default assumed within-study correlation of sampling errors (``analysis.rho``)
WITHIN_STUDY_RHO = DEFAULT_RHO
#: ``analysis.dependence`` -> the working model of :func:`synthesis.meta.multilevel_meta_analysis`
STRUCTURES = {"che": "che", "multilevel": "multilevel"}
#: the working models in words (the page, the manifest)
MODEL_WORDS = {"che": "correlated and hierarchical effects (CHE)", "multilevel": "three-level model"}


def several_effects(spec: Any, data: pd.DataFrame) -> bool:
    """Whether some study contributes several rows (``data.study_id`` repeated).

    Examples
    --------
    >>> several_effects({"data": {"study_id": "sid"}}, pd.DataFrame({"sid": [1, 1, 2]}))
    True
    """
    return several_effects_per_study(data, _spec_get(spec, "data.study_id"))


def dependence_of(spec: Any, data: pd.DataFrame) -> str | None:
    """The model of several effects per study the review uses: ``che``, ``multilevel``, ``aggregate`` or None.

    None when every study has one effect; ``aggregate`` when the pooled effect is
    Mantel-Haenszel or Peto (the other analyses then use study-level effects).

    Examples
    --------
    >>> d = pd.DataFrame({"sid": [1, 1, 2]})
    >>> dependence_of({"data": {"study_id": "sid"}}, d), dependence_of({"data": {}}, d)
    ('che', None)
    """
    if not several_effects(spec, data):
        return None
    if _spec_get(spec, "analysis.method") in ("MH", "Peto"):
        return "aggregate"
    return _spec_get(spec, "analysis.dependence", "che")


def _rho(spec: Any) -> float:
    return float(_spec_get(spec, "analysis.rho", WITHIN_STUDY_RHO))


def study_level_data(review: Any) -> tuple[pd.DataFrame, str | None]:
    """One row per study for the analyses that assume independent effects.

    Where a study contributes several effect sizes, they are combined first
    (:func:`synthesis.meta.effects.aggregate_effects`, within-study correlation
    ``analysis.rho``, or 0 under the three-level model), as metafor's ``aggregate()``.
    Returns the rows and a note for the page (None when every study has one effect).
    """
    spec, data = review.spec, review.data
    dependence = dependence_of(spec, data)
    if dependence is None:
        return data, None
    cluster = _spec_get(spec, "data.study_id")
    rho = 0.0 if dependence == "multilevel" else _rho(spec)
    moderators = [_spec_get(m, "name") for m in (_spec_get(spec, "moderators") or [])]
    citation = list(_spec_get(spec, "data.citation") or [])
    rob = [_spec_get(spec, "certainty.risk_of_bias_column")]
    keep = tuple(dict.fromkeys(c for c in ["study", *moderators, *citation, *rob] if c and c in data.columns))
    combined = aggregate_effects(data, cluster, rho=rho, keep=keep)
    combined["sei"] = np.sqrt(combined["vi"])
    if "study" in combined.columns:  # effect-level labels (naming an arm or outcome): the study's id
        unlabelled = combined["study"].isna()
        combined.loc[unlabelled, "study"] = combined.loc[unlabelled, cluster].astype(str)
    if dependence == "aggregate":
        note = (f"The {len(data)} effect sizes come from {len(combined)} studies; for the pooled, moderator and "
                f"small-study analyses the effects of each study were combined into one, assuming a "
                f"within-study correlation of {rho:g} (metafor's aggregate); the Bayesian strategy model "
                f"uses every effect size.")
    else:
        note = (f"The {len(data)} effect sizes come from {len(combined)} studies. The pooled effect, moderators "
                f"and subgroups use every effect size ({MODEL_WORDS[dependence]}, CR2 robust tests). The "
                f"forest and funnel plots, the small-study tests (Egger, Begg, trim-and-fill), the selection "
                f"model, PET-PEESE, influence and leave-one-out assume one independent effect per study, so "
                f"they use each study's effects combined into one (within-study correlation {rho:g}, "
                f"metafor's aggregate).")
    return combined, note


def _model_settings(spec: Any, dependence: str) -> dict[str, Any]:
    """Keyword arguments of :func:`multilevel_meta_analysis` for the review (REML unless ML is chosen)."""
    method = _spec_get(spec, "analysis.method", "REML")
    return {"study": _spec_get(spec, "data.study_id"), "structure": STRUCTURES[dependence],
            "rho": _rho(spec), "method": "ML" if method == "ML" else "REML", "robust": "CR2",
            "level": _spec_get(spec, "analysis.level", 0.95)}


def dependent_model(review: Any) -> tuple[MultilevelResult | None, list[str]]:
    """The headline model of several effects per study (None under ``aggregate`` or one effect per study).

    Returns the fit and notes (a tau² estimator other than REML or ML applies to
    the study-level analyses only; a fit that fails falls back to ``aggregate``).
    """
    spec, data = review.spec, review.data
    dependence = dependence_of(spec, data)
    if dependence not in STRUCTURES:
        return None, []
    settings = _model_settings(spec, dependence)
    notes = []
    method = _spec_get(spec, "analysis.method", "REML")
    if method not in ("REML", "ML"):
        notes.append(f"The {MODEL_WORDS[dependence]} is fitted by REML (metafor's rma.mv offers REML and ML); "
                     f"analysis.method {method} is used by the study-level analyses.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return multilevel_meta_analysis(data, **settings), notes
    except ValueError as exc:  # DataError too: say so, and use the study-level model
        return None, notes + [f"The {MODEL_WORDS[dependence]} could not be fitted ({exc}); the headline uses "
                              "each study's effects combined into one."]


def describe_model(fit: MultilevelResult) -> str:
    """The model in words for the headline and the manifest.

    Examples
    --------
    >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3], "yi": [0.1, 0.3, 0.5, 0.2, 0.7],
    ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.05]})
    >>> describe_model(multilevel_meta_analysis(d, structure="che"))
    'correlated and hierarchical effects (CHE), rho 0.6, REML, CR2 robust SEs (Satterthwaite df), 3 studies / 5 effects'
    """
    rho = f", rho {fit.rho:g}" if fit.structure == "che" else ""
    inference = ", CR2 robust SEs (Satterthwaite df)" if fit.robust else ""
    return (f"{MODEL_WORDS[fit.structure]}{rho}, {fit.method}{inference}, "
            f"{fit.n_studies} studies / {fit.k} effects")


def dependent_regression(fit: MultilevelResult) -> Any:
    """A moderator fit as :func:`synthesis.analysis.moderators.moderator_table` reads it.

    Each term is tested by its CR2 t test; the moderator's test (``QMp``) is the CR2
    HTZ Wald test of its terms (``clubSandwich::Wald_test(..., test = "HTZ")``; for one
    term, the t test). ``k`` counts studies; pseudo-R² is not defined for ``rma.mv``.
    ``predict`` is the fit's own (CR2 SE and Satterthwaite df of each prediction).
    """
    QMp = float(fit.pval[1]) if fit.p == 2 and fit.coef_names[0] == "intrcpt" else fit.wald_htz().pval
    return SimpleNamespace(coef_names=fit.coef_names, coef=fit.coef, ci_lb=fit.ci_lb, ci_ub=fit.ci_ub,
                           pval=fit.pval, QMp=QMp, R2=np.nan, k=fit.n_studies, predict=fit.predict)


def moderator_fitter(review: Any) -> Any:
    """The function :func:`moderator_table` fits each moderator with: the headline's working model."""
    settings = _model_settings(review.spec, dependence_of(review.spec, review.data))

    def fit(data: pd.DataFrame, moderators: list[str], **coding: Any) -> Any:
        return dependent_regression(multilevel_meta_analysis(data, moderators=moderators, **coding, **settings))
    return fit


def dependent_subgroups(review: Any, data: pd.DataFrame, by: str, reference: Any = None) -> SubgroupResult:
    """A pooled effect per level of ``by`` from one working model (``~ 0 + by``) and the test between them.

    Levels share the variance components. The test for subgroup differences is the
    CR2 HTZ Wald test of the contrasts with the reference level (with two levels, the
    CR2 t test); ``QM`` is its F statistic.
    """
    settings = _model_settings(review.spec, dependence_of(review.spec, review.data))
    coding = {"categorical": [by], "reference": {by: reference} if reference is not None else None}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        means = multilevel_meta_analysis(data, moderators=[by], intercept=False, **coding, **settings)
        contrasts = multilevel_meta_analysis(data, moderators=[by], **coding, **settings)
        complete = data.dropna(subset=[by, "yi", "vi"])
        levels = moderator_coding(complete, [by], **coding)[by]
    study = settings["study"]
    rows = []
    for i, level in enumerate(levels):
        pi_lb, pi_ub = means.prediction_interval(i)
        rows.append({"k": int(complete.loc[complete[by] == level, study].nunique()), "estimate": means.coef[i],
                     "se": means.se[i], "ci_lb": means.ci_lb[i], "ci_ub": means.ci_ub[i], "pi_lb": pi_lb,
                     "pi_ub": pi_ub, "tau2": float(np.sum(means.sigma2)), "I2": means.I2, "pval": means.pval[i]})
    q = len(levels) - 1
    if q == 1:
        QM, QMp, df = float(contrasts.stat[1] ** 2), float(contrasts.pval[1]), (q,)
    else:
        htz = contrasts.wald_htz()
        QM, QMp, df = htz.F, htz.pval, (q, htz.df_denom)
    notes = [f"Subgroups by {by}: the test for subgroup differences is the CR2 HTZ Wald test of the "
             f"{MODEL_WORDS[means.structure]} (Pustejovsky & Tipton 2018)."] if q > 1 else []
    return SubgroupResult(by=by, table=pd.DataFrame(rows, index=pd.Index(levels, name=by)), fits={}, QM=QM,
                          QM_df=df, QMp=QMp, regression=None, notes=notes)


def headline_fields(fit: MultilevelResult) -> dict[str, Any]:
    """The headline's numbers from the working model (``k`` counts studies; ``tau2`` is both components).

    Examples
    --------
    >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3], "yi": [0.1, 0.3, 0.5, 0.2, 0.7],
    ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.05]})
    >>> h = headline_fields(multilevel_meta_analysis(d, structure="che"))
    >>> h["k"], h["n_effects"], h["test"]
    (3, 5, 'CR2')
    """
    pi_lb, pi_ub = fit.prediction_interval()
    return {"estimate": fit.estimate, "se": float(fit.se[0]), "ci_lb": float(fit.ci_lb[0]),
            "ci_ub": float(fit.ci_ub[0]), "pi_lb": pi_lb, "pi_ub": pi_ub, "tau2": float(np.sum(fit.sigma2)),
            "sigma2_study": float(fit.sigma2[0]), "sigma2_effect": float(fit.sigma2[1]), "I2": fit.I2,
            "k": fit.n_studies, "n_effects": fit.k, "method": fit.method, "test": fit.robust or fit.test,
            "df": float(fit.df[0]), "pval": float(fit.pval[0]), "model": describe_model(fit)}


def certainty_input(fit: MultilevelResult, study_weights: Any) -> dict[str, Any]:
    """What :func:`synthesis.grading.certainty.assess_certainty` reads, from the working model.

    ``k`` is the number of studies; the risk-of-bias weights are the studies' weights
    in the study-level model (one per study, as the ratings).
    """
    fields = headline_fields(fit)
    return {name: fields[name] for name in ("estimate", "ci_lb", "ci_ub", "pi_lb", "pi_ub", "I2", "k")} | {
        "weights": study_weights, "level": fit.level}
