"""The frequentist engine: effect sizes, pooled models, meta-regression and subgroups,
prediction, cumulative meta-analysis, case-deletion (influence) diagnostics, small-study
(publication-bias) tests, the estimates adjusted for publication bias (selection model,
PET-PEESE), Mantel-Haenszel and Peto, and several effects per study (three-level and CHE
models with CR2 cluster-robust tests).

It reproduces R's metafor 3.8 number for number and imports nothing from
``synthesis.review``, ``synthesis.report`` or ``synthesis.pipeline``.
"""
from synthesis.meta.case_diagnostics import InfluenceResult, LeaveOneOutResult, influence, leave_one_out
from synthesis.meta.cumulative_analysis import CumulativeResult, cumulative
from synthesis.meta.effects import aggregate_effects, effect_sizes
from synthesis.meta.two_by_two import MantelHaenszelResult, mantel_haenszel, peto
from synthesis.meta.multilevel import MultilevelResult, multilevel_meta_analysis
from synthesis.meta.multiverse import MultiverseResult, multiverse_analysis
from synthesis.meta.pooled import MetaResult, meta_analysis
from synthesis.meta.prediction import PredictionResult, predict
from synthesis.meta.regression import MetaRegressionResult, SubgroupResult, meta_regression, subgroup_analysis
from synthesis.meta.precision_effect import PetPeeseResult, pet_peese
from synthesis.meta.selection import SelectionModelResult, selection_model
from synthesis.meta.robust import RobustTest, cr2_coef_test, impute_covariance
from synthesis.meta.small_study import (BeggResult, EggerResult, TrimFillResult, begg_test, egger_test,
                                        trim_and_fill)

__all__ = ["effect_sizes", "aggregate_effects", "meta_analysis", "MetaResult", "meta_regression",
           "MetaRegressionResult", "subgroup_analysis", "SubgroupResult", "leave_one_out", "LeaveOneOutResult",
           "influence", "InfluenceResult", "mantel_haenszel", "peto", "MantelHaenszelResult",
           "predict", "PredictionResult", "cumulative", "CumulativeResult",
           "egger_test", "EggerResult", "begg_test", "BeggResult", "trim_and_fill", "TrimFillResult",
           "selection_model", "SelectionModelResult", "pet_peese", "PetPeeseResult",
           "multilevel_meta_analysis", "MultilevelResult", "multiverse_analysis", "MultiverseResult",
           "impute_covariance", "cr2_coef_test", "RobustTest"]
