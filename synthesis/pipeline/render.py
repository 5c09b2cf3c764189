"""Rendering an executed notebook to self-contained HTML with nbconvert.

Two pages per version: ``report.html`` for policymakers (no code, no prompts,
cells tagged ``analyst`` or ``parameters`` removed) and ``analysis.html`` for
analysts (every cell with its code). Both use the ``offline`` template
(``templates/offline/``): no script, style sheet or font is loaded from a
server, and images are embedded. ``report.html`` carries only the report's own
stylesheet (``synthesis/report/templates/report.css``), not JupyterLab's: its
outputs are the report's HTML and inline SVG figures, which keeps the page
small enough for a phone (the shipped reviews stay under 300 KB).

Examples
--------
>>> sorted(REPORT_REMOVE_TAGS)
['analyst', 'injected-parameters', 'parameters']
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["REPORT_REMOVE_TAGS", "TEMPLATES_DIR", "render_html"]

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
REPORT_CSS = Path(__file__).resolve().parents[1] / "report" / "templates" / "report.css"
#: tags of cells that report.html drops entirely
REPORT_REMOVE_TAGS = frozenset({"analyst", "parameters", "injected-parameters"})


def _template_dirs() -> list[str]:
    """Our template folder; in a venv made with system packages, also expose nbconvert's
    templates installed under the base interpreter's prefix (via ``JUPYTER_PATH``)."""
    base = Path(sys.base_prefix) / "share" / "jupyter"
    if Path(sys.prefix) != Path(sys.base_prefix) and (base / "nbconvert" / "templates").is_dir():
        paths = os.environ.get("JUPYTER_PATH", "").split(os.pathsep)
        if str(base) not in paths:
            os.environ["JUPYTER_PATH"] = os.pathsep.join(p for p in paths + [str(base)] if p)
    return [str(TEMPLATES_DIR)]


def render_html(executed: str | os.PathLike[str], out_path: str | os.PathLike[str], *, report: bool,
                title: str | None = None) -> None:
    """Render an executed notebook to self-contained HTML.

    Parameters
    ----------
    executed : path
        The executed notebook.
    out_path : path
        Where to write the HTML.
    report : bool
        ``True`` for the policymaker version (no code, no prompts, cells
        tagged ``analyst``/``parameters`` removed); ``False`` for the
        analyst version with every cell and its code.
    title : str, optional
        The page title (escaped).

    Examples
    --------
    >>> import tempfile, pathlib, nbformat
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> nb = nbformat.v4.new_notebook()
    >>> nb.cells = [nbformat.v4.new_code_cell("secret = 1", metadata={"tags": ["analyst"]})]
    >>> nbformat.write(nb, str(folder / "nb.ipynb"))
    >>> render_html(folder / "nb.ipynb", folder / "report.html", report=True, title="A & B")
    >>> page = (folder / "report.html").read_text()
    >>> "<title>A &amp; B</title>" in page, "secret" in page
    (True, False)
    """
    import nbformat
    from nbconvert import HTMLExporter
    from nbconvert.preprocessors import TagRemovePreprocessor

    nb = nbformat.read(str(executed), as_version=4)
    if title:
        nb.metadata["title"] = title
    from traitlets.config import Config

    # the policymaker page shows no code, so it needs no syntax-highlighting CSS either
    config = Config({"CSSHTMLHeaderPreprocessor": {"enabled": not report}})
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=_template_dirs(),
                            embed_images=True, exclude_anchor_links=True, config=config)
    if report:
        exporter.exclude_input = True
        exporter.exclude_input_prompt = True
        exporter.exclude_output_prompt = True
        remover = TagRemovePreprocessor(remove_cell_tags=set(REPORT_REMOVE_TAGS), enabled=True)
        exporter.register_preprocessor(remover, enabled=True)
    resources = {"synthesis_css": REPORT_CSS.read_text(encoding="utf-8") if REPORT_CSS.is_file() else "",
                 "policy_page": report}
    body, _ = exporter.from_notebook_node(nb, resources=resources)
    Path(out_path).write_text(body, encoding="utf-8")
