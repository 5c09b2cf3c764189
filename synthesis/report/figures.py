"""Figures for the report: forest, contour-enhanced funnel, posterior, strategies, moderators.

Every function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state; the Agg canvas renders it), in the Okabe-Ito
colour-blind-safe palette (Okabe & Ito 2008, *Color Universal Design*), with
fonts large enough to print. Each figure carries an alt text that states its
finding (:func:`alt_text`), which :func:`figure_to_html` uses to embed the
figure as a PNG data URI.

Layouts follow R metafor (Viechtbauer 2010, J Stat Softw 36(3)): ``forest()``
(study labels left, squares sized by weight, CI lines, right-hand
"estimate [CI]" and weight columns, summary diamond, prediction interval)
and the contour-enhanced ``funnel()`` (Peters et al. 2008, J Clin Epidemiol
61:991-996).
"""
from __future__ import annotations

import base64
import html
import io
import math
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Polygon
from matplotlib.ticker import FuncFormatter
from scipy import integrate, stats

from synthesis.errors import DataError
from synthesis.grading.units import format_probability

__all__ = ["OKABE_ITO", "forest_plot", "funnel_plot", "posterior_plot", "strategy_plot",
           "moderator_plot", "figure_to_html", "alt_text"]

#: Okabe-Ito palette (colour-blind safe)
OKABE_ITO = {"black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
             "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7"}
#: matplotlib settings applied while a figure is built (print-readable sizes)
STYLE = {"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "xtick.labelsize": 10,
         "ytick.labelsize": 10, "legend.fontsize": 10, "axes.spines.top": False,
         "axes.spines.right": False, "svg.fonttype": "none"}
#: funnel contour bands from the outermost inwards (metafor: gray75, gray55), and outside them
_BAND_GREYS = ["#BFBFBF", "#8C8C8C", "#A6A6A6", "#737373", "#595959"]
_OUTSIDE = "#DEDEDE"
_ALT_ATTR = "synthesis_alt"


# ---------------------------------------------------------------- helpers
def _set_alt(fig: Figure, text: str) -> Figure:
    setattr(fig, _ALT_ATTR, text)
    return fig


def alt_text(fig: Figure) -> str | None:
    """The alt text a plotting function attached to ``fig`` (None if none)."""
    return getattr(fig, _ALT_ATTR, None)


def _fmt(x: float, transform: Callable[[float], float] | None = None, digits: int = 2) -> str:
    value = float(transform(x)) if transform is not None else float(x)
    text = f"{value:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _finite(x: Any) -> bool:
    try:
        return x is not None and math.isfinite(float(x))
    except (TypeError, ValueError):
        return False


def _transform_ticks(ax: Any, transform: Callable[[float], float] | None) -> None:
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


def _finish_rows_axis(fig: Figure, ax: Any, ylim: tuple[float, float], xlabel: str,
                      transform: Callable[[float], float] | None, title: str | None) -> None:
    """Shared finish of the one-row-per-item plots: no y axis, x label, back-transformed ticks, title."""
    ax.set_ylim(*ylim)
    ax.set_yticks([])
    ax.spines["left"].set_visible(False)
    ax.set_xlabel(xlabel)
    _transform_ticks(ax, transform)
    if title:
        fig.suptitle(title, fontweight="bold")


def _new_figure(width: float, height: float) -> Figure:
    with matplotlib.rc_context(STYLE):
        return Figure(figsize=(width, height), layout="constrained", facecolor="white")


def _truncate(label: str, n: int = 45) -> str:
    return label if len(label) <= n else label[: n - 1] + "…"


def _study_arrays(obj: Any, yi: Any, vi: Any, labels: Any, weights: Any
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
            yi, vi = _get(obj, "yi"), _get(obj, "vi")
            if labels is None:
                labels = _get(obj, "labels")
            if weights is None:
                weights = _get(obj, "weights")
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


def _z(level: float) -> float:
    lev = level / 100 if level > 1 else level
    return float(stats.norm.ppf(1 - (1 - lev) / 2))


# ---------------------------------------------------------------- forest
def forest_plot(result: Any = None, *, yi: Any = None, vi: Any = None, labels: Sequence[Any] | None = None,
                weights: Sequence[float] | None = None, summary: Any = None,
                transform: Callable[[float], float] | None = None, xlabel: str = "Effect size",
                refline: float | None = 0.0, level: float | None = None, digits: int = 2,
                summary_label: str | None = None, show_pi: bool = True, sort: bool = False,
                title: str | None = None) -> Figure:
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
        Label of the diamond (default "Random-effects model (REML)" etc.).
    show_pi : bool
        Draw the prediction interval when available.
    sort : bool
        Order studies by effect size.
    title : str, optional

    Returns
    -------
    matplotlib.figure.Figure

    Examples
    --------
    >>> fig = forest_plot((np.array([0.1, 0.4, 0.3]), np.array([0.02, 0.03, 0.05])),
    ...                   labels=["A", "B", "C"])
    >>> type(fig).__name__, alt_text(fig).startswith("Forest plot of 3 studies")
    ('Figure', True)
    """
    y, v, labs, w = _study_arrays(result, yi, vi, labels, weights)
    k = y.size
    level = float(level if level is not None else (_get(result, "level", 0.95) or 0.95))
    summ = summary if summary is not None else (result if _finite(_get(result, "estimate")) else None)
    if w is None or w.size != k:
        w = 100 * (1 / v) / np.sum(1 / v)
    order = np.argsort(y, kind="stable") if sort else np.arange(k)
    z = _z(level)
    lo, hi = y - z * np.sqrt(v), y + z * np.sqrt(v)
    lev = f"{100 * (level if level <= 1 else level / 100):g}%"

    rows = k + (3 if summ is not None else 0) + 2
    label_width = max(2.0, 0.085 * max(len(_truncate(s)) for s in labs + ["Prediction interval"]))
    fig = _new_figure(label_width + 4.6 + 2.9, max(3.0, 0.32 * rows + 1.0))
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
            ax_l.text(0, ypos[i], _truncate(labs[i]), va="center", ha="left")
            ax_r.text(0.02, ypos[i], f"{_fmt(y[i], transform, digits)} [{_fmt(lo[i], transform, digits)}, "
                      f"{_fmt(hi[i], transform, digits)}]", va="center", ha="left", family="monospace")
            ax_r.text(1.0, ypos[i], f"{w[i]:.1f}%", va="center", ha="right", family="monospace")
        ymin = 0.3
        finding = ""
        if summ is not None:
            est, slb, sub = (float(_get(summ, n)) for n in ("estimate", "ci_lb", "ci_ub"))
            yd = -0.6
            ax.add_patch(Polygon([(slb, yd), (est, yd + 0.38), (sub, yd), (est, yd - 0.38)], closed=True,
                                 facecolor=OKABE_ITO["black"], edgecolor="black", zorder=3))
            method = _get(summ, "method")
            default_label = ("Common-effect model" if method in ("EE", "FE") else
                             f"Random-effects model ({method})" if method else "Pooled estimate")
            ax_l.text(0, yd, summary_label or default_label, va="center", ha="left", fontweight="bold")
            ax_r.text(0.02, yd, f"{_fmt(est, transform, digits)} [{_fmt(slb, transform, digits)}, "
                      f"{_fmt(sub, transform, digits)}]", va="center", ha="left", fontweight="bold",
                      family="monospace")
            ax_r.text(1.0, yd, "100%", va="center", ha="right", fontweight="bold", family="monospace")
            finding = (f" Pooled estimate {_fmt(est, transform, digits)} ({lev} CI "
                       f"{_fmt(slb, transform, digits)} to {_fmt(sub, transform, digits)})")
            ymin = yd - 0.7
            pl, pu = _get(summ, "pi_lb"), _get(summ, "pi_ub")
            if show_pi and _finite(pl) and _finite(pu):
                yp = yd - 1.0
                ax.hlines(yp, float(pl), float(pu), color=OKABE_ITO["vermillion"], linewidth=2.5, zorder=3)
                ax.vlines([float(pl), float(pu)], yp - 0.22, yp + 0.22, color=OKABE_ITO["vermillion"],
                          linewidth=2.5, zorder=3)
                ax_l.text(0, yp, "Prediction interval", va="center", ha="left")
                ax_r.text(0.02, yp, f"[{_fmt(pl, transform, digits)}, {_fmt(pu, transform, digits)}]",
                          va="center", ha="left", family="monospace")
                finding += (f"; in a new setting the effect is expected between {_fmt(pl, transform, digits)}"
                            f" and {_fmt(pu, transform, digits)}")
                ymin = yp - 0.7
            finding += "."
        if refline is not None:
            ax.axvline(refline, color="#555555", linestyle="--", linewidth=1, zorder=1)
        _finish_rows_axis(fig, ax, (ymin, top + 0.7), xlabel, transform, title)
    alt = (f"Forest plot of {k} {'study' if k == 1 else 'studies'} ({xlabel}). Study estimates range from "
           f"{_fmt(y.min(), transform, digits)} to {_fmt(y.max(), transform, digits)}." + finding)
    return _set_alt(fig, alt)


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
    >>> fig = funnel_plot([0.1, 0.5, 0.3, 0.8], [0.01, 0.04, 0.02, 0.09])
    >>> "4 studies" in alt_text(fig)
    True
    """
    if vi is None:
        if estimate is None and _finite(_get(yi, "estimate")):
            estimate = float(_get(yi, "estimate"))
        y, v, _, _ = _study_arrays(yi, None, None, None, None)
    else:
        y, v, _, _ = _study_arrays(None, yi, vi, None, None)
    levels = sorted({float(c) / 100 if c > 1 else float(c) for c in contours}, reverse=True)
    if not levels or not all(0 < c < 1 for c in levels) or len(levels) > len(_BAND_GREYS) + 1:
        raise DataError(f"contours must be 1 to {len(_BAND_GREYS) + 1} confidence levels between 0 and 1, "
                        f"got {list(contours)!r}")
    se = np.sqrt(v)
    extra_se = np.sqrt(np.asarray(filled["vi"], dtype=float)) if filled is not None and len(filled) else np.array([])
    se_max = 1.08 * max(se.max(), extra_se.max() if extra_se.size else 0.0)
    grid = np.linspace(0, se_max, 200)
    fig = _new_figure(7.0, 5.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.set_facecolor(_OUTSIDE)
        bands = _BAND_GREYS[: len(levels) - 1] + ["#FFFFFF"]  # outermost band first, innermost white
        for c, colour in zip(levels, bands):
            zc = _z(c)
            ax.fill_betweenx(grid, refline - zc * grid, refline + zc * grid, color=colour, zorder=1,
                             linewidth=0)
        handles = [Patch(facecolor="#FFFFFF", edgecolor="#444444", label=f"p > {1 - levels[-1]:.2f}")]
        for i in range(len(levels) - 2, -1, -1):
            handles.append(Patch(facecolor=bands[i], edgecolor="#444444",
                                 label=f"{1 - levels[i]:.2f} < p ≤ {1 - levels[i + 1]:.2f}"))
        handles.append(Patch(facecolor=_OUTSIDE, edgecolor="#444444", label=f"p ≤ {1 - levels[0]:.2f}"))
        ax.scatter(y, se, s=36, color=OKABE_ITO["black"], zorder=3, label="Studies")
        if extra_se.size:
            ax.scatter(np.asarray(filled["yi"], dtype=float), extra_se, s=36, facecolors="white",
                       edgecolors=OKABE_ITO["black"], zorder=3, label="Filled (trim-and-fill)")
        if estimate is not None:
            ax.axvline(float(estimate), color=OKABE_ITO["blue"], linewidth=1.8, zorder=2,
                       label="Pooled estimate")
        z_out = _z(levels[0])
        half = max(np.max(np.abs(y - refline)), z_out * se_max) * 1.05
        ax.set_xlim(refline - half, refline + half)
        ax.set_ylim(se_max, 0)
        ax.set_ylabel("Standard error")
        ax.set_xlabel(xlabel)
        _transform_ticks(ax, transform)
        point_handles, _ = ax.get_legend_handles_labels()
        ax.legend(handles=handles + point_handles, loc="lower left", bbox_to_anchor=(1.01, 0.0),
                  frameon=False)
        if title:
            ax.set_title(title, fontweight="bold")
    z95 = _z(0.95)
    n_sig = int(np.sum(np.abs(y - refline) / se > z95))
    k = y.size
    alt = (f"Contour-enhanced funnel plot of {k} studies, effect ({xlabel}) against standard error: "
           f"{n_sig} of {k} lie in the regions where a study is statistically significant at p < 0.05.")
    if estimate is not None:
        alt += f" Pooled estimate {_fmt(float(estimate), transform)}."
    if extra_se.size:
        alt += f" Trim-and-fill added {extra_se.size} {'study' if extra_se.size == 1 else 'studies'}."
    if _finite(egger_p):
        alt += f" Egger's test for asymmetry p = {float(egger_p):.3f}."
    return _set_alt(fig, alt)


# ---------------------------------------------------------------- posterior
def _density(obj: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    if isinstance(obj, pd.DataFrame):
        return obj["value"].to_numpy(float), obj["density"].to_numpy(float), None
    if isinstance(obj, tuple) and len(obj) == 2:
        return np.asarray(obj[0], float), np.asarray(obj[1], float), None
    draws = np.asarray(obj, dtype=float).ravel()
    draws = draws[np.isfinite(draws)]
    if draws.size < 10:
        raise DataError(f"posterior_plot needs at least 10 finite draws, got {draws.size}")
    lo, hi = np.quantile(draws, [0.0005, 0.9995])
    pad = 0.1 * (hi - lo) if hi > lo else 1.0
    x = np.linspace(lo - pad, hi + pad, 400)
    if np.ptp(draws) == 0:
        raise DataError("posterior draws are all identical; nothing to plot")
    return x, stats.gaussian_kde(draws)(x), draws


def _prob_beyond(x: np.ndarray, dens: np.ndarray, draws: np.ndarray | None, threshold: float,
                 upper: bool) -> float:
    if draws is not None:
        return float(np.mean(draws > threshold) if upper else np.mean(draws < threshold))
    total = integrate.trapezoid(dens, x)
    mask = x > threshold if upper else x < threshold
    if mask.sum() < 2:
        return 0.0
    return float(integrate.trapezoid(dens[mask], x[mask]) / total)


def posterior_plot(draws_or_density: Any, *, mid: float | None = None, null: float = 0.0,
                   direction: str = "higher_is_better", xlabel: str = "Average effect",
                   transform: Callable[[float], float] | None = None, title: str | None = None) -> Figure:
    """Posterior of the effect with no effect and the MID marked; P(beyond MID) shaded.

    Parameters
    ----------
    draws_or_density : array-like, DataFrame or (x, density)
        Posterior draws (smoothed with a Gaussian KDE), a frame with
        ``value`` and ``density`` (e.g. ``ExactResult.density()``) or a pair.
    mid : float, optional
        Minimal important difference (positive magnitude, analysis scale).
    null : float
        Value of no effect.
    direction : {"higher_is_better", "lower_is_better"}
        Which side is benefit.
    transform : callable, optional
        Back-transformation for tick labels.

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> fig = posterior_plot(rng.normal(0.2, 0.1, 4000), mid=0.1)
    >>> "chance" in alt_text(fig)
    True
    """
    if direction not in ("higher_is_better", "lower_is_better"):
        raise DataError(f"direction must be higher_is_better or lower_is_better, got {direction!r}")
    x, dens, draws = _density(draws_or_density)
    upper = direction == "higher_is_better"
    sign = 1.0 if upper else -1.0
    p0 = _prob_beyond(x, dens, draws, null, upper)
    fig = _new_figure(7.0, 4.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.plot(x, dens, color=OKABE_ITO["black"], linewidth=1.8)
        benefit = x > null if upper else x < null
        ax.fill_between(x, 0, dens, where=benefit, color=OKABE_ITO["sky_blue"], alpha=0.55, linewidth=0,
                        label=f"Benefit below the MID" if _finite(mid) and float(mid) != 0 else
                        f"Any benefit: {format_probability(p0)}")
        alt = f"Posterior distribution of the {xlabel.lower()}: {format_probability(p0)} chance of any benefit"
        if _finite(mid) and float(mid) != 0:
            thr = null + sign * abs(float(mid))
            pm = _prob_beyond(x, dens, draws, thr, upper)
            beyond = x > thr if upper else x < thr
            ax.fill_between(x, 0, dens, where=beyond, color=OKABE_ITO["green"], alpha=0.8, linewidth=0,
                            label=f"Benefit ≥ MID ({_fmt(thr, transform)}): {format_probability(pm)}")
            ax.plot([], [], " ", label=f"Any benefit (both shaded): {format_probability(p0)}")
            ax.axvline(thr, color=OKABE_ITO["vermillion"], linestyle=":", linewidth=2,
                       label="Minimal important difference")
            alt += (f" and {format_probability(pm)} chance of a benefit at least as large as the minimal important "
                    f"difference ({_fmt(thr, transform)})")
        ax.axvline(null, color="#333333", linestyle="--", linewidth=1.3, label="No effect")
        ax.set_ylim(0, dens.max() * 1.08)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Posterior density")
        _transform_ticks(ax, transform)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        if title:
            ax.set_title(title, fontweight="bold")
    return _set_alt(fig, alt + ".")


# ---------------------------------------------------------------- interval plots
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
    width_l = max(1.8, 0.085 * max(len(_truncate(s)) for s in labels))
    has_right = right is not None
    fig = _new_figure(width_l + 4.6 + (1.8 if has_right else 0.0), max(2.6, 0.42 * n + 1.3))
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
            ax_l.text(0, ypos[i], _truncate(labels[i]), va="center", ha="left")
            if has_right:
                axes[2].text(0.05, ypos[i], right[i], va="center", ha="left", family="monospace")
        if has_right and right_header:
            axes[2].text(0.05, n + 0.9, right_header, va="center", ha="left", fontweight="bold")
        ok = np.isfinite(lb) & np.isfinite(ub)
        ax.hlines(ypos[ok], lb[ok], ub[ok], color=colour, linewidth=2.2, zorder=2)
        ax.scatter(est, ypos, s=55, color=colour, edgecolors="black", linewidths=0.6, zorder=3)
        if refline is not None:
            ax.axvline(refline, color="#555555", linestyle="--", linewidth=1, zorder=1)
        if _finite(mid) and float(mid) != 0:
            ax.axvline(float(mid), color=OKABE_ITO["vermillion"], linestyle=":", linewidth=2, zorder=1)
            ax.text(float(mid), n + 0.75, " Minimal important difference", color="#A04000", ha="left",
                    va="center", fontsize=9)
        if refline is not None:
            ax.text(refline, n + 0.75, "No effect ", color="#333333", ha="right", va="center", fontsize=9)
        _finish_rows_axis(fig, ax, (0.4, n + 1.1), xlabel, transform, title)
    return fig


def _interval_columns(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    est = _column(table, ("estimate", "mean", "coef"), "estimate")
    lb = _column(table, ("ci_lb", "eti_lb", "hdi_lb"), "lower bound")
    ub = _column(table, ("ci_ub", "eti_ub", "hdi_ub"), "upper bound")
    est_v, lb_v, ub_v = (pd.to_numeric(table[c], errors="coerce").to_numpy(float) for c in (est, lb, ub))
    return est_v, lb_v, ub_v


def strategy_plot(table: pd.DataFrame, *, label: str | None = None, higher_is_better: bool = True,
                  mid: float | None = None, refline: float | None = 0.0, xlabel: str = "Effect",
                  transform: Callable[[float], float] | None = None, title: str | None = None) -> Figure:
    """Strategies ranked by estimated effect, each with its interval (not a bare rank).

    Parameters
    ----------
    table : DataFrame
        One row per strategy: a label column (``strategy``, ``label`` or the
        index), ``estimate``/``mean``, ``ci_lb``/``eti_lb``/``hdi_lb`` and the
        matching upper bound; optional ``prob_best`` (0-1) shown on the right.
    higher_is_better : bool
        Ranking direction.

    Examples
    --------
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
        right = [format_probability(float(table[pb].iloc[i])) for i in order]
    fig = _interval_plot(labels, est[order], lb[order], ub[order], xlabel=xlabel, refline=refline,
                         mid=mid, transform=transform, right=right,
                         right_header="Chance best" if right else None, colour=OKABE_ITO["blue"], title=title)
    top = order[0]
    alt = (f"Strategies ranked by estimated effect: {table[lab_col].iloc[top]} ranks first with "
           f"{_fmt(est[top], transform)} ({_fmt(lb[top], transform)} to {_fmt(ub[top], transform)})")
    overlap = int(np.sum(ub[order[1:]] > lb[top])) if len(order) > 1 else 0
    if len(order) > 1:
        alt += f"; the intervals of {overlap} of the other {len(order) - 1} strategies overlap with it"
    return _set_alt(fig, alt + ".")


def moderator_plot(table: pd.DataFrame, *, xlabel: str = "Difference in effect",
                   refline: float | None = 0.0, transform: Callable[[float], float] | None = None,
                   title: str | None = None) -> Figure:
    """Moderator or subgroup estimates with intervals.

    Parameters
    ----------
    table : DataFrame
        Either moderator rows (``label`` or ``moderator``, ``term``,
        ``estimate``, ``ci_lb``, ``ci_ub``; as ``analysis.moderator_table``)
        or subgroup rows (``level``/``subgroup``, ``estimate``, ``ci_lb``,
        ``ci_ub``, optional ``k``). Rows without an estimate are skipped.

    Examples
    --------
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
        if "k" in table.columns and _finite(table["k"].iloc[i]) and term is None:
            text = f"{text} (k = {int(table['k'].iloc[i])})"
        labels.append(text)
    fig = _interval_plot(labels, est[keep], lb[keep], ub[keep], xlabel=xlabel, refline=refline, mid=None,
                         transform=transform, right=None, right_header=None, colour=OKABE_ITO["vermillion"],
                         title=title)
    clear = [labels[j] for j, i in enumerate(np.flatnonzero(keep))
             if refline is not None and (lb[i] > refline or ub[i] < refline)]
    alt = f"Moderator and subgroup estimates with {len(labels)} rows; "
    alt += ("intervals excluding no difference: " + "; ".join(clear)) if clear else \
        "every interval includes no difference"
    return _set_alt(fig, alt + ".")


# ---------------------------------------------------------------- embedding
def _png_size(png: bytes) -> tuple[int, int]:
    return struct.unpack(">II", png[16:24])


def figure_to_html(fig: Figure, alt: str | None = None, caption: str | None = None, *, dpi: int = 110) -> str:
    """Embed a figure as ``<figure><img src="data:image/png;base64,..."></figure>``.

    The image scales to the page width (``width:100%``) but never beyond its
    natural size. ``alt`` (default: the figure's own :func:`alt_text`) and
    ``caption`` are HTML-escaped. A ``<figcaption>`` is written only when a
    caption is given, so screen readers do not read the alt text twice.

    Examples
    --------
    >>> fig = funnel_plot([0.1, 0.5, 0.3], [0.01, 0.04, 0.02])
    >>> figure_to_html(fig, "A <b>funnel</b>").startswith('<figure class="syn-figure"><img src="data:image/png;base64,')
    True
    """
    alt = alt if alt is not None else alt_text(fig)
    if not alt:
        raise DataError("figure_to_html needs alt text that states what the figure shows")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    png = buf.getvalue()
    width, height = _png_size(png)
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return (f'<figure class="syn-figure"><img src="data:image/png;base64,{data}" '
            f'alt="{html.escape(alt, quote=True)}" width="{width}" height="{height}" '
            f'style="width:100%;max-width:{width}px;height:auto">{cap}</figure>')
