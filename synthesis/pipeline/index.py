"""``reports/index.html``: the toolkit page across reviews, as a What Works Centre publishes it.

One row per review (the answer, the effect in natural units, certainty, studies,
cost, last updated; every version linked, damaged ones flagged), sortable and
filterable by a small inline script that needs no server, and the evidence-gap
view (:mod:`synthesis.pipeline.gap_map`). Everything comes from the latest
manifest of each review (the ``toolkit`` block its analysis wrote,
:mod:`synthesis.analysis.toolkit`): nothing is re-run.

The page comes from the jinja2 template ``templates/index.html.j2`` with
autoescaping on, so a title or answer holding markup is shown as text. Any
number the template shows goes through :mod:`synthesis.numbers` (its filters
``number``, ``interval``, ``percent`` and ``probability``).

Examples
--------
>>> import tempfile
>>> write_index(tempfile.mkdtemp()).name
'index.html'
"""
from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from synthesis import numbers
from synthesis.errors import PipelineError
from synthesis.pipeline import store
from synthesis.pipeline.gap_map import gap_tables
from synthesis.pipeline.render import TEMPLATES_DIR
from synthesis.pipeline.verify import damaged_versions, reviews_with_reports

if TYPE_CHECKING:  # pragma: no cover
    import jinja2

__all__ = ["INDEX_TEMPLATE", "COST_WORDS", "index_rows", "write_index"]

INDEX_TEMPLATE = "index.html.j2"

#: ``decision.cost`` (1-5) in words, as on the EEF Teaching and Learning Toolkit's £ scale
COST_WORDS = {1: "very low cost", 2: "low cost", 3: "moderate cost", 4: "high cost", 5: "very high cost"}


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    import jinja2

    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)), autoescape=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    env.filters.update(number=numbers.number, interval=numbers.interval, percent=numbers.percent,
                       probability=numbers.probability)
    return env


def _review_ids_on_disk(project_dir: str | os.PathLike[str]) -> list[str]:
    ids: set[str] = set(reviews_with_reports(project_dir))
    try:
        from synthesis.review.loader import list_review_ids

        ids.update(list_review_ids(project_dir))
    except Exception:  # noqa: BLE001 - the index lists what is on disk even if a review is broken
        pass
    return sorted(ids)


def index_rows(project_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """One row per review for the index: id, versions (newest first) and the latest manifest's fields.

    Parameters
    ----------
    project_dir : path
        The project folder.

    Returns
    -------
    list of dict
        ``review_id``, ``versions`` (empty when nothing is published), ``title``,
        ``date`` (YYYY-MM-DD), ``answer``, ``certainty``, ``simulated``,
        ``damaged`` (labels of versions that no longer match their record) and
        ``problem`` (why the review cannot be shown, e.g. a damaged latest
        manifest; empty otherwise): one broken review never stops the page;
        and from the manifest's ``results.toolkit`` (:func:`_toolkit_fields`):
        ``effect``, ``effect_detail``, ``outcome``, ``intervention``,
        ``certainty_symbols``, ``studies``, ``effects``,
        ``cost``, ``cost_reason``, ``gap``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp())
    >>> (p / "reports/r/v1").mkdir(parents=True)
    >>> _ = (p / "reports/r/v1/manifest.json").write_text('{"title": "T", "created_at": "2026-11-22T10:00"}')
    >>> [(row["review_id"], row["versions"], row["title"], row["date"]) for row in index_rows(p)]
    [('r', [1], 'T', '2026-11-22')]
    """
    rows = []
    for review_id in _review_ids_on_disk(project_dir):
        versions = store.list_versions(project_dir, review_id)
        problem = ""
        try:
            latest = store.read_manifest(project_dir, review_id, versions[-1]) if versions else {}
        except PipelineError as exc:
            latest, problem = {}, str(exc)
        rows.append({
            "review_id": review_id,
            "versions": versions[::-1],
            "title": str(latest.get("title") or review_id),
            "date": str(latest.get("created_at", ""))[:10],
            "answer": str(latest.get("answer") or ""),
            "certainty": str(latest.get("certainty") or ""),
            "simulated": bool(latest.get("simulated")),
            "damaged": damaged_versions(project_dir, review_id),
            "problem": problem,
            **_toolkit_fields(latest),
        })
    return rows


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _toolkit_fields(manifest: dict[str, Any]) -> dict[str, Any]:
    """The toolkit row's fields of a manifest; a manifest from before the toolkit block gives what it can.

    Examples
    --------
    >>> f = _toolkit_fields({"headline": {"k": 5}, "results": {"natural_units": {"phrase": "about 1 month"}}})
    >>> f["studies"], f["effect"], f["cost"], f["gap"]
    (5, 'about 1 month', None, [])
    """
    results = manifest.get("results") if isinstance(manifest.get("results"), dict) else {}
    toolkit = results.get("toolkit") if isinstance(results.get("toolkit"), dict) else {}
    units = results.get("natural_units") if isinstance(results.get("natural_units"), dict) else {}
    headline = manifest.get("headline") if isinstance(manifest.get("headline"), dict) else {}
    cost = _count(toolkit.get("cost"))
    gap = toolkit.get("gap")
    return {
        "effect": str(toolkit.get("effect") or units.get("phrase") or ""),
        "effect_detail": str(toolkit.get("effect_detail") or units.get("detail") or ""),
        "outcome": str(toolkit.get("outcome") or ""),
        "intervention": str(toolkit.get("intervention") or ""),
        "certainty_symbols": str(toolkit.get("certainty_symbols") or ""),
        "studies": _count(toolkit.get("studies", headline.get("k"))),
        "effects": _count(toolkit.get("effects")),
        "cost": cost if cost in COST_WORDS else None,
        "cost_reason": str(toolkit.get("cost_reason") or ""),
        "gap": gap if isinstance(gap, list) else [],
    }


def write_index(project_dir: str | os.PathLike[str]) -> Path:
    """Write ``reports/index.html``, the toolkit page across reviews (atomic replace).

    Parameters
    ----------
    project_dir : path
        The project folder.

    Returns
    -------
    Path
        The page written.

    Examples
    --------
    >>> import tempfile
    >>> write_index(tempfile.mkdtemp()).name
    'index.html'
    """
    from synthesis.grading.rating import LEVELS

    rows = index_rows(project_dir)
    page = _environment().get_template(INDEX_TEMPLATE).render(
        rows=rows, gaps=gap_tables([row for row in rows if row["versions"] and not row["problem"]]),
        cost_words=COST_WORDS, certainty_levels=LEVELS)
    out = Path(project_dir) / "reports" / "index.html"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".index.{os.getpid()}.tmp")
    try:
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
