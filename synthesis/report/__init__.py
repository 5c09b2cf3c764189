"""The policymaker page: number formatting, sections, figures, templates and the page.

Names load on first use so that importing the package does not import matplotlib.
Does not import ``synthesis.pipeline``.
"""
from synthesis._lazy import lazy_exports

_EXPORTS = {
    "report_page": "synthesis.report.page",
    "report_sections": "synthesis.report.page",
    "forest_plot": "synthesis.report.figures",
    "funnel_plot": "synthesis.report.figures",
    "posterior_plot": "synthesis.report.figures",
    "strategy_plot": "synthesis.report.figures",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
