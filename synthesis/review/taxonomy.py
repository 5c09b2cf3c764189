"""Vocabularies of implementation and knowledge-mobilisation strategies.

Three taxonomies ship as YAML data in ``synthesis/review/taxonomies/``:

* ``eric``: the 73 ERIC implementation strategies (Powell et al. 2015) in the
  nine clusters of Waltz et al. (2015);
* ``epoc``: the Cochrane EPOC taxonomy (2015): delivery, financial and
  governance arrangements and implementation strategies;
* ``kmb``: the six knowledge-mobilisation mechanisms of Langer, Tripney &
  Gough (2016) with forms of intervention that work through them;

plus ``crosswalk.yaml`` linking each ERIC strategy to EPOC categories and KMb
mechanisms. Strategies are matched by id, label or alias, ignoring case and
punctuation (``"Audit & feedback"`` finds ``audit_and_provide_feedback``). A
review can add strategies of its own (:meth:`Taxonomy.extend`); an unknown
label is a :class:`~synthesis.errors.ReviewError` that lists the known ones.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

import pandas as pd
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from synthesis.errors import ReviewError

__all__ = ["TAXONOMIES", "Strategy", "Cluster", "Taxonomy", "load_taxonomy", "crosswalk",
           "crosswalk_table", "normalise_label"]

#: names of the shipped taxonomies
TAXONOMIES = ("eric", "epoc", "kmb")


def normalise_label(text: Any) -> str:
    """Lower-case ``text``, read ``&`` as "and" and reduce punctuation to single spaces.

    Examples
    --------
    >>> normalise_label("Audit & Feedback")
    'audit and feedback'
    >>> normalise_label("audit_and_provide_feedback")
    'audit and provide feedback'
    """
    text = str(text).lower().replace("&", " and ")
    return " ".join(re.sub(r"[^0-9a-z]+", " ", text).split())


# ---------------------------------------------------------------- file schema
class _FileModel(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _StrategyEntry(_FileModel):
    id: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")
    label: str
    aliases: list[str] = []
    description: str | None = None


class _ClusterEntry(_FileModel):
    id: str = Field(pattern=r"^[a-z0-9]+(_[a-z0-9]+)*$")
    label: str
    aliases: list[str] = []
    description: str | None = None
    strategies: list[_StrategyEntry] = []


class _TaxonomyFile(_FileModel):
    name: str
    title: str
    citation: str
    cluster_citation: str | None = None
    clusters: list[_ClusterEntry]


class _Link(_FileModel):
    eric: str
    epoc: list[str] = []
    kmb: list[str] = []
    note: str | None = None


class _CrosswalkFile(_FileModel):
    note: str
    links: list[_Link]


# ---------------------------------------------------------------- objects
@dataclass(frozen=True)
class Cluster:
    """A group of strategies (an ERIC cluster, an EPOC domain, a KMb mechanism)."""

    id: str
    label: str
    description: str | None = None
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Strategy:
    """One strategy: its id, label, cluster id, other names, and where it comes from."""

    id: str
    label: str
    cluster: str
    aliases: tuple[str, ...] = ()
    description: str | None = None
    source: str = "taxonomy"  #: ``taxonomy`` (shipped) or ``review`` (added by a review)


@dataclass(frozen=True)
class Taxonomy:
    """A vocabulary of strategies grouped in clusters.

    Examples
    --------
    >>> eric = load_taxonomy("eric")
    >>> len(eric.clusters), len(eric.strategies)
    (9, 73)
    >>> s = eric.resolve("Practice facilitation")
    >>> s.id, eric.clusters[s.cluster].label
    ('facilitation', 'Provide interactive assistance')
    """

    name: str
    title: str
    citation: str
    clusters: dict[str, Cluster]
    strategies: dict[str, Strategy]
    _names: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    _cluster_names: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        names: dict[str, str] = {}
        for s in self.strategies.values():
            for alias in (s.id, s.label, *s.aliases):
                names.setdefault(normalise_label(alias), s.id)
        cluster_names: dict[str, str] = {}
        for c in self.clusters.values():
            for alias in (c.id, c.label, *c.aliases):
                cluster_names.setdefault(normalise_label(alias), c.id)
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_cluster_names", cluster_names)

    # -- look-ups
    def find(self, label: Any) -> Strategy | None:
        """The strategy named ``label`` (id, label or alias), or None."""
        key = self._names.get(normalise_label(label))
        return self.strategies[key] if key else None

    def find_cluster(self, label: Any) -> Cluster | None:
        """The cluster named ``label`` (id, label or alias), or None."""
        key = self._cluster_names.get(normalise_label(label))
        return self.clusters[key] if key else None

    def suggest(self, label: Any) -> str | None:
        """The id of the strategy whose name is closest to ``label`` (None if nothing is close).

        Examples
        --------
        >>> load_taxonomy("eric").suggest("audit and feedbak")
        'audit_and_provide_feedback'
        """
        close = difflib.get_close_matches(normalise_label(label), list(self._names), n=1, cutoff=0.6)
        return self._names[close[0]] if close else None

    def suggest_cluster(self, label: Any) -> str | None:
        """The id of the cluster whose name is closest to ``label`` (None if nothing is close)."""
        close = difflib.get_close_matches(normalise_label(label), list(self._cluster_names), n=1, cutoff=0.6)
        return self._cluster_names[close[0]] if close else None

    def _unknown(self, label: Any, kind: str, where: str) -> ReviewError:
        guess = self.suggest(label) if kind == "strategy" else self.suggest_cluster(label)
        hint = f"; did you mean {guess!r}?" if guess else "."
        known = ", ".join(sorted(self.strategies if kind == "strategy" else self.clusters))
        prefix = f"{where}: " if where else ""
        return ReviewError(f"{prefix}{label!r} is not a known {self.name.upper()} {kind}{hint} "
                           f"Known {'strategies' if kind == 'strategy' else kind + 's'} (ids; labels and "
                           f"common names also work): {known}."
                           + (" A review can add its own under strategy.extra_strategies in "
                              "review.yaml." if kind == "strategy" else ""))

    def resolve(self, label: Any, where: str = "") -> Strategy:
        """Like :meth:`find` but an unknown label raises a ReviewError listing the known ones.

        Examples
        --------
        >>> load_taxonomy("eric").resolve("reminders").label
        'Remind clinicians'
        """
        found = self.find(label)
        if found is None:
            raise self._unknown(label, "strategy", where)
        return found

    def resolve_cluster(self, label: Any, where: str = "") -> Cluster:
        """Like :meth:`find_cluster` but an unknown label raises a ReviewError.

        Examples
        --------
        >>> load_taxonomy("eric").resolve_cluster("Train and educate stakeholders").id
        'train_and_educate_stakeholders'
        """
        found = self.find_cluster(label)
        if found is None:
            raise self._unknown(label, "cluster", where)
        return found

    def cluster_of(self, label: Any) -> Cluster:
        """The cluster of the strategy named ``label``.

        Examples
        --------
        >>> load_taxonomy("eric").cluster_of("audit and feedback").label
        'Use evaluative and iterative strategies'
        """
        return self.clusters[self.resolve(label).cluster]

    # -- extension and tables
    def extend(self, entries: Iterable[Mapping[str, Any]], where: str = "") -> Taxonomy:
        """A copy with extra strategies ``{id, label, cluster, aliases, description}``.

        ``cluster`` names an existing cluster (id or label). An id or name that
        already belongs to another strategy is an error.

        Examples
        --------
        >>> eric = load_taxonomy("eric").extend([{"id": "peer_mentoring", "label": "Peer mentoring",
        ...                                       "cluster": "support clinicians"}])
        >>> eric.resolve("peer mentoring").cluster
        'support_clinicians'
        """
        strategies = dict(self.strategies)
        prefix = f"{where}: " if where else ""
        taken = dict(self._names)
        for entry in entries:
            entry = dict(entry)
            sid = str(entry.get("id") or "").strip()
            if not sid:
                raise ReviewError(f"{prefix}an added strategy needs an id")
            label = str(entry.get("label") or sid.replace("_", " "))
            cluster = self.resolve_cluster(entry.get("cluster", ""), where)
            aliases = tuple(str(a) for a in entry.get("aliases") or ())
            for name in (sid, label, *aliases):
                owner = taken.get(normalise_label(name))
                if owner is not None and owner != sid:
                    raise ReviewError(f"{prefix}strategy {sid!r}: the name {name!r} already belongs to "
                                      f"the {self.name.upper()} strategy {owner!r}; use that one or "
                                      "choose another name")
                taken[normalise_label(name)] = sid
            strategies[sid] = Strategy(sid, label, cluster.id, aliases, entry.get("description"),
                                       source="review")
        return Taxonomy(self.name, self.title, self.citation, dict(self.clusters), strategies)

    def to_frame(self) -> pd.DataFrame:
        """One row per strategy: ``cluster, cluster_label, strategy, label, aliases, source``.

        Examples
        --------
        >>> load_taxonomy("kmb").to_frame()["cluster"].nunique()
        6
        """
        rows = [{"cluster": s.cluster, "cluster_label": self.clusters[s.cluster].label,
                 "strategy": s.id, "label": s.label, "aliases": "; ".join(s.aliases),
                 "source": s.source} for s in self.strategies.values()]
        return pd.DataFrame(rows, columns=["cluster", "cluster_label", "strategy", "label",
                                           "aliases", "source"])


# ---------------------------------------------------------------- loading
def _read(name: str) -> dict[str, Any]:
    path = resources.files("synthesis.review").joinpath("taxonomies", f"{name}.yaml")
    return yaml.safe_load(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def load_taxonomy(name: str) -> Taxonomy:
    """Load a shipped taxonomy: ``eric``, ``epoc`` or ``kmb``.

    Examples
    --------
    >>> load_taxonomy("epoc").find("academic detailing").id
    'educational_outreach_visits'
    """
    key = str(name).strip().lower()
    if key not in TAXONOMIES:
        close = difflib.get_close_matches(key, TAXONOMIES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ReviewError(f"unknown taxonomy {name!r}{hint} Choose one of {', '.join(TAXONOMIES)}.")
    try:
        spec = _TaxonomyFile.model_validate(_read(key))
    except ValidationError as exc:  # a broken package file: a bug, not a user mistake
        raise RuntimeError(f"synthesis/review/taxonomies/{key}.yaml is invalid: {exc}") from exc
    clusters, strategies = {}, {}
    for c in spec.clusters:
        clusters[c.id] = Cluster(c.id, c.label, c.description, tuple(c.aliases))
        for s in c.strategies:
            if s.id in strategies:
                raise RuntimeError(f"{key}.yaml: strategy id {s.id!r} appears twice")
            strategies[s.id] = Strategy(s.id, s.label, c.id, tuple(s.aliases), s.description)
    return Taxonomy(spec.name, spec.title, " ".join(spec.citation.split()), clusters, strategies)


@lru_cache(maxsize=None)
def _crosswalk() -> tuple[str, dict[str, _Link]]:
    spec = _CrosswalkFile.model_validate(_read("crosswalk"))
    eric, epoc, kmb = (load_taxonomy(n) for n in TAXONOMIES)
    links: dict[str, _Link] = {}
    for link in spec.links:
        problems = ([f"eric {link.eric!r}"] if link.eric not in eric.strategies else []) + \
                   [f"epoc {e!r}" for e in link.epoc if e not in epoc.strategies] + \
                   [f"kmb {k!r}" for k in link.kmb if k not in kmb.clusters]
        if problems:
            raise RuntimeError(f"crosswalk.yaml: unknown ids {', '.join(problems)}")
        links[link.eric] = link
    return " ".join(spec.note.split()), links


def crosswalk(strategy: str) -> dict[str, Any]:
    """EPOC categories and KMb mechanisms that correspond to an ERIC strategy.

    Returns ``{"eric", "epoc": [ids], "kmb": [ids], "note"}``; empty lists when
    the crosswalk has no entry for the strategy.

    Examples
    --------
    >>> crosswalk("audit and feedback")["epoc"]
    ['audit_and_feedback']
    >>> crosswalk("facilitation")["kmb"]
    ['interaction', 'skills']
    """
    sid = load_taxonomy("eric").resolve(strategy).id
    note, links = _crosswalk()
    link = links.get(sid)
    if link is None:
        return {"eric": sid, "epoc": [], "kmb": [], "note": note}
    return {"eric": sid, "epoc": list(link.epoc), "kmb": list(link.kmb), "note": link.note or note}


def crosswalk_table() -> pd.DataFrame:
    """The whole crosswalk with labels: one row per ERIC strategy that has an entry.

    Examples
    --------
    >>> "remind_clinicians" in set(crosswalk_table()["eric"])
    True
    """
    eric, epoc, kmb = (load_taxonomy(n) for n in TAXONOMIES)
    _, links = _crosswalk()
    rows = [{"eric": sid, "eric_label": eric.strategies[sid].label,
             "eric_cluster": eric.clusters[eric.strategies[sid].cluster].label,
             "epoc": "; ".join(epoc.strategies[e].label for e in link.epoc),
             "kmb": "; ".join(kmb.clusters[k].label for k in link.kmb),
             "note": link.note or ""} for sid, link in links.items()]
    return pd.DataFrame(rows)
