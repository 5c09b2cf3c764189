"""The rendered HTML is self-contained: no request to any server, images embedded."""
from __future__ import annotations

import base64
import re

import nbformat as nbf
import pytest
from bs4 import BeautifulSoup

from synthesis.pipeline.render import render_html

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
EXTERNAL = re.compile(r"^\s*(https?:)?//", re.IGNORECASE)


def _executed_notebook(path):
    """A notebook with outputs as papermill leaves it (no kernel needed)."""
    nb = nbf.v4.new_notebook()
    nb.cells = [
        nbf.v4.new_code_cell("review_id = 'x'", metadata={"tags": ["parameters"]}),
        nbf.v4.new_markdown_cell("# Title\n\nInline maths $\\tau^2$ and ![dot](data:image/png;base64," + PNG + ")"),
        nbf.v4.new_code_cell("secret_code_marker = 1", outputs=[
            nbf.v4.new_output("display_data", data={"image/png": PNG, "text/plain": "<Figure>"}),
            nbf.v4.new_output("stream", name="stdout", text="POLICY-OUTPUT\n"),
        ], execution_count=2),
        nbf.v4.new_code_cell("analyst_marker = 2", metadata={"tags": ["analyst"]}, outputs=[
            nbf.v4.new_output("stream", name="stdout", text="ANALYST-OUTPUT\n")], execution_count=3),
        nbf.v4.new_code_cell("display(HTML(...))", outputs=[nbf.v4.new_output(
            "display_data", data={"text/html": "<p class='answer'>HTML-OUTPUT</p>"})], execution_count=4),
    ]
    nbf.write(nb, str(path))
    return path


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("html")
    executed = _executed_notebook(folder / "report.ipynb")
    pages = {}
    for name, report in (("report", True), ("analysis", False)):
        render_html(executed, folder / f"{name}.html", report=report, title="T & <x>")
        pages[name] = (folder / f"{name}.html").read_text()
    return pages


@pytest.mark.parametrize("name", ["report", "analysis"])
def test_no_external_references(rendered, name):
    soup = BeautifulSoup(rendered[name], "html.parser")
    for tag in soup.find_all(True):
        for attr in ("src", "href", "data", "action", "poster"):
            value = tag.get(attr)
            if value:
                assert not EXTERNAL.match(value), f"<{tag.name} {attr}={value!r}> loads from a server"
    for style in soup.find_all("style"):
        assert not re.search(r"url\(\s*['\"]?(https?:)?//", style.text), "CSS loads from a server"
        assert "@import" not in style.text
    assert not soup.find_all("script", src=True)
    assert "require.js" not in rendered[name] and "mathjax" not in rendered[name].lower()
    assert "cdnjs" not in rendered[name] and "unpkg" not in rendered[name]


@pytest.mark.parametrize("name", ["report", "analysis"])
def test_images_are_embedded(rendered, name):
    soup = BeautifulSoup(rendered[name], "html.parser")
    images = [img["src"] for img in soup.find_all("img")]
    assert images and all(src.startswith("data:image/png;base64,") for src in images)
    assert base64.b64decode(images[0].split(",", 1)[1])[:4] == b"\x89PNG"


def test_report_hides_code_and_analyst_cells(rendered):
    text = BeautifulSoup(rendered["report"], "html.parser").get_text()
    assert "POLICY-OUTPUT" in text and "HTML-OUTPUT" in text
    assert "secret_code_marker" not in text and "review_id" not in text
    assert "ANALYST" not in text
    assert "In\xa0[" not in text and "In [" not in text


def test_analysis_shows_everything(rendered):
    text = BeautifulSoup(rendered["analysis"], "html.parser").get_text()
    for marker in ("secret_code_marker", "analyst_marker", "ANALYST-OUTPUT", "POLICY-OUTPUT"):
        assert marker in text


def test_title_is_escaped(rendered):
    assert "<title>T &amp; &lt;x&gt;</title>" in rendered["report"]
