"""The policymaker page: sections, tables, figures, templates and the page.

The outline functions (``headline``, ``certainty``, ``probability``, ``where_it_works``,
``figures``, ``studies``, ``version``, ``methods``; :mod:`synthesis.report.page`) each
take a :class:`~synthesis.analysis.ReviewAnalysis` and return one displayable section,
so ``notebooks/review.ipynb`` is the page's outline, one cell per section.

Names load on first use so that importing the package does not import matplotlib.
Does not import ``synthesis.pipeline``.
"""
from synthesis._lazy import lazy_exports

_PAGE = "synthesis.report.page"
_EXPORTS = {
    **{name: _PAGE for name in ("banner", "headline", "certainty", "probability", "where_it_works", "figures",
                                "studies", "version", "methods", "report_page", "report_sections")},
    "robustness": "synthesis.report.robustness_section",
    "forest_plot": "synthesis.report.plots",
    "funnel_plot": "synthesis.report.plots",
    "posterior_plot": "synthesis.report.plots",
    "strategy_plot": "synthesis.report.plots",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
