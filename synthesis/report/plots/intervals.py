"""Rows of estimates with intervals: strategies ranked by effect, moderators and subgroups."""
from __future__ import annotations

from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from synthesis.errors import DataError
from synthesis.numbers import interval, number, probability
from synthesis.report.plots.common import (OKABE_ITO, STYLE, finish_rows_axis, finite, new_figure,
                                          rows_interval_label, set_alt, truncate)

__all__ = ["strategy_plot", "moderator_plot"]


def _column(table: pd.DataFrame, names: Sequence[str], what: str, required: bool = True) -> str | None:
    for name in names:
        if name in table.columns:
            return name
    if required:
        raise DataError(f"the table needs a {what} column (one of {', '.join(names)}); it has "
                        f"{', '.join(map(str, table.columns))}")
    return None


def _interval_plot(labels: Sequence[str], est: np.ndarray, lb: np.ndarray, ub: np.ndarray, *,
                   xlabel: str, refline: float | None, mid: float | None,
                   transform: Callable[[float], float] | None, right: Sequence[str] | None,
                   right_header: str | None, colour: str, title: str | None) -> Figure:
    n = len(labels)
    width_l = max(1.8, 0.085 * max(len(truncate(s)) for s in labels))
    has_right = right is not None
    fig = new_figure(width_l + 4.6 + (1.8 if has_right else 0.0), max(2.6, 0.42 * n + 1.3))
    with matplotlib.rc_context(STYLE):
        ratios = [width_l, 4.6] + ([1.8] if has_right else [])
        axes = fig.subplots(1, len(ratios), sharey=True, gridspec_kw={"width_ratios": ratios})
        fig.get_layout_engine().set(wspace=0.0, w_pad=0.02)
        ax_l, ax = axes[0], axes[1]
        ypos = np.arange(n, 0, -1, dtype=float)
        for a in [ax_l] + ([axes[2]] if has_right else []):
            a.set_xlim(0, 1)
            a.axis("off")
        for i in range(n):
            ax_l.text(0, ypos[i], truncate(labels[i]), va="center", ha="left")
            if has_right:
                axes[2].text(0.05, ypos[i], right[i], va="center", ha="left", family="monospace")
        if has_right and right_header:
            axes[2].text(0.05, n + 0.9, right_header, va="center", ha="left", fontweight="bold")
        ok = np.isfinite(lb) & np.isfinite(ub)
        ax.hlines(ypos[ok], lb[ok], ub[ok], color=colour, linewidth=2.2, zorder=2)
        ax.scatter(est, ypos, s=55, color=colour, edgecolors="black", linewidths=0.6, zorder=3)
        if refline is not None:
            ax.axvline(refline, color="#555555", linestyle="--", linewidth=1, zorder=1)
        # the MID's label points away from no effect, and "No effect" away from the MID
        outward = "left" if not (finite(mid) and float(mid) < 0) else "right"
        inward = "right" if outward == "left" else "left"
        if finite(mid) and float(mid) != 0:
            ax.axvline(float(mid), color=OKABE_ITO["vermillion"], linestyle=":", linewidth=2, zorder=1)
            ax.text(float(mid), n + 0.75, " Minimal important difference ", color="#A04000", ha=outward,
                    va="center", fontsize=10)
        if refline is not None:
            ax.text(refline, n + 0.75, " No effect ", color="#333333", ha=inward, va="center", fontsize=10)
        finish_rows_axis(fig, ax, (0.4, n + 1.1), xlabel, transform, title)
    return fig


def _interval_columns(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    est = _column(table, ("estimate", "mean", "coef"), "estimate")
    lb = _column(table, ("ci_lb", "eti_lb", "hdi_lb"), "lower bound")
    ub = _column(table, ("ci_ub", "eti_ub", "hdi_ub"), "upper bound")
    est_v, lb_v, ub_v = (pd.to_numeric(table[c], errors="coerce").to_numpy(float) for c in (est, lb, ub))
    return est_v, lb_v, ub_v


def strategy_plot(table: pd.DataFrame, *, label: str | None = None, higher_is_better: bool = True,
                  mid: float | None = None, refline: float | None = 0.0, xlabel: str = "Effect",
                  transform: Callable[[float], float] | None = None, title: str | None = None,
                  level: float = 0.95) -> Figure:
    """Strategies ranked by estimated effect, each with its interval (not a bare rank).

    Parameters
    ----------
    table : DataFrame
        One row per strategy: a label column (``strategy``, ``label`` or the
        index), ``estimate``/``mean``, ``ci_lb``/``eti_lb``/``hdi_lb`` and the
        matching upper bound; optional ``prob_best`` (0-1) shown on the right.
    higher_is_better : bool
        Ranking direction, and the side of no effect on which the minimal
        important difference ``mid`` (a magnitude) is drawn.
    level : float
        Level of the credible intervals, named in the axis label.

    Examples
    --------
    >>> from synthesis.report.plots import alt_text
    >>> t = pd.DataFrame({"strategy": ["A", "B"], "estimate": [0.1, 0.3], "ci_lb": [-0.1, 0.1],
    ...                   "ci_ub": [0.3, 0.5], "prob_best": [0.2, 0.8]})
    >>> alt_text(strategy_plot(t)).split(":")[0]
    'Strategies ranked by estimated effect'
    """
    table = table.reset_index() if label is None and not {"strategy", "label"} & set(table.columns) else table
    lab_col = label or _column(table, ("strategy", "label", "index", "param", "name"), "label")
    est, lb, ub = _interval_columns(table)
    order = np.argsort(-est if higher_is_better else est, kind="stable")
    labels = [f"{r}. {table[lab_col].iloc[i]}" for r, i in enumerate(order, start=1)]
    pb = _column(table, ("prob_best",), "P(best)", required=False)
    right = None
    if pb is not None:
        right = [probability(float(table[pb].iloc[i])) for i in order]
    signed_mid = None if not finite(mid) else (abs(float(mid)) if higher_is_better else -abs(float(mid)))
    fig = _interval_plot(labels, est[order], lb[order], ub[order],
                         xlabel=rows_interval_label(xlabel, level, "credible"), refline=refline,
                         mid=signed_mid, transform=transform, right=right,
                         right_header="Chance best" if right else None, colour=OKABE_ITO["blue"], title=title)
    top = order[0]
    alt = (f"Strategies ranked by estimated effect: {table[lab_col].iloc[top]} ranks first with "
           f"{number(est[top], transform=transform)} ({interval(lb[top], ub[top], transform=transform)})")
    overlap = int(np.sum(ub[order[1:]] > lb[top])) if len(order) > 1 else 0
    if len(order) > 1:
        alt += f"; the intervals of {overlap} of the other {len(order) - 1} strategies overlap with it"
    return set_alt(fig, alt + ".")


def moderator_plot(table: pd.DataFrame, *, xlabel: str = "Difference in effect",
                   refline: float | None = 0.0, transform: Callable[[float], float] | None = None,
                   title: str | None = None, level: float = 0.95) -> Figure:
    """Moderator or subgroup estimates with intervals.

    Parameters
    ----------
    table : DataFrame
        Either moderator rows (``label`` or ``moderator``, ``term``,
        ``estimate``, ``ci_lb``, ``ci_ub``; as ``analysis.moderator_table``)
        or subgroup rows (``level``/``subgroup``, ``estimate``, ``ci_lb``,
        ``ci_ub``, optional ``k``). Rows without an estimate are skipped.
    level : float
        Level of the confidence intervals, named in the axis label.

    Examples
    --------
    >>> from synthesis.report.plots import alt_text
    >>> t = pd.DataFrame({"label": ["Dose", "Setting"], "term": ["dose", "school"],
    ...                   "estimate": [0.05, -0.2], "ci_lb": [0.0, -0.4], "ci_ub": [0.1, 0.0]})
    >>> alt_text(moderator_plot(t)).startswith("Moderator")
    True
    """
    est, lb, ub = _interval_columns(table)
    keep = np.isfinite(est)
    if not keep.any():
        raise DataError("the moderator table has no estimates to plot")
    if _column(table, ("label", "moderator", "level", "subgroup"), "label", required=False) is None:
        table = table.rename_axis("level").reset_index()
    main = _column(table, ("label", "moderator", "level", "subgroup"), "label")
    term = "term" if "term" in table.columns else None
    labels = []
    for i in np.flatnonzero(keep):
        text = str(table[main].iloc[i])
        names = {text, str(table["moderator"].iloc[i]) if "moderator" in table.columns else text}
        if term and str(table[term].iloc[i]) in names:
            text = f"{text} (per unit)"
        elif term and str(table[term].iloc[i]) not in ("", "nan", "None", "<NA>"):
            text = f"{text}: {table[term].iloc[i]}"
        if "k" in table.columns and finite(table["k"].iloc[i]) and term is None:
            text = f"{text} (k = {int(table['k'].iloc[i])})"
        labels.append(text)
    fig = _interval_plot(labels, est[keep], lb[keep], ub[keep], xlabel=rows_interval_label(xlabel, level),
                         refline=refline, mid=None,
                         transform=transform, right=None, right_header=None, colour=OKABE_ITO["vermillion"],
                         title=title)
    clear = [labels[j] for j, i in enumerate(np.flatnonzero(keep))
             if refline is not None and (lb[i] > refline or ub[i] < refline)]
    alt = f"Moderator and subgroup estimates with {len(labels)} rows; "
    alt += ("intervals excluding no difference: " + "; ".join(clear)) if clear else \
        "every interval includes no difference"
    return set_alt(fig, alt + ".")
