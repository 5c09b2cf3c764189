"""Meta-regression and subgroup analysis (metafor's ``rma(yi, vi, mods=...)``).

Categorical moderators are treatment-coded like R's ``factor``: the first
level in sorted order is the reference unless another is named.
"""
from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from scipy import stats

from synthesis.meta import core as _rma
from synthesis.meta.checks import as_float_array, check_effects, format_rows
from synthesis.errors import DataError
from synthesis.meta.pooled import (HeterogeneityAliases, MetaResult, StatisticAliases, check_test, fit_pooled,
                                   normalise_level, p_text)
from synthesis.numbers import number
from synthesis.results import Result, jsonable

if TYPE_CHECKING:
    from synthesis.meta.prediction import PredictionResult

__all__ = ["meta_regression", "MetaRegressionResult", "subgroup_analysis", "SubgroupResult",
           "design_matrix"]


def _is_categorical(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def sorted_levels(values: pd.Series) -> list[Any]:
    """A moderator's levels in the order the design matrix uses (numbers as numbers, else text)."""
    levels = pd.unique(values.dropna())
    try:
        return sorted(levels)
    except TypeError:
        return sorted(levels, key=str)


def moderator_coding(data: pd.DataFrame, moderators: Sequence[str], *, categorical: Iterable[str] = (),
                     reference: Mapping[str, Any] | None = None) -> dict[str, list[Any] | None]:
    """How each moderator enters the design: its levels (reference first) if categorical, else None.

    A factor with a single level is left out with a warning.

    Examples
    --------
    >>> d = pd.DataFrame({"design": ["rct", "cct", "rct"], "dose": [1.0, 2.0, 3.0]})
    >>> moderator_coding(d, ["dose", "design"], reference={"design": "rct"})
    {'dose': None, 'design': ['rct', 'cct']}
    """
    categorical = set(categorical)
    reference = dict(reference or {})
    coding: dict[str, list[Any] | None] = {}
    for name in moderators:
        series = data[name]
        if not (name in categorical or _is_categorical(series)):
            coding[name] = None
            continue
        levels = sorted_levels(series)
        if name in reference and reference[name] is not None:
            ref = reference[name]
            match = [lv for lv in levels if str(lv) == str(ref)]
            if not match:
                raise DataError(f"moderator {name!r}: reference level {ref!r} does not occur; "
                                f"levels are {', '.join(map(str, levels))}")
            levels = match + [lv for lv in levels if str(lv) != str(ref)]
        if len(levels) < 2:
            warnings.warn(f"moderator {name!r} has a single level ({levels[0]!r}) and is left out",
                          UserWarning, stacklevel=4)
            continue
        coding[name] = levels
    return coding


def encode_moderators(data: pd.DataFrame, coding: Mapping[str, list[Any] | None], *, intercept: bool = True
                      ) -> tuple[np.ndarray, list[str]]:
    """The design matrix of ``data`` under ``coding`` (see :func:`moderator_coding`).

    Examples
    --------
    >>> X, names = encode_moderators(pd.DataFrame({"design": ["cct"]}), {"design": ["rct", "cct"]})
    >>> X.tolist(), names
    ([[1.0, 1.0]], ['intrcpt', 'design[cct]'])
    >>> encode_moderators(pd.DataFrame({"design": ["cct"]}), {"design": ["rct", "cct"]}, intercept=False)[1]
    ['design[rct]', 'design[cct]']
    """
    columns: list[np.ndarray] = [np.ones(len(data))] if intercept else []
    names: list[str] = ["intrcpt"] if intercept else []
    every_level = not intercept  # as R's model.matrix: without an intercept the first factor keeps each level
    for name, levels in coding.items():
        series = data[name]
        if levels is None:
            columns.append(as_float_array(series.to_numpy(), name))
            names.append(name)
            continue
        for level in (levels if every_level else levels[1:]):
            columns.append((series == level).to_numpy(dtype=float))
            names.append(f"{name}[{level}]")
        every_level = False
    return np.column_stack(columns), names


def design_matrix(data: pd.DataFrame, moderators: Sequence[str], *, categorical: Iterable[str] = (),
                  reference: Mapping[str, Any] | None = None, intercept: bool = True
                  ) -> tuple[np.ndarray, list[str]]:
    """Build the design matrix: an intercept, numeric moderators, treatment-coded factors.

    Dummy columns are named ``moderator[level]``. Rows must be complete.

    Examples
    --------
    >>> d = pd.DataFrame({"design": ["rct", "cct", "rct"], "dose": [1.0, 2.0, 3.0]})
    >>> X, names = design_matrix(d, ["dose", "design"])
    >>> names
    ['intrcpt', 'dose', 'design[rct]']
    """
    coding = moderator_coding(data, moderators, categorical=categorical, reference=reference)
    return encode_moderators(data, coding, intercept=intercept)


@dataclass(repr=False)
class MetaRegressionResult(StatisticAliases, HeterogeneityAliases, Result):
    """Result of :func:`meta_regression` (metafor's names in snake_case).

    Attributes
    ----------
    coef_names : list of str
    coef, se, zval (or tval), pval, ci_lb, ci_ub : ndarray
    tau2, I2, H2, R2 : float
        Residual heterogeneity and the pseudo-R² (percent of tau² accounted for).
    QM, QMp : float
        Omnibus test of the moderators (chi² under ``z``, F under ``knha``).
    QE, QEp : float
        Test for residual heterogeneity (``Q``, ``Q_pval``: read-only aliases).
    k : int
    """

    coef_names: list[str]
    coef: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    tau2: float
    I2: float
    H2: float
    R2: float
    QM: float
    QMp: float
    QM_df: tuple[int, ...]
    QE: float
    QEp: float
    k: int
    p: int
    df: float
    method: str
    test: str
    level: float
    yi: np.ndarray
    vi: np.ndarray
    X: np.ndarray
    labels: np.ndarray
    kept: np.ndarray
    #: how the moderators were coded (:func:`moderator_coding`): used by :meth:`predict`
    coding: dict[str, list[Any] | None] | None = None

    def predict(self, newmods: Any = None, *, level: float | None = None,
                transf: Callable[[np.ndarray], np.ndarray] | None = None, pi: bool = True) -> PredictionResult:
        """Predicted effects for new moderator values (metafor's ``predict.rma``).

        See :func:`synthesis.meta.prediction.predict`; without ``newmods``, the fitted
        value of each study.

        Examples
        --------
        >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
        ...                   "dose": [1, 2, 3, 1, 4, 2]})
        >>> fit = meta_regression(d, "dose", method="DL")
        >>> fit.predict({"dose": [0, 5]}).to_frame()["pred"].round(4).tolist()
        [-0.0244, 0.878]
        """
        from synthesis.meta.prediction import predict

        return predict(self, newmods, level=level, transf=transf, pi=pi)

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table (one row per coefficient)."""
        return pd.DataFrame({"estimate": self.coef, "se": self.se, self.stat_name: self.stat, "pval": self.pval,
                             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                            index=pd.Index(self.coef_names, name="term"))

    def summary(self) -> pd.DataFrame:
        """Coefficient table; the model's heterogeneity and tests are in the ``repr`` and :meth:`to_dict`.

        Examples
        --------
        >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
        ...                   "dose": [1, 2, 3, 1, 4, 2]})
        >>> meta_regression(d, "dose").summary().columns.tolist()
        ['estimate', 'se', 'zval', 'pval', 'ci_lb', 'ci_ub']
        """
        return self.to_frame()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary of the model (metafor's names; NaN becomes ``None``)."""
        table = self.to_frame()
        return jsonable({"method": self.method, "test": self.test, "level": self.level, "k": self.k,
                         "coefficients": table.to_dict(orient="index"),
                         "tau2": self.tau2, "I2": self.I2, "H2": self.H2, "R2": self.R2,
                         "QE": self.QE, "QEp": self.QEp, "QM": self.QM, "QMp": self.QMp,
                         "QM_df": self.QM_df})

    def title(self) -> str:
        """``Mixed-effects meta-regression (REML), k = 13`` (first line of the ``repr``)."""
        model = "Equal-effects" if self.method == "EE" else "Mixed-effects"
        return f"{model} meta-regression ({self.method}), k = {self.k}"

    def __repr__(self) -> str:
        test = (f"F({self.QM_df[0]}, {self.QM_df[1]:g})" if self.test == "knha" else f"QM(df = {self.QM_df[0]})")
        return (f"{self.title()}\n"
                f"tau² (residual) = {number(self.tau2, 4)}, I² = {number(self.I2, 2)}%, "
                f"R² = {number(self.R2, 2)}%\n"
                f"QE(df = {self.k - self.p}) = {number(self.QE, 4)}, {p_text(self.QEp)}; "
                f"{test} = {number(self.QM, 4)}, {p_text(self.QMp)}\n"
                + self.to_frame().round(4).to_string())


def fit_regression(y: np.ndarray, v: np.ndarray, X: np.ndarray, names: list[str], *, method: str,
                   test: str, level: float, labels: np.ndarray, kept: np.ndarray,
                   tau2: float | None = None, coding: dict[str, list[Any] | None] | None = None
                   ) -> MetaRegressionResult:
    """Fit the mixed-effects model on validated arrays (internal; see :func:`meta_regression`)."""
    k, p = X.shape
    if k <= p:
        raise DataError(f"{k} studies cannot estimate {p} coefficients ({', '.join(names)}); "
                        "use fewer moderators or levels")
    if np.linalg.matrix_rank(X) < p:
        raise DataError("the moderators are collinear (a level or variable is redundant): "
                        + ", ".join(names))
    if tau2 is None:
        tau2, _ = _rma.estimate_tau2(method, y, v, X)
    fit = _rma.wls(y, v, X, tau2)
    df = k - p
    vb = fit.vb.copy()
    if test == "knha":
        vb *= fit.Q / df
    se = np.sqrt(np.diag(vb))
    stat = fit.beta / se
    alpha = 1 - level
    if test == "knha":
        pval = 2 * stats.t.sf(np.abs(stat), df)
        crit = stats.t.ppf(1 - alpha / 2, df)
    else:
        pval = 2 * stats.norm.sf(np.abs(stat))
        crit = stats.norm.ppf(1 - alpha / 2)
    fe = _rma.wls(y, v, X, 0.0)
    QE, QEp = fe.Q, float(stats.chi2.sf(fe.Q, df))
    has_intercept = names[0] == "intrcpt"
    mods = slice(1, p) if has_intercept else slice(0, p)
    m = len(range(*mods.indices(p)))
    if m:
        b = fit.beta[mods]
        QM = float(b @ np.linalg.solve(vb[mods, mods], b))
        if test == "knha":
            QM /= m
            QMp, QM_df = float(stats.f.sf(QM, m, df)), (m, df)
        else:
            QMp, QM_df = float(stats.chi2.sf(QM, m)), (m,)
    else:
        QM = QMp = np.nan
        QM_df = (0,)
    s2 = _rma.typical_variance(v, X)
    if method == "EE":
        I2 = max(0.0, 100 * (QE - df) / QE) if QE > 0 else 0.0
        H2 = QE / df
    else:
        I2, H2 = 100 * tau2 / (s2 + tau2), (s2 + tau2) / s2
    R2 = np.nan
    if has_intercept and m and method == "EE":
        # metafor: the adjusted R² of the weighted least-squares fit lm(yi ~ X, weights = 1/vi)
        Q0 = _rma.wls(y, v, np.ones((k, 1)), 0.0).Q
        R2 = max(0.0, 100 * (1 - (QE / df) / (Q0 / (k - 1)))) if Q0 > 0 else 0.0
    elif has_intercept and m:
        tau2_null, _ = _rma.estimate_tau2(method, y, v, np.ones((k, 1)))
        R2 = max(0.0, 100 * (tau2_null - tau2) / tau2_null) if tau2_null > 0 else 0.0
    return MetaRegressionResult(
        coef_names=names, coef=fit.beta, se=se, stat=stat, pval=pval, ci_lb=fit.beta - crit * se,
        ci_ub=fit.beta + crit * se, vb=vb, tau2=float(tau2), I2=float(I2), H2=float(H2), R2=float(R2),
        QM=QM, QMp=QMp, QM_df=QM_df, QE=float(QE), QEp=QEp, k=k, p=p, df=float(df), method=method,
        test=test, level=level, yi=y, vi=v, X=X, labels=labels, kept=kept, coding=coding)


def _complete_rows(data: pd.DataFrame, moderators: Sequence[str], yi: str, vi: str) -> pd.DataFrame:
    missing = [c for c in [yi, vi, *moderators] if c not in data.columns]
    if missing:
        raise DataError(f"column(s) {', '.join(map(repr, missing))} not found; the data have columns: "
                        + ", ".join(map(str, data.columns)))
    data = data.reset_index(drop=True)
    incomplete = data[list(moderators)].isna().any(axis=1).to_numpy()
    if incomplete.all():
        raise DataError("every row has a missing moderator value; nothing left to analyse")
    if incomplete.any():
        warnings.warn(f"{format_rows(np.flatnonzero(incomplete))} dropped: missing value in "
                      f"{', '.join(moderators)}", UserWarning, stacklevel=3)
    return data.loc[~incomplete]


def meta_regression(data: pd.DataFrame, moderators: str | Sequence[str], yi: str = "yi", vi: str = "vi", *,
                    categorical: Iterable[str] = (), reference: Mapping[str, Any] | None = None,
                    labels: str | None = None, method: str = "REML", test: str = "z",
                    level: float = 0.95, tau2: float | None = None) -> MetaRegressionResult:
    """Mixed-effects meta-regression (metafor's ``rma(yi, vi, mods = ~ ...)``).

    Parameters
    ----------
    data : DataFrame
    moderators : str or list of str
        Column names. Non-numeric columns and those in ``categorical`` are
        treatment-coded (first level in sorted order is the reference, as R's
        ``factor``; ``reference`` maps a moderator to another reference level).
    yi, vi : str
        Columns with effect sizes and sampling variances.
    method, test, level
        As in :func:`synthesis.meta_analysis`.
    tau2 : float, optional
        Fix the residual tau² instead of estimating it.

    Returns
    -------
    MetaRegressionResult
        Rows with a missing moderator are dropped with a warning.

    Examples
    --------
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
    ...                   "dose": [1, 2, 3, 1, 4, 2]})
    >>> fit = meta_regression(d, "dose")
    >>> fit.coef_names
    ['intrcpt', 'dose']
    """
    if isinstance(moderators, str):
        moderators = [moderators]
    moderators = list(moderators)
    method = _rma.normalise_method(method)
    test = check_test(test)
    level = normalise_level(level)
    complete = _complete_rows(data, moderators, yi, vi)
    y, v, kept = check_effects(complete[yi].to_numpy(), complete[vi].to_numpy(), names=(yi, vi))
    complete = complete.loc[kept]
    coding = moderator_coding(complete, moderators, categorical=categorical, reference=reference)
    X, names = encode_moderators(complete, coding)
    lab = (complete[labels].astype(str).to_numpy() if labels
           else np.array([f"Study {i + 1}" for i in complete.index]))
    return fit_regression(y, v, X, names, method=method, test=test, level=level, labels=lab,
                          kept=complete.index.to_numpy(), tau2=tau2, coding=coding)


@dataclass(repr=False)
class SubgroupResult(Result):
    """Result of :func:`subgroup_analysis`.

    Attributes
    ----------
    table : DataFrame
        One row per subgroup: ``k, estimate, se, ci_lb, ci_ub, pi_lb, pi_ub, tau2, I2, pval``.
    fits : dict
        The :class:`~synthesis.meta.pooled.MetaResult` of each subgroup.
    QM, QM_df, QMp : float, tuple, float
        Test for subgroup differences (Borenstein et al. 2009, ch. 19; as RevMan):
        Cochran's Q across the subgroup estimates with separate tau² per subgroup, the
        moderator test of an equal-effects meta-regression on the subgroup estimates.
        ``Q_between``, ``df_between`` and ``pval_between`` are read-only aliases.
    regression : MetaRegressionResult
        The same question as a meta-regression with a common tau² (metafor's QM test).
    notes : list of str
        What a reader should know, e.g. a subgroup of one study (tau² = 0, z test, as metafor).
    """

    by: str
    table: pd.DataFrame
    fits: dict[Any, MetaResult]
    QM: float
    QM_df: tuple[int, ...]
    QMp: float
    regression: MetaRegressionResult | None
    notes: list[str] = field(default_factory=list)

    @property
    def Q_between(self) -> float:
        return self.QM

    @property
    def df_between(self) -> int:
        return self.QM_df[0]

    @property
    def pval_between(self) -> float:
        return self.QMp

    def to_frame(self) -> pd.DataFrame:
        """One row per subgroup (:attr:`table`)."""
        return self.table

    def summary(self) -> pd.DataFrame:
        """One row per subgroup; the test for subgroup differences is in the title."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary: the test for subgroup differences and each subgroup's row."""
        return jsonable({"by": self.by, "QM": self.QM, "QM_df": self.QM_df, "QMp": self.QMp,
                         "levels": self.table.to_dict(orient="index"), "notes": self.notes})

    def title(self) -> str:
        """``Subgroups by <by>: test for subgroup differences QM(df = 1) = ..., p = ...``
        (``F(q, df) = ...`` for a test on two df, e.g. the CR2 HTZ test of a multilevel model)."""
        statistic = (f"F({self.QM_df[0]}, {number(self.QM_df[1], 2)})" if len(self.QM_df) > 1
                     else f"QM(df = {self.df_between})")
        return (f"Subgroups by {self.by}: test for subgroup differences {statistic} = "
                f"{number(self.QM, 4)}, {p_text(self.QMp)}")


def subgroup_analysis(data: pd.DataFrame, by: str, yi: str = "yi", vi: str = "vi", *,
                      method: str = "REML", test: str = "z", level: float = 0.95,
                      reference: Any = None) -> SubgroupResult:
    """Pooled effect within each level of ``by`` and the test for subgroup differences.

    Examples
    --------
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
    ...                   "setting": ["a", "a", "a", "b", "b", "b"]})
    >>> res = subgroup_analysis(d, "setting", method="DL")
    >>> list(res.table.index)
    ['a', 'b']
    """
    method = _rma.normalise_method(method)
    test = check_test(test)
    level = normalise_level(level)
    complete = _complete_rows(data, [by], yi, vi)
    levels = sorted_levels(complete[by])
    if reference is not None and reference in levels:
        levels = [reference] + [lv for lv in levels if lv != reference]
    fits: dict[Any, MetaResult] = {}
    rows = []
    notes: list[str] = []
    for level_value in levels:
        part = complete[complete[by] == level_value]
        y, v, kept = check_effects(part[yi].to_numpy(), part[vi].to_numpy(), names=(yi, vi))
        single = y.size == 1  # as metafor's rma(..., subset=): tau² = 0 and test="z" since k = 1
        if single and (method != "EE" or test != "z"):
            notes.append(f"{by} = {level_value}: one study, so tau² is set to 0"
                         + (" and the z test is used instead of Knapp-Hartung" if test == "knha" else "")
                         + " (as metafor for k = 1); its interval is that study's own")
        fit = fit_pooled(y, v, np.array([f"Study {i + 1}" for i in part.index[kept]], dtype=object),
                         method=method, test="z" if single else test, level=level,
                         tau2=0.0 if single else None, kept=kept)
        fits[level_value] = fit
        rows.append({"k": fit.k, "estimate": fit.estimate, "se": fit.se, "ci_lb": fit.ci_lb,
                     "ci_ub": fit.ci_ub, "pi_lb": fit.pi_lb, "pi_ub": fit.pi_ub, "tau2": fit.tau2,
                     "I2": fit.I2, "pval": fit.pval})
    table = pd.DataFrame(rows, index=pd.Index(levels, name=by))
    est = table["estimate"].to_numpy()
    w = 1 / table["se"].to_numpy() ** 2
    QM = float(np.sum(w * (est - np.sum(w * est) / np.sum(w)) ** 2)) if len(levels) > 1 else np.nan
    df_between = len(levels) - 1
    QMp = float(stats.chi2.sf(QM, df_between)) if df_between > 0 else np.nan
    regression = None
    if df_between > 0 and len(complete) > len(levels):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            regression = meta_regression(complete, [by], yi, vi, categorical=[by],
                                         reference={by: levels[0]}, method=method, test=test, level=level)
    return SubgroupResult(by=by, table=table, fits=fits, QM=QM, QM_df=(df_between,), QMp=QMp,
                          regression=regression, notes=notes)
