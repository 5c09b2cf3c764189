"""Mantel-Haenszel (OR, RR, RD) and Peto (OR) pooling of 2x2 tables: metafor's ``rma.mh`` and ``rma.peto``.

Both are equal-effects models computed from the counts themselves rather than
from inverse-variance weights of each study's effect, so they work with sparse
tables and zero cells (Cochrane Handbook, section 10.4.4). As in metafor 3.8:

* the pooled estimate uses the raw counts (``add``/``to``/``drop00`` act on the
  individual study outcomes only, unless a pair of values is given, whose second
  element applies to the tables of the pooled estimate);
* the individual outcomes (metafor's ``escalc`` with ``add = 1/2, to = "only0",
  drop00 = TRUE``) give the heterogeneity statistics of ``rma.mh``: the
  inverse-variance Q of the individual outcomes around the Mantel-Haenszel
  estimate, with I² and H² from it;
* ``rma.peto`` uses Peto's own Q, ``sum((O - E)²/V) - sum(O - E)²/sum(V)``;
* variances: Robins-Breslow-Greenland (OR), Greenland-Robins (RR), and the
  Greenland-Robins / Sato estimator (RD);
* for the OR, the Cochran-Mantel-Haenszel test (``CMH``, metafor's ``MH``;
  ``CO`` without the (N - 1) correction), the Breslow-Day test (``BD``) and
  Tarone's test for heterogeneity (``TA``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from synthesis.errors import DataError
from synthesis.meta.checks import format_rows
from synthesis.meta.effects import _check_cells, _column
from synthesis.meta.pooled import HeterogeneityAliases, bracket, default_labels, estimate_table, normalise_level, p_text
from synthesis.numbers import level_percent, number
from synthesis.results import Result, jsonable

__all__ = ["mantel_haenszel", "peto", "MantelHaenszelResult", "TWO_BY_TWO_METHODS", "individual_outcomes"]

#: the pooling methods for 2x2 tables and the measures each allows (``analysis.method`` in review.yaml)
TWO_BY_TWO_METHODS: dict[str, tuple[str, ...]] = {"MH": ("OR", "RR", "RD"), "Peto": ("OR",)}
#: metafor's ``to``: which tables get ``add`` in every cell
CORRECTIONS = ("only0", "all", "if0all", "none")
_NAMES = {"MH": "Mantel-Haenszel", "Peto": "Peto"}


def _pair(value: Any, second: Any) -> tuple[Any, Any]:
    """metafor's one-or-two values: the first for the study outcomes, the second for the pooled tables."""
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ValueError(f"give one value or a pair, got {value!r}")
        return value[0], value[1]
    return value, second


def _add_to_cells(cells: np.ndarray, add: float, to: str) -> np.ndarray:
    """Add ``add`` to the four cells (rows of ``cells``, shape (4, k)) as metafor's ``to`` says."""
    if to not in CORRECTIONS:
        raise ValueError(f"unknown to={to!r}; choose one of {', '.join(CORRECTIONS)}")
    zero = np.any(cells == 0, axis=0)  # missing cells compare False, as metafor's id0[is.na(id0)] <- FALSE
    which = {"all": np.ones_like(zero), "only0": zero, "if0all": np.full_like(zero, zero.any()),
             "none": np.zeros_like(zero)}[to]
    return cells + np.where(which, float(add), 0.0)


def _double_zero(cells: np.ndarray) -> np.ndarray:
    """Tables with no events, or only events, in both groups."""
    a, b, c, d = cells
    return ((a == 0) & (c == 0)) | ((b == 0) & (d == 0))


def individual_outcomes(cells: np.ndarray, measure: str, *, add: float = 0.5, to: str = "only0",
                        drop00: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Each table's outcome and sampling variance (metafor's ``escalc`` for OR, RR, RD and PETO).

    ``cells`` has shape (4, k): ``ai, bi, ci, di``. Outcomes that are not finite
    (a zero cell left uncorrected, a dropped double-zero table) are NaN.

    Examples
    --------
    >>> yi, vi = individual_outcomes(np.array([[4.0, 0], [119, 30], [11, 0], [128, 25]]), "OR")
    >>> np.round(yi, 4).tolist(), bool(np.isnan(vi[1]))
    ([-0.9387, nan], True)
    """
    cells = np.asarray(cells, dtype=float)
    if drop00:
        cells = np.where(_double_zero(cells), np.nan, cells)
    a, b, c, d = _add_to_cells(cells, add, to)
    n1, n2 = a + b, c + d
    p1, p2 = a / n1, c / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "OR":
            yi, vi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)), 1 / a + 1 / b + 1 / c + 1 / d
        elif measure == "RR":
            yi, vi = np.log(p1) - np.log(p2), 1 / a - 1 / n1 + 1 / c - 1 / n2
        elif measure == "RD":
            yi, vi = p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
        elif measure == "PETO":
            expected, variance = _peto_parts(a, b, c, d)
            yi, vi = (a - expected) / variance, 1 / variance
        else:
            raise ValueError(f"unknown measure {measure!r} for a 2x2 table")
    usable = np.isfinite(yi) & np.isfinite(vi) & (vi >= 0)
    return np.where(usable, yi, np.nan), np.where(usable, vi, np.nan)


def _peto_parts(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Expected events in the first group and the hypergeometric variance of each table."""
    n1, n2 = a + b, c + d
    total = n1 + n2
    events, non_events = a + c, b + d
    return events * n1 / total, events * non_events * (n1 / total) * (n2 / total) / (total - 1)


@dataclass(repr=False)
class MantelHaenszelResult(HeterogeneityAliases, Result):
    """Result of :func:`mantel_haenszel` or :func:`peto` (metafor's names, in snake_case).

    Attributes
    ----------
    method, measure : str
        ``"MH"`` or ``"Peto"``; ``"OR"``, ``"RR"`` or ``"RD"``.
    estimate, se, zval, pval, ci_lb, ci_ub : float
        The pooled effect (log scale for OR and RR), its standard error, z test and
        confidence interval (NaN when not estimable, e.g. no events in either group).
    QE, QEp, I2, H2 : float
        Test for heterogeneity and its I² (in percent) and H²; ``Q``/``Q_pval`` are aliases.
    k, k_yi, k_pos, k_all : int or float
        Tables used; individual outcomes that could be computed; tables that inform the
        estimate (OR: Breslow-Day's; Peto: a positive variance; NaN for RR and RD);
        rows given.
    CO, COp, CMH, CMHp, BD, BDp, TA, TAp : float
        Mantel-Haenszel OR only (else NaN): Cochran's test, the Cochran-Mantel-Haenszel
        test (metafor's ``MH``), the Breslow-Day test and Tarone's test for heterogeneity.
    yi, vi : ndarray
        Each table's outcome and sampling variance (NaN where not computable).
    """

    method: str
    measure: str
    level: float
    estimate: float
    se: float
    zval: float
    pval: float
    ci_lb: float
    ci_ub: float
    QE: float
    QEp: float
    I2: float
    H2: float
    k: int
    k_yi: int
    k_pos: float
    k_all: int
    yi: np.ndarray
    vi: np.ndarray
    labels: np.ndarray
    CO: float = np.nan
    COp: float = np.nan
    CMH: float = np.nan
    CMHp: float = np.nan
    BD: float = np.nan
    BDp: float = np.nan
    TA: float = np.nan
    TAp: float = np.nan

    tau2 = 0.0  # an equal-effects model, as metafor's rma.mh / rma.peto
    test = "z"

    @property
    def stat(self) -> float:
        return self.zval

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary of the numbers (NaN becomes ``None``).

        Examples
        --------
        >>> fit = mantel_haenszel(None, "RR", ai=[4, 6], n1i=[123, 306], ci=[11, 29], n2i=[139, 303])
        >>> out = fit.to_dict()
        >>> out["method"], out["k"], out["CMH"]
        ('MH', 2, None)
        """
        out = {"method": self.method, "measure": self.measure, "test": self.test, "level": self.level,
               "k": self.k, "k_yi": self.k_yi, "k_pos": self.k_pos, "k_all": self.k_all,
               "estimate": self.estimate, "se": self.se, "zval": self.zval, "pval": self.pval,
               "ci_lb": self.ci_lb, "ci_ub": self.ci_ub, "tau2": self.tau2, "I2": self.I2, "H2": self.H2,
               "QE": self.QE, "QEp": self.QEp}
        for name in ("CO", "COp", "CMH", "CMHp", "BD", "BDp", "TA", "TAp"):
            out[name] = getattr(self, name)
        return jsonable(out)

    def summary(self) -> pd.DataFrame:
        """Table of the pooled effect, heterogeneity and (MH odds ratio) the CMH and Tarone tests.

        Examples
        --------
        >>> fit = peto(None, ai=[4, 6, 3], n1i=[123, 306, 231], ci=[11, 29, 11], n2i=[139, 303, 220])
        >>> list(fit.summary().index)
        ['estimate', 'se', 'zval', 'pval', 'QE', 'QEp', 'I2', 'H2', 'k']
        """
        rows: dict[str, Any] = {"estimate": (self.estimate, self.ci_lb, self.ci_ub), "se": self.se,
                                "zval": self.zval, "pval": self.pval, "QE": self.QE, "QEp": self.QEp,
                                "I2": self.I2, "H2": self.H2, "k": float(self.k)}
        if self.method == "MH" and self.measure == "OR":
            rows.update(CMH=self.CMH, CMHp=self.CMHp, TA=self.TA, TAp=self.TAp)
        return estimate_table(rows)

    def title(self) -> str:
        """``Mantel-Haenszel equal-effects model (OR), k = 13`` (first line of the ``repr``)."""
        return f"{_NAMES[self.method]} equal-effects model ({self.measure}), k = {self.k}"

    def __repr__(self) -> str:
        scale = " (log scale)" if self.measure in ("OR", "RR") else ""
        lines = [self.title(),
                 f"QE(df = {max(self.k_yi - 1, 0)}) = {number(self.QE, 4)}, {p_text(self.QEp)}, "
                 f"I² = {number(self.I2, 2)}%, H² = {number(self.H2, 4)}",
                 f"estimate{scale} = {number(self.estimate, 4)}, se = {number(self.se, 4)}, "
                 f"z = {number(self.zval, 4)}, {p_text(self.pval)}, "
                 f"{level_percent(self.level)} CI {bracket(self.ci_lb, self.ci_ub)}"]
        if self.method == "MH" and self.measure == "OR":
            lines.append(f"Cochran-Mantel-Haenszel test: CMH = {number(self.CMH, 4)}, {p_text(self.CMHp)}; "
                         f"Tarone's test: X² = {number(self.TA, 4)}, {p_text(self.TAp)}")
        return "\n".join(lines)


# ---- reading the tables ------------------------------------------------------------------------
def _read_tables(data: pd.DataFrame | None, columns: dict[str, Any], labels: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validated counts, shape (4, k) (NaN where a cell is missing), and the study labels."""
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    groups = (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i"))
    group = next((g for g in groups if all(columns.get(a) is not None for a in g)), None)
    if group is None:
        given = ", ".join(a for a, s in columns.items() if s is not None) or "none"
        raise DataError(f"2x2 tables need the columns (ai, bi, ci, di) or (ai, n1i, ci, n2i); given: {given}")
    n = len(data) if data is not None else None
    values = {a: _column(data, columns[a], a, n) for a in group}
    n = values["ai"].size
    if any(v.size != n for v in values.values()):
        raise DataError("the count columns have different lengths: " + ", ".join(
            f"{a} {v.size}" for a, v in values.items()))
    _check_cells(values, {a: columns[a] if isinstance(columns[a], str) else a for a in group}, "OR")
    a, c = values["ai"], values["ci"]
    b = values["bi"] if "bi" in values else values["n1i"] - a
    d = values["di"] if "di" in values else values["n2i"] - c
    if labels is None:
        names = default_labels(n)
    else:
        names = np.asarray(_column_values(data, labels), dtype=object).astype(str)
        if names.size != n:
            raise DataError(f"labels has {names.size} values but there are {n} tables")
    return np.vstack([a, b, c, d]), names


def _column_values(data: pd.DataFrame | None, spec: Any) -> Any:
    if isinstance(spec, str) and data is not None:
        if spec not in data.columns:
            raise DataError(f"column {spec!r} (given as labels) not found; the data have columns: "
                            + ", ".join(map(str, data.columns)))
        return data[spec].to_numpy()
    return spec


def _prepare(cells: np.ndarray, measure: str, *, add: Any, to: Any, drop00: Any) -> dict[str, Any]:
    """metafor's steps before the fit: outcomes, missing tables left out, the pooled tables' correction."""
    add_yi, add_tables = _pair(add, 0.0)
    to_yi, to_tables = _pair(to, "none")
    drop_yi, drop_tables = _pair(drop00, False)
    yi, vi = individual_outcomes(cells, measure, add=add_yi, to=to_yi, drop00=bool(drop_yi))
    tables = np.where(_double_zero(cells), np.nan, cells) if drop_tables else cells
    complete = ~np.isnan(tables).any(axis=0)
    if not complete.all():
        warnings.warn(f"{format_rows(np.flatnonzero(~complete))}: tables with missing counts"
                      f"{' or no events (or only events) in both groups' if drop_tables else ''} "
                      "are left out of the pooled estimate", UserWarning, stacklevel=3)
    if not complete.any():
        raise DataError("no complete 2x2 table to pool (k = 0)")
    kept = np.isfinite(yi)
    return {"tables": _add_to_cells(tables[:, complete], add_tables, to_tables), "yi": yi[kept], "vi": vi[kept],
            "k_all": cells.shape[1], "all_yi": yi, "all_vi": vi}


def _wald(estimate: float, se: float, level: float) -> dict[str, float]:
    """z test and confidence interval of the pooled estimate."""
    with np.errstate(divide="ignore", invalid="ignore"):  # no events at all: RD 0 with se 0, as metafor
        zval = estimate / se
    crit = float(special.ndtri(1 - (1 - level) / 2))
    return {"estimate": float(estimate), "se": float(se), "zval": float(zval),
            "pval": float(2 * special.ndtr(-abs(zval))), "ci_lb": float(estimate - crit * se),
            "ci_ub": float(estimate + crit * se)}


def _chi2p(stat: float, df: float) -> float:
    return np.nan if np.isnan(stat) else float(special.chdtrc(df, stat))


# ---- Mantel-Haenszel ---------------------------------------------------------------------------
def _mh_odds_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, correct: bool) -> dict[str, float]:
    total, n1, n2 = a + b + c + d, a + b, c + d
    events, non_events = a + c, b + d
    r_i, s_i = (a / total) * d, (b / total) * c
    p_i, q_i = a / total + d / total, b / total + c / total
    R, S = r_i.sum(), s_i.sum()
    out = {name: np.nan for name in ("CO", "COp", "CMH", "CMHp", "BD", "BDp", "TA", "TAp")}
    if R == 0 or S == 0:
        estimate = se = np.nan
        out["k_pos"] = 0
    else:
        estimate = np.log(R / S)
        se = np.sqrt(0.5 * (np.sum(p_i * r_i) / R**2 + np.sum(p_i * s_i + q_i * r_i) / (R * S)
                            + np.sum(q_i * s_i) / S**2))
    if events.sum() != 0 and non_events.sum() != 0:
        numerator = (abs(np.sum(a - (n1 / total) * events)) - (0.5 if correct else 0.0)) ** 2
        spread = (n1 / total) * (n2 / total) * events * non_events
        out["CO"] = numerator / np.sum(spread / total)
        out["CMH"] = numerator / np.sum(spread / (total - 1))
        out["COp"], out["CMHp"] = _chi2p(out["CO"], 1), _chi2p(out["CMH"], 1)
    if np.isfinite(estimate):
        out.update(_breslow_day(a, n1, n2, events, non_events, R / S))
    return {"estimate": estimate, "se": se, **out}


def _breslow_day(a: np.ndarray, n1: np.ndarray, n2: np.ndarray, events: np.ndarray, non_events: np.ndarray,
                 psi: float) -> dict[str, float]:
    """Breslow-Day and Tarone's tests: each table's expected count under the common odds ratio ``psi``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if psi == 1:
            expected = n1 / (n1 + n2) * events
        else:
            A = psi * (n1 + events) + (n2 - events)
            B = np.sqrt(A**2 - 4 * n1 * events * psi * (psi - 1))
            expected = (A - B) / (2 * (psi - 1))
        pos = (expected > 0) & (events > 0) & (non_events > 0)
        e11 = expected[pos]
        e12, e21 = n1[pos] - e11, events[pos] - e11
        e22 = e11 - n1[pos] - events[pos] + n1[pos] + n2[pos]
        variance = 1 / (1 / e11 + 1 / e12 + 1 / e21 + 1 / e22)
        deviation = a[pos] - e11
        bd = float(np.maximum(0.0, np.sum(deviation**2 / variance)))
        ta = float(np.maximum(0.0, bd - np.sum(deviation) ** 2 / np.sum(variance)))
    k_pos = int(pos.sum())
    df = k_pos - 1
    return {"k_pos": k_pos, "BD": bd, "TA": ta, "BDp": _chi2p(bd, df) if df > 0 else np.nan,
            "TAp": _chi2p(ta, df) if df > 0 else np.nan}


def _mh_ratio(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, float]:
    total, n1, n2 = a + b + c + d, a + b, c + d
    R, S = np.sum(a * (n2 / total)), np.sum(c * (n1 / total))
    if a.sum() == 0 or c.sum() == 0:
        return {"estimate": np.nan, "se": np.nan}
    se = np.sqrt(np.sum((n1 / total) * (n2 / total) * (a + c) - (a / total) * c) / (R * S))
    return {"estimate": np.log(R / S), "se": se}


def _mh_difference(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> dict[str, float]:
    total, n1, n2 = a + b + c + d, a + b, c + d
    weight = np.sum(n1 * (n2 / total))
    estimate = np.sum(a * (n2 / total) - c * (n1 / total)) / weight
    spread = np.sum(c * (n1 / total) ** 2 - a * (n2 / total) ** 2 + (n1 / total) * (n2 / total) * (n2 - n1) / 2)
    se = np.sqrt((estimate * spread + np.sum(a * (n2 - c) / total + c * (n1 - a) / total) / 2) / weight**2)
    return {"estimate": estimate, "se": se}


def _inverse_variance_q(yi: np.ndarray, vi: np.ndarray, estimate: float) -> dict[str, float]:
    """rma.mh's heterogeneity: Q of the individual outcomes around the pooled estimate, I², H²."""
    df = yi.size - 1
    if df < 1:
        return {"QE": 0.0, "QEp": 1.0, "I2": 0.0, "H2": 1.0}
    with np.errstate(divide="ignore", invalid="ignore"):
        qe = float(np.maximum(0.0, np.sum((yi - estimate) ** 2 / vi)))
        i2 = float(np.maximum(0.0, 100 * (qe - df) / qe))
    return {"QE": qe, "QEp": _chi2p(qe, df), "I2": i2, "H2": qe / df}


def mantel_haenszel(data: pd.DataFrame | None = None, measure: str = "OR", *, ai: Any = None, bi: Any = None,
                    ci: Any = None, di: Any = None, n1i: Any = None, n2i: Any = None, labels: Any = None,
                    level: float = 0.95, correct: bool = True, add: float | tuple[float, float] = 0.5,
                    to: str | tuple[str, str] = "only0",
                    drop00: bool | tuple[bool, bool] = True) -> MantelHaenszelResult:
    """Mantel-Haenszel equal-effects meta-analysis of 2x2 tables (metafor's ``rma.mh``).

    Parameters
    ----------
    data : DataFrame, optional
        Study data; count arguments given as strings name its columns.
    measure : str
        ``"OR"`` (log odds ratio), ``"RR"`` (log risk ratio) or ``"RD"`` (risk difference).
    ai, bi, ci, di, n1i, n2i : array-like or str
        Events and non-events in the first (``ai, bi``) and second (``ci, di``) group,
        or events with group sizes (``ai, n1i, ci, n2i``).
    labels : array-like or str, optional
        Study labels.
    level : float
        Confidence level (0.95 or 95).
    correct : bool
        Continuity correction of the Cochran-Mantel-Haenszel test (OR).
    add, to, drop00
        metafor's zero-cell handling of the individual outcomes (which give QE, I², H²):
        ``add`` is added to every cell of the tables ``to`` names (``"only0"``: tables
        with a zero cell; ``"all"``, ``"if0all"``, ``"none"``); ``drop00`` leaves out
        tables with no events (or only events) in both groups. A pair ``(for the outcomes,
        for the pooled tables)`` sets both, as metafor; by default the pooled estimate
        uses the raw counts (``0``, ``"none"``, ``False``).

    Returns
    -------
    MantelHaenszelResult

    Raises
    ------
    DataError
        Missing columns, invalid counts (negative, not whole, more events than
        participants, an empty group), or no complete table.

    Examples
    --------
    >>> fit = mantel_haenszel(None, "OR", ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11], di=[128, 274, 209])
    >>> round(fit.estimate, 4), round(fit.se, 4), fit.k
    (-1.4135, 0.3155, 3)
    >>> round(float(np.exp(fit.estimate)), 3)
    0.243
    """
    measure = str(measure).upper()
    if measure not in TWO_BY_TWO_METHODS["MH"]:
        raise DataError(f"the Mantel-Haenszel method pools OR, RR or RD, not {measure!r}")
    level = normalise_level(level)
    cells, names = _read_tables(data, {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i}, labels)
    prep = _prepare(cells, measure, add=add, to=to, drop00=drop00)
    tables = prep["tables"]
    if measure == "OR":
        fitted = _mh_odds_ratio(*tables, correct=correct)
    elif measure == "RR":
        fitted = {**_mh_ratio(*tables), "k_pos": np.nan}
    else:
        fitted = {**_mh_difference(*tables), "k_pos": np.nan}
    wald = _wald(fitted.pop("estimate"), fitted.pop("se"), level)
    return MantelHaenszelResult(method="MH", measure=measure, level=level, **wald,
                                **_inverse_variance_q(prep["yi"], prep["vi"], wald["estimate"]),
                                k=tables.shape[1], k_yi=prep["yi"].size, k_all=prep["k_all"], yi=prep["all_yi"],
                                vi=prep["all_vi"], labels=names, **fitted)


def peto(data: pd.DataFrame | None = None, *, ai: Any = None, bi: Any = None, ci: Any = None, di: Any = None,
         n1i: Any = None, n2i: Any = None, labels: Any = None, level: float = 0.95,
         add: float | tuple[float, float] = 0.5, to: str | tuple[str, str] = "only0",
         drop00: bool | tuple[bool, bool] = True) -> MantelHaenszelResult:
    """Peto's one-step odds ratio for 2x2 tables (metafor's ``rma.peto``).

    Parameters are those of :func:`mantel_haenszel` (the measure is the log odds
    ratio). The heterogeneity test is Peto's ``sum((O - E)²/V) - sum(O - E)²/sum(V)``
    over the tables with a positive variance (``k_pos`` of them).

    Raises
    ------
    DataError
        As :func:`mantel_haenszel`, and when one of the two outcomes never occurs
        in any table (Peto's method cannot be used then).

    Examples
    --------
    >>> fit = peto(None, ai=[4, 6, 3], bi=[119, 300, 228], ci=[11, 29, 11], di=[128, 274, 209])
    >>> round(fit.estimate, 4), round(fit.se, 4), fit.k_pos
    (-1.2373, 0.2566, 3)
    """
    level = normalise_level(level)
    cells, names = _read_tables(data, {"ai": ai, "bi": bi, "ci": ci, "di": di, "n1i": n1i, "n2i": n2i}, labels)
    prep = _prepare(cells, "PETO", add=add, to=to, drop00=drop00)
    a, b, c, d = prep["tables"]
    expected, variance = _peto_parts(a, b, c, d)
    if variance.sum() == 0:
        raise DataError("Peto's method needs tables with both outcomes: in every table either no one or "
                        "everyone had the event; use the risk difference (MH, RD) instead")
    wald = _wald(np.sum(a - expected) / variance.sum(), np.sqrt(1 / variance.sum()), level)
    informative = variance > 0
    deviation = (a - expected)[informative]
    qe = float(np.maximum(0.0, np.sum(deviation**2 / variance[informative])
                          - np.sum(a - expected) ** 2 / np.sum(variance[informative])))
    k_pos, df = int(informative.sum()), prep["yi"].size - 1
    if k_pos > 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            heterogeneity = {"QEp": _chi2p(qe, df), "I2": float(np.maximum(0.0, 100 * (qe - df) / qe)),
                             "H2": qe / df}
    else:
        heterogeneity = {"QEp": 1.0, "I2": 0.0, "H2": 1.0}
    return MantelHaenszelResult(method="Peto", measure="OR", level=level, **wald, QE=qe, **heterogeneity,
                                k=a.size, k_yi=prep["yi"].size, k_pos=k_pos, k_all=prep["k_all"],
                                yi=prep["all_yi"], vi=prep["all_vi"], labels=names)
