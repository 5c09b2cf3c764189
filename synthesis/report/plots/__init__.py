"""Figures for the report: forest, contour-enhanced funnel, posterior, strategies, moderators.

Each plotting function returns a :class:`matplotlib.figure.Figure` with an alt
text stating its finding (:func:`alt_text`); :func:`figure_to_html` embeds it in
the page (inline SVG, readable on a phone). See :mod:`synthesis.report.plots.common` for the
palette and style.
"""
from synthesis.report.plots.common import OKABE_ITO, alt_text
from synthesis.report.plots.embed import figure_to_html
from synthesis.report.plots.intervals import moderator_plot, strategy_plot
from synthesis.report.plots.posterior import posterior_plot
from synthesis.report.plots.study import forest_plot, funnel_plot

__all__ = ["OKABE_ITO", "forest_plot", "funnel_plot", "posterior_plot", "strategy_plot", "moderator_plot",
           "figure_to_html", "alt_text"]
