"""Posterior draws as arrays and tables: labels, ArviZ summaries, densities, intervals.

The statistics of draws (mean, sd, highest-density interval, R-hat, bulk and
tail ESS, kernel densities) are ArviZ's; this module only shapes them into the
tidy tables and arrays the results hand out. ArviZ is imported when needed.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from synthesis.bayes.sampling import quiet

__all__ = ["SUMMARY_COLUMNS", "density", "equal_tailed", "flat", "relabel", "stacked", "summarise",
           "unique_labels"]

#: columns of :func:`summarise`, in order
SUMMARY_COLUMNS = ("mean", "sd", "eti_lb", "eti_ub", "hdi_lb", "hdi_ub", "mcse_mean", "mcse_sd",
                   "r_hat", "ess_bulk", "ess_tail")


def unique_labels(labels: Sequence[Any]) -> list[str]:
    """Make labels unique by numbering repeats: 'Smith 2010', 'Smith 2010 (2)'.

    Examples
    --------
    >>> unique_labels(["Smith 2010", "Jones 2011", "Smith 2010"])
    ['Smith 2010', 'Jones 2011', 'Smith 2010 (2)']
    """
    seen: dict[str, int] = {}
    out = []
    for label in map(str, labels):
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return out


def relabel(idata: Any, coords: Mapping[str, Sequence[str]]) -> Any:
    """Give the posterior the real labels (compiled models keep positional ones)."""
    post = idata.posterior
    present = {d: list(map(str, c)) for d, c in coords.items() if d in post.dims}
    idata.posterior = post.assign_coords(present)
    return idata


def stacked(posterior: Any, name: str) -> np.ndarray:
    """Draws of ``name`` as an array (chain, draw, ...)."""
    da = posterior[name]
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    return da.transpose("chain", "draw", *extra).values


def flat(da: Any) -> tuple[list[str], np.ndarray]:
    """Element names (``name[label]``, as ArviZ names them) and draws (samples x elements).

    Examples
    --------
    >>> import xarray as xr
    >>> da = xr.DataArray(np.zeros((2, 3, 2)), dims=("chain", "draw", "study"),
    ...                   coords={"study": ["A", "B"]}, name="theta")
    >>> names, draws = flat(da)
    >>> names, draws.shape
    (['theta[A]', 'theta[B]'], (6, 2))
    """
    extra = [d for d in da.dims if d not in ("chain", "draw")]
    values = da.transpose("chain", "draw", *extra).values
    draws = values.reshape(values.shape[0] * values.shape[1], -1)
    if not extra:
        return [str(da.name)], draws
    combos = itertools.product(*(map(str, da.coords[d].values) for d in extra))
    return [f"{da.name}[{', '.join(c)}]" for c in combos], draws


def equal_tailed(draws: np.ndarray, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed interval of each column of ``draws`` at ``level``.

    Examples
    --------
    >>> lo, hi = equal_tailed(np.arange(101.0), 0.9)
    >>> round(float(lo), 9), round(float(hi), 9)
    (5.0, 95.0)
    """
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(draws, [alpha, 1.0 - alpha], axis=0)
    return lo, hi


def summarise(posterior: Any, names: Sequence[str], level: float) -> pd.DataFrame:
    """ArviZ's summary of ``names`` as a tidy table (columns :data:`SUMMARY_COLUMNS`).

    Index ``name[label]``; mean, sd, HDI, MCSE, R-hat and ESS from :func:`arviz.summary`
    (HDI at ``level``), equal-tailed interval limits at ``level`` added.

    Examples
    --------
    >>> import xarray as xr
    >>> rng = np.random.default_rng(1)
    >>> post = xr.Dataset({"mu": (("chain", "draw"), rng.normal(size=(4, 500)))})
    >>> table = summarise(post, ["mu"], 0.95)
    >>> list(table.columns) == list(SUMMARY_COLUMNS), bool(table.loc["mu", "r_hat"] < 1.01)
    (True, True)
    """
    import arviz as az

    lower, upper = (1.0 - level) / 2.0, (1.0 + level) / 2.0
    with quiet():
        table = az.summary(posterior, var_names=list(names), kind="all", hdi_prob=level,
                           round_to="none",
                           stat_funcs={"eti_lb": lambda x: np.quantile(x, lower),
                                       "eti_ub": lambda x: np.quantile(x, upper)})
    hdi = [c for c in table.columns if str(c).startswith("hdi_")]
    table = table.rename(columns=dict(zip(hdi, ("hdi_lb", "hdi_ub"))))
    table.index.name = "param"
    return table.loc[:, list(SUMMARY_COLUMNS)].astype(float)


def density(draws: np.ndarray, n: int = 400) -> pd.DataFrame:
    """ArviZ's kernel density estimate of one parameter's draws (columns ``value``, ``density``).

    Examples
    --------
    >>> dens = density(np.random.default_rng(0).normal(size=4000))
    >>> round(float(np.trapezoid(dens.density, dens.value)), 2)
    1.0
    """
    import arviz as az

    grid, pdf = az.kde(np.asarray(draws, dtype=float), grid_len=n)
    return pd.DataFrame({"value": grid, "density": pdf})
