"""Reading ``review.yaml`` safely, and ``--set key=value`` overrides.

YAML is read with ``yaml.safe_load`` only: a tag such as ``!!python/object``
is refused, never run; a key written twice is an error. The line of every key
is kept so that schema problems can name it. Overrides use dotted keys (list
items by number from 0) and go through the same schema as the file.

Work is bounded before any object is built: the file is at most
:data:`MAX_YAML_BYTES`, its node tree at most :data:`MAX_DEPTH` deep and, with
every alias (``*name``) expanded, at most :data:`MAX_NODES` nodes, so a YAML
"alias bomb" is refused in milliseconds; ``--set`` items are limited in number
and length before they are parsed.
"""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from synthesis.errors import ReviewError
from synthesis.review.messages import dotted, review_error, show
from synthesis.review.spec_errors import fields_at

__all__ = ["read_yaml", "parse_overrides", "apply_overrides", "MAX_YAML_BYTES", "MAX_DEPTH", "MAX_NODES",
           "MAX_OVERRIDES", "MAX_OVERRIDE_KEY", "MAX_OVERRIDE_VALUE"]

#: largest review.yaml read (bytes): a review's settings fit in a few kilobytes
MAX_YAML_BYTES = 1_000_000
#: deepest nesting of settings in review.yaml or a --set value
MAX_DEPTH = 20
#: most YAML nodes (values, keys, list items) with every alias expanded
MAX_NODES = 100_000
#: most --set items, longest --set key and value (characters)
MAX_OVERRIDES = 200
MAX_OVERRIDE_KEY = 200
MAX_OVERRIDE_VALUE = 10_000

_ALLOWED_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null", "map", "seq",
                                                    "timestamp")}


def _walk_yaml(node: Any, path: tuple[Any, ...], lines: dict[tuple[Any, ...], int], problems: list[str],
               rel: str, seen: set[int]) -> None:
    if id(node) in seen:
        return
    seen.add(id(node))
    if node.tag not in _ALLOWED_TAGS:
        tag = node.tag.replace("tag:yaml.org,2002:", "!!")
        problems.append(f"{rel}, line {node.start_mark.line + 1}: the YAML tag {tag!r} is not allowed "
                        "(only plain YAML: settings, lists, text and numbers); nothing was executed")
        return
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            line = key_node.start_mark.line + 1
            if key in first:
                problems.append(f"{rel}: key '{dotted(path + (key,))}' appears twice (lines {first[key]} "
                                f"and {line}); keep one")
            first.setdefault(key, line)
            lines.setdefault(path + (key,), line)
            _walk_yaml(key_node, path, {}, problems, rel, seen)
            _walk_yaml(value_node, path + (key,), lines, problems, rel, seen)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            lines.setdefault(path + (i,), item.start_mark.line + 1)
            _walk_yaml(item, path + (i,), lines, problems, rel, seen)


def _expanded_size(node: Any, rel: str) -> int:
    """Number of nodes with aliases expanded; refuses a tree deeper than MAX_DEPTH or larger than MAX_NODES."""
    sizes: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, depth): each shared node costed once
    active: set[int] = set()

    def visit(item: Any) -> tuple[int, int]:
        key = id(item)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ReviewError(f"{rel}, line {item.start_mark.line + 1}: a YAML alias refers to the setting "
                              "that contains it; write the values out")
        active.add(key)
        children: list[Any] = []
        if isinstance(item, yaml.MappingNode):
            children = [n for pair in item.value for n in pair]
        elif isinstance(item, yaml.SequenceNode):
            children = list(item.value)
        size, depth = 1, 1
        for child in children:
            child_size, child_depth = visit(child)
            size, depth = size + child_size, max(depth, child_depth + 1)
            if size > MAX_NODES or depth > MAX_DEPTH:
                what = (f"nests settings more than {MAX_DEPTH} levels deep" if depth > MAX_DEPTH else
                        f"expands to more than {MAX_NODES:,} values (YAML aliases repeated)")
                raise ReviewError(f"{rel}, line {item.start_mark.line + 1}: {what}; a review's settings are "
                                  "much smaller: write them out plainly")
        active.discard(key)
        sizes[key] = (size, depth)
        return size, depth

    return visit(node)[0]


def _compose(text: str, rel: str) -> Any:
    """``yaml.compose`` with the size guard, a readable message for invalid YAML."""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ReviewError(f"{rel}{where}: not valid YAML ({problem}); check the indentation and quotes") from None
    except RecursionError:
        raise ReviewError(f"{rel}: nests settings more than {MAX_DEPTH} levels deep; write them out plainly") from None
    if node is not None:
        _expanded_size(node, rel)
    return node


def read_yaml(path: Path, rel: str) -> tuple[dict[str, Any], dict[tuple[Any, ...], int]]:
    """Read ``review.yaml`` safely; return the settings and the line of each key.

    ``rel`` is the file as named in messages (``reviews/<id>/review.yaml``).

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "review.yaml"
    >>> _ = path.write_text("id: demo\\nanalysis:\\n  method: DL\\n")
    >>> read_yaml(path, "review.yaml")
    ({'id': 'demo', 'analysis': {'method': 'DL'}}, {('id',): 1, ('analysis',): 2, ('analysis', 'method'): 3})
    """
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_YAML_BYTES + 1)
        if len(data) > MAX_YAML_BYTES:
            raise ReviewError(f"{rel}: larger than {MAX_YAML_BYTES:,} bytes; a review's settings fit in a few "
                              "kilobytes (put study data in the CSV file)")
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise ReviewError(f"{rel}: not a UTF-8 text file; save it as UTF-8") from None
    except OSError as exc:
        raise ReviewError(f"{rel}: cannot be read ({exc.strerror})") from None
    node = _compose(text, rel)
    if node is None:
        raise ReviewError(f"{rel}: the file is empty; see docs/review-yaml.md for the settings")
    lines: dict[tuple[Any, ...], int] = {}
    problems: list[str] = []
    _walk_yaml(node, (), lines, problems, rel, set())
    if problems:
        raise review_error(problems)
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # e.g. a bad timestamp
        mark = getattr(exc, "problem_mark", None)
        where = f", line {mark.line + 1}" if mark is not None else ""
        raise ReviewError(f"{rel}{where}: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(raw, dict):
        raise ReviewError(f"{rel}: must be a set of 'key: value' settings (a YAML mapping), not a "
                          f"{type(raw).__name__}; see docs/review-yaml.md")
    return raw, lines

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.([A-Za-z_][A-Za-z0-9_]*|\d+))*$")


def parse_overrides(items: Sequence[str]) -> dict[str, Any]:
    """Parse ``["key=value", ...]`` (dotted keys) into ``{key: value}``.

    Values are read as YAML (``safe_load``): ``10`` is a number, ``true`` a
    boolean, ``[a, b]`` a list; quote text that looks like something else.
    A later item with the same key wins.

    Raises
    ------
    ReviewError
        For an item without ``=``, a malformed key or a value that is not
        valid YAML; the message names the item.

    Examples
    --------
    >>> parse_overrides(["analysis.method=DL", "bayes.draws=500", "analysis.test=knha"])
    {'analysis.method': 'DL', 'bayes.draws': 500, 'analysis.test': 'knha'}
    """
    parsed: dict[str, Any] = {}
    if len(items) > MAX_OVERRIDES:
        raise ReviewError(f"{len(items)} overrides given; at most {MAX_OVERRIDES} (edit review.yaml instead)")
    for item in items:
        if not isinstance(item, str) or "=" not in item:
            raise ReviewError(f"override {show(item)}: write it as key=value, e.g. analysis.method=DL")
        key, text = item.split("=", 1)
        key = key.strip()
        if len(key) > MAX_OVERRIDE_KEY or len(text) > MAX_OVERRIDE_VALUE:
            raise ReviewError(f"override {show(item)}: too long (keys up to {MAX_OVERRIDE_KEY} characters, "
                              f"values up to {MAX_OVERRIDE_VALUE:,}); edit review.yaml instead")
        if not _KEY.match(key):
            raise ReviewError(f"override {show(item)}: {show(key)} is not a setting name; use dotted names such as "
                              "analysis.method or moderators.0.reference")
        where = f"override {show(item)}"
        try:
            node = yaml.compose(text, Loader=yaml.SafeLoader)
            if node is not None:
                _expanded_size(node, where)  # before building objects: refuses an alias bomb
            parsed[key] = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            problem = getattr(exc, "problem", None) or "not valid YAML"
            raise ReviewError(f"{where}: the value cannot be read ({problem}); put text in "
                              "quotes, e.g. title='My review'") from None
    return parsed


def _deep_merge(target: dict[str, Any], value: Mapping[str, Any]) -> None:
    for key, item in value.items():
        if isinstance(item, Mapping) and isinstance(target.get(key), dict):
            _deep_merge(target[key], item)
        else:
            target[key] = copy.deepcopy(item)


def apply_overrides(raw: dict[str, Any], overrides: Mapping[str, Any]) -> dict[tuple[Any, ...], str]:
    """Apply dotted-key overrides in place; return location -> how the override was written.

    A mapping given for a block of settings changes only the keys it names.

    Examples
    --------
    >>> raw = {"analysis": {"method": "REML", "test": "z"}}
    >>> apply_overrides(raw, {"analysis.method": "DL", "bayes": {"draws": 200}})
    {('analysis', 'method'): "override analysis.method='DL'", ('bayes',): "override bayes={'draws': 200}"}
    >>> raw
    {'analysis': {'method': 'DL', 'test': 'z'}, 'bayes': {'draws': 200}}
    """
    sources: dict[tuple[Any, ...], str] = {}
    for key, value in overrides.items():
        key = str(key)
        shown = f"override {key}={show(value)}"
        if not _KEY.match(key):
            raise ReviewError(f"{shown}: {key!r} is not a setting name; use dotted names such as analysis.method")
        parts: list[Any] = [int(p) if p.isdigit() else p for p in key.split(".")]
        if parts[0] == "id":
            raise ReviewError(f"{shown}: the review id is the folder name and cannot be overridden")
        node: Any = raw
        for i, part in enumerate(parts[:-1]):
            here = dotted(parts[: i + 1])
            if isinstance(node, dict) and isinstance(part, str):
                if node.get(part) is None:
                    node[part] = [] if isinstance(parts[i + 1], int) else {}
                node = node[part]
            elif isinstance(node, list) and isinstance(part, int):
                if part >= len(node):
                    raise ReviewError(f"{shown}: '{here}' does not exist (the list has {len(node)} item(s), "
                                      "counted from 0)")
                node = node[part]
            else:
                raise ReviewError(f"{shown}: '{dotted(parts[:i])}' is a single value, not a group of settings")
            if not isinstance(node, (dict, list)):
                raise ReviewError(f"{shown}: '{here}' is a single value, not a group of settings")
        last = parts[-1]
        if isinstance(node, dict) and isinstance(last, str):
            if isinstance(value, Mapping) and isinstance(node.get(last), dict) and fields_at(parts):
                _deep_merge(node[last], value)  # a block of settings: change only the keys given
            else:
                node[last] = copy.deepcopy(value)
        elif isinstance(node, list) and isinstance(last, int) and last < len(node):
            node[last] = copy.deepcopy(value)
        else:
            raise ReviewError(f"{shown}: '{key}' does not exist")
        sources[tuple(parts)] = shown
    return sources


