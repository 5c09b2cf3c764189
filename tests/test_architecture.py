"""The package layout's import rules (docs/architecture.md), checked on the source.

Every ``import``/``from ... import`` in ``synthesis/`` (at module level or inside a
function) is read with :mod:`ast`; an import of a part the rules do not allow fails.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "synthesis"

#: leaf modules every part may import
LEAVES = {"errors", "results", "numbers", "_lazy"}

#: part -> the other parts it may import (besides itself and the leaves)
ALLOWED = {
    "meta": set(),
    "bayes": {"meta"},
    "review": {"meta", "bayes"},
    "grading": {"meta", "review"},
    "analysis": {"meta", "bayes", "review", "grading"},
    "report": {"meta", "bayes", "review", "grading", "analysis"},
    "pipeline": {"review", "report", "grading"},
    "cli": {"meta", "bayes", "review", "grading", "analysis", "report", "pipeline"},
    "__init__": set(),  # the top-level package loads names lazily by string
}
PARTS = set(ALLOWED) - {"__init__"}


def part_of(path: Path) -> str:
    rel = path.relative_to(PACKAGE)
    name = rel.parts[0]
    return name[:-3] if name.endswith(".py") else name


def synthesis_imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    package_parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                base = package_parts[:len(package_parts) - node.level]
                module = ".".join(base + ((node.module,) if node.module else ()))
            else:
                module = node.module or ""
            names = [module] if module != "synthesis" else [f"synthesis.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            if name == "synthesis" or name.startswith("synthesis."):
                found.append((node.lineno, name))
    return found


def violations() -> list[str]:
    bad = []
    for path in sorted(PACKAGE.rglob("*.py")):
        source = part_of(path)
        if source in LEAVES:
            allowed: set[str] = set()
        else:
            assert source in ALLOWED, f"{path}: part {source!r} is not in docs/architecture.md's table"
            allowed = ALLOWED[source]
        for line, name in synthesis_imports(path):
            target = name.split(".")[1] if "." in name else "__init__"
            if target == source or target in LEAVES:
                continue
            if source in LEAVES or target not in allowed:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line}: {source} imports {name}")
    return bad


def test_every_import_follows_the_layout():
    assert violations() == []


def test_every_part_is_documented():
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    on_disk = {p.name if p.is_dir() else p.stem for p in PACKAGE.iterdir()
               if (p.is_dir() and (p / "__init__.py").exists()) or p.suffix == ".py"}
    for part in on_disk - {"__init__"}:
        assert f"`synthesis/{part}" in doc, f"synthesis/{part} is not described in docs/architecture.md"


@pytest.mark.parametrize("source, target", [("meta", "review"), ("report", "pipeline"),
                                            ("review", "grading"), ("bayes", "report")])
def test_the_checker_catches_a_forbidden_import(tmp_path, monkeypatch, source, target):
    """The rule check itself can fail: plant a forbidden import and see it reported."""
    fake = tmp_path / "synthesis"
    (fake / source).mkdir(parents=True)
    (fake / source / "bad.py").write_text(f"def f():\n    from synthesis.{target}.x import y\n")
    monkeypatch.setattr(__import__(__name__), "PACKAGE", fake)
    assert violations() == [f"synthesis/{source}/bad.py:2: {source} imports synthesis.{target}.x"]


def test_no_module_is_over_the_size_limit_without_a_reason():
    """About 500 lines at most, unless docs/architecture.md names the module and says why."""
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text(encoding="utf-8")
    long = []
    for path in PACKAGE.rglob("*.py"):
        n = len(path.read_text(encoding="utf-8").splitlines())
        rel = path.relative_to(PACKAGE.parent).as_posix()
        if n > 520 and f"`{rel}`" not in doc.split("## Longer modules")[-1]:
            long.append(f"{rel}: {n} lines")
    assert long == []
