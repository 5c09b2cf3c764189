"""Shared parts of the report's figures: palette, style, alt text, axes and embedding.

Every plotting function of :mod:`synthesis.report.plots` returns a
:class:`matplotlib.figure.Figure` built without pyplot (no global state; the
Agg canvas renders it), in the Okabe-Ito colour-blind-safe palette (Okabe &
Ito 2008, *Color Universal Design*), with fonts large enough to print. Each
figure carries an alt text that states its finding (:func:`alt_text`), which
:func:`synthesis.report.plots.embed.figure_to_html` uses to embed the figure
in the page. Numbers in alt texts, legends and labels are
shown with :mod:`synthesis.numbers`, like everywhere else on the page.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter
from scipy import stats

from synthesis.errors import DataError
from synthesis.numbers import level_percent

__all__ = ["OKABE_ITO", "STYLE", "alt_text", "short_name"]

#: Okabe-Ito palette (colour-blind safe)
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
#: matplotlib settings applied while a figure is built (print-readable sizes)
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "axes.spines.top": False,
         "axes.spines.right": False, "svg.fonttype": "none", "svg.hashsalt": "synthesis",
         "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial"],
         "font.monospace": ["DejaVu Sans Mono", "Liberation Mono", "Courier New"]}
#: funnel contour bands from the outermost inwards (metafor: gray75, gray55), and outside them
_BAND_GREYS = ["#BFBFBF", "#8C8C8C", "#A6A6A6", "#737373", "#595959"]
_OUTSIDE = "#DEDEDE"
_ALT_ATTR = "synthesis_alt"


# ---------------------------------------------------------------- helpers
def set_alt(fig: Figure, text: str) -> Figure:
    setattr(fig, _ALT_ATTR, text)
    return fig


def alt_text(fig: Figure) -> str | None:
    """The alt text a plotting function attached to ``fig`` (None if none)."""
    return getattr(fig, _ALT_ATTR, None)



def get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def transform_ticks(ax: Any, transform: Callable[[float], float] | None) -> None:
    """Label the x axis on the back-transformed scale (metafor's ``atransf``).

    For ``exp`` (log ratios) the ticks sit at round ratios (0.1, 0.2, 0.5, 1,
    2, 5, ...); for other transforms the existing ticks are relabelled.
    """
    if transform is None:
        return
    if transform in (np.exp, math.exp):
        lo, hi = ax.get_xlim()
        for mantissas in ((1, 2, 5), (1, 5), (1,), (1, 2, 3, 4, 5, 6, 7, 8, 9),
                          (1, 1.2, 1.4, 1.6, 1.8, 2, 2.5, 3, 4, 5, 6, 7, 8, 9)):
            nice = np.array([m * 10.0 ** e for e in range(-4, 5) for m in mantissas])
            inside = nice[(np.log(nice) >= lo) & (np.log(nice) <= hi)]
            if 3 <= inside.size <= 9:
                ax.set_xticks(np.log(inside))
                ax.set_xticklabels([f"{v:g}" for v in inside])
                ax.set_xlim(lo, hi)
                return
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _pos: f"{float(transform(x)):.3g}"))


def finish_rows_axis(fig: Figure, ax: Any, ylim: tuple[float, float], xlabel: str,
                      transform: Callable[[float], float] | None, title: str | None) -> None:
    """Shared finish of the one-row-per-item plots: no y axis, x label, back-transformed ticks, title."""
    ax.set_ylim(*ylim)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel)
    transform_ticks(ax, transform)
    if title:
        fig.suptitle(title, fontweight="bold")


def new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained", facecolor="white")


def truncate(label: str, n: int = 45) -> str:
    """A label as drawn in a figure: cut at ``n`` characters, ``$`` escaped for matplotlib's mathtext.

    A study label such as ``"Smith $2$"`` is shown as written, never typeset as maths.

    Examples
    --------
    >>> print(truncate("Smith $2$ (2020)"))
    Smith \\$2\\$ (2020)
    >>> truncate("a" * 50, 5)
    'aaaa…'
    """
    text = label if len(label) <= n else label[: n - 1] + "…"
    return text.replace("$", r"\$")


def study_arrays(obj: Any, yi: Any, vi: Any, labels: Any, weights: Any
                  ) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray | None]:
    if obj is not None:
        if isinstance(obj, pd.DataFrame):
            yi, vi = obj["yi"].to_numpy(), obj["vi"].to_numpy()
            if labels is None and "study" in obj.columns:
                labels = obj["study"].tolist()
            if weights is None and "weights" in obj.columns:
                weights = obj["weights"].to_numpy()
        elif isinstance(obj, (tuple, list)) and len(obj) == 2:
            yi, vi = obj
        else:
            yi, vi = get(obj, "yi"), get(obj, "vi")
            if labels is None:
                labels = get(obj, "labels")
            if weights is None:
                weights = get(obj, "weights")
    if yi is None or vi is None:
        raise DataError("give a result (with yi and vi), a (yi, vi) pair or yi= and vi=")
    y, v = np.asarray(yi, dtype=float).ravel(), np.asarray(vi, dtype=float).ravel()
    if y.shape != v.shape or y.size == 0:
        raise DataError(f"yi and vi must be non-empty and of equal length (got {y.size} and {v.size})")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(v)) and np.all(v > 0)):
        raise DataError("yi must be finite and vi finite and positive for plotting")
    labs = [f"Study {i}" for i in range(1, y.size + 1)] if labels is None else [str(x) for x in labels]
    if len(labs) != y.size:
        raise DataError(f"{len(labs)} labels for {y.size} studies")
    w = None if weights is None else np.asarray(weights, dtype=float).ravel()
    return y, v, labs, w


def z_value(level: float) -> float:
    lev = level / 100 if level > 1 else level
    return float(stats.norm.ppf(1 - (1 - lev) / 2))


def short_name(text: str, n: int = 32) -> str:
    """A review's intervention or comparison as short enough for a figure's "favours ..." label.

    The text is cut at its first bracket, comma or semicolon, then at a word
    boundary before ``n`` characters; the first letter is lowercased unless the
    first word is an acronym.

    Examples
    --------
    >>> short_name("Usual care, without a facilitator")
    'usual care'
    >>> short_name("implementation strategies (audit and feedback, reminders)")
    'implementation strategies'
    >>> short_name("The same subject taught conventionally in secondary schools")
    'the same subject taught…'
    >>> short_name("CBT programmes")
    'CBT programmes'
    """
    text = " ".join(str(text).split())
    for stop in (" (", ",", ";"):
        text = text.split(stop, 1)[0]
    text = text.strip()
    if len(text) > n:
        text = text[: n - 1].rsplit(" ", 1)[0].rstrip(" ,;:-") + "…"
    first = text.split(" ", 1)[0]
    if len(first) > 1 and not first[1].isupper():
        text = text[:1].lower() + text[1:]
    return text


def favours_labels(ax: Any, refline: float, favours: tuple[str, str] | None, direction: str) -> None:
    """Write "← Favours ..." and "Favours ... →" under the x axis, either side of the line of no effect.

    ``favours`` is ``(intervention, comparison)``; with ``direction`` =
    ``"higher_is_better"`` the intervention is favoured to the right of
    ``refline``, with ``"lower_is_better"`` to the left. Nothing is drawn
    without ``favours``.
    """
    if not favours:
        return
    intervention, comparison = (truncate(short_name(s), 60) for s in favours)
    left, right = (comparison, intervention) if direction != "lower_is_better" else (intervention, comparison)
    xy_axis = ("data", "axes fraction")
    for text, offset, ha in ((f"← Favours {left}", -4, "right"), (f"Favours {right} →", 4, "left")):
        label = ax.annotate(text, xy=(refline, 0), xycoords=xy_axis, xytext=(offset, -24),
                            textcoords="offset points", ha=ha, va="top", fontsize=10, color="#333333",
                            annotation_clip=False)
        label.set_in_layout(False)  # may run under the neighbouring columns, which are empty there
    ax.xaxis.labelpad = 18


def rows_interval_label(xlabel: str, level: float, kind: str = "confidence") -> str:
    """An x label that says what the bars are, at the level in use (never a hard-coded 95%).

    The level goes on a second line, so a long label still fits under the axis.

    Examples
    --------
    >>> print(rows_interval_label("Odds ratio", 0.9))
    Odds ratio
    (bars: 90% confidence intervals)
    """
    return f"{xlabel}\n(bars: {level_percent(level)} {kind} intervals)"
