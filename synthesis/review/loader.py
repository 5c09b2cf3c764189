"""Review questions as data: ``reviews/<id>/review.yaml`` and its study data.

A review is a folder ``reviews/<id>/`` holding ``review.yaml`` (the question,
the effect measure, moderators, analysis, decision, Bayesian and certainty
settings, provenance; see ``docs/review-yaml.md``) and a CSV file of studies.
:func:`load_review` reads both, checks them against the schema
(:class:`~synthesis.review.schema.ReviewSpec`, unknown keys refused) and the
data against the settings, computes the effect sizes with
:func:`synthesis.meta.effects.effect_sizes` and returns a :class:`Review`.

Every problem found is reported, not only the first, in one
:class:`~synthesis.errors.ReviewError` with one line per problem, e.g.::

    reviews/demo/review.yaml: key 'analysis.methd': unknown setting; did you mean 'method'? (line 12)
    reviews/demo/studies.csv, row 14 (line 15 of the file), column 'vi': -0.02 is not a valid variance (must be > 0)

The parts: :mod:`~synthesis.review.schema` (the settings),
:mod:`~synthesis.review.overrides` (YAML reading, ``--set`` overrides),
:mod:`~synthesis.review.spec_errors` (schema errors in plain words),
:mod:`~synthesis.review.data_file` and :mod:`~synthesis.review.data_checks`
(the study data). A review id or data path that would leave
``reviews/<id>/`` (``..``, absolute paths, symbolic links pointing elsewhere)
is refused.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import ValidationError

from synthesis.errors import ReviewError
from synthesis.review.data_checks import (check_analysis, check_certainty_columns, check_columns, check_moderators,
                                          check_rows, check_strategies, effect_sizes_checked, study_labels)
from synthesis.review.folders import REVIEWS_DIR, SPEC_FILE, list_review_ids
from synthesis.review.data_file import Problems, format_cell, read_table, split_cells, unique_labels
from synthesis.review.messages import did_you_mean, join_words, review_error
from synthesis.review.overrides import apply_overrides, parse_overrides, read_yaml
from synthesis.review.schema import EFFECT_ARGUMENTS, ID_PATTERN, ReviewSpec
from synthesis.review.spec_errors import spec_problems
from synthesis.review.taxonomy import Taxonomy

__all__ = ["ReviewSpec", "Review", "load_review", "load_spec", "validate_review", "list_review_ids",
           "parse_overrides", "review_folder", "REVIEWS_DIR", "SPEC_FILE", "EFFECT_ARGUMENTS",
           "STANDARD_COLUMNS", "several_effects_per_study"]

#: columns added to the study data by :func:`load_review`
STANDARD_COLUMNS = ("study", "yi", "vi", "sei")
#: the project folder of this copy of the package (the shipped reviews), for the examples
_REPO = Path(__file__).resolve().parents[2]


def _project(project_dir: str | Path) -> Path:
    return Path(project_dir).expanduser()


def review_folder(review_id: str, project_dir: str | Path = ".") -> Path:
    """The folder of a review, refusing ids and links that would leave ``reviews/``.

    Raises
    ------
    ReviewError
        For an id that is not a slug, a missing review, or a folder or
        ``review.yaml`` that is a link to somewhere outside ``reviews/<id>/``.

    Examples
    --------
    >>> try:
    ...     review_folder("../etc", ".")
    ... except ReviewError as exc:
    ...     print(str(exc).split(":")[0])
    '../etc' is not a valid review id
    """
    if not isinstance(review_id, str) or not re.fullmatch(ID_PATTERN, review_id):
        raise ReviewError(f"{review_id!r} is not a valid review id: use lower-case letters, digits and "
                          f"hyphens (the name of a folder in {REVIEWS_DIR}/)")
    root = _project(project_dir) / REVIEWS_DIR
    folder = root / review_id
    spec = folder / SPEC_FILE
    if not spec.exists():
        known = list_review_ids(project_dir)
        listing = f"; the reviews are: {', '.join(known)}" if known else f"; {root} has no reviews"
        raise ReviewError(f"no review {review_id!r}: {REVIEWS_DIR}/{review_id}/{SPEC_FILE} not found"
                          f"{did_you_mean(review_id, known).rstrip('.') if known else ''}{listing}")
    real_root = root.resolve()
    if folder.resolve().parent != real_root:
        raise ReviewError(f"{REVIEWS_DIR}/{review_id}/ points outside {REVIEWS_DIR}/ (a symbolic link?); "
                          "refused: keep each review's files in its own folder")
    if spec.resolve().parent != folder.resolve():
        raise ReviewError(f"{REVIEWS_DIR}/{review_id}/{SPEC_FILE} points outside {REVIEWS_DIR}/{review_id}/ "
                          "(a symbolic link?); refused")
    return folder


def _load(review_id: str, project_dir: str | Path, overrides: Mapping[str, Any] | None
          ) -> tuple[ReviewSpec, Path]:
    folder = review_folder(review_id, project_dir)
    rel = f"{REVIEWS_DIR}/{review_id}/{SPEC_FILE}"
    raw, lines = read_yaml(folder / SPEC_FILE, rel)
    sources = apply_overrides(raw, dict(overrides or {}))
    problems = []
    if raw.get("id") != review_id and isinstance(raw.get("id"), str):
        problems.append(f"{rel}: key 'id': {raw['id']!r} does not match the folder name {review_id!r}; "
                        "the id is the name of the review's folder" + (
                            f" (line {lines[('id',)]})" if ("id",) in lines else ""))
    try:
        spec = ReviewSpec.model_validate(raw)
    except ValidationError as exc:
        raise review_error(problems + spec_problems(exc, rel, lines, sources)) from None
    if problems:
        raise review_error(problems)
    return spec, folder


def load_spec(review_id: str, project_dir: str | Path = ".", overrides: Mapping[str, Any] | None = None
              ) -> ReviewSpec:
    """Read and validate ``reviews/<id>/review.yaml`` (with overrides), without the data.

    Examples
    --------
    >>> load_spec("practice-facilitation", _REPO).effect.measure
    'SMD'
    """
    return _load(review_id, project_dir, overrides)[0]


@dataclass
class Review:
    """A loaded, validated review: settings, study data with effect sizes, files.

    Attributes
    ----------
    spec : ReviewSpec
        The settings (overrides applied; categorical reference levels as
        they appear in the data).
    data : DataFrame
        One row per effect size: the original columns plus ``study``
        (label), ``yi``, ``vi`` and ``sei``. An original column with one of
        these names that is not their source is kept as ``<name>_in_file``.
    folder : Path
        ``reviews/<id>/``.
    data_files : list of Path
        The study data file(s).
    notes : list of str
        Things worth knowing that are not errors (missing values, labels
        made unique, ...).
    taxonomy : Taxonomy or None
        The strategy taxonomy with the review's own strategies added (None
        without a ``strategy`` block).
    """

    spec: ReviewSpec
    data: pd.DataFrame
    folder: Path
    data_files: list[Path]
    notes: list[str] = field(default_factory=list)
    taxonomy: Taxonomy | None = None

    @property
    def id(self) -> str:
        return self.spec.id

    @property
    def title(self) -> str:
        return self.spec.title

    @property
    def n_effects(self) -> int:
        """Rows of the study data (effect sizes)."""
        return len(self.data)

    @property
    def n_studies(self) -> int:
        """Distinct studies (``data.study_id`` when given, else rows)."""
        if self.spec.data.study_id is not None:
            return int(self.data[self.spec.data.study_id].nunique())
        return len(self.data)

    def settings(self) -> dict[str, Any]:
        """All settings with defaults filled in, as plain JSON-able values.

        Examples
        --------
        >>> load_review("practice-facilitation", _REPO).settings()["analysis"]
        {'method': 'REML', 'test': 'z', 'level': 0.95, 'dependence': 'che', 'rho': 0.6}
        """
        return self.spec.model_dump(mode="json")

    def citations(self) -> pd.Series:
        """Full citation of each row (the ``data.citation`` columns, else the label)."""
        columns = self.spec.data.citation
        if not columns:
            return self.data["study"].rename("citation")
        parts = self.data[columns].map(format_cell)
        return parts.apply(lambda r: ". ".join(x for x in r if x), axis=1).rename("citation")

    def strategies(self) -> pd.DataFrame | None:
        """The strategy of each row in the review's taxonomy (None without a strategy block).

        Columns ``strategy`` (id; None for a multi-component arm), ``label``,
        ``cluster`` (id), ``cluster_label`` and ``components`` (ids of the
        components, ``;``-separated; the strategy itself for a single one).
        """
        s = self.spec.strategy
        if s is None or self.taxonomy is None:
            return None
        cells = [s.name] * len(self.data) if s.column is None else list(self.data[s.column])
        parts = split_cells(self.data[s.components_column]) if s.components_column else [[]] * len(cells)
        rows = []
        for cell, components in zip(cells, parts):
            found = None if components else s.lookup(cell, self.taxonomy)
            members = [s.lookup(c, self.taxonomy) for c in components] if components else [found]
            rows.append({"strategy": found.id if found else None, "label": found.label if found else str(cell),
                         "cluster": found.cluster if found else None,
                         "cluster_label": self.taxonomy.clusters[found.cluster].label if found else None,
                         "components": ";".join(m.id for m in members if m is not None)})
        return pd.DataFrame(rows, index=self.data.index,
                            columns=["strategy", "label", "cluster", "cluster_label", "components"])

    def summary(self) -> str:
        """One line: id, studies, measure, moderators.

        Examples
        --------
        >>> load_review("writing-to-learn", _REPO).summary()
        'writing-to-learn: 48 studies, SMD, 3 moderators, REML'
        """
        size = f"{self.n_studies} {'study' if self.n_studies == 1 else 'studies'}"
        if self.n_effects != self.n_studies:
            size += f" ({self.n_effects} effect sizes)"
        parts = [size, self.spec.effect.measure]
        if self.spec.moderators:
            parts.append(f"{len(self.spec.moderators)} moderator{'s' if len(self.spec.moderators) > 1 else ''}")
        parts.append(self.spec.analysis.method)
        if self.spec.provenance.simulated:
            parts.append("SIMULATED data")
        return f"{self.id}: " + ", ".join(parts)


def _data_path(spec: ReviewSpec, folder: Path) -> tuple[Path, str]:
    rel = f"{REVIEWS_DIR}/{spec.id}/{spec.data.file}"
    path = folder / spec.data.file
    try:
        inside = path.resolve().is_relative_to(folder.resolve())
    except OSError:  # pragma: no cover - e.g. a symlink loop
        inside = False
    if not inside:
        raise ReviewError(f"{rel} points outside {REVIEWS_DIR}/{spec.id}/ (a symbolic link?); refused: keep "
                          "the review's data in its folder")
    return path, rel


def validate_review(review_id: str, project_dir: str | Path = ".",
                    overrides: Mapping[str, Any] | None = None) -> Review:
    """Load a review, checking the settings and the data; report every problem at once.

    Parameters
    ----------
    review_id : str
        The folder name under ``reviews/``.
    project_dir : str or Path
        The project folder (holding ``reviews/``).
    overrides : mapping, optional
        ``{"dotted.key": value}``, e.g. from :func:`parse_overrides`.

    Returns
    -------
    Review

    Raises
    ------
    ReviewError
        One line per problem (``.problems`` holds the list).

    Examples
    --------
    >>> review = validate_review("cbt-offenders-at-scale", _REPO)
    >>> review.spec.effect.measure, len(review.data)
    ('OR', 58)
    """
    spec, folder = _load(review_id, project_dir, overrides)
    path, rel = _data_path(spec, folder)
    table, lines = read_table(path, rel)
    problems = Problems(rel, lines)
    notes: list[str] = []
    if table.empty:
        raise ReviewError(f"{rel}: no studies (the file has a header but no data rows)")
    check_columns(spec, table, problems)
    if problems.messages:  # the other checks need the columns
        raise review_error(problems.messages)
    work = table.copy()
    effects = effect_sizes_checked(spec, work, problems, notes)
    check_rows(spec, table, problems)
    moderators = check_moderators(spec, work, problems, notes)
    taxonomy = check_strategies(spec, table, problems, notes)
    check_certainty_columns(spec, work, problems)
    labels = study_labels(spec, table, problems)
    if effects is not None:  # what the analysis would refuse: validate and run agree
        check_analysis(spec, table, effects, problems)
    if problems.messages or effects is None:
        raise review_error(problems.messages)

    sources = {"study": spec.data.study_label, **{k: spec.effect.columns.get(k) for k in ("yi", "vi", "sei")}}
    renamed = {c: f"{c}_in_file" for c in STANDARD_COLUMNS if c in work.columns and sources.get(c) != c}
    if renamed:
        notes.append(f"{rel}: the file's {', '.join(repr(c) for c in renamed)} column(s) are kept as "
                     f"{', '.join(repr(v) for v in renamed.values())}; {', '.join(repr(c) for c in renamed)} "
                     "hold the values computed from review.yaml")
    data = work.rename(columns=renamed)
    data = data.drop(columns=[c for c in STANDARD_COLUMNS if c in data.columns])
    studies = list(table[spec.data.study_id].map(format_cell)) if spec.data.study_id else list(range(len(table)))
    labels, repeated = unique_labels(labels, studies)
    if repeated:
        notes.append(f"{rel}: repeated study labels told apart with letters: {join_words(repeated)}")
    yi, vi = effects["yi"].to_numpy(dtype=float), effects["vi"].to_numpy(dtype=float)
    data["study"] = labels
    data["yi"] = yi
    data["vi"] = vi
    with np.errstate(invalid="ignore"):
        data["sei"] = np.sqrt(vi)
    spec = spec.model_copy(update={"moderators": moderators})
    # what the run records as given but not used, validate says too
    notes += [f"analysis setting {u['setting']} ({u['value']}) is not used: {u['reason']}"
              for u in spec.analysis.unused(several_effects_per_study(data, spec.data.study_id))]
    return Review(spec=spec, data=data, folder=folder, data_files=[path], notes=notes, taxonomy=taxonomy)


def several_effects_per_study(data: pd.DataFrame, study_id: str | None) -> bool:
    """Whether some study contributes several rows (its ``study_id`` repeated).

    Examples
    --------
    >>> several_effects_per_study(pd.DataFrame({"sid": [1, 1, 2]}), "sid"), several_effects_per_study(
    ...     pd.DataFrame({"sid": [1, 2]}), "sid")
    (True, False)
    """
    return bool(study_id) and study_id in data.columns and bool(data[study_id].duplicated().any())


def load_review(review_id: str, project_dir: str | Path = ".",
                overrides: Mapping[str, Any] | None = None) -> Review:
    """Load and validate ``reviews/<review_id>/`` and compute its effect sizes.

    Same as :func:`validate_review` (every problem is reported at once).

    Examples
    --------
    >>> review = load_review("practice-facilitation", _REPO, overrides={"analysis.method": "DL"})
    >>> review.spec.analysis.method, list(review.data.columns[-4:])
    ('DL', ['study', 'yi', 'vi', 'sei'])
    """
    return validate_review(review_id, project_dir, overrides)
