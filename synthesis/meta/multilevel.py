"""Several effects per study: the three-level model and the CHE working model.

``multilevel_meta_analysis`` fits metafor's

    rma.mv(yi, V, mods = ~ ..., random = ~ 1 | study/effect, method = "REML")

with ``V`` diagonal (``structure="multilevel"``: the three-level model) or with a
within-study sampling correlation ``rho`` (``structure="che"``: the correlated and
hierarchical effects working model, ``V = impute_covariance_matrix(vi, study, r = rho)``,
Pustejovsky & Tipton 2022), and by default tests each coefficient with CR2
cluster-robust standard errors and Satterthwaite degrees of freedom
(``clubSandwich::coef_test(fit, vcov = "CR2")``).

The two variance components (``sigma2``: between studies, between effects within a
study) maximise the REML (or ML) likelihood (:mod:`synthesis.meta.multilevel_core`:
Fisher scoring over batches of equal-sized studies, no ``k x k`` matrix; 10,000
effects in 2,000 studies take well under a second).
"""
from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from synthesis.errors import DataError
from synthesis.meta.checks import check_effects, format_rows
from synthesis.meta.multilevel_core import MAX_ITERATIONS, _batches, _fit_sigma2, _multilevel_I2, _profile, _start
from synthesis.meta.pooled import StatisticAliases, bracket, normalise_level, p_text
from synthesis.meta.regression import encode_moderators, moderator_coding
from synthesis.meta.robust import RobustTest, cr2_coef_test
from synthesis.numbers import number
from synthesis.results import Result, jsonable

__all__ = ["multilevel_meta_analysis", "MultilevelResult", "STRUCTURES"]

STRUCTURES = ("multilevel", "che")


@dataclass(repr=False)
class MultilevelResult(StatisticAliases, Result):
    """Result of :func:`multilevel_meta_analysis` (metafor's ``rma.mv`` names in snake_case).

    Attributes
    ----------
    coef_names : list of str
    coef, se, stat (``tval``/``zval``), df, pval, ci_lb, ci_ub : ndarray
        One per coefficient: CR2 robust with Satterthwaite df when ``robust="CR2"``,
        else model-based (``df`` is ``inf`` under the z test).
    vb : ndarray
        Model-based variance of the coefficients; ``vcov`` is the one the table uses.
    sigma2 : ndarray
        ``[between studies, between effects within studies]``.
    QE, QEp : float
        Test for residual heterogeneity (k - p df), as ``rma.mv``.
    QM, QMp : float
        Model-based omnibus test of the moderators (NaN without moderators; every
        coefficient without an intercept), as ``rma.mv``.
    I2 : float
        Percent of the total variance that is heterogeneity: ``sum(sigma2)`` over
        ``sum(sigma2)`` plus the typical sampling variance ``(k - p) / tr(P)`` with
        ``P = W - W X (X'W X)^-1 X'W`` and ``W = V^-1`` (the multilevel I² of
        Nakagawa & Santos 2012 and metafor's FAQ).
    ll : float
        Log-likelihood (restricted under REML), as ``logLik``.
    k, n_studies, p : int
    X : ndarray
        The design matrix of the fitted rows (k x p).
    coding : dict
        How the moderators were coded (:func:`synthesis.meta.regression.moderator_coding`),
        used by :meth:`predict`.
    robust_test : RobustTest or None
        The CR2 test (its :meth:`~synthesis.meta.robust.RobustTest.contrast_df` gives
        the Satterthwaite df of a prediction).
    """

    coef_names: list[str]
    coef: np.ndarray
    se: np.ndarray
    stat: np.ndarray
    df: np.ndarray
    pval: np.ndarray
    ci_lb: np.ndarray
    ci_ub: np.ndarray
    vb: np.ndarray
    vcov: np.ndarray
    sigma2: np.ndarray
    QE: float
    QEp: float
    QM: float
    QMp: float
    ll: float
    I2: float
    k: int
    n_studies: int
    p: int
    method: str
    structure: str
    rho: float
    robust: str | None
    test: str
    level: float
    iterations: int
    converged: bool
    X: np.ndarray | None = field(default=None, repr=False)
    coding: dict[str, list[Any] | None] | None = field(default=None, repr=False)
    robust_test: RobustTest | None = field(default=None, repr=False)

    @property
    def stat_name(self) -> str:
        """``"tval"`` under CR2 or the t test, else ``"zval"``."""
        return "tval" if self.robust or self.test == "t" else "zval"

    @property
    def estimate(self) -> float:
        """The first coefficient (the pooled effect when there are no moderators)."""
        return float(self.coef[0])

    def prediction_interval(self, coefficient: int = 0) -> tuple[float, float]:
        """Prediction interval for the true effect of a new effect size in a new study.

        As metafor's ``predict()`` of an ``rma.mv`` fit (of its ``robust(...,
        clubSandwich = TRUE)`` version under CR2): the coefficient (a pooled effect:
        the intercept, or a subgroup mean without an intercept) plus or minus the t
        (Satterthwaite df) or normal quantile times ``sqrt(se² + sum(sigma2))``.

        Examples
        --------
        >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3, 4, 4], "yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4, 0.1],
        ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.05, 0.02, 0.03]})
        >>> lb, ub = multilevel_meta_analysis(d).prediction_interval()
        >>> lb < 0.3 < ub
        True
        """
        crit = stats.t.ppf(0.5 + self.level / 2, self.df[coefficient])
        half = crit * np.sqrt(self.se[coefficient] ** 2 + np.sum(self.sigma2))
        return float(self.coef[coefficient] - half), float(self.coef[coefficient] + half)

    def predict(self, newmods: Any = None, *, level: float | None = None,
                transf: Any = None, pi: bool = True) -> Any:
        """Predicted effects at new moderator values (:func:`synthesis.meta.prediction.predict`).

        As metafor's ``predict()`` of the ``rma.mv`` fit, or under CR2 of its ``robust(...,
        clubSandwich = TRUE)`` version: CR2 standard errors and Satterthwaite df of each
        prediction (``clubSandwich::linear_contrast``); prediction intervals add
        ``sum(sigma2)``.

        Examples
        --------
        >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3, 4, 4, 5], "yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4, 0.1, 0.3],
        ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.05, 0.02, 0.03, 0.02],
        ...                   "dose": [1, 1, 2, 2, 3, 1, 1, 2]})
        >>> fit = multilevel_meta_analysis(d, moderators=["dose"])
        >>> fit.predict({"dose": [1, 3]}).to_frame().columns.tolist()
        ['dose', 'pred', 'se', 'ci_lb', 'ci_ub', 'pi_lb', 'pi_ub', 'df']
        """
        from synthesis.meta.prediction import predict

        return predict(self, newmods, level=level, transf=transf, pi=pi)

    def wald_htz(self, coefficients: Sequence[int] | None = None) -> Any:
        """CR2 HTZ test that the ``coefficients`` are all 0 (default: every moderator term).

        As ``clubSandwich::Wald_test(fit, constrain_zero(...), vcov = "CR2", test = "HTZ")``;
        see :meth:`synthesis.meta.robust.RobustTest.wald_htz`. Needs ``robust="CR2"``.

        Examples
        --------
        >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3, 4, 4, 5, 5, 6], "yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4, 0.1,
        ...                   0.3, 0.6, 0.2], "vi": [0.02] * 10, "arm": list("aabbcaabcc")})
        >>> w = multilevel_meta_analysis(d, moderators=["arm"], categorical=["arm"]).wald_htz()
        >>> w.df_num
        2
        """
        if self.robust_test is None:
            raise ValueError("the HTZ test needs a CR2 fit (robust='CR2')")
        if coefficients is None:
            first = 1 if self.coef_names and self.coef_names[0] == "intrcpt" else 0
            coefficients = range(first, self.p)
        return self.robust_test.wald_htz(self.coef, np.eye(self.p)[list(coefficients)])

    def to_frame(self) -> pd.DataFrame:
        """Coefficient table: ``estimate, se, tval|zval, df, pval, ci_lb, ci_ub`` per term."""
        return pd.DataFrame({"estimate": self.coef, "se": self.se, self.stat_name: self.stat, "df": self.df,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub},
                            index=pd.Index(self.coef_names, name="term"))

    def summary(self) -> pd.DataFrame:
        """The coefficient table; variance components and tests are in the ``repr`` and :meth:`to_dict`.

        Examples
        --------
        >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3, 4, 4], "yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4, 0.1],
        ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.05, 0.02, 0.03]})
        >>> multilevel_meta_analysis(d).summary().columns.tolist()
        ['estimate', 'se', 'tval', 'df', 'pval', 'ci_lb', 'ci_ub']
        """
        return self.to_frame()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary (metafor's names; NaN becomes ``None``)."""
        return jsonable({"method": self.method, "structure": self.structure, "rho": self.rho,
                         "robust": self.robust, "test": self.test, "level": self.level, "k": self.k,
                         "n_studies": self.n_studies, "coefficients": self.to_frame().to_dict(orient="index"),
                         "sigma2": self.sigma2, "sigma2_study": self.sigma2[0], "sigma2_effect": self.sigma2[1],
                         "QE": self.QE, "QEp": self.QEp, "QM": self.QM, "QMp": self.QMp, "ll": self.ll,
                         "I2": self.I2, "converged": self.converged})

    def title(self) -> str:
        """``Three-level model (REML, CR2), k = 56 effects in 11 studies``."""
        model = "Three-level model" if self.structure == "multilevel" else f"CHE model (rho = {self.rho:g})"
        inference = f", {self.robust}" if self.robust else ""
        return f"{model} ({self.method}{inference}), k = {self.k} effects in {self.n_studies} studies"

    def __repr__(self) -> str:
        est = self.to_frame().iloc[0]
        return (f"{self.title()}\n"
                f"sigma² (studies) = {number(self.sigma2[0], 4)}, sigma² (effects) = {number(self.sigma2[1], 4)}; "
                f"QE(df = {self.k - self.p}) = {number(self.QE, 4)}, {p_text(self.QEp)}\n"
                f"{self.coef_names[0]}: {number(est['estimate'], 4)} {bracket(est['ci_lb'], est['ci_ub'])}, "
                f"{p_text(est['pval'])}\n" + self.to_frame().round(4).to_string())


def _analysable(data: pd.DataFrame, columns: Sequence[str], yi: str, vi: str) -> pd.DataFrame:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise DataError(f"column(s) {', '.join(map(repr, missing))} not found; the data have columns: "
                        + ", ".join(map(str, data.columns)))
    data = data.reset_index(drop=True)
    others = [c for c in columns if c not in (yi, vi)]
    incomplete = data[others].isna().any(axis=1).to_numpy()
    if incomplete.all():
        raise DataError(f"every row has a missing value in {', '.join(others)}; nothing left to analyse")
    if incomplete.any():
        warnings.warn(f"{format_rows(np.flatnonzero(incomplete))} dropped: missing value in "
                      f"{', '.join(others)}", UserWarning, stacklevel=3)
    return data.loc[~incomplete]


def multilevel_meta_analysis(data: pd.DataFrame, yi: str = "yi", vi: str = "vi", study: str = "study",
                             effect: str | None = None, *, moderators: str | Sequence[str] = (),
                             categorical: Iterable[str] = (), reference: Mapping[str, Any] | None = None,
                             method: str = "REML", structure: str = "multilevel", rho: float = 0.6,
                             robust: str | None = "CR2", test: str = "z", level: float = 0.95,
                             sigma2: Sequence[float | None] | None = None, intercept: bool = True
                             ) -> MultilevelResult:
    """Meta-analysis (or meta-regression) of several effects per study.

    Parameters
    ----------
    data : DataFrame
        One row per effect size.
    yi, vi, study : str
        Columns: effect size, sampling variance, study (the cluster).
    effect : str, optional
        Column identifying the effect within its study (checked to be unique there);
        every row is its own effect either way.
    moderators, categorical, reference
        As :func:`synthesis.meta_regression` (treatment coding as R's ``factor``).
    method : {"REML", "ML"}
    structure : {"multilevel", "che"}
        ``"multilevel"``: independent sampling errors (the three-level model);
        ``"che"``: sampling errors of one study correlated ``rho``.
    rho : float
        Within-study sampling correlation of the CHE model (ignored for ``"multilevel"``).
    robust : {"CR2", None}
        CR2 cluster-robust tests with Satterthwaite df by study, or model-based tests.
    test : {"z", "t"}
        Model-based tests (``robust=None``): normal, or t with k - p df, as ``rma.mv``.
    level : float
        Confidence level (0.95 or 95).
    sigma2 : pair of float or None, optional
        Fix a variance component (``[between studies, within studies]``; ``None`` or NaN
        = estimate it), as ``rma.mv(sigma2 = ...)``.
    intercept : bool
        False fits ``mods = ~ 0 + ...`` (with one categorical moderator: a mean per level).

    Returns
    -------
    MultilevelResult

    Examples
    --------
    >>> d = pd.DataFrame({"study": [1, 1, 2, 2, 3, 4, 4], "yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4, 0.1],
    ...                   "vi": [0.02, 0.03, 0.02, 0.04, 0.05, 0.02, 0.03]})
    >>> fit = multilevel_meta_analysis(d, structure="che", rho=0.5)
    >>> fit.k, fit.n_studies, fit.coef_names
    (7, 4, ['intrcpt'])
    """
    method = str(method).upper()
    if method not in ("REML", "ML"):
        raise ValueError(f"method must be 'REML' or 'ML' for a multilevel model, got {method!r}")
    if structure not in STRUCTURES:
        raise ValueError(f"structure must be one of {', '.join(STRUCTURES)}, got {structure!r}")
    if robust not in ("CR2", None):
        raise ValueError(f"robust must be 'CR2' or None, got {robust!r}")
    if test not in ("z", "t"):
        raise ValueError(f"test must be 'z' or 't', got {test!r}")
    rho = float(rho) if structure == "che" else 0.0
    if not -1 < rho < 1:
        raise ValueError(f"rho must lie strictly between -1 and 1, got {rho!r}")
    level = normalise_level(level)
    moderators = [moderators] if isinstance(moderators, str) else list(moderators)
    columns = [yi, vi, study, *moderators] + ([effect] if effect else [])
    rows = _analysable(data, columns, yi, vi)
    y, v, kept = check_effects(rows[yi].to_numpy(), rows[vi].to_numpy(), names=(yi, vi))
    rows = rows.loc[kept]
    if effect and rows.duplicated([study, effect]).any():
        twice = np.flatnonzero(rows.duplicated([study, effect], keep=False).to_numpy())
        raise DataError(f"column {effect!r}, {format_rows(rows.index[twice])}: the same effect id twice in "
                        "one study; give each effect of a study its own id")
    coding = moderator_coding(rows, moderators, categorical=categorical, reference=reference)
    X, names = encode_moderators(rows, coding, intercept=intercept)
    codes, studies = pd.factorize(rows[study], sort=True)
    k, p = X.shape
    if len(studies) < 2:
        raise DataError(f"column {study!r}: all effects come from one study; a multilevel model needs "
                        "at least two studies")
    if k <= p or np.linalg.matrix_rank(X) < p:
        raise DataError(f"{k} effects cannot estimate {p} coefficients ({', '.join(names)}): use fewer "
                        "moderators or levels, or remove collinear ones")
    if len(studies) == k:
        raise DataError(f"column {study!r}: every study has one effect size, so the two variance "
                        "components cannot be told apart; use meta_analysis")
    batches = _batches(codes, y, X, v, rho)
    given = np.array([np.nan, np.nan] if sigma2 is None else [np.nan if s is None else s for s in sigma2],
                     dtype=float)
    if given.shape != (2,) or np.any(given < 0):
        raise ValueError(f"sigma2 must be two variances >= 0 (or None to estimate), got {sigma2!r}")
    fixed = ~np.isnan(given)
    start = np.where(fixed, given, _start(batches))
    sigma2, iterations, converged = _fit_sigma2(batches, method == "REML", start, fixed)
    if not converged:
        warnings.warn(f"the variance components did not converge in {MAX_ITERATIONS} iterations",
                      UserWarning, stacklevel=2)
    fit = _profile(batches, sigma2, method == "REML", derivatives=False)
    fixed = _profile(batches, np.zeros(2), reml=False, derivatives=False)
    QE = float(sum(np.sum(r * np.linalg.solve(b.V, r[..., None])[..., 0])
                   for b, r in zip(batches, fixed.residuals)))
    beta, vb = fit.beta, fit.bread
    QM = QMp = np.nan
    tested = 1 if intercept else 0  # the coefficients of the omnibus test
    if p > tested:
        b, q = beta[tested:], p - tested
        QM = float(b @ np.linalg.solve(vb[tested:, tested:], b))
        QMp = float(stats.chi2.sf(QM, q)) if test == "z" else float(stats.f.sf(QM / q, q, k - p))
        QM = QM if test == "z" else QM / q
    cr2 = None
    if robust:
        cr2 = cr2_coef_test(beta, vb, [(b.X, M, r) for b, M, r in zip(batches, fit.marginal, fit.residuals)],
                            level=level)
        vcov, se, stat, df, pval, ci_lb, ci_ub = (cr2.vcov, cr2.se, cr2.tval, cr2.df, cr2.pval, cr2.ci_lb,
                                                  cr2.ci_ub)
    else:
        vcov, se = vb, np.sqrt(np.diag(vb))
        stat = beta / se
        df = np.full(p, np.inf if test == "z" else float(k - p))
        pval = 2 * stats.t.sf(np.abs(stat), df)
        crit = stats.t.ppf(0.5 + level / 2, df)
        ci_lb, ci_ub = beta - crit * se, beta + crit * se
    return MultilevelResult(
        coef_names=names, coef=beta, se=se, stat=stat, df=df, pval=pval, ci_lb=ci_lb, ci_ub=ci_ub, vb=vb,
        vcov=vcov, sigma2=sigma2, QE=QE, QEp=float(stats.chi2.sf(QE, k - p)), QM=QM, QMp=QMp, ll=fit.ll,
        I2=_multilevel_I2(batches, sigma2, k - p), k=k, n_studies=len(studies), p=p, method=method, structure=structure, rho=rho, robust=robust,
        test=test, level=level, iterations=iterations, converged=converged, X=X, coding=coding, robust_test=cr2)
