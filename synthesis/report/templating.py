"""The one place the report's HTML comes from: jinja2 templates with autoescape on.

Every section, table and figure wrapper of the policymaker page is a
``*.html.j2`` template under ``synthesis/report/templates/``; Python code
passes plain values (text, numbers already formatted by :mod:`synthesis.numbers`)
and never assembles tags. Autoescape is on for every template, so a study
labelled ``<script>`` shows as text; the only markup that passes through
unescaped is a :class:`Fragment`, i.e. HTML rendered by one of these templates.

Values are escaped as :func:`html.escape` does (``&quot;`` and ``&#x27;`` for
quotes) and ``None`` shows as nothing.
"""
from __future__ import annotations

import html
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

__all__ = ["environment", "render_template", "Fragment", "join", "report_block", "REPORT_CSS"]

#: the page's stylesheet (the pipeline inlines it into the page head)
REPORT_CSS = Path(__file__).parent / "templates" / "report.css"


def _escape_value(value: Any) -> Any:
    """Escape every printed value the way :func:`html.escape` does; ``None`` prints as nothing."""
    if value is None:
        return Markup("")
    if hasattr(value, "__html__"):
        return value
    return Markup(html.escape(str(value), quote=True))


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The jinja2 environment of the report (templates from the package, autoescape on).

    Examples
    --------
    >>> env = environment()
    >>> env.autoescape("anything.html.j2"), env.from_string("{{ x }}").render(x="<b>")
    (True, '&lt;b&gt;')
    """
    return jinja2.Environment(loader=jinja2.PackageLoader("synthesis.report", "templates"),
                              autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
                              finalize=_escape_value, undefined=jinja2.StrictUndefined,
                              trim_blocks=True, lstrip_blocks=True)


class Fragment(Markup):
    """HTML rendered by a report template: a string that Jupyter displays as HTML.

    Displayed on its own (one notebook cell's output), a fragment is wrapped in
    ``<div class="syn-report">`` so the report's stylesheet applies to it; used
    inside another template it is inserted as it is.

    Examples
    --------
    >>> f = render_template("banner.html.j2", message="Only a test.")
    >>> f.startswith('<div class="syn-banner"'), f._repr_html_().startswith('<div class="syn-report">')
    (True, True)
    """

    def _repr_html_(self) -> str:
        return str(report_block([self]))

    def __repr__(self) -> str:
        return f"<report section: {len(self)} characters of HTML>"


def render_template(name: str, **context: Any) -> Fragment:
    """Render one template of ``synthesis/report/templates`` with ``context``.

    Examples
    --------
    >>> print(render_template("section.html.j2", title="A & B", intro=None, body="<p>x</p>", css_class="",
    ...                       level=2))
    <section class="syn-section"><h2>A &amp; B</h2>&lt;p&gt;x&lt;/p&gt;</section>
    """
    return Fragment(environment().get_template(name).render(**context).strip())


def join(parts: Iterable[Fragment | None]) -> Fragment:
    """Fragments one after another (``None`` and empty parts skipped).

    Examples
    --------
    >>> join([Fragment("<p>a</p>"), None, Fragment("<p>b</p>")])
    <report section: 16 characters of HTML>
    """
    return Fragment("").join(part for part in parts if part)


def report_block(parts: Iterable[Fragment | None], *, include_css: bool = False) -> Fragment:
    """Sections inside one ``<div class="syn-report">`` (with the stylesheet inline if asked).

    Examples
    --------
    >>> str(report_block([Fragment("<p>a</p>")]))
    '<div class="syn-report"><p>a</p></div>'
    """
    css = REPORT_CSS.read_text(encoding="utf-8") if include_css and REPORT_CSS.is_file() else None
    return render_template("report.html.j2", sections=[part for part in parts if part], css=css)
