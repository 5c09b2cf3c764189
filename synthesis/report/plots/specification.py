"""The specification curve: every analysis of the multiverse, sorted by its estimate, choices marked beneath."""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from synthesis.numbers import number, percent
from synthesis.report.plots.common import OKABE_ITO, STYLE, finite, new_figure, set_alt, truncate

__all__ = ["specification_curve"]

#: the per-study dimension is drawn as one row (a study left out or not), not one row per study
_LEAVE_OUT = "left_out"


def _marker_rows(table: pd.DataFrame, dimensions: Mapping[str, Sequence[str]],
                 names: Mapping[str, str]) -> list[tuple[str, np.ndarray]]:
    """``(label, mask)`` of each level of each varied choice, in the grid's order."""
    rows = []
    for name, levels in dimensions.items():
        if len(levels) < 2 or name not in table.columns:
            continue
        if name == _LEAVE_OUT:
            rows.append((f"{names.get(name, name)}: one study left out", (table[name] != "none").to_numpy()))
            continue
        for level in levels:
            rows.append((f"{names.get(name, name)}: {level}", (table[name] == level).to_numpy()))
    return rows


def specification_curve(table: pd.DataFrame, dimensions: Mapping[str, Sequence[str]], *,
                        names: Mapping[str, str] | None = None, xlabel: str = "Estimate",
                        mid: float | None = None, transform: Callable[[float], float] | None = None,
                        share_same: float | None = None) -> Figure:
    """Estimates with their intervals, sorted, over a grid marking each specification's choices.

    Parameters
    ----------
    table : DataFrame
        One row per specification on one scale (columns ``estimate, ci_lb, ci_ub`` and one per choice).
    dimensions : mapping
        Each choice and its levels (:attr:`synthesis.meta.multiverse.MultiverseResult.dimensions`).
    names : mapping, optional
        How each choice is named on the figure.
    xlabel : str
        What the estimate is (the vertical axis).
    mid : float, optional
        The minimal important difference, drawn as a dotted line.
    transform : callable, optional
        Back-transformation of the tick labels (``np.exp`` for log ratios).
    share_same : float, optional
        Share of specifications with the headline's answer, for the alt text.

    Examples
    --------
    >>> t = pd.DataFrame({"estimate": [0.2, 0.3, 0.1], "ci_lb": [0.0, 0.1, -0.1], "ci_ub": [0.4, 0.5, 0.3],
    ...                   "method": ["DL", "REML", "EE"]})
    >>> fig = specification_curve(t, {"method": ["DL", "REML", "EE"]})
    >>> from synthesis.report.plots.common import alt_text
    >>> alt_text(fig)
    'Specification curve of 3 analyses: estimates from 0.10 to 0.30, 3 of 3 on the same side of zero as the median.'
    """
    names = dict(names or {})
    ordered = table.sort_values("estimate", kind="stable").reset_index(drop=True)
    n = len(ordered)
    rows = _marker_rows(ordered, dimensions, names)
    x = np.arange(n)
    est = ordered["estimate"].to_numpy(float)
    lb, ub = ordered["ci_lb"].to_numpy(float), ordered["ci_ub"].to_numpy(float)
    fig = new_figure(8.0, 3.2 + 0.22 * len(rows))
    with matplotlib.rc_context(STYLE):
        top, bottom = fig.subplots(2, 1, sharex=True,
                                   gridspec_kw={"height_ratios": [3.0, max(1.0, 0.22 * len(rows))]})
        clear = (lb > 0) | (ub < 0)
        colours = np.where(clear, OKABE_ITO["blue"], "#9a9a9a")
        thin = n > 300
        top.vlines(x, lb, ub, colors=colours, linewidth=0.6 if thin else 1.4, alpha=0.5 if thin else 0.8, zorder=2)
        top.scatter(x, est, s=4 if thin else 14, c="black", zorder=3)
        top.axhline(0, color="#555555", linestyle="--", linewidth=1, zorder=1)
        if finite(mid) and float(mid) != 0:
            top.axhline(float(mid), color=OKABE_ITO["vermillion"], linestyle=":", linewidth=2, zorder=1)
        top.set_ylabel(xlabel)
        if transform is not None:  # tick labels on the reader's scale (odds ratios for log odds ratios)
            top.yaxis.set_major_formatter(FuncFormatter(lambda v, _pos: f"{float(transform(v)):.3g}"))
        top.spines["bottom"].set_visible(False)
        for i, (label, mask) in enumerate(rows):
            y = len(rows) - i
            bottom.scatter(x[mask], np.full(int(mask.sum()), y), marker="|", s=40 if not thin else 12,
                           color="black", linewidths=0.8)
        bottom.set_yticks(np.arange(len(rows), 0, -1), [truncate(label, 60) for label, _ in rows], fontsize=8)
        bottom.set_ylim(0.3, len(rows) + 0.7)
        bottom.set_xlabel(f"The {n:,} analyses, sorted by their estimate")
        bottom.set_xticks([])
    median = float(np.median(est)) if n else 0.0
    same_side = int(np.sum(np.sign(est) == np.sign(median)))
    text = (f"Specification curve of {n:,} analyses: estimates from {number(est.min())} to {number(est.max())}, "
            f"{same_side:,} of {n:,} on the same side of zero as the median.")
    if share_same is not None:
        text += f" {percent(100 * share_same)} of all analyses give the same answer as the main analysis."
    return set_alt(fig, text)
