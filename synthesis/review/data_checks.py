"""Checks of the study data against ``review.yaml``, each problem with file, row and column.

Every problem is collected (not only the first) in a
:class:`~synthesis.review.data_file.Problems`; things worth knowing that are
not errors (missing values, a moderator with one level, ...) become notes.
Which effect-size cells are valid is decided by the engine
(:func:`synthesis.meta.effects.effect_sizes`), not here.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from synthesis.errors import DataError, ReviewError
from synthesis.meta.checks import pooling_problems
from synthesis.meta.effects import InvalidCells, effect_sizes
from synthesis.review.data_file import Problems, format_cell, numeric, same_level, split_cells
from synthesis.review.messages import did_you_mean, show
from synthesis.review.risk_of_bias import rob_judgements
from synthesis.review.schema import Moderator, ReviewSpec
from synthesis.review.taxonomy import Taxonomy

__all__ = ["check_columns", "effect_sizes_checked", "check_rows", "check_moderators", "check_strategies",
           "check_certainty_columns", "check_analysis", "study_labels", "MIN_STUDIES_TO_POOL"]

#: fewest studies a review pools. The engine fits k = 1 (tau² = 0, as metafor), but one study
#: is not a synthesis: no heterogeneity, prediction interval, certainty rating for inconsistency
#: or small-study check exists, so the review pipeline refuses it in ``validate`` and ``run``.
MIN_STUDIES_TO_POOL = 2


def check_columns(spec: ReviewSpec, table: pd.DataFrame, problems: Problems) -> None:
    """Every column named in review.yaml must exist."""
    wanted: list[tuple[str, str]] = [(c, f"effect.columns.{a}") for a, c in spec.effect.columns.items()]
    d = spec.data
    wanted += [(c, "data.study_label") for c in [d.study_label] if c]
    wanted += [(c, "data.label_template") for c in d.template_fields()]
    wanted += [(c, "data.citation") for c in d.citation or []]
    wanted += [(c, "data.study_id") for c in [d.study_id] if c]
    wanted += [(m.name, f"moderators ({m.name})") for m in spec.moderators]
    if spec.strategy is not None:
        s = spec.strategy
        wanted += [(c, f"strategy.{k}") for k, c in (("column", s.column), ("class_column", s.class_column),
                                                     ("components_column", s.components_column)) if c]
    c = spec.certainty
    wanted += [(col, f"certainty.{k}") for k, col in (("risk_of_bias_column", c.risk_of_bias_column),
                                                      ("sample_size_column", c.sample_size_column)) if col]
    randomised = spec.sensitivity.randomised
    wanted += [(randomised.column, "sensitivity.randomised.column")] if randomised is not None else []
    columns = [str(x) for x in table.columns]
    for column, key in wanted:
        if column not in columns:
            problems.add(f"column {column!r} (named in review.yaml as {key}) not found"
                         f"{did_you_mean(column, columns)} The file has the columns: {', '.join(columns)}")


def effect_sizes_checked(spec: ReviewSpec, work: pd.DataFrame, problems: Problems,
                         notes: list[str]) -> pd.DataFrame | None:
    """The effect sizes (``yi``, ``vi``) of the data, every bad cell a problem with its row and column.

    The effect columns of ``work`` are converted to numbers in place. Which
    cells can give a valid effect is decided by
    :func:`synthesis.meta.effects.effect_sizes`; its messages are given the
    file, row, line and column here. Returns None when a cell cannot give a
    valid effect.
    """
    columns = spec.effect.columns
    for column in dict.fromkeys(columns.values()):
        converted, bad = numeric(work[column])
        problems.cells(bad, column, lambda p, c=column: f"{show(work[c].iloc[p])} is not a number; fix the "
                       "value or leave the cell empty")
        work[column] = converted
    measure = "GEN" if spec.effect.pass_through else spec.effect.measure
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            effects = effect_sizes(work, measure, append=False, **columns)
        except InvalidCells as exc:
            for cells in exc.cells:
                problems.cells(cells.rows, cells.column, dict(zip(cells.rows, cells.details)).__getitem__)
            effects = None
        except DataError as exc:  # pragma: no cover - the schema and check_columns rule these out
            problems.add(str(exc))
            effects = None
    notes.extend(f"{problems.rel}: {w.message}" for w in caught)
    values = work[list(dict.fromkeys(columns.values()))].to_numpy(dtype=float)
    missing = np.flatnonzero(np.isnan(values).any(axis=1))
    if missing.size:
        empty = [c for c in dict.fromkeys(columns.values()) if work[c].iloc[missing].isna().any()]
        notes.append(f"{problems.rel}, {problems.where(list(missing))}: no value in "
                     f"{', '.join(repr(c) for c in empty)}; left out of the analysis (as metafor does)")
    return effects


def check_rows(spec: ReviewSpec, table: pd.DataFrame, problems: Problems) -> None:
    """Fully repeated rows, and repeated study ids when each study has one row."""
    repeated = table[table.duplicated(keep=False)]
    if len(repeated):
        groups = repeated.groupby(list(table.columns), dropna=False, sort=False).indices
        for positions in groups.values():
            rows = [table.index.get_loc(repeated.index[i]) for i in positions]
            problems.add(f"{problems.where(rows)} are identical; delete the repeated row, or add a column "
                         "that tells them apart")
    sid = spec.data.study_id
    if sid is not None:
        missing = np.flatnonzero(table[sid].isna().to_numpy())
        problems.cells(missing, sid, "no study id; every row needs one")
        if spec.data.one_effect_per_study:
            ids = table[sid].map(format_cell)
            clashes = ids[ids.duplicated(keep=False) & table[sid].notna()]
            for value, idx in clashes.groupby(clashes, sort=False).groups.items():
                rows = [table.index.get_loc(i) for i in idx]
                problems.add(f"column {sid!r}: study {value!r} appears in {problems.where(rows)}, but "
                             "data.one_effect_per_study is true; keep one row per study, or set "
                             "one_effect_per_study: false to analyse several effects per study")


def check_moderators(spec: ReviewSpec, work: pd.DataFrame, problems: Problems,
                      notes: list[str]) -> list[Moderator]:
    """Check moderator columns; return the moderators with reference levels as they appear in the data."""
    resolved = []
    for mod in spec.moderators:
        column = work[mod.name]
        missing = np.flatnonzero(column.isna().to_numpy())
        if missing.size:
            notes.append(f"{problems.rel}, column {mod.name!r}: no value in {problems.where(list(missing))}; "
                         "those rows are left out of this moderator's analysis")
        if mod.type == "continuous":
            converted, bad = numeric(column)
            problems.cells(bad, mod.name, lambda p, c=column: f"{show(c.iloc[p])} is not a number, but "
                           "the moderator is continuous; fix the value, or make the moderator categorical")
            if not bad:
                work[mod.name] = converted
            resolved.append(mod)
            continue
        levels = list(pd.unique(column.dropna()))
        shown = ", ".join(format_cell(lv) for lv in sorted(levels, key=str))
        if len(levels) < 2:
            notes.append(f"{problems.rel}, column {mod.name!r}: only one level ({shown}); the moderator "
                         "cannot explain differences")
        update: dict[str, Any] = {}
        if mod.reference is not None:
            match = [lv for lv in levels if same_level(lv, mod.reference)]
            if not match:
                problems.add(f"column {mod.name!r}: the reference level {mod.reference!r} (moderators: "
                             f"{mod.name}) does not occur; the levels are {shown}")
            else:
                update["reference"] = match[0].item() if hasattr(match[0], "item") else match[0]
        if mod.level_labels:
            labels = {}
            for key, text in mod.level_labels.items():
                match = [lv for lv in levels if same_level(lv, key)]
                if not match:
                    problems.add(f"column {mod.name!r}: level_labels names the level {key!r}, which does "
                                 f"not occur; the levels are {shown}")
                else:
                    labels[format_cell(match[0])] = text
            update["level_labels"] = labels
        resolved.append(mod.model_copy(update=update))
    return resolved


def check_strategies(spec: ReviewSpec, table: pd.DataFrame, problems: Problems,
                      notes: list[str]) -> Taxonomy | None:
    s = spec.strategy
    if s is None:
        return None
    taxonomy = s.resolved_taxonomy()
    if s.column is None:
        return taxonomy
    unknown: dict[tuple[str, str], list[int]] = {}
    strategies: list[list[Any]] = []
    components = split_cells(table[s.components_column]) if s.components_column else [[]] * len(table)
    for p, (cell, parts) in enumerate(zip(table[s.column], components)):
        if pd.isna(cell) or not str(cell).strip():
            problems.cells([p], s.column, "no strategy; every row needs one")
            strategies.append([])
            continue
        if parts:  # a multi-component arm: its name is free, its components must be known
            found = [s.lookup(c, taxonomy) for c in parts]
            for part, hit in zip(parts, found):
                if hit is None:
                    unknown.setdefault((str(s.components_column), part), []).append(p)
            strategies.append([f for f in found if f is not None])
            continue
        hit = s.lookup(cell, taxonomy)
        if hit is None:
            unknown.setdefault((s.column, str(cell)), []).append(p)
        strategies.append([hit] if hit else [])
    name = s.taxonomy.upper()
    for (column, label), rows in unknown.items():
        guess = taxonomy.suggest(label)
        hint = f"; did you mean {guess!r}?" if guess else "."
        problems.add(f"{problems.where(sorted(set(rows)))}, column {column!r}: {label!r} is not a known "
                     f"{name} strategy{hint} Use a known one, or add it to strategy.mapping "
                     "(label: known strategy) or strategy.extra_strategies in review.yaml")
    if unknown:
        problems.add(f"known {name} strategies (ids; labels and common names also work): "
                     f"{', '.join(sorted(taxonomy.strategies))}")
    if s.class_column:
        for p, parts in enumerate(split_cells(table[s.class_column])):
            for part in parts:
                cluster = taxonomy.find_cluster(part)
                if cluster is None:
                    guess = taxonomy.suggest_cluster(part)
                    hint = f"; did you mean {taxonomy.clusters[guess].label!r}?" if guess else "."
                    problems.cells([p], s.class_column,
                                   f"{part!r} is not a {name} cluster{hint} The clusters are: "
                                   f"{'; '.join(c.label for c in taxonomy.clusters.values())}")
                elif strategies[p] and all(st.cluster != cluster.id for st in strategies[p]):
                    notes.append(f"{problems.rel}, {problems.where([p])}, column {s.class_column!r}: "
                                 f"{part!r} differs from the {name} cluster of "
                                 f"{', '.join(st.label for st in strategies[p])}")
    return taxonomy


def check_certainty_columns(spec: ReviewSpec, work: pd.DataFrame, problems: Problems) -> None:
    c = spec.certainty
    if c.sample_size_column:
        converted, bad = numeric(work[c.sample_size_column])
        problems.cells(bad, c.sample_size_column, lambda p: f"{show(work[c.sample_size_column].iloc[p])} is "
                       "not a number of participants")
        nonpositive = np.flatnonzero(converted.to_numpy() <= 0)
        problems.cells(nonpositive, c.sample_size_column, "a number of participants must be at least 1")
    if c.risk_of_bias_column:
        try:
            rob_judgements(list(work[c.risk_of_bias_column]), column=c.risk_of_bias_column)
        except (DataError, ReviewError) as exc:
            problems.add(str(exc))


def check_analysis(spec: ReviewSpec, table: pd.DataFrame, effects: pd.DataFrame, problems: Problems) -> None:
    """What the analysis (``synthesis run``) would refuse on these effects, as problems of the data.

    Calls :func:`synthesis.meta.checks.pooling_problems`, the one list of what stops a pooled
    analysis, so ``synthesis validate`` and ``synthesis run`` (which loads the review through
    the same checks) never disagree: no usable effect, fewer than :data:`MIN_STUDIES_TO_POOL`
    studies, a sampling variance far from the others, identical effects under knha.
    """
    columns = spec.effect.columns
    column = columns.get("vi") or columns.get("sei")
    sid = spec.data.study_id
    studies = list(table[sid].map(format_cell)) if sid else None
    for issue in pooling_problems(effects["yi"], effects["vi"], test=spec.analysis.test,
                                  min_studies=MIN_STUDIES_TO_POOL, studies=studies):
        message = issue.message.replace("use the z test", "set analysis.test: z in review.yaml")
        if issue.rows and column:
            problems.cells(list(issue.rows), column, message)
        elif issue.rows:
            problems.add(f"{problems.where(list(issue.rows))}: {message}")
        else:
            problems.add(message)


def study_labels(spec: ReviewSpec, table: pd.DataFrame, problems: Problems) -> list[str]:
    d = spec.data
    if d.study_label is not None:
        column = table[d.study_label]
        problems.cells(np.flatnonzero(column.isna().to_numpy()), d.study_label, "no study label; every row needs one")
        return [format_cell(v) for v in column]
    template, fields = str(d.label_template), d.template_fields()
    return [template.format_map({k: format_cell(row[k]) for k in fields}) for row in table.to_dict("records")]

