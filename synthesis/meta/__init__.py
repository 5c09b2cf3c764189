"""The frequentist engine: effect sizes, pooled models, meta-regression and subgroups,
case-deletion (influence) diagnostics, small-study (publication-bias) tests, and
several effects per study (three-level and CHE models with CR2 cluster-robust tests).

It reproduces R's metafor 3.8 number for number and imports nothing from
``synthesis.review``, ``synthesis.report`` or ``synthesis.pipeline``.
"""
from synthesis.meta.case_diagnostics import InfluenceResult, LeaveOneOutResult, influence, leave_one_out
from synthesis.meta.effects import aggregate_effects, effect_sizes
from synthesis.meta.multilevel import MultilevelResult, multilevel_meta_analysis
from synthesis.meta.pooled import MetaResult, meta_analysis
from synthesis.meta.regression import MetaRegressionResult, SubgroupResult, meta_regression, subgroup_analysis
from synthesis.meta.robust import RobustTest, cr2_coef_test, impute_covariance
from synthesis.meta.small_study import (BeggResult, EggerResult, TrimFillResult, begg_test, egger_test,
                                        trim_and_fill)

__all__ = ["effect_sizes", "aggregate_effects", "meta_analysis", "MetaResult", "meta_regression",
           "MetaRegressionResult", "subgroup_analysis", "SubgroupResult", "leave_one_out", "LeaveOneOutResult",
           "influence", "InfluenceResult",
           "egger_test", "EggerResult", "begg_test", "BeggResult", "trim_and_fill", "TrimFillResult",
           "multilevel_meta_analysis", "MultilevelResult", "impute_covariance", "cr2_coef_test", "RobustTest"]
