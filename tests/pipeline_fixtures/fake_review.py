"""A minimal stand-in for ``synthesis.review.loader`` used by the pipeline tests.

It follows the contract in docs/architecture.md (``load_review``,
``list_review_ids``, ``parse_overrides``, ``Review.settings()``,
``Review.data_files``, ``Review.spec.seed``) so the pipeline's mechanics
can be tested independently of the real review module.
"""
from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import yaml

from synthesis.errors import ReviewError


def list_review_ids(project_dir: str = ".") -> list[str]:
    root = Path(project_dir) / "reviews"
    return sorted(p.name for p in root.iterdir() if (p / "review.yaml").is_file()) if root.is_dir() else []


def parse_overrides(items: list[str]) -> dict[str, Any]:
    parsed = {}
    for item in items:
        if "=" not in item:
            raise ReviewError(f"--set {item!r}: write it as key=value")
        key, value = item.split("=", 1)
        parsed[key.strip()] = yaml.safe_load(value)
    return parsed


def load_review(review_id: str, project_dir: str = ".", overrides: dict[str, Any] | None = None):
    folder = Path(project_dir) / "reviews" / review_id
    if not (folder / "review.yaml").is_file():
        raise ReviewError(f"no review {review_id!r} in {folder.parent}")
    settings = yaml.safe_load((folder / "review.yaml").read_text())
    for key, value in (overrides or {}).items():
        node = settings
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    data_file = folder / "data.csv"
    with open(data_file, newline="") as handle:
        for row_number, row in enumerate(csv.DictReader(handle), start=1):
            try:
                float(row["yi"]), float(row["vi"])
            except (KeyError, TypeError, ValueError):
                raise ReviewError(f"{data_file}: data row {row_number}: yi/vi must be numbers; fix the file") from None
    spec = SimpleNamespace(id=review_id, seed=settings.get("seed"))
    frozen = copy.deepcopy(settings)
    return SimpleNamespace(spec=spec, folder=folder, data_files=[data_file],
                           settings=lambda: json.loads(json.dumps(frozen)))
