"""The ``review.yaml`` schema: pydantic models, unknown keys refused.

Each allowed value is taken from the part of the package that defines it, so
the schema cannot drift from what the engine accepts: effect measures and
their column arguments from :data:`synthesis.meta.effects.MEASURES`, tau²
methods from :data:`synthesis.meta.core.METHODS` and the 2x2 pooling methods (with the
measures each allows) from :data:`synthesis.meta.two_by_two.TWO_BY_TWO_METHODS`, tests from
:data:`synthesis.meta.pooled.TESTS`, the confidence level through
:func:`synthesis.meta.pooled.normalise_level`, tau priors from
:mod:`synthesis.bayes` (presets and their aliases) and the strategy
taxonomies from :data:`synthesis.review.taxonomy.TAXONOMIES`. See
``docs/review-yaml.md`` for every setting.
"""
from __future__ import annotations

import datetime as _dt
import re
import string
import typing
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator, model_validator

import synthesis.bayes as _bayes
from synthesis.errors import ReviewError
from synthesis.meta.core import METHODS, normalise_method
from synthesis.meta.effects import MEASURES
from synthesis.meta.two_by_two import TWO_BY_TWO_METHODS
from synthesis.meta.pooled import TESTS, check_test, normalise_level
from synthesis.review.messages import did_you_mean, show
from synthesis.review.taxonomy import TAXONOMIES, Taxonomy, load_taxonomy, normalise_label

__all__ = ["ReviewSpec", "Question", "Effect", "DataSpec", "Moderator", "ExtraStrategy", "StrategySpec",
           "Analysis", "Decision", "StrategyPriorsSpec", "Bayes", "CertaintySpec", "Sensitivity", "Provenance",
           "ID_PATTERN", "EFFECT_ARGUMENTS", "TAU_PRIORS", "COST_LEVELS", "DEPENDENCE",
           "DEFAULT_RHO"]

#: a review id: lower-case words joined by hyphens (it is the folder name)
ID_PATTERN = r"^[a-z0-9]+(?:-[a-z0-9]+)*$"
#: metafor's argument names accepted in ``effect.columns`` (those of every measure)
EFFECT_ARGUMENTS = tuple(dict.fromkeys(a for groups in MEASURES.values() for group in groups for a in group))


def _tau_prior_names() -> tuple[str, ...]:
    """Every name :func:`synthesis.bayes.make_tau_prior` accepts, in the order of its docs.

    The kinds of :class:`synthesis.bayes.TauPrior` it accepts by name (the
    half-normal and half-Cauchy, and the short aliases of the presets), then
    the published presets in ``TAU_PRIOR_PRESETS``.
    """
    listed = getattr(_bayes, "tau_prior_names", None)
    if callable(listed):
        return tuple(listed())
    kinds = typing.get_args(typing.get_type_hints(_bayes.TauPrior)["kind"])
    accepted = []
    for kind in kinds:
        try:
            _bayes.make_tau_prior(kind)
        except ValueError:  # DataError is a ValueError too
            continue
        accepted.append(kind)
    return tuple(dict.fromkeys([*accepted, *_bayes.TAU_PRIOR_PRESETS]))


#: the names ``bayes.tau_prior`` accepts
TAU_PRIORS = _tau_prior_names()
_PRIORS = _bayes.StrategyPriors()

#: how several effect sizes of one study are analysed (``analysis.dependence``)
DEPENDENCE = ("che", "multilevel", "aggregate")
#: default assumed within-study correlation of sampling errors (``analysis.rho``)
DEFAULT_RHO = 0.6

#: the longest text a setting may hold (a title, a question, a label template)
MAX_TEXT = 10_000
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


def _canonical(normalise: Callable[[str], str], value: Any) -> Any:
    """The engine's own spelling of a choice (``dl`` -> ``DL``, ``FE`` -> ``EE``).

    A value the engine does not know is passed on unchanged, so that the
    schema's list of choices refuses it with a "did you mean".
    """
    if not isinstance(value, str):
        return value
    try:
        return normalise(value.strip())
    except ValueError:  # DataError is a ValueError too
        return value


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=False, allow_inf_nan=False)  # strict JSON: no .inf


class Question(_Spec):
    """The review question (PICO) and the question in plain words."""

    population: Text = Field(description="who the evidence is about (people, services, setting)")
    setting: Text | None = Field(None, description="where, if not clear from the population")
    intervention: Text = Field(description="the strategy or intervention, as a short noun phrase")
    comparison: Text = Field(description="what it is compared with")
    outcome: Text = Field(description="the outcome in plain words, e.g. 'pupils' attainment'")
    plain_question: Text = Field(description="the question as a policymaker would ask it")
    kind: Literal["intervention", "exposure"] = Field(
        "intervention", description="intervention (something done to help) or exposure (something people are "
        "exposed to, whose harm is in question): sets whether the page speaks of benefit or of harm")
    plural: bool | None = Field(None, description="whether the intervention is a plural noun phrase "
                                "('programmes ... reduce'); guessed from its head noun when not set")


class Effect(_Spec):
    """Effect measure and the study-data columns it is computed from."""

    measure: Literal[tuple(MEASURES)] = Field(  # type: ignore[valid-type]
        description=", ".join(MEASURES))
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
        groups = MEASURES[self.measure] + MEASURES["GEN"]
        if not any(given == set(g) for g in groups):
            need = " or ".join("(" + ", ".join(g) + ")" for g in MEASURES[self.measure])
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
            parts = [(f, spec, conv) for _, f, spec, conv in string.Formatter().parse(value) if f is not None]
        except ValueError as exc:
            raise ValueError(f"{show(value)} is not a valid template ({exc}); write column names in braces, "
                             "e.g. '{author} ({year})'") from None
        # only plain {field}: a format spec such as {author:>300000000} could build a huge label
        bad = [f for f, spec, conv in parts if spec or conv or not f or not re.fullmatch(r"[^.\[\]{}!:]+", f)]
        if bad:
            raise ValueError(f"{show(value)}: write plain column names in braces, e.g. '{{author}} ({{year}})' "
                             "(no format specs such as ':>10' or conversions such as '!r')")
        return value

    @model_validator(mode="after")
    def study_labels(self) -> DataSpec:
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
    role: Literal["scale"] | None = Field(None, description="scale: the moderator is the scale of delivery "
                                          "(research trials vs routine practice); the page says whether the "
                                          "effect holds at scale")

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

    taxonomy: Literal[TAXONOMIES] = "eric"  # type: ignore[valid-type]
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


def _pooling_method(value: str) -> str:
    """The engine's spelling of a method: a 2x2 method (``mh`` -> ``MH``) or a tau² estimator."""
    two_by_two = {name.upper(): name for name in TWO_BY_TWO_METHODS}
    return two_by_two.get(value.upper()) or normalise_method(value)


class Analysis(_Spec):
    """Frequentist model settings (metafor's names).

    ``method`` is a tau² estimator of the inverse-variance model, or ``MH`` /
    ``Peto`` to pool 2x2 tables of counts (the headline estimate; the other
    analyses then use the inverse-variance REML model).

    ``dependence`` applies when some study contributes several effect sizes:
    ``che`` (default) fits the correlated-and-hierarchical-effects working model
    with CR2 cluster-robust tests (Pustejovsky & Tipton 2022), ``multilevel`` the
    three-level model with CR2 tests, ``aggregate`` combines each study's effects
    into one first (metafor's ``aggregate``). ``rho`` is the assumed correlation of
    the sampling errors within a study (CHE and ``aggregate``): 0.6 by default, the
    value of the metafor and clubSandwich examples and of Pustejovsky & Tipton's
    illustrations; CR2 tests stay valid when it is wrong, and the sensitivity grid
    varies it.
    """

    method: Literal[METHODS + tuple(TWO_BY_TWO_METHODS)] = "REML"  # type: ignore[valid-type]
    test: Literal[TESTS] = "z"  # type: ignore[valid-type]
    level: float = Field(0.95, gt=0, lt=1, description="confidence level: 0.95, or 95 (a percentage)")
    # several effects per study: CHE + CR2 (the default), the three-level model, or one combined effect per study
    dependence: Literal[DEPENDENCE] = Field(  # type: ignore[valid-type]
        "che", description="che, multilevel or aggregate (used only when some study has several effects)")
    rho: float = Field(DEFAULT_RHO, ge=0, lt=1,
                       description="assumed correlation of the sampling errors of one study's effects")

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return _canonical(_pooling_method, value)

    @field_validator("dependence", mode="before")
    @classmethod
    def _dependence(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    def unused(self, several_effects: bool) -> list[dict[str, Any]]:
        """``dependence`` and ``rho`` when given (in the review or by ``--set``) but not used.

        They are used only when some study contributes several effect sizes; ``rho``
        also not by the three-level model (independent sampling errors), and neither
        when MH or Peto pool the 2x2 tables (the other analyses then combine each
        study's effects at ``rho``, as ``aggregate``).

        Examples
        --------
        >>> Analysis(dependence="che").unused(several_effects=False)[0]["setting"]
        'analysis.dependence'
        >>> [u["setting"] for u in Analysis(dependence="multilevel", rho=0.5).unused(several_effects=True)]
        ['analysis.rho']
        """
        given = [name for name in ("dependence", "rho") if name in self.model_fields_set]
        if not several_effects:
            reason = ("every study has one effect size, so there is no dependence between effects to "
                      "model; the studies are pooled by the random-effects model")
            return [{"setting": f"analysis.{name}", "value": getattr(self, name), "reason": reason}
                    for name in given]
        if self.method in TWO_BY_TWO_METHODS and "dependence" in given and self.dependence != "aggregate":
            return [{"setting": "analysis.dependence", "value": self.dependence,
                     "reason": f"{self.method} pools the 2x2 tables; the other analyses combine each study's "
                               "effects into one (as dependence: aggregate)"}]
        if self.dependence == "multilevel" and "rho" in given:
            return [{"setting": "analysis.rho", "value": self.rho,
                     "reason": "the three-level model (dependence: multilevel) takes the sampling errors "
                               "of one study as independent; rho is used by che and aggregate"}]
        return []

    @field_validator("test", mode="before")
    @classmethod
    def _test(cls, value: Any) -> Any:
        return _canonical(check_test, value)

    @field_validator("level", mode="before")
    @classmethod
    def _level(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return value  # not a number: refused by the type
        try:
            level = normalise_level(value)
        except ValueError:
            return value  # out of range: refused by the bounds
        if value > 1 and level < 0.5:
            raise ValueError(f"{value!r} would be read as a percentage ({value:g}%); write the level as 0.95 "
                             "or 95")
        return level


#: levels of ``decision.cost`` (the EEF Teaching and Learning Toolkit's five-step £ scale)
COST_LEVELS = 5


class Decision(_Spec):
    """What matters to the decision-maker."""

    mid: float | None = Field(None, ge=0, description="minimal important difference on the analysis scale")
    baseline_risk: float | None = Field(None, gt=0, lt=1)
    months_progress: bool = False
    natural_units: Text | None = None
    people: Text = Field("people", description="what the counts and comparisons are of: 'pupils', 'practices'")
    cost: int | None = Field(None, ge=1, le=COST_LEVELS,
                             description=f"cost per person, 1 (very low) to {COST_LEVELS} (very high) as on the "
                                         "EEF Toolkit's scale; leave it out when no source gives it")
    cost_reason: Text | None = Field(None, description="where the cost rating comes from (source, what it counts)")
    context: Text | None = Field(None, description="a categorical moderator whose levels are the contexts of the "
                                                   "toolkit's evidence-gap view (e.g. setting)")

    event: Text | None = Field(None, description="what the counted people would do, after 'would': "
                               "'develop lung cancer', 'not reoffend' (binary outcomes)")

    @model_validator(mode="after")
    def _cost_has_reason(self) -> Decision:
        if self.cost is not None and self.cost_reason is None:
            raise ValueError("key 'decision.cost': say where the rating comes from in decision.cost_reason")
        return self


class StrategyPriorsSpec(_Spec):
    """Prior scales of the strategy model (defaults from :class:`synthesis.bayes.StrategyPriors`)."""

    mu_sd: float = Field(_PRIORS.mu_sd, gt=0)
    tau_class: float = Field(_PRIORS.tau_class, gt=0)
    tau_strategy: float = Field(_PRIORS.tau_strategy, gt=0)
    tau_study: float = Field(_PRIORS.tau_study, gt=0)
    tau_effect: float = Field(_PRIORS.tau_effect, gt=0)
    beta_sd: float = Field(_PRIORS.beta_sd, gt=0)
    interaction_sd: float = Field(_PRIORS.interaction_sd, gt=0)


#: largest draws (and tuning steps) per chain and number of chains the schema accepts
MAX_DRAWS = 100_000
MAX_CHAINS = 64


class Bayes(_Spec):
    """Settings of the Bayesian models (priors and sampler)."""

    enabled: bool = True
    mu_sd: float = Field(1.0, gt=0)
    # half-normal / half-Cauchy with tau_scale, or a published heterogeneity prior (synthesis.bayes presets)
    tau_prior: Literal[TAU_PRIORS] = "half_normal"  # type: ignore[valid-type]
    tau_scale: float = Field(0.5, gt=0)
    draws: int = Field(1000, ge=10, le=MAX_DRAWS)
    tune: int = Field(1000, ge=0, le=MAX_DRAWS)
    chains: int = Field(4, ge=1, le=MAX_CHAINS)
    sampler: Literal["nutpie", "pymc"] = "nutpie"
    target_accept: float = Field(0.9, gt=0, lt=1)
    interaction: bool = False
    strategy_priors: StrategyPriorsSpec = Field(default_factory=StrategyPriorsSpec)

    @field_validator("draws", "tune", "chains", mode="before")
    @classmethod
    def _whole_and_sane(cls, value: Any, info: Any) -> Any:
        """Counts are whole numbers within reach: 1e9 draws or 2.5 chains are refused."""
        name = info.field_name
        limit = MAX_CHAINS if name == "chains" else MAX_DRAWS
        example = {"draws": 2000, "tune": 1000, "chains": 4}[name]
        whole = (isinstance(value, int) and not isinstance(value, bool)) or (
            isinstance(value, float) and value.is_integer())
        if not whole:
            raise ValueError(f"{value!r} is not a whole number; write e.g. {name}: {example}")
        if value > limit:
            raise ValueError(f"{value:,.0f} is more than the {limit:,} {name} allowed; "
                             f"write e.g. {name}: {example}")
        return int(value)

    #: settings of the sampled strategy model (unused by the exact single-intervention path)
    SAMPLED: typing.ClassVar[tuple[str, ...]] = ("draws", "tune", "chains", "sampler",
                                                 "target_accept", "interaction", "strategy_priors")
    #: settings of the exact random-effects model (unused by the strategy model)
    EXACT: typing.ClassVar[tuple[str, ...]] = ("mu_sd", "tau_prior", "tau_scale")

    def unused(self, multi_strategy: bool) -> list[dict[str, Any]]:
        """Settings given in the review (or by ``--set``) that the chosen model does not use.

        Examples
        --------
        >>> Bayes(draws=5000, mu_sd=2.0).unused(multi_strategy=False)[0]["setting"]
        'bayes.draws'
        """
        names = self.EXACT if multi_strategy else self.SAMPLED
        model = ("the strategy model (it uses bayes.strategy_priors)" if multi_strategy else
                 "the exact single-intervention posterior (computed by integration, not sampled)")
        return [{"setting": f"bayes.{name}", "value": getattr(self, name),
                 "reason": f"not used by {model}"}
                for name in names if name in self.model_fields_set]


class CertaintySpec(_Spec):
    """Inputs of the GRADE-style certainty rating that only the reviewer can give."""

    start: Literal["high", "low"] = "high"
    start_reason: Text | None = None
    risk_of_bias_column: Text | None = None
    risk_of_bias: Literal["not_assessed"] | None = Field(
        None, description="not_assessed: say so when the studies have no risk-of-bias judgement (the domain "
        "is then rated down one level as a precaution)")
    risk_of_bias_reason: Text | None = Field(None, description="why risk of bias was not assessed (shown)")
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
        if self.risk_of_bias == "not_assessed" and self.risk_of_bias_column:
            raise ValueError("key 'certainty.risk_of_bias': it is not_assessed but risk_of_bias_column is set; "
                             "remove one of them")
        if self.indirectness in ("serious", "very_serious") and not self.indirectness_reason:
            raise ValueError("key 'certainty.indirectness_reason': say why the evidence is indirect "
                             "(it is shown in the report)")
        return self


class Randomised(_Spec):
    """Which rows are randomised studies (for the sensitivity grid's design exclusion)."""

    column: Text = Field(description="column holding the design of each study")
    values: list[Scalar] = Field(min_length=1, description="the values meaning randomised, e.g. [rct, crct]")


class Sensitivity(_Spec):
    """The choices the sensitivity multiverse varies (``synthesis.meta.multiverse``).

    The grid is the product of the levels: each tau² estimator x test x measure
    (2x2 counts only) x within-study correlation (several effects per study
    only) x each exclusion rule (two levels: all studies / without them) x
    study left out (``none`` and each study, when ``leave_one_out``) x
    publication-bias adjustment.
    """

    enabled: bool = True
    methods: list[Literal[METHODS]] = Field(default_factory=lambda: list(METHODS),  # type: ignore[valid-type]
                                            min_length=1)
    tests: list[Literal[TESTS]] = Field(default_factory=lambda: list(TESTS), min_length=1)  # type: ignore[valid-type]
    measures: list[Literal["OR", "RR", "RD"]] | None = Field(
        None, description="2x2 counts only: the measures to compare (default OR, RR and RD)")
    rho: list[float] = Field(default_factory=lambda: [0.2, 0.6, 0.8], min_length=1,
                             description="several effects per study: within-study correlations when combining them")
    risk_of_bias: bool = Field(True, description="leave out high risk of bias (needs certainty.risk_of_bias_column)")
    randomised: Randomised | None = None
    small_studies_below: int | None = Field(None, ge=1, description="leave out studies with fewer participants "
                                                                   "(needs certainty.sample_size_column)")
    outliers: bool = True
    leave_one_out: bool = False
    bias: list[Literal["none", "trimfill", "selection"]] = Field(default_factory=lambda: ["none", "trimfill"],
                                                                 min_length=1)

    @field_validator("methods", mode="before")
    @classmethod
    def _methods(cls, value: Any) -> Any:
        return [_canonical(normalise_method, v) for v in value] if isinstance(value, list) else value

    @field_validator("tests", mode="before")
    @classmethod
    def _tests(cls, value: Any) -> Any:
        return [_canonical(check_test, v) for v in value] if isinstance(value, list) else value

    @field_validator("rho")
    @classmethod
    def _rho(cls, value: list[float]) -> list[float]:
        if any(not -1 < r < 1 for r in value):
            raise ValueError("each within-study correlation must lie between -1 and 1")
        return value


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
    sensitivity: Sensitivity = Field(default_factory=Sensitivity)
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
                                f"{did_you_mean(self.subgroup, names)} List it under moderators "
                                "(type: categorical) first.")
            elif mod.type != "categorical":
                problems.append(f"key 'subgroup': {self.subgroup!r} is continuous; subgroups need a "
                                "categorical moderator")
        problems += self._two_by_two_method()
        if self.decision.context is not None:
            mod = next((m for m in self.moderators if m.name == self.decision.context), None)
            if mod is None or mod.type != "categorical":
                problems.append(f"key 'decision.context': {self.decision.context!r} is not a categorical "
                                f"moderator{did_you_mean(self.decision.context, names)} List it under "
                                "moderators (type: categorical) first.")
        if self.decision.months_progress and self.effect.measure != "SMD":
            problems.append(f"key 'decision.months_progress': months' progress converts standardised mean "
                            f"differences, but the measure is {self.effect.measure}")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def _two_by_two_method(self) -> list[str]:
        """MH and Peto pool counts: a measure they allow, computed from the 2x2 columns."""
        method, measure = self.analysis.method, self.effect.measure
        if method not in TWO_BY_TWO_METHODS:
            return []
        allowed = TWO_BY_TWO_METHODS[method]
        if measure in allowed and not self.effect.pass_through:
            return []
        given = "effect sizes given as yi" if measure in allowed else f"the measure {measure}"
        return [f"key 'analysis.method': {method} pools 2x2 tables of counts for {', '.join(allowed)} (columns "
                f"ai, bi, ci, di or ai, n1i, ci, n2i), but the review has {given}; give the counts or choose "
                f"an inverse-variance method ({', '.join(METHODS)})"]

