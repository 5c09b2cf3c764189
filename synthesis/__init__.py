"""synthesis: evidence synthesis for implementation and knowledge-mobilisation questions.

The frequentist engine reproduces R's metafor (3.8) number for number.
Public names are loaded on first use, so ``import synthesis`` stays cheap
(matplotlib and PyMC are imported only by the functions that need them).

Examples
--------
>>> import synthesis
>>> fit = synthesis.meta_analysis([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.025, 0.04])
>>> fit.k
4
"""
from __future__ import annotations

from synthesis._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "Result": "synthesis.results",
    "effect_sizes": "synthesis.meta.effects",
    "aggregate_effects": "synthesis.meta.effects",
    "meta_analysis": "synthesis.meta.pooled",
    "MetaResult": "synthesis.meta.pooled",
    "meta_regression": "synthesis.meta.regression",
    "MetaRegressionResult": "synthesis.meta.regression",
    "subgroup_analysis": "synthesis.meta.regression",
    "SubgroupResult": "synthesis.meta.regression",
    "egger_test": "synthesis.meta.small_study",
    "EggerResult": "synthesis.meta.small_study",
    "begg_test": "synthesis.meta.small_study",
    "BeggResult": "synthesis.meta.small_study",
    "trim_and_fill": "synthesis.meta.small_study",
    "TrimFillResult": "synthesis.meta.small_study",
    "selection_model": "synthesis.meta.selection",
    "SelectionModelResult": "synthesis.meta.selection",
    "pet_peese": "synthesis.meta.precision_effect",
    "PetPeeseResult": "synthesis.meta.precision_effect",
    "leave_one_out": "synthesis.meta.case_diagnostics",
    "LeaveOneOutResult": "synthesis.meta.case_diagnostics",
    "influence": "synthesis.meta.case_diagnostics",
    "InfluenceResult": "synthesis.meta.case_diagnostics",
    "mantel_haenszel": "synthesis.meta.two_by_two",
    "peto": "synthesis.meta.two_by_two",
    "MantelHaenszelResult": "synthesis.meta.two_by_two",
    "predict": "synthesis.meta.prediction",
    "PredictionResult": "synthesis.meta.prediction",
    "cumulative": "synthesis.meta.cumulative_analysis",
    "CumulativeResult": "synthesis.meta.cumulative_analysis",
    "multilevel_meta_analysis": "synthesis.meta.multilevel",
    "MultilevelResult": "synthesis.meta.multilevel",
    "multiverse_analysis": "synthesis.meta.multiverse",
    "MultiverseResult": "synthesis.meta.multiverse",
    "impute_covariance": "synthesis.meta.robust",
    "cr2_coef_test": "synthesis.meta.robust",
    "forest_plot": "synthesis.report.plots",
    "funnel_plot": "synthesis.report.plots",
    "load_review": "synthesis.review.loader",
}

__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
