"""Predicted effects with confidence and prediction intervals (metafor's ``predict.rma``).

For a pooled model: the pooled effect. For a meta-regression: the effect
expected at new moderator values (``newmods``), or each study's fitted value.

* ``pred = x'b`` and ``se = sqrt(x' vb x)`` with the model's covariance of the
  coefficients (already scaled under ``test="knha"``);
* the confidence interval ``pred -/+ crit se`` and the prediction interval for
  the true effect in a new setting ``pred -/+ crit sqrt(se² + tau²)``, with
  ``crit`` from the normal or, under ``knha``, the t distribution with k - p
  degrees of freedom (metafor's default); an equal-effects model has no
  prediction interval;
* ``transf`` (e.g. ``np.exp``) back-transforms ``pred`` and the bounds; the
  standard error is then not shown (NaN, metafor's NA) and bounds that a
  decreasing function reversed are put back in order.

For several effects per study (:class:`~synthesis.meta.multilevel.MultilevelResult`),
as metafor's ``predict()`` of an ``rma.mv`` fit: the prediction interval adds
``sum(sigma2)``; under CR2 (``robust(..., clubSandwich = TRUE)`` in metafor) the
standard error is the CR2 one and each prediction has its own Satterthwaite df
(``clubSandwich::linear_contrast``), in the column ``df``.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from synthesis.errors import DataError
from synthesis.meta.multilevel import MultilevelResult
from synthesis.meta.pooled import MetaResult, normalise_level
from synthesis.meta.regression import MetaRegressionResult, encode_moderators
from synthesis.numbers import level_percent
from synthesis.results import Result, jsonable

__all__ = ["predict", "PredictionResult", "new_design", "ordered_bounds"]

COLUMNS = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")


@dataclass(repr=False)
class PredictionResult(Result):
    """Result of :func:`predict`: one row per new setting (or per study for fitted values).

    Attributes
    ----------
    table : DataFrame
        ``pred, se, ci_lb, ci_ub, pi_lb, pi_ub`` (metafor's names in snake_case).
    settings : DataFrame or None
        The moderator values of each row, when given by name.
    method, test : str
        The model's tau² method and test.
    level : float
        Level of both intervals.
    df : float or None
        Degrees of freedom of the t distribution (``knha``, or the t test of a multilevel
        model), else None; under CR2 each row has its own, in the table's ``df`` column.
    transformed : bool
        Whether ``transf`` was applied.
    """

    table: pd.DataFrame
    settings: pd.DataFrame | None
    method: str
    test: str
    level: float
    df: float | None
    transformed: bool

    pred = property(lambda self: self.column("pred"), doc="Predicted effects.")
    se = property(lambda self: self.column("se"), doc="Their standard errors (NaN after ``transf``).")
    ci_lb = property(lambda self: self.column("ci_lb"), doc="Lower confidence bounds.")
    ci_ub = property(lambda self: self.column("ci_ub"), doc="Upper confidence bounds.")
    pi_lb = property(lambda self: self.column("pi_lb"), doc="Lower prediction bounds (NaN for EE).")
    pi_ub = property(lambda self: self.column("pi_ub"), doc="Upper prediction bounds (NaN for EE).")

    def column(self, name: str) -> np.ndarray:
        """One column of :attr:`table` as an array."""
        return self.table[name].to_numpy()

    def __len__(self) -> int:
        return len(self.table)

    def to_frame(self) -> pd.DataFrame:
        """One row per setting: its moderator values (when named), then the prediction columns."""
        if self.settings is None:
            return self.table.copy()
        return pd.concat([self.settings, self.table], axis=1)

    def summary(self) -> pd.DataFrame:
        """The prediction columns, one row per setting."""
        return self.table

    def to_dict(self) -> dict[str, Any]:
        """JSON-able dictionary: the model's method and test, the level and every row."""
        out: dict[str, Any] = {"method": self.method, "test": self.test, "level": self.level,
                               "transformed": self.transformed, "predictions": self.to_frame()}
        if self.df is not None:
            out["df"] = self.df
        return jsonable(out)

    def title(self) -> str:
        """``Predicted effects (REML, z): 95% CI and prediction interval, 2 settings``."""
        intervals = "CI" if self.table["pi_lb"].isna().all() else "CI and prediction interval"
        n = len(self.table)
        scale = ", back-transformed" if self.transformed else ""
        return (f"Predicted effects ({self.method}, {self.test}{scale}): {level_percent(self.level)} "
                f"{intervals}, {n} setting{'s' if n != 1 else ''}")


def _levels_by_text(levels: list[Any]) -> dict[str, Any]:
    return {str(level): level for level in levels}


def new_design(fit: MetaRegressionResult, newmods: Any) -> tuple[np.ndarray, pd.DataFrame | None, pd.Index]:
    """The rows of the design matrix for ``newmods``, coded as the model's own design.

    ``newmods`` is a DataFrame or a mapping of moderator name to value(s)
    (categorical levels by name, continuous values as numbers), or a raw matrix
    of the moderator columns in the order of ``fit.coef_names`` (without the
    intercept). Returns ``(X_new, settings, index)``.

    Examples
    --------
    >>> from synthesis.meta.regression import meta_regression
    >>> d = pd.DataFrame({"yi": [0.1, 0.3, 0.5, 0.2, 0.7, 0.4], "vi": [0.02] * 6,
    ...                   "arm": ["a", "b", "a", "b", "a", "b"], "dose": [1, 2, 3, 1, 4, 2]})
    >>> fit = meta_regression(d, ["dose", "arm"])
    >>> new_design(fit, {"dose": 2, "arm": "b"})[0].tolist()
    [[1.0, 2.0, 1.0]]
    """
    intercept = bool(fit.coef_names) and fit.coef_names[0] == "intrcpt"
    if isinstance(newmods, (pd.DataFrame, Mapping)):
        return _named_design(fit, newmods, intercept)
    moderators = fit.coef_names[1:] if intercept else fit.coef_names
    try:
        values = np.asarray(newmods, dtype=float)
    except (TypeError, ValueError):
        raise DataError("newmods must hold numbers when given as a matrix; give a DataFrame or a dict "
                        "of moderator values to name categorical levels") from None
    m = len(moderators)
    if values.ndim <= 1:
        values = values.reshape(-1, 1) if m == 1 else values.reshape(1, -1)
    if values.ndim != 2 or values.shape[1] != m:
        raise DataError(f"newmods has {values.shape[-1]} column(s) but the model has {m} moderator "
                        f"column(s): {', '.join(moderators)}; give one value per column (no intercept)")
    X_new = np.column_stack([np.ones(len(values)), values]) if intercept else values
    return X_new, None, pd.RangeIndex(len(values))


def _named_design(fit: MetaRegressionResult, newmods: Any, intercept: bool
                  ) -> tuple[np.ndarray, pd.DataFrame, pd.Index]:
    if fit.coding is None:
        raise DataError("this model does not know how its moderators were coded; give newmods as a matrix "
                        f"of the columns {', '.join(fit.coef_names)}")
    if isinstance(newmods, pd.DataFrame):
        frame = newmods.copy()
    else:
        scalar = all(np.ndim(value) == 0 for value in newmods.values())
        frame = pd.DataFrame(dict(newmods), index=[0] if scalar else None)
    missing = [name for name in fit.coding if name not in frame.columns]
    unknown = [str(name) for name in frame.columns if name not in fit.coding]
    if missing or unknown:
        problems = ([f"no value for {', '.join(map(repr, missing))}"] if missing else []) + \
                   ([f"{', '.join(map(repr, unknown))} not in the model"] if unknown else [])
        raise DataError(f"newmods: {'; '.join(problems)}; the model's moderators are "
                        f"{', '.join(fit.coding)}")
    frame = frame[list(fit.coding)]
    coded = frame.copy()
    for name, levels in fit.coding.items():
        column = frame[name]
        if column.isna().any():
            raise DataError(f"newmods: moderator {name!r} has a missing value; give a value in every row")
        if levels is None:
            continue
        lookup = _levels_by_text(levels)
        unknown_levels = sorted({str(value) for value in column if str(value) not in lookup})
        if unknown_levels:
            raise DataError(f"newmods: moderator {name!r} has no level {', '.join(map(repr, unknown_levels))}; "
                            f"its levels are {', '.join(map(str, levels))}")
        coded[name] = [lookup[str(value)] for value in column]
    X_new, _ = encode_moderators(coded, fit.coding, intercept=intercept)
    return X_new, frame, frame.index


Fit = MetaResult | MetaRegressionResult | MultilevelResult


def _model(fit: Fit) -> tuple[np.ndarray, np.ndarray, float]:
    """Coefficients, their covariance (already scaled under knha; CR2 when robust) and the heterogeneity."""
    if isinstance(fit, MetaResult):
        return np.array([fit.estimate]), np.array([[fit.se**2]]), fit.tau2
    if isinstance(fit, MultilevelResult):
        return np.asarray(fit.coef, dtype=float), np.asarray(fit.vcov, dtype=float), float(np.sum(fit.sigma2))
    return np.asarray(fit.coef, dtype=float), np.asarray(fit.vb, dtype=float), fit.tau2


def _critical(fit: Fit, X_new: np.ndarray, level: float) -> tuple[np.ndarray | float, np.ndarray | float | None]:
    """The interval multiplier of each row and its df (None for the normal distribution)."""
    q = 1 - (1 - level) / 2
    if isinstance(fit, MultilevelResult):
        if fit.robust_test is not None:
            df = fit.robust_test.contrast_df(X_new)
            return special.stdtrit(df, q), df
        df = float(fit.k - fit.p) if fit.test == "t" else None
    else:
        df = float(fit.df) if fit.test == "knha" else None
    return (float(special.ndtri(q)) if df is None else float(special.stdtrit(df, q))), df


def ordered_bounds(lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds in order after a decreasing transformation (metafor's ``.psort``).

    Examples
    --------
    >>> [b.tolist() for b in ordered_bounds(np.array([2.0, 1.0]), np.array([1.0, 3.0]))]
    [[1.0, 1.0], [2.0, 3.0]]
    """
    return np.fmin(lower, upper), np.fmax(lower, upper)


def predict(fit: Fit, newmods: Any = None, *, level: float | None = None,
            transf: Callable[[np.ndarray], np.ndarray] | None = None, pi: bool = True) -> PredictionResult:
    """Predicted effect, confidence and prediction interval (metafor's ``predict.rma``).

    Parameters
    ----------
    fit : MetaResult or MetaRegressionResult
    newmods : DataFrame, dict or array-like, optional
        New moderator values for a meta-regression: a DataFrame or dict with a value
        (or a list of values) per moderator, categorical ones by level name; or a raw
        matrix of the moderator columns (``fit.coef_names`` without the intercept).
        Without it: the pooled effect, or each study's fitted value.
    level : float, optional
        Level of the intervals (0.95 or 95); the model's level by default.
    transf : callable, optional
        Applied to ``pred`` and the bounds (``np.exp`` for log odds or risk ratios).
    pi : bool
        Whether to give the prediction interval (never for an equal-effects model).

    Returns
    -------
    PredictionResult

    Examples
    --------
    >>> from synthesis.meta.pooled import meta_analysis
    >>> fit = meta_analysis([0.1, 0.5, 0.9, -0.2], [0.04, 0.05, 0.03, 0.06], method="DL")
    >>> predict(fit).to_frame().round(4)
       pred      se   ci_lb   ci_ub   pi_lb   pi_ub
    0  0.34  0.2461 -0.1424  0.8224 -0.6564  1.3364
    """
    level = fit.level if level is None else normalise_level(level)
    beta, vb, heterogeneity = _model(fit)
    settings = None
    pooled = isinstance(fit, MetaResult) or (isinstance(fit, MultilevelResult) and fit.p == 1
                                             and fit.coef_names == ["intrcpt"])
    if newmods is None:
        if isinstance(fit, MetaRegressionResult):
            X_new, index = fit.X, pd.Index(fit.labels, name="study")
        elif pooled:
            X_new, index = np.ones((1, 1)), pd.RangeIndex(1)
        else:  # a multilevel meta-regression: the fitted value of each effect size
            X_new, index = fit.X, pd.RangeIndex(len(fit.X))
    elif pooled:
        raise DataError("a model without moderators predicts only its pooled effect; newmods is for a "
                        "meta-regression (synthesis.meta_regression, or moderators= of a multilevel model)")
    else:
        X_new, settings, index = new_design(fit, newmods)
    pred = X_new @ beta
    vpred = np.einsum("ij,jk,ik->i", X_new, vb, X_new)
    se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
    crit, df = _critical(fit, X_new, level)
    ci_lb, ci_ub = pred - crit * se, pred + crit * se
    pi_lb = pi_ub = np.full(pred.shape, np.nan)
    if pi and fit.method != "EE":
        half = crit * np.sqrt(vpred + heterogeneity)
        pi_lb, pi_ub = pred - half, pred + half
    if transf is not None:
        pred, ci_lb, ci_ub, pi_lb, pi_ub = (np.asarray(transf(values), dtype=float)
                                            for values in (pred, ci_lb, ci_ub, pi_lb, pi_ub))
        se = np.full(pred.shape, np.nan)
        (ci_lb, ci_ub), (pi_lb, pi_ub) = ordered_bounds(ci_lb, ci_ub), ordered_bounds(pi_lb, pi_ub)
    table = pd.DataFrame(dict(zip(COLUMNS, (pred, se, ci_lb, ci_ub, pi_lb, pi_ub))), index=index)
    if isinstance(df, np.ndarray):  # CR2: a Satterthwaite df per prediction
        table["df"], df = df, None
    test = "CR2" if isinstance(fit, MultilevelResult) and fit.robust else fit.test
    return PredictionResult(table=table, settings=settings, method=fit.method, test=test, level=level,
                            df=df, transformed=transf is not None)
