"""Reading the strategy model's data: strategies, their classes and components, moderators.

Each helper turns columns of the one-row-per-effect-size table into arrays, and a
user mistake into a one-line :class:`~synthesis.errors.DataError` naming the column,
the rows and what to do.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import pandas as pd

from synthesis.bayes.posterior import unique_labels
from synthesis.errors import DataError
from synthesis.meta.checks import format_rows

__all__ = ["Moderator", "build_moderators", "get_column", "level_name", "parse_components",
           "split_cell", "strategy_design", "text_cells"]


@dataclasses.dataclass
class Moderator:
    """A moderator's columns in the design matrix (categorical: one per non-reference level)."""

    name: str
    type: Literal["categorical", "continuous"]
    terms: list[str]
    levels: list[str] = dataclasses.field(default_factory=list)  # categorical: reference first
    centre: float = 0.0
    spread: float = 1.0

    def row(self, value: Any) -> np.ndarray:
        """Design-matrix entries for one value (None: reference level / mean)."""
        if self.type == "continuous":
            if value is None:
                return np.zeros(1)
            try:
                x = float(value)
            except (TypeError, ValueError):
                raise DataError(f"moderator {self.name!r} is continuous; give a number, "
                                f"not {value!r}") from None
            return np.array([(x - self.centre) / self.spread])
        value = self.levels[0] if value is None else level_name(value)
        if value not in self.levels:
            raise DataError(f"moderator {self.name!r} has no level {value!r}; "
                            f"known levels: {', '.join(self.levels)}")
        return np.array([1.0 if value == level else 0.0 for level in self.levels[1:]])

    def describe(self) -> dict[str, Any]:
        if self.type == "continuous":
            return {"name": self.name, "type": "continuous", "terms": self.terms,
                    "mean": self.centre, "sd": self.spread,
                    "note": "standardised: coefficient per standard deviation"}
        return {"name": self.name, "type": "categorical", "terms": self.terms,
                "reference": self.levels[0], "levels": self.levels}


def get_column(data: pd.DataFrame, name: str, role: str) -> pd.Series:
    """Column ``name`` of ``data``; if it is missing, say which argument (``role=``) names it."""
    if name not in data.columns:
        raise DataError(f"column {name!r} ({role}) is missing; columns are: "
                        f"{', '.join(map(str, data.columns))}. Pass {role}= to name another column")
    return data[name]


def text_cells(series: pd.Series, column: str) -> list[str]:
    """The cells of a text column, stripped; empty cells are refused with their rows."""
    values = [None if pd.isna(v) else str(v).strip() for v in series.tolist()]
    empty = [i for i, v in enumerate(values) if not v]
    if empty:
        raise DataError(f"column {column!r}, {format_rows(empty)}: empty; every effect size "
                        "needs a value here")
    return values  # type: ignore[return-value]


def split_cell(cell: str) -> list[str]:
    """``"A; B"`` -> ``["A", "B"]``.

    Examples
    --------
    >>> split_cell("Audit and feedback; Reminders;")
    ['Audit and feedback', 'Reminders']
    """
    return [part.strip() for part in cell.split(";") if part.strip()]


def parse_components(strategies: list[str], component_cells: list[str] | None,
                      class_cells: list[str] | None, component_col: str | None,
                      class_col: str | None) -> tuple[list[list[str]], dict[str, str]]:
    """Components of each row and the class of each component."""
    comps = []
    for i, strategy in enumerate(strategies):
        cell = component_cells[i] if component_cells is not None else None
        comps.append(split_cell(cell) if cell else [strategy])
    class_of: dict[str, str] = {}
    if class_cells is None:
        return comps, class_of
    where: dict[str, list[int]] = {}
    for i, (row_comps, cell) in enumerate(zip(comps, class_cells)):
        row_classes = split_cell(cell)
        if len(row_classes) == 1:
            row_classes = row_classes * len(row_comps)
        if len(row_classes) != len(row_comps):
            raise DataError(f"column {class_col!r}, {format_rows([i])}: {len(row_classes)} "
                            f"classes for {len(row_comps)} components in {component_col!r}; give "
                            "one class, or one per component separated by ';'")
        for comp, cls in zip(row_comps, row_classes):
            if class_of.setdefault(comp, cls) != cls:
                raise DataError(f"column {class_col!r}, {format_rows(where[comp][:1] + [i])}: "
                                f"strategy {comp!r} is put in two classes ({class_of[comp]!r} "
                                f"and {cls!r}); each strategy belongs to one class")
            where.setdefault(comp, []).append(i)
    return comps, class_of


def level_name(value: Any) -> str:
    """A categorical level as text; 1.0 and 1 are the same level ("1").

    Examples
    --------
    >>> level_name(1.0), level_name(" routine ")
    ('1', 'routine')
    """
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _moderator_specs(moderators: Any) -> list[dict[str, Any]]:
    specs = []
    for item in moderators or ():
        if isinstance(item, str):
            specs.append({"name": item})
        elif isinstance(item, Mapping) and "name" in item:
            specs.append(dict(item))
        else:
            raise DataError(f"moderator {item!r}: give a column name or a mapping with 'name' "
                            "(and optionally 'type' and 'reference')")
    return specs


def build_moderators(data: pd.DataFrame, moderators: Any) -> tuple[list[Moderator], np.ndarray]:
    """The moderators (column names or ``{name, type, reference}`` mappings) and their design
    matrix: continuous moderators standardised, categorical ones as indicators of the levels
    other than the reference (default: the most frequent level, ties alphabetically)."""
    mods, blocks = [], []
    for spec in _moderator_specs(moderators):
        name = spec["name"]
        col = get_column(data, name, "moderator")
        missing = np.flatnonzero(col.isna().to_numpy())
        if missing.size:
            raise DataError(f"column {name!r}, {format_rows(missing)}: missing moderator value; "
                            "fill it in or drop the moderator")
        kind = spec.get("type") or ("continuous" if pd.api.types.is_numeric_dtype(col)
                                    and not pd.api.types.is_bool_dtype(col) else "categorical")
        if kind == "continuous":
            x = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
            bad = np.flatnonzero(~np.isfinite(x))
            if bad.size:
                raise DataError(f"column {name!r}, {format_rows(bad)}: not a number; a "
                                "continuous moderator needs numbers")
            spread = float(x.std(ddof=1)) if len(x) > 1 else 0.0
            if not spread > 0:
                raise DataError(f"moderator {name!r} takes a single value; drop it")
            mod = Moderator(name, "continuous", [name], centre=float(x.mean()), spread=spread)
            blocks.append(((x - mod.centre) / spread)[:, None])
        elif kind == "categorical":
            values = [level_name(v) for v in col.tolist()]
            counts = pd.Series(values).value_counts()
            if len(counts) < 2:
                raise DataError(f"moderator {name!r} has a single level ({values[0]!r}); drop it")
            reference = spec.get("reference")
            if reference is None:  # most frequent level, ties alphabetically
                reference = sorted(counts.index, key=lambda lv: (-counts[lv], lv))[0]
            reference = level_name(reference)
            if reference not in counts.index:
                raise DataError(f"moderator {name!r}: reference level {reference!r} does not "
                                f"occur; levels are {', '.join(sorted(counts.index))}")
            levels = [reference] + sorted(lv for lv in counts.index if lv != reference)
            mod = Moderator(name, "categorical", [f"{name}[{lv}]" for lv in levels[1:]],
                             levels=levels)
            blocks.append(np.array([mod.row(v) for v in values]))
        else:
            raise DataError(f"moderator {name!r}: type {kind!r} is not known; use "
                            "'categorical' or 'continuous'")
        mods.append(mod)
    design = np.hstack(blocks) if blocks else np.zeros((len(data), 0))
    return mods, design


def strategy_design(frame: pd.DataFrame, *, study: str, strategy: str, strategy_class: str | None,
                    components: str | None, moderators: Any, effect_label: str | None
                    ) -> dict[str, Any]:
    """Labels, indices and matrices of the strategy model for the rows of ``frame``.

    Returns the keyword arguments of the model specification: ``effect_labels``,
    ``study_labels``, ``study_index``, ``strategies`` (sorted), ``classes``
    (empty without a class column), ``class_of_strategy``, ``components``
    (effects x strategies, 0/1), ``moderators`` and ``design`` (effects x terms).

    Examples
    --------
    >>> frame = pd.DataFrame({"study": ["A", "A", "B"], "strategy": ["R", "F", "R"],
    ...                       "cls": ["x", "y", "x"]})
    >>> d = strategy_design(frame, study="study", strategy="strategy", strategy_class="cls",
    ...                     components=None, moderators=(), effect_label=None)
    >>> d["strategies"], d["classes"], d["study_index"].tolist(), d["effect_labels"]
    (['F', 'R'], ['x', 'y'], [0, 0, 1], ['A #1', 'A #2', 'B #3'])
    """
    studies = text_cells(get_column(frame, study, "study"), study)
    strategies = text_cells(get_column(frame, strategy, "strategy"), strategy)
    comp_cells = None
    if components is not None:
        comp_cells = [None if pd.isna(c) else str(c)
                      for c in get_column(frame, components, "components").tolist()]
    class_cells = (text_cells(get_column(frame, strategy_class, "strategy_class"), strategy_class)
                   if strategy_class is not None else None)
    comps, class_of = parse_components(strategies, comp_cells, class_cells, components,
                                       strategy_class)
    strategy_names = sorted({c for row in comps for c in row})
    s_index = {s: i for i, s in enumerate(strategy_names)}
    comp_matrix = np.zeros((len(frame), len(strategy_names)))
    for i, row in enumerate(comps):
        for c in row:
            comp_matrix[i, s_index[c]] = 1.0
    classes = sorted(set(class_of.values())) if class_cells is not None else []
    class_of_strategy = np.array([classes.index(class_of[s]) for s in strategy_names]
                                 if classes else [], dtype="int64")
    study_names = sorted(set(studies), key=studies.index)
    study_index = np.array([study_names.index(s) for s in studies], dtype="int64")
    mods, design = build_moderators(frame, moderators)
    if effect_label is not None:
        labels = unique_labels(get_column(frame, effect_label, "effect_label").tolist())
    else:
        labels = [f"{s} #{i + 1}" for i, s in enumerate(studies)]
    return {"effect_labels": labels, "study_labels": study_names, "study_index": study_index,
            "strategies": strategy_names, "classes": classes,
            "class_of_strategy": class_of_strategy, "components": comp_matrix,
            "moderators": mods, "design": design}
