"""Every analysis of one review question, run through the library only.

:func:`analyse_review` loads a review and runs the pooled model, moderators and
subgroups, small-study diagnostics, influence, the Bayesian model, the certainty
rating and the natural-unit translation (:mod:`synthesis.analysis.review_analysis`);
:mod:`synthesis.analysis.moderators` holds the moderator table.
"""
from synthesis.analysis.moderators import _spec_get, labelled_levels, moderator_predictions, moderator_table  # noqa: F401
from synthesis.analysis.review_analysis import (CASE_DIAGNOSTICS_CAP, TWO_BY_TWO_COMPANION, WITHIN_STUDY_RHO,
                                                ReviewAnalysis, analyse_review, bayesian_analysis, fitted_rows,
                                                frequentist_analysis, rate_and_answer, strategy_ranking,
                                                study_level_data, two_by_two_note, two_by_two_pooled)

__all__ = ["analyse_review", "ReviewAnalysis", "moderator_table", "moderator_predictions", "labelled_levels", "study_level_data",
           "frequentist_analysis", "bayesian_analysis", "rate_and_answer", "strategy_ranking", "fitted_rows",
           "two_by_two_pooled", "two_by_two_note", "CASE_DIAGNOSTICS_CAP", "TWO_BY_TWO_COMPANION",
           "WITHIN_STUDY_RHO"]
