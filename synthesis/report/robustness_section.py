"""The page's section on robustness: one sentence and the specification curve (the sensitivity multiverse)."""
from __future__ import annotations

from typing import Any

from synthesis.analysis.sensitivity import CHOICE_NAMES, robustness_sentence
from synthesis.grading.measures import back_transform
from synthesis.report.sections import section
from synthesis.report.templating import Fragment, render_template

__all__ = ["robustness"]

#: the choices as labelled on the figure (short)
FIGURE_NAMES = {"measure": "Measure", "rho": "Correlation within study", "risk_of_bias": "Risk of bias",
                "design": "Design", "small_studies": "Study size", "outliers": "Outliers", "left_out": "Leave out",
                "method": "Estimator", "test": "Test", "bias": "Publication bias", "dependence": "Dependence model"}


def robustness(a: Any) -> Fragment:
    """How robust the answer is to reasonable analytic choices: one sentence and the specification curve.

    Empty when the review's multiverse is switched off (``sensitivity.enabled: false``).

    Examples
    --------
    >>> from synthesis.report.page import _example
    >>> out = robustness(_example())  # doctest: +SKIP
    >>> "reasonable ways of analysing these studies" in out  # doctest: +SKIP
    True
    """
    from synthesis.report.plots.embed import figure_to_html
    from synthesis.report.plots.specification import specification_curve

    multiverse, result = getattr(a, "multiverse", None), getattr(a, "robustness", None)
    if multiverse is None or result is None:
        return Fragment("")
    measure = a.spec.effect.measure
    fitted = multiverse.fitted
    if "measure" in fitted.columns:
        fitted = fitted[fitted["measure"] == measure]
    shown = {name: levels for name, levels in multiverse.dimensions.items() if name != "measure"}
    fig = specification_curve(fitted, shown, names=FIGURE_NAMES, xlabel=f"Estimate ({measure})",
                              mid=a.spec.decision.mid, transform=back_transform(measure),
                              share_same=result.share_same)
    caption = (f"Specification curve: each of the {len(fitted):,} analyses on the {measure} scale, sorted by its "
               "estimate, with its confidence interval (blue: the interval excludes no effect); the marks beneath "
               "show the choices each analysis made.")
    varied = ", ".join(CHOICE_NAMES.get(name, name) for name, levels in multiverse.dimensions.items() if len(levels) > 1)
    notes = [f"Choices varied: {varied}.", *result.notes]
    body = render_template("robustness.html.j2", sentence=robustness_sentence(a),
                           figure=figure_to_html(fig, caption=caption), notes=notes)
    return section("How robust is the answer", body)
