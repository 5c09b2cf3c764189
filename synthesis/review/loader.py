"""Review questions as data: ``reviews/<id>/review.yaml`` and its study data.

A review is a folder ``reviews/<id>/`` holding ``review.yaml`` (the question,
the effect measure, moderators, analysis, decision, Bayesian and certainty
settings, provenance; see ``docs/review-yaml.md``) and a CSV file of studies.
:func:`load_review` reads both, checks them against the schema
(:class:`ReviewSpec`, pydantic, unknown keys refused) and the data against
the settings, computes the effect sizes with
:func:`synthesis.meta.effects.effect_sizes` and returns a :class:`Review`.

Every problem found is reported, not only the first, in one
:class:`~synthesis.errors.ReviewError` with one line per problem, e.g.::

    reviews/demo/review.yaml: key 'analysis.methd': unknown setting; did you mean 'method'? (line 12)
    reviews/demo/studies.csv, row 14 (line 15 of the file), column 'vi': -0.02 is not a valid variance (must be > 0)

Row numbers count studies: row 1 is the first data row, under the header
(the convention of the engine's messages); "line" is the line of the file,
which is also the row number a spreadsheet shows (the header is line 1).

Settings can be overridden as ``key=value`` with dotted keys
(:func:`parse_overrides`); overrides go through the same schema. YAML is
read with ``yaml.safe_load`` only: a ``!!python/...`` tag is refused, never
run. A review id or data path that would leave ``reviews/<id>/`` (``..``,
absolute paths, symbolic links pointing elsewhere) is refused.
"""
from __future__ import annotations

import copy
import csv
import datetime as _dt
import difflib
import io
import math
import re
import string
import types
import typing
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator, \
    model_validator

from synthesis.meta.effects import COUNT_ARGUMENTS, MEASURES
from synthesis.errors import DataError, ReviewError
from synthesis.review.risk_of_bias import rob_judgements
from synthesis.review.taxonomy import Taxonomy, load_taxonomy, normalise_label

__all__ = ["ReviewSpec", "Review", "load_review", "load_spec", "validate_review", "list_review_ids",
           "parse_overrides", "review_folder", "REVIEWS_DIR", "SPEC_FILE", "EFFECT_ARGUMENTS",
           "STANDARD_COLUMNS"]

REVIEWS_DIR = "reviews"
SPEC_FILE = "review.yaml"
#: a review id: lower-case words joined by hyphens (it is the folder name)
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
#: metafor's argument names accepted in ``effect.columns``
EFFECT_ARGUMENTS = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "sd1i", "m2i", "sd2i",
                    "xi", "ni", "ri", "yi", "vi", "sei")
#: columns added to the study data by :func:`load_review`
STANDARD_COLUMNS = ("study", "yi", "vi", "sei")
_MEASURE_GROUPS = MEASURES
_PASS_THROUGH = (("yi", "vi"), ("yi", "sei"))
_COUNT_ARGS = COUNT_ARGUMENTS
_MAX_CELLS_PER_PROBLEM = 5

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


# ====================================================================== schema
class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False)


class Question(_Spec):
    """The review question (PICO) and the question in plain words."""

    population: Text = Field(description="who the evidence is about (people, services, setting)")
    setting: Text | None = Field(None, description="where, if not clear from the population")
    intervention: Text = Field(description="the strategy or intervention, as a short noun phrase")
    comparison: Text = Field(description="what it is compared with")
    outcome: Text = Field(description="the outcome in plain words, e.g. 'pupils' attainment'")
    plain_question: Text = Field(description="the question as a policymaker would ask it")


class Effect(_Spec):
    """Effect measure and the study-data columns it is computed from."""

    measure: Literal["SMD", "MD", "OR", "RR", "RD", "PLO", "PR", "ZCOR", "COR", "GEN"] = Field(
        description="SMD, MD, OR, RR, RD, PLO, PR, ZCOR, COR or GEN")
    columns: dict[Literal[EFFECT_ARGUMENTS], Text] = Field(  # type: ignore[valid-type]
        description="effect_sizes argument -> CSV column, e.g. {yi: smd, sei: se}")
    direction: Literal["higher_is_better", "lower_is_better"] = "higher_is_better"

    @field_validator("measure", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _complete(self) -> Effect:
        given = set(self.columns)
        groups = _MEASURE_GROUPS[self.measure] + _PASS_THROUGH
        if not any(given == set(g) for g in groups):
            need = " or ".join("(" + ", ".join(g) + ")" for g in _MEASURE_GROUPS[self.measure])
            extra = "" if self.measure == "GEN" else ", or yi with vi or sei (effect sizes already computed)"
            raise ValueError(f"key 'effect.columns': measure {self.measure} needs the columns {need}{extra}; "
                             f"given: {', '.join(sorted(given)) or 'none'}")
        return self

    @property
    def pass_through(self) -> bool:
        """True when ``yi`` is read from the data rather than computed."""
        return "yi" in self.columns


class DataSpec(_Spec):
    """The study data file and how studies are labelled and identified."""

    file: Text = "studies.csv"
    study_label: Text | None = Field(None, description="column with a short study label")
    label_template: Text | None = Field(None, description="label built from columns, e.g. '{author} ({year})'")
    citation: list[Text] | None = Field(None, description="column(s) with the full citation of each study")
    study_id: Text | None = Field(None, description="column identifying the study when it has several rows")
    one_effect_per_study: bool = True

    @field_validator("citation", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("file")
    @classmethod
    def _inside(cls, value: str) -> str:
        path = PurePosixPath(value)
        if (path.is_absolute() or ".." in path.parts or "\\" in value or ":" in value
                or value.startswith("~") or path.suffix.lower() != ".csv"):
            raise ValueError(f"{value!r} must be a CSV file inside the review folder, e.g. studies.csv "
                             "(no absolute paths, no '..')")
        return value

    @field_validator("label_template")
    @classmethod
    def _plain_fields(cls, value: str | None) -> str | None:
        if value is None:
            return value
        try:
            fields = [f for _, f, _, _ in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{value!r} is not a valid template ({exc}); write column names in braces, "
                             "e.g. '{author} ({year})'") from None
        bad = [f for f in fields if not f or not re.fullmatch(r"[^.\[\]{}!:]+", f)]
        if bad:
            raise ValueError(f"{value!r}: write plain column names in braces, e.g. '{{author}} ({{year}})'")
        return value

    @model_validator(mode="after")
    def _labels(self) -> DataSpec:
        if (self.study_label is None) == (self.label_template is None):
            raise ValueError("key 'data': give either study_label (a column) or label_template "
                             "(e.g. '{author} ({year})'), not both or neither")
        if not self.one_effect_per_study and self.study_id is None:
            raise ValueError("key 'data.study_id': needed when one_effect_per_study is false, to tell "
                             "which rows come from the same study")
        return self

    def template_fields(self) -> list[str]:
        """Column names used by ``label_template``."""
        if self.label_template is None:
            return []
        return [f for _, f, _, _ in string.Formatter().parse(self.label_template) if f]


Scalar = Any  # a level of a categorical column (text, number or yes/no)


class Moderator(_Spec):
    """A study characteristic that may explain differences between studies."""

    name: Text = Field(description="the column in the study data")
    type: Literal["categorical", "continuous"]
    label: Text | None = None
    reference: Scalar = None
    level_labels: dict[Any, Text] | None = None

    @field_validator("reference")
    @classmethod
    def _scalar(cls, value: Any) -> Any:
        if isinstance(value, (dict, list)):
            raise ValueError("must be a single level, e.g. reference: rct")
        return value

    @model_validator(mode="after")
    def _categorical_only(self) -> Moderator:
        if self.type == "continuous" and (self.reference is not None or self.level_labels):
            raise ValueError(f"key 'moderators': {self.name!r} is continuous, so it has no reference "
                             "level or level labels; make it categorical or remove them")
        if self.label is None:
            self.label = self.name
        return self


class ExtraStrategy(_Spec):
    """A strategy a review adds to the taxonomy."""

    id: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")
    label: Text
    cluster: Text = Field(description="a cluster of the taxonomy (id or label)")
    aliases: list[Text] = []
    description: Text | None = None


class StrategySpec(_Spec):
    """Which implementation strategy each row tests, in a shipped taxonomy."""

    taxonomy: Literal["eric", "epoc", "kmb"] = "eric"
    column: Text | None = Field(None, description="column naming the strategy of each row")
    name: Text | None = Field(None, description="one strategy for the whole review (no column)")
    class_column: Text | None = None
    components_column: Text | None = None
    mapping: dict[Text, Text] = Field(default_factory=dict,
                                      description="label used in the data -> taxonomy strategy")
    extra_strategies: list[ExtraStrategy] = []

    @field_validator("taxonomy", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _known(self) -> StrategySpec:
        problems = []
        if (self.column is None) == (self.name is None):
            problems.append("key 'strategy': give either column (the strategy of each row) or name "
                            "(one strategy for the whole review)")
        if self.column is None and (self.class_column or self.components_column):
            problems.append("key 'strategy': class_column and components_column need column")
        try:
            taxonomy = self.resolved_taxonomy()
        except ReviewError as exc:
            problems.append(str(exc))
        else:
            if self.name is not None and taxonomy.find(self.name) is None:
                problems.append(_unknown_strategy(taxonomy, self.name, "key 'strategy.name'"))
            for label, target in self.mapping.items():
                if taxonomy.find(target) is None:
                    problems.append(_unknown_strategy(taxonomy, target, f"key 'strategy.mapping.{label}'"))
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def resolved_taxonomy(self) -> Taxonomy:
        """The taxonomy extended with this review's ``extra_strategies``."""
        base = load_taxonomy(self.taxonomy)
        return base.extend([s.model_dump() for s in self.extra_strategies],
                           where="key 'strategy.extra_strategies'")

    def lookup(self, label: Any, taxonomy: Taxonomy | None = None) -> Any:
        """The taxonomy strategy for a label used in the data (after ``mapping``), or None."""
        taxonomy = taxonomy or self.resolved_taxonomy()
        mapped = {normalise_label(k): v for k, v in self.mapping.items()}
        return taxonomy.find(mapped.get(normalise_label(label), label))


def _unknown_strategy(taxonomy: Taxonomy, label: Any, where: str) -> str:
    try:
        taxonomy.resolve(label, where=where)
    except ReviewError as exc:
        return str(exc)
    return ""  # pragma: no cover - only called for unknown labels


class Analysis(_Spec):
    """Frequentist model settings (metafor's names)."""

    method: Literal["EE", "FE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM"] = "REML"
    test: Literal["z", "knha"] = "z"
    level: float = Field(0.95, gt=0, lt=1)

    @field_validator("method", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("test", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


class Decision(_Spec):
    """What matters to the decision-maker."""

    mid: float | None = Field(None, ge=0, description="minimal important difference on the analysis scale")
    baseline_risk: float | None = Field(None, gt=0, lt=1)
    months_progress: bool = False
    natural_units: Text | None = None
    people: Text = Field("people", description="what the counts and comparisons are of: 'pupils', 'practices'")


class StrategyPriorsSpec(_Spec):
    """Prior scales of the strategy model (see :class:`synthesis.bayes.models.StrategyPriors`)."""

    mu_sd: float = Field(1.0, gt=0)
    tau_class: float = Field(0.3, gt=0)
    tau_strategy: float = Field(0.3, gt=0)
    tau_study: float = Field(0.3, gt=0)
    tau_effect: float = Field(0.2, gt=0)
    beta_sd: float = Field(0.5, gt=0)
    interaction_sd: float = Field(0.5, gt=0)


class Bayes(_Spec):
    """Settings of the Bayesian models (priors and sampler)."""

    enabled: bool = True
    mu_sd: float = Field(1.0, gt=0)
    # half-normal / half-Cauchy with tau_scale, or a published heterogeneity prior (synthesis.bayes.models presets)
    tau_prior: Literal["half_normal", "half_cauchy", "lognormal", "log_t", "turner2015_process",
                       "turner2015_subjective", "turner2015_mortality", "rhodes2015_process",
                       "rhodes2015_subjective", "rhodes2015_general"] = "half_normal"
    tau_scale: float = Field(0.5, gt=0)
    draws: int = Field(1000, ge=10)
    tune: int = Field(1000, ge=0)
    chains: int = Field(4, ge=1, le=64)
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    target_accept: float = Field(0.9, gt=0, lt=1)
    interaction: bool = False
    strategy_priors: StrategyPriorsSpec = Field(default_factory=StrategyPriorsSpec)


class CertaintySpec(_Spec):
    """Inputs of the GRADE-style certainty rating that only the reviewer can give."""

    start: Literal["high", "low"] = "high"
    start_reason: Text | None = None
    risk_of_bias_column: Text | None = None
    sample_size_column: Text | None = None
    indirectness: Literal["none", "serious", "very_serious"] | None = None
    indirectness_reason: Text | None = None

    @field_validator("indirectness", mode="before")
    @classmethod
    def _snake(cls, value: Any) -> Any:
        if value is False:  # YAML reads a bare `no` as false
            return "none"
        return "_".join(value.strip().lower().split()) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _reason(self) -> CertaintySpec:
        if self.indirectness in ("serious", "very_serious") and not self.indirectness_reason:
            raise ValueError("key 'certainty.indirectness_reason': say why the evidence is indirect "
                             "(it is shown in the report)")
        return self


class Provenance(_Spec):
    """Where the data come from and under what terms."""

    citation: Text = Field(description="full citation of the source review or publication")
    source: Text = Field(description="where the data were taken from")
    doi: Text | None = None
    licence: Text = Field(description="terms under which the data may be used")
    search_date: str | None = Field(None, pattern=r"^\d{4}(-\d{2}(-\d{2})?)?$")
    data_credit: Text | None = None
    simulated: bool = False

    @field_validator("search_date", mode="before")
    @classmethod
    def _iso(cls, value: Any) -> Any:
        if isinstance(value, (_dt.date, _dt.datetime)):
            return value.isoformat()[:10]
        if isinstance(value, int):
            return str(value)
        return value


class ReviewSpec(_Spec):
    """The validated content of ``review.yaml`` (see ``docs/review-yaml.md``).

    Examples
    --------
    >>> spec = ReviewSpec.model_validate({
    ...     "id": "demo", "title": "Demo", "seed": 1,
    ...     "question": {"population": "p", "intervention": "i", "comparison": "c",
    ...                  "outcome": "o", "plain_question": "Does i help?"},
    ...     "effect": {"measure": "smd", "columns": {"yi": "yi", "vi": "vi"}},
    ...     "data": {"study_label": "study"},
    ...     "provenance": {"citation": "c", "source": "s", "licence": "CC-BY"}})
    >>> spec.effect.measure, spec.analysis.method, spec.bayes.draws
    ('SMD', 'REML', 1000)
    """

    id: str = Field(pattern=ID_PATTERN, description="the folder name: lower-case words joined by hyphens")
    title: Text = Field(description="a title for reports and `synthesis list`")
    question: Question = Field(description="the question: population, intervention, comparison, outcome, "
                                           "plain_question")
    effect: Effect = Field(description="the effect measure and its columns, e.g. {measure: SMD, columns: "
                                       "{yi: yi, vi: vi}}")
    data: DataSpec = Field(description="the data file and study labels, e.g. {file: studies.csv, "
                                       "study_label: study}")
    moderators: list[Moderator] = []
    subgroup: Text | None = None
    strategy: StrategySpec | None = None
    analysis: Analysis = Field(default_factory=Analysis)
    decision: Decision = Field(default_factory=Decision)
    bayes: Bayes = Field(default_factory=Bayes)
    seed: int = Field(ge=0, description="seed for everything random (a whole number >= 0)")
    certainty: CertaintySpec = Field(default_factory=CertaintySpec)
    provenance: Provenance = Field(description="where the data come from: citation, source, licence")

    @model_validator(mode="after")
    def _consistent(self) -> ReviewSpec:
        problems = []
        names = [m.name for m in self.moderators]
        for name in sorted({n for n in names if names.count(n) > 1}):
            problems.append(f"key 'moderators': {name!r} is listed twice")
        if self.subgroup is not None:
            mod = next((m for m in self.moderators if m.name == self.subgroup), None)
            if mod is None:
                problems.append(f"key 'subgroup': {self.subgroup!r} is not one of the moderators"
                                f"{_did_you_mean(self.subgroup, names)} List it under moderators "
                                "(type: categorical) first.")
            elif mod.type != "categorical":
                problems.append(f"key 'subgroup': {self.subgroup!r} is continuous; subgroups need a "
                                "categorical moderator")
        if self.decision.months_progress and self.effect.measure != "SMD":
            problems.append(f"key 'decision.months_progress': months' progress converts standardised mean "
                            f"differences, but the measure is {self.effect.measure}")
        if problems:
            raise ValueError("\n".join(problems))
        return self


# ====================================================================== errors
def _did_you_mean(word: Any, options: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else "."


def _unwrap(annotation: Any) -> list[Any]:
    """The candidate types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    return [annotation]


def _type_at(loc: Sequence[Any]) -> Any:
    """The schema type at a location of the raw settings (None when unknown)."""
    current: Any = ReviewSpec
    for part in loc:
        nxt = None
        for candidate in _unwrap(current):
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                if isinstance(part, str) and part in candidate.model_fields:
                    nxt = candidate.model_fields[part].annotation
            elif origin is list and isinstance(part, int):
                nxt = typing.get_args(candidate)[0]
            elif origin is dict:
                nxt = typing.get_args(candidate)[1]
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    return current


def _fields_at(loc: Sequence[Any]) -> list[str]:
    for candidate in _unwrap(_type_at(loc)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


def _describe(loc: Sequence[Any]) -> str | None:
    if not loc:
        return None
    parent = _type_at(loc[:-1])
    for candidate in _unwrap(parent):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and loc[-1] in candidate.model_fields:
            return candidate.model_fields[loc[-1]].description
    return None


def _dotted(loc: Sequence[Any]) -> str:
    return ".".join(str(p) for p in loc)


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _error_lines(exc: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    """Turn pydantic errors into ``(location, message)`` pairs in plain words."""
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"])
        kind, msg = err["type"], err["msg"]
        if "[key]" in loc:  # a dict key that is not allowed, e.g. effect.columns.m1
            i = loc.index("[key]")
            loc = loc[:i]
            allowed = re.findall(r"'([^']*)'", (err.get("ctx") or {}).get("expected", ""))
            key = err.get("input")
            out.append((loc, f"key '{_dotted(loc)}': {key!r} is not allowed here"
                        f"{_did_you_mean(key, allowed)} Allowed: {', '.join(allowed)}."))
            continue
        name = _dotted(loc)
        if kind == "extra_forbidden":
            options = _fields_at(loc[:-1])
            hint = _did_you_mean(loc[-1], options)
            if hint == "." and options:
                hint = f". Settings here: {', '.join(options)}."
            out.append((loc, f"key '{name}': unknown setting{hint}"))
        elif kind == "missing":
            what = _describe(loc)
            out.append((loc, f"key '{name}' is missing" + (f": add {what}" if what else "")))
        elif kind == "literal_error":
            allowed = re.findall(r"'([^']*)'", (err.get("ctx") or {}).get("expected", ""))
            out.append((loc, f"key '{name}': {_show(err.get('input'))} is not allowed; choose one of "
                        f"{', '.join(allowed)}" + (_did_you_mean(err.get("input"), allowed).rstrip(".")
                                                   if isinstance(err.get("input"), str) else "")))
        elif kind == "value_error":
            text = msg.removeprefix("Value error, ")
            for line in text.splitlines():
                if line.startswith("key '") or line.startswith("reviews/"):
                    match = re.match(r"key '([^']*)'", line)
                    where = tuple(int(p) if p.isdigit() else p for p in match.group(1).split(".")) if match else loc
                    out.append((where, line))
                else:
                    out.append((loc, f"key '{name}': {line}" if loc else line))
        else:
            out.append((loc, f"key '{name}': {_show(err.get('input'))} is not valid: {msg}"))
    return out


# ====================================================================== YAML
_ALLOWED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                                    "timestamp")}


def _walk_yaml(node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], problems: list[str],
               rel: str, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if node.tag not in _ALLOWED_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append(f"{rel}, line {node.start_mark.line + 1}: the YAML tag {tag!r} is not allowed "
                        "(only plain YAML: settings, lists, text and numbers); nothing was executed")
        return
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first:
                problems.append(f"{rel}: key '{_dotted(path + (key,))}' appears twice (lines {first[key]} "
                                f"and {line}); keep one")
            first.setdefault(key, line)
            lines.setdefault(path + (key,), line)
            _walk_yaml(key_node, path, {}, problems, rel, seen)
            _walk_yaml(value_node, path + (key,), lines, problems, rel, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault(path + (i,), item.start_mark.line + 1)
            _walk_yaml(item, path + (i,), lines, problems, rel, seen)


def _read_yaml(path: Path, rel: str) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """Read ``review.yaml`` safely; return the settings and the line of each key."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError(f"{rel}: not a UTF-8 text file; save it as UTF-8") from None
    except OSError as exc:
        raise ReviewError(f"{rel}: cannot be read ({exc.strerror})") from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ReviewError(f"{rel}{where}: not valid YAML ({problem}); check the indentation and quotes") from None
    if node is None:
        raise ReviewError(f"{rel}: the file is empty; see docs/review-yaml.md for the settings")
    lines: dict[tuple[Any, ...], int] = {}
    problems: list[str] = []
    _walk_yaml(node, (), lines, problems, rel, set())
    if problems:
        raise _review_error(problems)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # e.g. a bad timestamp
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ReviewError(f"{rel}{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict):
        raise ReviewError(f"{rel}: must be a set of 'key: value' settings (a YAML mapping), not a "
                          f"{type(raw).__name__}; see docs/review-yaml.md")
    return raw, lines


def _review_error(problems: Sequence[str]) -> ReviewError:
    unique = list(dict.fromkeys(problems))
    err = ReviewError("\n".join(unique))
    err.problems = unique  # type: ignore[attr-defined]
    return err


# ====================================================================== overrides
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|\d+))*$")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` (dotted keys) into ``{key: value}``.

    Values are read as YAML (``safe_load``): ``10`` is a number, ``true`` a
    boolean, ``[a, b]`` a list; quote text that looks like something else.
    A later item with the same key wins.

    Raises
    ------
    ReviewError
        For an item without ``=``, a malformed key or a value that is not
        valid YAML; the message names the item.

    Examples
    --------
    >>> parse_overrides(["analysis.method=DL", "bayes.draws=500", "analysis.test=knha"])
    {'analysis.method': 'DL', 'bayes.draws': 500, 'analysis.test': 'knha'}
    """
    parsed: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ReviewError(f"override {item!r}: write it as key=value, e.g. analysis.method=DL")
        key, text = item.split("=", 1)
        key = key.strip()
        if not _KEY.match(key):
            raise ReviewError(f"override {item!r}: {key!r} is not a setting name; use dotted names such as "
                              "analysis.method or moderators.0.reference")
        try:
            parsed[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ReviewError(f"override {item!r}: the value cannot be read ({problem}); put text in "
                              "quotes, e.g. title='My review'") from None
    return parsed


def _deep_merge(target: dict[str, Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], item)
        else:
            target[key] = copy.deepcopy(item)


def _apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[tuple[Any, ...], str]:
    """Apply dotted-key overrides in place; return location -> how the override was written."""
    sources: dict[tuple[Any, ...], str] = {}
    for key, value in overrides.items():
        key = str(key)
        shown = f"override {key}={_show(value)}"
        if not _KEY.match(key):
            raise ReviewError(f"{shown}: {key!r} is not a setting name; use dotted names such as analysis.method")
        parts: list[Any] = [int(p) if p.isdigit() else p for p in key.split(".")]
        if parts[0] == "id":
            raise ReviewError(f"{shown}: the review id is the folder name and cannot be overridden")
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            here = _dotted(parts[: i + 1])
            if isinstance(node, dict) and isinstance(part, str):
                if node.get(part) is None:
                    node[part] = [] if isinstance(parts[i + 1], int) else {}
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int):
                if part >= len(node):
                    raise ReviewError(f"{shown}: '{here}' does not exist (the list has {len(node)} item(s), "
                                      "counted from 0)")
                node = node[part]
            else:
                raise ReviewError(f"{shown}: '{_dotted(parts[:i])}' is a single value, not a group of settings")
            if not isinstance(node, (dict, list)):
                raise ReviewError(f"{shown}: '{here}' is a single value, not a group of settings")
        last = parts[-1]
        if isinstance(node, dict) and isinstance(last, str):
            if isinstance(value, Mapping) and isinstance(node.get(last), dict) and _fields_at(parts):
                _deep_merge(node[last], value)  # a block of settings: change only the keys given
            else:
                node[last] = copy.deepcopy(value)
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            node[last] = copy.deepcopy(value)
        else:
            raise ReviewError(f"{shown}: '{key}' does not exist")
        sources[tuple(parts)] = shown
    return sources


# ====================================================================== folders
def _project(project_dir: str | Path) -> Path:
    return Path(project_dir).expanduser()


def list_review_ids(project_dir: str | Path = ".") -> list[str]:
    """Ids of the reviews in ``<project_dir>/reviews/`` (folders with a ``review.yaml``).

    Examples
    --------
    >>> import tempfile
    >>> list_review_ids(tempfile.mkdtemp())
    []
    """
    root = _project(project_dir) / REVIEWS_DIR
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if p.is_dir() and not p.name.startswith((".", "_")) and (p / SPEC_FILE).is_file())


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
                          f"{_did_you_mean(review_id, known).rstrip('.') if known else ''}{listing}")
    real_root = root.resolve()
    if folder.resolve().parent != real_root:
        raise ReviewError(f"{REVIEWS_DIR}/{review_id}/ points outside {REVIEWS_DIR}/ (a symbolic link?); "
                          "refused: keep each review's files in its own folder")
    if spec.resolve().parent != folder.resolve():
        raise ReviewError(f"{REVIEWS_DIR}/{review_id}/{SPEC_FILE} points outside {REVIEWS_DIR}/{review_id}/ "
                          "(a symbolic link?); refused")
    return folder


# ====================================================================== spec loading
def _spec_problems(exc: ValidationError, rel: str, lines: Mapping[tuple[Any, ...], int],
                   sources: Mapping[tuple[Any, ...], str]) -> list[str]:
    problems = []
    for loc, message in _error_lines(exc):
        origin = next((sources[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in sources), None)
        if origin is None:  # an error about a block that contains an overridden key
            origin = next((s for p, s in sources.items() if p[: len(loc)] == loc and loc), None)
        if origin is not None:
            problems.append(f"{rel}: {origin}: {message}")
            continue
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        problems.append(f"{rel}: {message}" + (f" (line {line})" if line else ""))
    return problems


def _load(review_id: str, project_dir: str | Path, overrides: Mapping[str, Any] | None
          ) -> tuple[ReviewSpec, Path]:
    folder = review_folder(review_id, project_dir)
    rel = f"{REVIEWS_DIR}/{review_id}/{SPEC_FILE}"
    raw, lines = _read_yaml(folder / SPEC_FILE, rel)
    sources = _apply_overrides(raw, dict(overrides or {}))
    problems = []
    if raw.get("id") != review_id and isinstance(raw.get("id"), str):
        problems.append(f"{rel}: key 'id': {raw['id']!r} does not match the folder name {review_id!r}; "
                        "the id is the name of the review's folder" + (
                            f" (line {lines[('id',)]})" if ("id",) in lines else ""))
    try:
        spec = ReviewSpec.model_validate(raw)
    except ValidationError as exc:
        raise _review_error(problems + _spec_problems(exc, rel, lines, sources)) from None
    if problems:
        raise _review_error(problems)
    return spec, folder


def load_spec(review_id: str, project_dir: str | Path = ".", overrides: Mapping[str, Any] | None = None
              ) -> ReviewSpec:
    """Read and validate ``reviews/<id>/review.yaml`` (with overrides), without the data.

    Examples
    --------
    >>> load_spec("practice-facilitation").effect.measure  # doctest: +SKIP
    'SMD'
    """
    return _load(review_id, project_dir, overrides)[0]


# ====================================================================== data
@dataclass
class _Problems:
    """Collects data problems with file, row (and line) and column."""

    rel: str
    lines: list[int]
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        self.messages.append(f"{self.rel}: {message}")

    def where(self, positions: Sequence[int]) -> str:
        rows = [p + 1 for p in positions]
        lines = [self.lines[p] for p in positions]
        if len(rows) == 1:
            return f"row {rows[0]} (line {lines[0]} of the file)"
        return f"rows {_join(rows)} (lines {_join(lines)})"

    def cells(self, positions: Sequence[int], column: str, text: Any) -> None:
        """One message per bad cell (``text`` may be a function of the position)."""
        positions = list(positions)
        for p in positions[:_MAX_CELLS_PER_PROBLEM]:
            detail = text(p) if callable(text) else text
            self.messages.append(f"{self.rel}, {self.where([p])}, column {column!r}: {detail}")
        if len(positions) > _MAX_CELLS_PER_PROBLEM:
            rest = positions[_MAX_CELLS_PER_PROBLEM:]
            self.messages.append(f"{self.rel}, column {column!r}: the same problem in {len(rest)} more "
                                 f"{'row' if len(rest) == 1 else 'rows'} ({self.where(rest)})")


def _join(items: Sequence[Any], limit: int = 8) -> str:
    items = [str(i) for i in items]
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    items = items[:limit]
    if more:
        return ", ".join(items) + more
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _record_lines(text: str, n_rows: int) -> list[int]:
    """The file line where each data row starts (header = line 1)."""
    starts, end = [], 0
    try:
        reader = csv.reader(io.StringIO(text))
        for record in reader:
            start, end = end + 1, reader.line_num
            if record:
                starts.append(start)
    except csv.Error:
        starts = []
    if len(starts) - 1 != n_rows:
        return [i + 2 for i in range(n_rows)]
    return starts[1:]


def _read_table(path: Path, rel: str) -> tuple[pd.DataFrame, list[int]]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReviewError(f"{rel}: file not found; check data.file in review.yaml") from None
    except UnicodeDecodeError:
        raise ReviewError(f"{rel}: not a UTF-8 text file; save it as CSV UTF-8") from None
    except OSError as exc:
        raise ReviewError(f"{rel}: cannot be read ({exc.strerror})") from None
    if not text.strip():
        raise ReviewError(f"{rel}: the file is empty; it needs a header row and one row per effect size")
    try:
        table = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ReviewError(f"{rel}: not a readable CSV file ({str(exc).strip()}); check the quotes and "
                          "the number of commas in each row") from None
    unnamed = [c for c in table.columns if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise ReviewError(f"{rel}: the header row has {len(unnamed)} empty column name(s); name every column")
    header = next(csv.reader(io.StringIO(text)), [])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ReviewError(f"{rel}: the header row repeats the column name(s) {', '.join(map(repr, dupes))}; "
                          "give every column its own name")
    return table, _record_lines(text, len(table))


def _numeric(series: pd.Series) -> tuple[pd.Series, list[int]]:
    """Column as floats and the positions of cells that are not numbers."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float), []
    values = pd.to_numeric(series, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & series.notna().to_numpy())
    return values.astype(float), [int(i) for i in bad]


def _same_level(level: Any, wanted: Any) -> bool:
    """Whether a data level equals a level written in YAML (``0`` = ``0.0``, ``no`` = ``False``)."""
    if isinstance(wanted, bool) or isinstance(level, (bool, np.bool_)):
        truthy = {"true", "yes", "y", "on", "1", "1.0"}
        falsy = {"false", "no", "n", "off", "0", "0.0"}
        a, b = str(level).strip().lower(), str(wanted).strip().lower()
        return (a in truthy and b in truthy) or (a in falsy and b in falsy)
    try:
        return float(level) == float(wanted)
    except (TypeError, ValueError):
        return str(level).strip() == str(wanted).strip()


def _format_cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _unique_labels(labels: list[str], studies: list[Any]) -> tuple[list[str], list[str]]:
    """Tell apart labels shared by different studies: 'Aspy (2008)' twice -> 'Aspy (2008a)', 'Aspy (2008b)'.

    Rows of the same study (same ``studies`` entry) keep the same label.
    """
    owners: dict[str, list[Any]] = {}
    for label, study in zip(labels, studies):
        if study not in owners.setdefault(label, []):
            owners[label].append(study)
    out = []
    for label, study in zip(labels, studies):
        if len(owners[label]) < 2:
            out.append(label)
            continue
        letter = "abcdefghijklmnopqrstuvwxyz"[owners[label].index(study) % 26]
        match = re.search(r"(\d{4})(\)?)$", label)
        out.append(label[: match.start()] + match.group(1) + letter + match.group(2) if match
                   else f"{label} ({letter})")
    return out, sorted(k for k, v in owners.items() if len(v) > 1)


def _check_columns(spec: ReviewSpec, table: pd.DataFrame, problems: _Problems) -> None:
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
    columns = [str(x) for x in table.columns]
    for column, key in wanted:
        if column not in columns:
            problems.add(f"column {column!r} (named in review.yaml as {key}) not found"
                         f"{_did_you_mean(column, columns)} The file has the columns: {', '.join(columns)}")


def _check_effect_cells(spec: ReviewSpec, work: pd.DataFrame, problems: _Problems, notes: list[str]) -> None:
    cols = spec.effect.columns
    values: dict[str, np.ndarray] = {}
    for arg, column in cols.items():
        converted, bad = _numeric(work[column])
        problems.cells(bad, column, lambda p, c=column: f"{_show(work[c].iloc[p])} is not a number; fix the "
                       "value or leave the cell empty")
        work[column] = converted
        values[arg] = converted.to_numpy()
    for arg, column in cols.items():
        v = values[arg]
        finite = np.isfinite(v)
        inf = np.flatnonzero(np.isinf(v))
        problems.cells(inf, column, "not a finite number")
        if arg in _COUNT_ARGS:
            bad = np.flatnonzero(finite & ((v < 0) | (v != np.round(v))))
            problems.cells(bad, column, lambda p, v=v: f"{v[p]:g} is not a valid count (must be a whole "
                           "number >= 0)")
            if arg in ("n1i", "n2i", "ni"):
                zero = np.flatnonzero(finite & (v == 0))
                problems.cells(zero, column, "0 is not a valid number of participants (must be at least 1)")
        elif arg in ("sd1i", "sd2i"):
            problems.cells(np.flatnonzero(finite & (v < 0)), column,
                           lambda p, v=v: f"{v[p]:g} is not a valid standard deviation (must be >= 0)")
        elif arg == "vi":
            problems.cells(np.flatnonzero(finite & (v <= 0)), column,
                           lambda p, v=v: f"{v[p]:g} is not a valid variance (must be > 0)")
        elif arg == "sei":
            problems.cells(np.flatnonzero(finite & (v <= 0)), column,
                           lambda p, v=v: f"{v[p]:g} is not a valid standard error (must be > 0)")
        elif arg == "ri":
            problems.cells(np.flatnonzero(finite & (np.abs(v) > 1)), column,
                           lambda p, v=v: f"{v[p]:g} is not a valid correlation (must be between -1 and 1)")
    if not spec.effect.pass_through:
        for events, total in (("ai", "n1i"), ("ci", "n2i"), ("xi", "ni")):
            if events in values and total in values:
                e, n = values[events], values[total]
                bad = np.flatnonzero(np.isfinite(e) & np.isfinite(n) & (e > n))
                problems.cells(bad, cols[events], lambda p, e=e, n=n, t=cols[total]:
                               f"{e[p]:g} events but only {n[p]:g} participants in column {t!r}; "
                               "check the counts")
        if spec.effect.measure in ("ZCOR", "COR") and "ni" in values:
            minimum = 4 if spec.effect.measure == "ZCOR" else 2
            n = values["ni"]
            problems.cells(np.flatnonzero(np.isfinite(n) & (n < minimum) & (n > 0)), cols["ni"],
                           f"a correlation from fewer than {minimum} participants has no usable variance")
    missing = np.flatnonzero(~np.all([np.isfinite(v) | np.isinf(v) for v in values.values()], axis=0))
    if missing.size:
        empty = sorted({cols[a] for a in cols if np.isnan(values[a][missing]).any()})
        notes.append(f"{problems.rel}, {problems.where(list(missing))}: no value in "
                     f"{', '.join(repr(c) for c in empty)}; left out of the analysis (as metafor does)")


def _check_rows(spec: ReviewSpec, table: pd.DataFrame, problems: _Problems) -> None:
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
            ids = table[sid].map(_format_cell)
            clashes = ids[ids.duplicated(keep=False) & table[sid].notna()]
            for value, idx in clashes.groupby(clashes, sort=False).groups.items():
                rows = [table.index.get_loc(i) for i in idx]
                problems.add(f"column {sid!r}: study {value!r} appears in {problems.where(rows)}, but "
                             "data.one_effect_per_study is true; keep one row per study, or set "
                             "one_effect_per_study: false to analyse several effects per study")


def _check_moderators(spec: ReviewSpec, work: pd.DataFrame, problems: _Problems,
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
            converted, bad = _numeric(column)
            problems.cells(bad, mod.name, lambda p, c=column: f"{_show(c.iloc[p])} is not a number, but "
                           "the moderator is continuous; fix the value, or make the moderator categorical")
            if not bad:
                work[mod.name] = converted
            resolved.append(mod)
            continue
        levels = list(pd.unique(column.dropna()))
        shown = ", ".join(_format_cell(lv) for lv in sorted(levels, key=str))
        if len(levels) < 2:
            notes.append(f"{problems.rel}, column {mod.name!r}: only one level ({shown}); the moderator "
                         "cannot explain differences")
        update: dict[str, Any] = {}
        if mod.reference is not None:
            match = [lv for lv in levels if _same_level(lv, mod.reference)]
            if not match:
                problems.add(f"column {mod.name!r}: the reference level {mod.reference!r} (moderators: "
                             f"{mod.name}) does not occur; the levels are {shown}")
            else:
                update["reference"] = match[0].item() if hasattr(match[0], "item") else match[0]
        if mod.level_labels:
            labels = {}
            for key, text in mod.level_labels.items():
                match = [lv for lv in levels if _same_level(lv, key)]
                if not match:
                    problems.add(f"column {mod.name!r}: level_labels names the level {key!r}, which does "
                                 f"not occur; the levels are {shown}")
                else:
                    labels[_format_cell(match[0])] = text
            update["level_labels"] = labels
        resolved.append(mod.model_copy(update=update))
    return resolved


def _check_strategies(spec: ReviewSpec, table: pd.DataFrame, problems: _Problems,
                      notes: list[str]) -> Taxonomy | None:
    s = spec.strategy
    if s is None:
        return None
    taxonomy = s.resolved_taxonomy()
    if s.column is None:
        return taxonomy
    unknown: dict[tuple[str, str], list[int]] = {}
    strategies: list[list[Any]] = []
    components = _split_cells(table[s.components_column]) if s.components_column else [[]] * len(table)
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
        for p, parts in enumerate(_split_cells(table[s.class_column])):
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


def _split_cells(column: pd.Series) -> list[list[str]]:
    """';'-separated parts of each cell (empty list for an empty cell)."""
    return [[] if pd.isna(cell) else [c.strip() for c in str(cell).split(";") if c.strip()] for cell in column]


def _check_certainty_columns(spec: ReviewSpec, work: pd.DataFrame, problems: _Problems) -> None:
    c = spec.certainty
    if c.sample_size_column:
        converted, bad = _numeric(work[c.sample_size_column])
        problems.cells(bad, c.sample_size_column, lambda p: f"{_show(work[c.sample_size_column].iloc[p])} is "
                       "not a number of participants")
        nonpositive = np.flatnonzero(converted.to_numpy() <= 0)
        problems.cells(nonpositive, c.sample_size_column, "a number of participants must be at least 1")
    if c.risk_of_bias_column:
        try:
            rob_judgements(list(work[c.risk_of_bias_column]), column=c.risk_of_bias_column)
        except (DataError, ReviewError) as exc:
            problems.add(str(exc))


def _labels(spec: ReviewSpec, table: pd.DataFrame, problems: _Problems) -> list[str]:
    d = spec.data
    if d.study_label is not None:
        column = table[d.study_label]
        problems.cells(np.flatnonzero(column.isna().to_numpy()), d.study_label, "no study label; every row needs one")
        return [_format_cell(v) for v in column]
    template, fields = str(d.label_template), d.template_fields()
    return [template.format_map({k: _format_cell(row[k]) for k in fields}) for row in table.to_dict("records")]


# ====================================================================== the Review
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
        >>> load_review("practice-facilitation").settings()["analysis"]  # doctest: +SKIP
        {'method': 'REML', 'test': 'z', 'level': 0.95}
        """
        return self.spec.model_dump(mode="json")

    def citations(self) -> pd.Series:
        """Full citation of each row (the ``data.citation`` columns, else the label)."""
        columns = self.spec.data.citation
        if not columns:
            return self.data["study"].rename("citation")
        parts = self.data[columns].map(_format_cell)
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
        parts = _split_cells(self.data[s.components_column]) if s.components_column else [[]] * len(cells)
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
        >>> load_review("writing-to-learn").summary()  # doctest: +SKIP
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


def _effects(spec: ReviewSpec, work: pd.DataFrame, rel: str, notes: list[str]) -> pd.DataFrame:
    from synthesis.meta.effects import effect_sizes

    measure = "GEN" if spec.effect.pass_through else spec.effect.measure
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out = effect_sizes(work, measure, **spec.effect.columns)
        except DataError as exc:
            raise ReviewError(f"{rel}: {exc}") from None
    notes.extend(f"{rel}: {w.message}" for w in caught)
    return out


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
    >>> review = validate_review("cbt-offenders-at-scale")  # doctest: +SKIP
    >>> review.spec.effect.measure, len(review.data)  # doctest: +SKIP
    ('OR', 58)
    """
    spec, folder = _load(review_id, project_dir, overrides)
    path, rel = _data_path(spec, folder)
    table, lines = _read_table(path, rel)
    problems = _Problems(rel, lines)
    notes: list[str] = []
    if table.empty:
        raise ReviewError(f"{rel}: no studies (the file has a header but no data rows)")
    _check_columns(spec, table, problems)
    if problems.messages:  # the other checks need the columns
        raise _review_error(problems.messages)
    work = table.copy()
    _check_effect_cells(spec, work, problems, notes)
    _check_rows(spec, table, problems)
    moderators = _check_moderators(spec, work, problems, notes)
    taxonomy = _check_strategies(spec, table, problems, notes)
    _check_certainty_columns(spec, work, problems)
    labels = _labels(spec, table, problems)
    if problems.messages:
        raise _review_error(problems.messages)

    sources = {"study": spec.data.study_label, **{k: spec.effect.columns.get(k) for k in ("yi", "vi", "sei")}}
    renamed = {c: f"{c}_in_file" for c in STANDARD_COLUMNS if c in work.columns and sources.get(c) != c}
    if renamed:
        work = work.rename(columns=renamed)
        columns = {a: renamed.get(c, c) for a, c in spec.effect.columns.items()}
        spec_for_effects = spec.model_copy(update={"effect": spec.effect.model_copy(update={"columns": columns})})
        notes.append(f"{rel}: the file's {', '.join(repr(c) for c in renamed)} column(s) are kept as "
                     f"{', '.join(repr(v) for v in renamed.values())}; {', '.join(repr(c) for c in renamed)} "
                     "hold the values computed from review.yaml")
    else:
        spec_for_effects = spec
    data = _effects(spec_for_effects, work, rel, notes)
    studies = list(table[spec.data.study_id].map(_format_cell)) if spec.data.study_id else list(range(len(table)))
    labels, repeated = _unique_labels(labels, studies)
    if repeated:
        notes.append(f"{rel}: repeated study labels told apart with letters: {_join(repeated)}")
    data = data.drop(columns=[c for c in STANDARD_COLUMNS if c in data.columns and c not in ("yi", "vi")])
    yi, vi = data.pop("yi").to_numpy(dtype=float), data.pop("vi").to_numpy(dtype=float)
    data["study"] = labels
    data["yi"] = yi
    data["vi"] = vi
    with np.errstate(invalid="ignore"):
        data["sei"] = np.sqrt(vi)
    spec = spec.model_copy(update={"moderators": moderators})
    return Review(spec=spec, data=data, folder=folder, data_files=[path], notes=notes, taxonomy=taxonomy)


def load_review(review_id: str, project_dir: str | Path = ".",
                overrides: Mapping[str, Any] | None = None) -> Review:
    """Load and validate ``reviews/<review_id>/`` and compute its effect sizes.

    Same as :func:`validate_review` (every problem is reported at once).

    Examples
    --------
    >>> review = load_review("practice-facilitation", overrides={"analysis.method": "DL"})  # doctest: +SKIP
    >>> review.spec.analysis.method, list(review.data.columns[-4:])  # doctest: +SKIP
    ('DL', ['study', 'yi', 'vi', 'sei'])
    """
    return validate_review(review_id, project_dir, overrides)
