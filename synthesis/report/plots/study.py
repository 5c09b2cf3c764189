"""The study-level figures in metafor's layouts (Viechtbauer 2010, J Stat Softw 36(3)):
``forest()`` (study labels left, squares sized by weight, CI lines, right-hand
"estimate [CI]" and weight columns, summary diamond, prediction interval) and the
contour-enhanced ``funnel()`` (Peters et al. 2008, J Clin Epidemiol 61:991-996).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from types import SimpleNamespace  # noqa: F401 - used by the examples
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon

from synthesis.errors import DataError
from synthesis.numbers import interval, level_percent, number, p_value, percent
from synthesis.report.plots.common import (OKABE_ITO, STYLE, favours_labels, finish_rows_axis, finite, get,
                                          new_figure, set_alt, short_name, study_arrays, transform_ticks, truncate,
                                          z_value)

__all__ = ["forest_plot", "funnel_plot"]

#: funnel contour bands from the outermost inwards (metafor: gray75, gray55), and outside them
_BAND_GREYS = ["#BFBFBF", "#8C8C8C", "#A6A6A6", "#737373", "#595959"]
_OUTSIDE = "#DEDEDE"


#: the diamond's label for each pooling method that is not a random-effects model
_COMMON_EFFECT = {"EE": "Common-effect model", "FE": "Common-effect model",
                  "MH": "Common-effect model (Mantel-Haenszel)", "PETO": "Common-effect model (Peto)"}


def model_label(method: str | None) -> str:
    """The summary row's label, matching the model that was fitted.

    Examples
    --------
    >>> model_label("EE"), model_label("REML"), model_label(None)
    ('Common-effect model', 'Random-effects model (REML)', 'Pooled estimate')
    """
    if not method:
        return "Pooled estimate"
    return _COMMON_EFFECT.get(str(method).upper(), f"Random-effects model ({method})")


def forest_plot(result: Any = None, *, yi: Any = None, vi: Any = None, labels: Sequence[Any] | None = None,
                weights: Sequence[float] | None = None, summary: Any = None,
                transform: Callable[[float], float] | None = None, xlabel: str = "Effect size",
                refline: float | None = 0.0, level: float | None = None, digits: int = 2,
                summary_label: str | None = None, show_pi: bool = True, sort: bool = False,
                title: str | None = None, favours: tuple[str, str] | None = None,
                direction: str = "higher_is_better") -> Figure:
    """Forest plot in the style of metafor's ``forest()``.

    Parameters
    ----------
    result : MetaResult-like, DataFrame or (yi, vi), optional
        A fitted model (``yi, vi, labels, weights, estimate, ci_lb, ci_ub,
        pi_lb, pi_ub, level, method``), a frame with ``yi``, ``vi`` (and
        ``study``), or a pair of arrays.
    yi, vi, labels, weights : optional
        Studies given directly (weights in percent; inverse-variance if omitted).
    summary : mapping or object, optional
        ``estimate, ci_lb, ci_ub`` (and ``pi_lb, pi_ub``) of the pooled effect;
        taken from ``result`` when it has them.
    transform : callable, optional
        Back-transformation for labels and text, e.g. ``np.exp`` for log ratios
        (the axis stays on the analysis scale, as metafor's ``atransf``).
    xlabel : str
    refline : float or None
        Reference line on the analysis scale (0 = no effect).
    level : float, optional
        Confidence level of study CIs (default: the result's, else 0.95).
    digits : int
    summary_label : str, optional
        Label of the diamond (default: from the result's ``method``, "Common-effect
        model" for EE/FE, Mantel-Haenszel and Peto, "Random-effects model (REML)" etc.).
    show_pi : bool
        Draw the prediction interval when available.
    sort : bool
        Order studies by effect size.
    title : str, optional
    favours : (str, str), optional
        The intervention and the comparison (e.g. from ``review.yaml``), written
        shortened under the axis as "← Favours ..." and "Favours ... →".
    direction : {"higher_is_better", "lower_is_better"}
        Which side of ``refline`` favours the intervention.

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> from synthesis.report.plots import alt_text
    >>> fig = forest_plot((np.array([0.1, 0.4, 0.3]), np.array([0.02, 0.03, 0.05])),
    ...                   labels=["A", "B", "C"])
    >>> type(fig).__name__, alt_text(fig).startswith("Forest plot of 3 studies")
    ('Figure', True)
    >>> fig = forest_plot(SimpleNamespace(yi=[0.1, 0.4], vi=[0.02, 0.03], estimate=0.25, ci_lb=0.1, ci_ub=0.4,
    ...                   level=0.9, method="EE"), favours=("tutoring", "usual teaching"))
    >>> print(alt_text(fig).split(". ", 2)[2])
    Pooled estimate 0.25 (90% CI 0.10 to 0.40), favouring tutoring.
    """
    y, v, labs, w = study_arrays(result, yi, vi, labels, weights)
    k = y.size
    level = float(level if level is not None else (get(result, "level", 0.95) or 0.95))
    summ = summary if summary is not None else (result if finite(get(result, "estimate")) else None)
    if w is None or w.size != k:
        w = 100 * (1 / v) / np.sum(1 / v)
    order = np.argsort(y, kind="stable") if sort else np.arange(k)
    z = z_value(level)
    lo, hi = y - z * np.sqrt(v), y + z * np.sqrt(v)
    lev = level_percent(level)

    rows = k + (3 if summ is not None else 0) + 2
    diamond_label = (summary_label or model_label(get(summ, "method"))) if summ is not None else ""
    label_width = max(2.0, 0.085 * max(len(truncate(s)) for s in labs + [f"{lev} prediction interval"]),
                      0.095 * len(diamond_label))
    fig = new_figure(label_width + 4.6 + 2.9, max(3.0, 0.32 * rows + 1.0 + (0.35 if favours else 0.0)))
    with matplotlib.rc_context(STYLE):
        ax_l, ax, ax_r = fig.subplots(1, 3, sharey=True,
                                      gridspec_kw={"width_ratios": [label_width, 4.6, 2.9]})
        fig.get_layout_engine().set(wspace=0.0, w_pad=0.02)
        for a in (ax_l, ax_r):
            a.set_xlim(0, 1)
            a.axis("off")
        ypos = np.empty(k)
        ypos[order] = np.arange(k, 0, -1)
        top = k + 1.2
        ax_l.text(0, top, "Study", fontweight="bold", va="center", ha="left")
        ax_r.text(0.02, top, f"Estimate [{lev} CI]", fontweight="bold", va="center", ha="left")
        ax_r.text(1.0, top, "Weight", fontweight="bold", va="center", ha="right")
        sizes = 25 + 220 * w / max(w.max(), 1e-12)
        ax.hlines(ypos, lo, hi, color=OKABE_ITO["black"], linewidth=1.2, zorder=2)
        ax.scatter(y, ypos, s=sizes, marker="s", color=OKABE_ITO["blue"], edgecolors="black",
                   linewidths=0.5, zorder=3)
        for i in range(k):
            ax_l.text(0, ypos[i], truncate(labs[i]), va="center", ha="left")
            ax_r.text(0.02, ypos[i], f"{number(y[i], digits, transform)} [{number(lo[i], digits, transform)}, "
                      f"{number(hi[i], digits, transform)}]", va="center", ha="left", family="monospace")
            ax_r.text(1.0, ypos[i], percent(w[i], 1), va="center", ha="right", family="monospace")
        ymin = 0.3
        finding = ""
        if summ is not None:
            est, slb, sub = (float(get(summ, n)) for n in ("estimate", "ci_lb", "ci_ub"))
            yd = -0.6
            ax.add_patch(Polygon([(slb, yd), (est, yd + 0.38), (sub, yd), (est, yd - 0.38)], closed=True,
                                 facecolor=OKABE_ITO["black"], edgecolor="black", zorder=3))
            ax_l.text(0, yd, diamond_label, va="center", ha="left", fontweight="bold")
            ax_r.text(0.02, yd, f"{number(est, digits, transform)} [{number(slb, digits, transform)}, "
                      f"{number(sub, digits, transform)}]", va="center", ha="left", fontweight="bold",
                      family="monospace")
            ax_r.text(1.0, yd, "100%", va="center", ha="right", fontweight="bold", family="monospace")
            finding = (f" Pooled estimate {number(est, digits, transform)} ({lev} CI "
                       f"{interval(slb, sub, digits, transform)})")
            if favours and refline is not None and (slb > refline or sub < refline):
                upper = (slb > refline) == (direction != "lower_is_better")
                finding += f", favouring {short_name(favours[0] if upper else favours[1])}"
            ymin = yd - 0.7
            pl, pu = get(summ, "pi_lb"), get(summ, "pi_ub")
            if show_pi and finite(pl) and finite(pu):
                yp = yd - 1.0
                ax.hlines(yp, float(pl), float(pu), color=OKABE_ITO["vermillion"], linewidth=2.5, zorder=3)
                ax.vlines([float(pl), float(pu)], yp - 0.22, yp + 0.22, color=OKABE_ITO["vermillion"],
                          linewidth=2.5, zorder=3)
                ax_l.text(0, yp, f"{lev} prediction interval", va="center", ha="left")
                ax_r.text(0.02, yp, f"[{number(pl, digits, transform)}, {number(pu, digits, transform)}]",
                          va="center", ha="left", family="monospace")
                finding += (f"; in a new setting the effect is expected between {number(pl, digits, transform)}"
                            f" and {number(pu, digits, transform)}")
                ymin = yp - 0.7
            finding += "."
        if refline is not None:
            ax.axvline(refline, color="#555555", linestyle="--", linewidth=1, zorder=1)
        finish_rows_axis(fig, ax, (ymin, top + 0.7), xlabel, transform, title)
        if refline is not None:
            favours_labels(ax, refline, favours, direction)
    alt = (f"Forest plot of {k} {'study' if k == 1 else 'studies'} ({xlabel}). Study estimates range from "
           f"{interval(y.min(), y.max(), digits, transform)}." + finding)
    return set_alt(fig, alt)


# ---------------------------------------------------------------- funnel
def funnel_plot(yi: Any, vi: Any = None, *, estimate: float | None = None,
                contours: Sequence[float] = (0.90, 0.95, 0.99), refline: float = 0.0,
                filled: pd.DataFrame | None = None, transform: Callable[[float], float] | None = None,
                xlabel: str = "Effect size", egger_p: float | None = None, title: str | None = None) -> Figure:
    """Contour-enhanced funnel plot (metafor ``funnel(level=c(90, 95, 99), refline=0)``).

    Studies are plotted as effect against standard error (0 at the top).
    Grey regions show where a study would be statistically significant
    (two-sided) when centred at ``refline``: white p > 0.10, dark grey
    0.05 < p <= 0.10, mid grey 0.01 < p <= 0.05, light grey p <= 0.01.

    Parameters
    ----------
    yi : array-like or MetaResult-like
        Effect sizes, or a result with ``yi``, ``vi`` (and ``estimate``).
    vi : array-like, optional
        Sampling variances (when ``yi`` is an array).
    estimate : float, optional
        Pooled estimate, drawn as a vertical line.
    contours : sequence of float
        Confidence levels of the contours.
    refline : float
        Centre of the contours (0 = no effect).
    filled : DataFrame, optional
        Trim-and-fill studies (``yi``, ``vi``), drawn as open circles.
    transform : callable, optional
        Back-transformation for tick labels (e.g. ``np.exp``).
    egger_p : float, optional
        Egger's test p-value, added to the alt text.

    Examples
    --------
    >>> from synthesis.report.plots import alt_text
    >>> fig = funnel_plot([0.1, 0.5, 0.3, 0.8], [0.01, 0.04, 0.02, 0.09])
    >>> "4 studies" in alt_text(fig)
    True
    """
    if vi is None:
        if estimate is None and finite(get(yi, "estimate")):
            estimate = float(get(yi, "estimate"))
        y, v, _, _ = study_arrays(yi, None, None, None, None)
    else:
        y, v, _, _ = study_arrays(None, yi, vi, None, None)
    levels = sorted({float(c) / 100 if c > 1 else float(c) for c in contours}, reverse=True)
    if not levels or not all(0 < c < 1 for c in levels) or len(levels) > len(_BAND_GREYS) + 1:
        raise DataError(f"contours must be 1 to {len(_BAND_GREYS) + 1} confidence levels between 0 and 1, "
                        f"got {list(contours)!r}")
    se = np.sqrt(v)
    extra_se = np.sqrt(np.asarray(filled["vi"], dtype=float)) if filled is not None and len(filled) else np.array([])
    se_max = 1.08 * max(se.max(), extra_se.max() if extra_se.size else 0.0)
    grid = np.linspace(0, se_max, 200)
    fig = new_figure(7.0, 5.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_facecolor(_OUTSIDE)
        bands = _BAND_GREYS[: len(levels) - 1] + ["#FFFFFF"]  # outermost band first, innermost white
        for c, colour in zip(levels, bands):
            zc = z_value(c)
            ax.fill_betweenx(grid, refline - zc * grid, refline + zc * grid, color=colour, zorder=1,
                             linewidth=0)
        handles = [Patch(facecolor="#FFFFFF", edgecolor="#444444", label=f"p > {number(1 - levels[-1])}")]
        for i in range(len(levels) - 2, -1, -1):
            handles.append(Patch(facecolor=bands[i], edgecolor="#444444",
                                 label=f"{number(1 - levels[i])} < p ≤ {number(1 - levels[i + 1])}"))
        handles.append(Patch(facecolor=_OUTSIDE, edgecolor="#444444", label=f"p ≤ {number(1 - levels[0])}"))
        ax.scatter(y, se, s=36, color=OKABE_ITO["black"], zorder=3, label="Studies")
        if extra_se.size:
            ax.scatter(np.asarray(filled["yi"], dtype=float), extra_se, s=36, facecolors="white",
                       edgecolors=OKABE_ITO["black"], zorder=3, label="Filled (trim-and-fill)")
        if estimate is not None:
            ax.axvline(float(estimate), color=OKABE_ITO["blue"], linewidth=1.8, zorder=2,
                       label="Pooled estimate")
        z_out = z_value(levels[0])
        half = max(np.max(np.abs(y - refline)), z_out * se_max) * 1.05
        ax.set_xlim(refline - half, refline + half)
        ax.set_ylim(se_max, 0)
        ax.set_ylabel("Standard error")
        ax.set_xlabel(xlabel)
        transform_ticks(ax, transform)
        point_handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + point_handles, loc="lower left", bbox_to_anchor=(1.01, 0.0),
                  frameon=False)
        if title:
            ax.set_title(title, fontweight="bold")
    z95 = z_value(0.95)
    n_sig = int(np.sum(np.abs(y - refline) / se > z95))
    k = y.size
    alt = (f"Contour-enhanced funnel plot of {k} studies, effect ({xlabel}) against standard error: "
           f"{n_sig} of {k} lie in the regions where a study is statistically significant at p < 0.05.")
    if estimate is not None:
        alt += f" Pooled estimate {number(float(estimate), transform=transform)}."
    if extra_se.size:
        alt += f" Trim-and-fill added {extra_se.size} {'study' if extra_se.size == 1 else 'studies'}."
    if finite(egger_p):
        alt += f" Egger's test for asymmetry p = {p_value(egger_p)}."
    return set_alt(fig, alt)
