"""The posterior of the average effect with no effect and the minimal important difference marked."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import integrate, stats

from synthesis.errors import DataError
from synthesis.numbers import number, probability
from synthesis.report.plots.common import OKABE_ITO, STYLE, finite, new_figure, set_alt, transform_ticks

__all__ = ["posterior_plot"]


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
                   transform: Callable[[float], float] | None = None, title: str | None = None,
                   prob_any: float | None = None, prob_mid: float | None = None,
                   harm: bool = False) -> Figure:
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
    prob_any, prob_mid : float, optional
        The model's own probabilities of any benefit and of a benefit beyond the
        MID, so the legend says what the page's tables say; computed from the
        draws or the density when not given.
    harm : bool
        An exposure asked whether it harms: the side opposite to ``direction``'s
        benefit is shaded and named "harm", and ``prob_any``/``prob_mid`` are the
        chances of harm.

    Examples
    --------
    >>> from synthesis.report.plots import alt_text
    >>> rng = np.random.default_rng(1)
    >>> fig = posterior_plot(rng.normal(0.2, 0.1, 4000), mid=0.1)
    >>> "chance" in alt_text(fig)
    True
    """
    if direction not in ("higher_is_better", "lower_is_better"):
        raise DataError(f"direction must be higher_is_better or lower_is_better, got {direction!r}")
    x, dens, draws = _density(draws_or_density)
    upper = (direction == "higher_is_better") != harm  # the side shaded: benefit, or harm for an exposure
    sign = 1.0 if upper else -1.0
    good = "harm" if harm else "benefit"
    p0 = prob_any if finite(prob_any) else _prob_beyond(x, dens, draws, null, upper)
    fig = new_figure(7.0, 4.0)
    with matplotlib.rc_context(STYLE):
        ax = fig.subplots()
        ax.plot(x, dens, color=OKABE_ITO["black"], linewidth=1.8)
        benefit = x > null if upper else x < null
        ax.fill_between(x, 0, dens, where=benefit, color=OKABE_ITO["sky_blue"], alpha=0.55, linewidth=0,
                        label=f"{good.capitalize()} below the MID" if finite(mid) and float(mid) != 0 else
                        f"Any {good}: {probability(p0)}")
        alt = f"Posterior distribution of the {xlabel.lower()}: {probability(p0)} chance of any {good}"
        if finite(mid) and float(mid) != 0:
            thr = null + sign * abs(float(mid))
            pm = prob_mid if finite(prob_mid) else _prob_beyond(x, dens, draws, thr, upper)
            beyond = x > thr if upper else x < thr
            ax.fill_between(x, 0, dens, where=beyond, color=OKABE_ITO["green"], alpha=0.8, linewidth=0,
                            label=f"{good.capitalize()} ≥ MID ({number(thr, transform=transform)}): {probability(pm)}")
            ax.plot([], [], " ", label=f"Any {good} (both shaded): {probability(p0)}")
            ax.axvline(thr, color=OKABE_ITO["vermillion"], linestyle=":", linewidth=2,
                       label="Minimal important difference")
            alt += (f" and {probability(pm)} chance of a {good} at least as large as the minimal important "
                    f"difference ({number(thr, transform=transform)})")
        ax.axvline(null, color="#333333", linestyle="--", linewidth=1.3, label="No effect")
        ax.set_ylim(0, dens.max() * 1.08)
        ax.set_yticks([])
        ax.spines["left"].set_visible(False)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("Posterior density")
        transform_ticks(ax, transform)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
        if title:
            ax.set_title(title, fontweight="bold")
    return set_alt(fig, alt + ".")
