"""Embedding a figure in the page: inline SVG (text as text) or a compact PNG, sized for phones.

A figure is written as SVG with its text kept as text (``svg.fonttype: none``),
so it stays sharp at any zoom and weighs little; a PNG is used instead only
when it is smaller (a figure with very many points). Either way the figure
scales to the page width, never beyond its natural size, and never below the
width at which its smallest text would fall under :data:`MIN_TEXT_PX` CSS
pixels: on a phone the figure then scrolls sideways inside its own box
(``.syn-scroll``, with a shadow cue) rather than shrinking into unreadable
text or widening the page.
"""
from __future__ import annotations

import base64
import hashlib
import io
import math
import re
import struct
from typing import Literal

import matplotlib
from matplotlib.figure import Figure
from matplotlib.text import Text

from synthesis.errors import DataError
from synthesis.report.plots.common import STYLE, alt_text
from synthesis.report.templating import Fragment, render_template

__all__ = ["MIN_TEXT_PX", "figure_to_html"]

#: the smallest text a figure may show on any screen, in CSS pixels
MIN_TEXT_PX = 11.0
#: CSS pixels per inch and SVG user units (points) per inch
_CSS_PX, _PT = 96.0, 72.0
_NUMBER = re.compile(r"-?\d+\.\d{3,}")
_ATTRIBUTE = re.compile(r'="[^"]*"')
_ID = re.compile(r'\sid="([^"]+)"')
_REFERENCE = re.compile(r'(url\(#|href="#)([^)"]+)')


def _smallest_font(fig: Figure) -> float:
    sizes = [t.get_fontsize() for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]
    return float(min(sizes)) if sizes else float(STYLE["font.size"])


def _compact_attributes(match: re.Match[str]) -> str:
    """Coordinates to 2 decimals (a hundredth of a point) and one line per attribute."""
    value = _NUMBER.sub(lambda m: f"{float(m.group()):.2f}", match.group())
    return " ".join(value.split())


def _svg(fig: Figure) -> str:
    """The figure as an ``<svg>`` element for inline use, ids unique to this figure.

    Without the XML prolog, doctype and metadata; coordinates shortened; ids that
    nothing refers to dropped and the others prefixed with a hash of the figure,
    so two figures on one page never share an id.
    """
    buf = io.StringIO()
    with matplotlib.rc_context(STYLE):
        fig.savefig(buf, format="svg", facecolor="none", metadata={"Date": None, "Creator": None})
    text = buf.getvalue()
    text = text[text.index("<svg"):]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r"\s*<!--.*?-->", "", text, flags=re.S)
    text = _ATTRIBUTE.sub(_compact_attributes, text)
    text = re.sub(r">\s+<", "><", text)
    # matplotlib names clip paths after object addresses: number the referenced ids in order instead,
    # then prefix them with a hash of the figure, so the page is reproducible and its ids unique
    used = {m.group(2) for m in _REFERENCE.finditer(text)}
    names: dict[str, str] = {}
    text = _ID.sub(lambda m: f' id="{names.setdefault(m.group(1), str(len(names)))}"' if m.group(1) in used
                   else "", text)
    text = _REFERENCE.sub(lambda m: m.group(1) + names.get(m.group(2), m.group(2)), text)
    prefix = "f" + hashlib.sha1(text.encode("utf-8")).hexdigest()[:8] + "-"
    text = _ID.sub(lambda m: f' id="{prefix}{m.group(1)}"', text)
    text = _REFERENCE.sub(lambda m: m.group(1) + prefix + m.group(2), text)
    return text.strip()


def _png(fig: Figure, dpi: int) -> tuple[bytes, int, int]:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, facecolor="white", metadata={"Software": None})
    png = buf.getvalue()
    width, height = struct.unpack(">II", png[16:24])
    return png, width, height


def figure_to_html(fig: Figure, alt: str | None = None, caption: str | None = None, *,
                   fmt: Literal["auto", "svg", "png"] = "auto", dpi: int = 110) -> Fragment:
    """Embed a figure in the page, readable on a phone.

    The figure is inline SVG with its text as text (``fmt="svg"``), or a PNG
    data URI (``fmt="png"``); ``"auto"`` takes the smaller of the two. It is
    shown at the page width, at most at its natural size and at least wide
    enough that its smallest text stays :data:`MIN_TEXT_PX` pixels tall (a
    narrower screen scrolls the figure sideways in its own box). ``alt``
    (default: the figure's own :func:`~synthesis.report.plots.common.alt_text`)
    and ``caption`` are HTML-escaped; a ``<figcaption>`` is written only when a
    caption is given, so screen readers do not read the alt text twice.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    alt : str, optional
        What the figure shows, stated as its finding.
    caption : str, optional
    fmt : {"auto", "svg", "png"}
    dpi : int
        Resolution of a PNG.

    Examples
    --------
    >>> from synthesis.report.plots.common import new_figure
    >>> fig = new_figure(2, 2)
    >>> html = figure_to_html(fig, "A <b>blank</b> figure", fmt="svg")
    >>> '<div role="img" aria-label="A &lt;b&gt;blank&lt;/b&gt; figure"><svg' in html
    True
    >>> figure_to_html(fig, "A blank figure", fmt="png").count('src="data:image/png;base64,')
    1
    """
    alt = alt if alt is not None else alt_text(fig)
    if not alt:
        raise DataError("figure_to_html needs alt text that states what the figure shows")
    if fmt not in ("auto", "svg", "png"):
        raise DataError(f"fmt must be auto, svg or png, got {fmt!r}")
    width_in, height_in = (float(x) for x in fig.get_size_inches())
    min_width = math.ceil(width_in * _PT * MIN_TEXT_PX / _smallest_font(fig))
    size = {"width": round(width_in * _CSS_PX), "height": round(height_in * _CSS_PX), "min_width": min_width}
    svg = _svg(fig) if fmt != "png" else None
    png = _png(fig, dpi) if fmt != "svg" else None
    if svg is not None and (png is None or len(svg) <= 4 * len(png[0]) / 3):
        return render_template("figure.html.j2", svg=Fragment(svg), alt=alt, caption=caption, **size)
    data = base64.b64encode(png[0]).decode("ascii")
    return render_template("figure.html.j2", data=data, alt=alt, caption=caption, **size)
