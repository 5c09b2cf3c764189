"""Effect sizes and sampling variances from raw study data (metafor's ``escalc``).

Column arguments use metafor's names (``ai, bi, ci, di, n1i, n2i, m1i, sd1i,
m2i, sd2i, xi, ni, ri, yi, vi, sei``); each names a column of ``data`` (or is
an array of values). Formulas follow metafor 3.8 with its defaults
(``vtype="LS"``, ``add=1/2``, ``to="only0"``), except that studies with no
events in both arms are dropped for OR and RR, as the Cochrane Handbook
(section 10.4.4.2) recommends; they are kept for RD.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from synthesis.meta.checks import as_float_array, format_rows
from synthesis.errors import DataError

__all__ = ["effect_sizes", "aggregate_effects", "MEASURES", "COUNT_ARGUMENTS", "hedges_correction", "BadCells",
           "InvalidCells"]

#: measure -> the groups of column arguments it accepts (one group must be complete)
MEASURES: dict[str, tuple[tuple[str, ...], ...]] = {
    "SMD": (("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),),
    "MD": (("m1i", "sd1i", "n1i", "m2i", "sd2i", "n2i"),),
    "OR": (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i")),
    "RR": (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i")),
    "RD": (("ai", "bi", "ci", "di"), ("ai", "n1i", "ci", "n2i")),
    "PLO": (("xi", "ni"),),
    "PR": (("xi", "ni"),),
    "ZCOR": (("ri", "ni"),),
    "COR": (("ri", "ni"),),
    "GEN": (("yi", "vi"), ("yi", "sei")),
}
#: column arguments that hold counts (whole numbers >= 0)
COUNT_ARGUMENTS = ("ai", "bi", "ci", "di", "n1i", "n2i", "xi", "ni")


def hedges_correction(df: np.ndarray) -> np.ndarray:
    """Exact small-sample correction factor J(df) = Γ(df/2) / (√(df/2) Γ((df-1)/2)).

    Examples
    --------
    >>> round(float(hedges_correction(np.array([18.0]))[0]), 6)
    0.957646
    """
    df = np.asarray(df, dtype=float)
    return np.exp(gammaln(df / 2) - 0.5 * np.log(df / 2) - gammaln((df - 1) / 2))


def _column(data: pd.DataFrame | None, spec: Any, arg: str, n: int | None) -> np.ndarray:
    if isinstance(spec, str):
        if data is None:
            raise DataError(f"{arg}={spec!r} names a column but no data frame was given")
        if spec not in data.columns:
            raise DataError(f"column {spec!r} (given as {arg}) not found; the data have columns: "
                            + ", ".join(map(str, data.columns)))
        values = as_float_array(data[spec].to_numpy(), spec)
    else:
        values = as_float_array(spec, arg)
    if n is not None and values.size != n:
        raise DataError(f"{arg} has {values.size} values but the data have {n} rows")
    return values


#: the fewest participants (per group for SMD/MD) that give a sampling variance, and why
_MIN_PARTICIPANTS = {"SMD": (2, " in each group: a standard deviation needs two"),
                     "MD": (2, " in each group: a standard deviation needs two"),
                     "ZCOR": (4, ": the variance of Fisher's z is 1/(n - 3)"),
                     "COR": (2, ": the variance of a correlation divides by n - 1")}
#: column arguments that must be above 0, and what they are
_POSITIVE = {"sd1i": "standard deviation", "sd2i": "standard deviation", "vi": "variance",
             "sei": "standard error"}
_DETAILS_SHOWN = 3


@dataclass(frozen=True)
class BadCells:
    """Cells of one column argument that cannot give a valid effect size.

    ``rows`` are 0-based positions; ``details`` says what is wrong with each
    of them (one text per row, e.g. ``"-3 is not a valid standard deviation
    (must be > 0)"``). ``column`` is the data column the argument was read
    from (the argument's own name when values were passed directly).
    """

    argument: str
    column: str
    rows: tuple[int, ...]
    details: tuple[str, ...]

    @property
    def name(self) -> str:
        """How the cells' column is named in a message: ``column 'sd1' (sd1i)`` or ``sd1i``."""
        return _argument_name(self.argument, self.column)

    def message(self) -> str:
        """One line: the column, the rows and what is wrong (the first three problems).

        Examples
        --------
        >>> BadCells("vi", "v", (2, 3), ("0 is not a valid variance (must be > 0)",
        ...                              "-1 is not a valid variance (must be > 0)")).message()
        "column 'v' (vi), rows 3 and 4: 0 is not a valid variance (must be > 0); -1 is not a valid variance (must be > 0)"
        """
        details = list(dict.fromkeys(self.details))
        more = "; ..." if len(details) > _DETAILS_SHOWN else ""
        return f"{self.name}, {format_rows(self.rows)}: {'; '.join(details[:_DETAILS_SHOWN])}{more}"


class InvalidCells(DataError):
    """Cells of the study data that cannot give a valid effect size (``.cells`` lists them)."""

    def __init__(self, cells: list[BadCells]) -> None:
        self.cells = cells
        super().__init__("\n".join(c.message() for c in cells))


def _argument_name(argument: str, column: str, *, with_argument: bool = True) -> str:
    if column == argument:
        return argument
    return f"column {column!r} ({argument})" if with_argument else f"column {column!r}"


def _check_cells(values: dict[str, np.ndarray], labels: dict[str, str], measure: str) -> None:
    """Refuse every cell that cannot give a valid effect; missing cells (NaN) are allowed."""
    found: list[BadCells] = []

    def bad(arg: str, mask: np.ndarray, detail: Callable[[int], str]) -> None:
        rows = np.flatnonzero(mask)
        if rows.size:
            found.append(BadCells(arg, labels[arg], tuple(int(r) for r in rows),
                                  tuple(detail(int(r)) for r in rows)))

    usable = {a: np.isfinite(v) for a, v in values.items()}  # not yet refused, not missing
    for arg, v in values.items():
        bad(arg, np.isinf(v), lambda r, v=v: f"{v[r]:g} is not a finite number; fix the value or leave "
            "the cell empty")
        if arg in COUNT_ARGUMENTS:
            wrong = usable[arg] & ((v < 0) | (v != np.round(v)))
            bad(arg, wrong, lambda r, v=v: f"{v[r]:g} is not a valid count (must be a whole number >= 0)")
            usable[arg] &= ~wrong
            if arg in ("n1i", "n2i", "ni"):
                least, why = _MIN_PARTICIPANTS.get(measure, (1, ""))
                few = usable[arg] & (v < least)
                bad(arg, few, lambda r, v=v, m=least, w=why: f"{v[r]:g} is not a valid number of participants "
                    f"(must be at least {m}{w})")
                usable[arg] &= ~few
        elif arg in _POSITIVE:
            bad(arg, usable[arg] & (v <= 0), lambda r, v=v, what=_POSITIVE[arg]:
                f"{v[r]:g} is not a valid {what} (must be > 0)")
        elif arg == "ri":
            bad(arg, usable[arg] & (np.abs(v) >= 1), lambda r, v=v: f"{v[r]:g} is not a valid correlation "
                "(must lie strictly between -1 and 1)")
    for events, total in (("ai", "n1i"), ("ci", "n2i"), ("xi", "ni")):
        if events in values and total in values:
            e, n = values[events], values[total]
            where = _argument_name(total, labels[total], with_argument=False)
            bad(events, usable[events] & usable[total] & (e > n), lambda r, e=e, n=n, w=where:
                f"{e[r]:g} events but only {n[r]:g} participants in {w}; check the counts")
    for events, others in (("ai", "bi"), ("ci", "di")):
        if events in values and others in values:
            e, o = values[events], values[others]
            where = _argument_name(others, labels[others], with_argument=False)
            bad(events, usable[events] & usable[others] & (e + o == 0), lambda r, w=where:
                f"0 events and 0 non-events in {w}: the group has no participants")
    if found:
        raise InvalidCells(found)


def _two_by_two(v: dict[str, np.ndarray], measure: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ai, ci = v["ai"], v["ci"]
    if "bi" in v:
        bi, di = v["bi"], v["di"]
    else:
        bi, di = v["n1i"] - ai, v["n2i"] - ci
    keep = np.ones(ai.size, dtype=bool)
    if measure in ("OR", "RR"):
        double_zero = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        if double_zero.any():
            warnings.warn(f"{format_rows(np.flatnonzero(double_zero))}: no events (or only events) in "
                          f"both arms; the {measure} is not estimable and the study is left out",
                          UserWarning, stacklevel=3)
            keep = ~double_zero
    # metafor's default add=1/2, to="only0": only studies with a zero cell get the correction
    zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
    a = np.where(zero, ai + 0.5, ai)
    b = np.where(zero, bi + 0.5, bi)
    c = np.where(zero, ci + 0.5, ci)
    d = np.where(zero, di + 0.5, di)
    n1, n2 = a + b, c + d
    if measure == "RD":  # metafor adds the 1/2 for RD too (to="only0")
        p1, p2 = a / n1, c / n2
        return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2, keep
    if measure == "OR":
        return np.log(a * d / (b * c)), 1 / a + 1 / b + 1 / c + 1 / d, keep
    return np.log((a / n1) / (c / n2)), 1 / a - 1 / n1 + 1 / c - 1 / n2, keep


def effect_sizes(data: pd.DataFrame | None = None, measure: str = "GEN", *,
                 append: bool = True, **columns: Any) -> pd.DataFrame:
    """Compute effect sizes ``yi`` and sampling variances ``vi`` (metafor's ``escalc``).

    Parameters
    ----------
    data : DataFrame, optional
        Study data. Column arguments given as strings name its columns.
    measure : str
        ``SMD`` (Hedges' g, exact correction), ``MD``, ``OR``, ``RR``, ``RD``
        (log scale for ratios), ``PLO``, ``PR``, ``ZCOR``, ``COR``, or ``GEN``
        (pass-through of ``yi`` with ``vi`` or ``sei``).
    append : bool
        Return a copy of ``data`` with ``yi`` and ``vi`` added (default); if
        False, only those two columns.
    **columns
        metafor's argument names mapped to column names (or arrays):
        ``m1i, sd1i, n1i, m2i, sd2i, n2i`` for SMD/MD; ``ai, bi, ci, di`` or
        ``ai, n1i, ci, n2i`` for 2x2 tables; ``xi, ni``; ``ri, ni``;
        ``yi`` with ``vi`` or ``sei``.

    Returns
    -------
    DataFrame
        With ``yi`` and ``vi``. Rows with a missing input get NaN; double-zero
        studies for OR/RR get NaN and a warning.

    Raises
    ------
    DataError
        Unknown measure, missing or unknown columns, non-numeric cells.
    InvalidCells
        (a :class:`~synthesis.errors.DataError`) for every cell that cannot give
        a valid effect, naming the rows (1-based), the argument and its column:
        infinite values; counts that are negative or not whole, or more events
        than participants; too few participants (fewer than 2 per group for
        SMD/MD, 4 for ZCOR, 2 for COR, 1 otherwise); standard deviations,
        variances or standard errors that are not above 0; correlations not
        strictly between -1 and 1. ``.cells`` lists them as :class:`BadCells`.

    Examples
    --------
    >>> import pandas as pd
    >>> d = pd.DataFrame({"tpos": [4, 6], "tneg": [119, 300], "cpos": [11, 29], "cneg": [128, 274]})
    >>> es = effect_sizes(d, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    >>> es["yi"].round(4).tolist()
    [-0.8893, -1.5854]

    A cell that cannot give a valid effect is refused, naming the row and the argument:

    >>> effect_sizes(None, "ZCOR", ri=[0.3, 0.5], ni=[40, 2])
    Traceback (most recent call last):
    ...
    synthesis.meta.effects.InvalidCells: ni, row 2: 2 is not a valid number of participants (must be at least 4: the variance of Fisher's z is 1/(n - 3))
    """
    measure = str(measure).upper()
    if measure not in MEASURES:
        raise DataError(f"unknown effect measure {measure!r}; choose one of {', '.join(MEASURES)}")
    if data is not None and not isinstance(data, pd.DataFrame):
        data = pd.DataFrame(data)
    groups = MEASURES[measure]
    group = next((g for g in groups if all(columns.get(a) is not None for a in g)), None)
    if group is None:
        need = " or ".join("(" + ", ".join(g) + ")" for g in groups)
        given = ", ".join(a for a, s in columns.items() if s is not None) or "none"
        raise DataError(f"measure {measure} needs the columns {need}; given: {given}")
    extra = [a for a, s in columns.items() if s is not None and a not in group]
    if extra:
        raise DataError(f"measure {measure} does not use {', '.join(extra)}; it needs "
                        + ", ".join(group))
    n = len(data) if data is not None else None
    values = {a: _column(data, columns[a], a, n) for a in group}
    if n is None:
        n = values[group[0]].size
        for a in group:
            if values[a].size != n:
                raise DataError(f"{a} has {values[a].size} values but {group[0]} has {n}")
    labels = {a: columns[a] if isinstance(columns[a], str) else a for a in group}
    _check_cells(values, labels, measure)
    keep = np.ones(n, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure in ("SMD", "MD"):
            m1, s1, n1, m2, s2, n2 = (values[a] for a in group)
            if measure == "MD":
                yi, vi = m1 - m2, s1**2 / n1 + s2**2 / n2
            else:
                sp = np.sqrt(((n1 - 1) * s1**2 + (n2 - 1) * s2**2) / (n1 + n2 - 2))
                yi = hedges_correction(n1 + n2 - 2) * (m1 - m2) / sp
                vi = 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))
        elif measure in ("OR", "RR", "RD"):
            yi, vi, keep = _two_by_two(values, measure)
        elif measure in ("PLO", "PR"):
            xi, ni = values["xi"], values["ni"]
            # add=1/2, to="only0" for PR as for PLO: 0 or n events get 1/2 added to both cells
            zero = (xi == 0) | (xi == ni)
            x = np.where(zero, xi + 0.5, xi)
            m = np.where(zero, ni - xi + 0.5, ni - xi)
            if measure == "PR":
                yi = x / (x + m)
                vi = yi * (1 - yi) / (x + m)
            else:
                yi, vi = np.log(x / m), 1 / x + 1 / m
        elif measure in ("ZCOR", "COR"):
            ri, ni = values["ri"], values["ni"]
            if measure == "ZCOR":
                yi, vi = np.arctanh(ri), 1 / (ni - 3)
            else:
                yi, vi = ri, (1 - ri**2) ** 2 / (ni - 1)
        else:
            yi = values["yi"]
            vi = values["vi"] if "vi" in values else values["sei"] ** 2
    yi = np.where(keep & np.isfinite(yi), yi, np.nan)
    vi = np.where(keep & np.isfinite(vi), vi, np.nan)
    lost = np.flatnonzero(keep & ~(np.isfinite(yi) & np.isfinite(vi))
                          & np.all([np.isfinite(values[a]) for a in group], axis=0))
    if lost.size:
        warnings.warn(f"{format_rows(lost)}: the {measure} could not be computed from the data "
                      "(e.g. a standard deviation of 0 or too few participants) and is missing",
                      UserWarning, stacklevel=2)
    out = data.copy() if (append and data is not None) else pd.DataFrame(index=data.index if data is not None else None)
    out["yi"] = yi
    out["vi"] = vi
    return out


def aggregate_effects(data: pd.DataFrame, cluster: str, *, rho: float = 0.6, yi: str = "yi",
                      vi: str = "vi", keep: tuple[str, ...] = ()) -> pd.DataFrame:
    """Combine several effect sizes per study into one (metafor's ``aggregate(struct="CS")``).

    Within a study the sampling errors are assumed to correlate with ``rho``
    (compound symmetry, Borenstein et al. 2009, ch. 24); the study's effect is
    the generalised-least-squares mean ``(1'V⁻¹1)⁻¹ 1'V⁻¹ y`` with variance
    ``(1'V⁻¹1)⁻¹``. Columns in ``keep`` are carried over when constant within a
    study and set missing otherwise.

    Examples
    --------
    >>> d = pd.DataFrame({"s": ["a", "a", "b"], "yi": [0.2, 0.4, 0.1], "vi": [0.04, 0.04, 0.02]})
    >>> out = aggregate_effects(d, "s", rho=0.5)
    >>> out["yi"].round(3).tolist(), out["vi"].round(3).tolist()
    ([0.3, 0.1], [0.03, 0.02])
    """
    if not -1 < rho < 1:
        raise DataError(f"rho must lie between -1 and 1, got {rho}")
    # With V = D R D, R = (1 - rho) I + rho J and u = 1/sqrt(vi), the weights V⁻¹1 are
    # u (u - c sum(u)) / (1 - rho), c = rho / (1 - rho + n rho): sums per study, no matrix
    # per study (2,000 studies took 24 s one study at a time, now milliseconds).
    codes, studies = pd.factorize(data[cluster], sort=False)
    if (codes < 0).any():
        raise DataError(f"column {cluster!r}: rows without a study id cannot be combined")
    y = data[yi].to_numpy(dtype=float)
    u = 1 / np.sqrt(data[vi].to_numpy(dtype=float))
    n = np.bincount(codes)
    c = rho / (1 - rho + n * rho)
    w = u * (u - c[codes] * np.bincount(codes, weights=u)[codes]) / (1 - rho)
    total = np.bincount(codes, weights=w)  # NaN in a study stays NaN, as the matrix version
    combined_y, combined_v = np.bincount(codes, weights=w * y) / total, 1 / total
    single = n == 1  # a study's only effect is kept exactly as given
    first = np.empty(n.size, dtype=int)
    first[codes[::-1]] = np.arange(codes.size)[::-1]
    combined_y[single] = y[first[single]]
    combined_v[single] = data[vi].to_numpy(dtype=float)[first[single]]
    out = pd.DataFrame({cluster: studies, yi: combined_y, vi: combined_v, "n_effects": n})
    for column in keep:
        grouped = data[column].groupby(codes, sort=True)
        constant = (grouped.nunique(dropna=True) == 1).to_numpy()
        first = grouped.first().to_numpy(dtype=object)
        out[column] = pd.Series([value if keep_it else None for value, keep_it in zip(first, constant)])
    return out
