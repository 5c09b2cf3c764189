"""The README's library example runs as written (from the repository's top folder).

The ```python blocks under "### The library" are executed in a fresh namespace, with
no hidden preamble: the example loads its own data from ``reviews/``. Every ``sy.<name>``
it calls is a public name of :mod:`synthesis`.
"""
from __future__ import annotations

import contextlib
import io
import re
import warnings
from pathlib import Path

import synthesis
from synthesis.results import Result

ROOT = Path(__file__).resolve().parents[1]


def library_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("### The library", 1)[1]
    section = re.split(r"^#{1,3} ", section, maxsplit=1, flags=re.MULTILINE)[0]
    return re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)


def test_readme_library_example_runs_as_written(monkeypatch):
    blocks = library_blocks()
    assert blocks, "README.md has no ```python block under '### The library'"
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()) as out:
        warnings.simplefilter("error")  # the example shows no warnings either
        for block in blocks:
            exec(compile(block, "README.md", "exec"), namespace)
    assert isinstance(namespace["fit"], synthesis.MetaResult)
    assert out.getvalue().startswith(namespace["fit"].title())


def test_every_function_the_readme_names_exists():
    code = "\n".join(library_blocks())
    alias = re.search(r"^import synthesis as (\w+)$", code, flags=re.MULTILINE).group(1)
    named = set(re.findall(rf"\b{alias}\.(\w+)", code))
    assert {"meta_analysis", "leave_one_out", "influence"} <= named
    for name in named:
        assert name in synthesis.__all__, f"README uses {alias}.{name}, which synthesis does not export"
        assert callable(getattr(synthesis, name))
    results = re.findall(r"`(\w+Result)`", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert results and all(issubclass(getattr(synthesis, name), Result) for name in results)
