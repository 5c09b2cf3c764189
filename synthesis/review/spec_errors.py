"""Schema errors in plain words: pydantic's errors become one line per problem.

Each line names the key (dotted), what is wrong and what to do, with a "did
you mean" for a misspelt setting or choice, and where the key was written:
the line of ``review.yaml``, or the ``--set`` override that set it.
"""
from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from synthesis.review.messages import did_you_mean, dotted, show
from synthesis.review.schema import ReviewSpec

__all__ = ["error_lines", "fields_at", "spec_problems"]


def _unwrap(annotation: Any) -> list[Any]:
    """The candidate types inside Optional/Union/Annotated."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for a in typing.get_args(annotation) for t in _unwrap(a)]
    return [annotation]


def _type_at(loc: Sequence[Any]) -> Any:
    """The schema type at a location of the raw settings (None when unknown)."""
    current: Any = ReviewSpec
    for part in loc:
        nxt = None
        for candidate in _unwrap(current):
            origin = typing.get_origin(candidate)
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                if isinstance(part, str) and part in candidate.model_fields:
                    nxt = candidate.model_fields[part].annotation
            elif origin is list and isinstance(part, int):
                nxt = typing.get_args(candidate)[0]
            elif origin is dict:
                nxt = typing.get_args(candidate)[1]
            if nxt is not None:
                break
        if nxt is None:
            return None
        current = nxt
    return current


def fields_at(loc: Sequence[Any]) -> list[str]:
    """The settings of the block at ``loc`` (empty when ``loc`` is not a block).

    Examples
    --------
    >>> fields_at(("analysis",))
    ['method', 'test', 'level', 'dependence', 'rho']
    """
    for candidate in _unwrap(_type_at(loc)):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel):
            return list(candidate.model_fields)
    return []


def _describe(loc: Sequence[Any]) -> str | None:
    if not loc:
        return None
    parent = _type_at(loc[:-1])
    for candidate in _unwrap(parent):
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and loc[-1] in candidate.model_fields:
            return candidate.model_fields[loc[-1]].description
    return None


def error_lines(exc: ValidationError) -> list[tuple[tuple[Any, ...], str]]:
    """Turn pydantic errors into ``(location, message)`` pairs in plain words.

    Examples
    --------
    >>> from pydantic import ValidationError
    >>> try:
    ...     ReviewSpec.model_validate({"analysis": {"methd": "DL"}})
    ... except ValidationError as exc:
    ...     print(dict(error_lines(exc))[("analysis", "methd")])
    key 'analysis.methd': unknown setting; did you mean 'method'?
    """
    out = []
    for err in exc.errors():
        loc = tuple(p for p in err["loc"])
        kind, msg = err["type"], err["msg"]
        if "[key]" in loc:  # a dict key that is not allowed, e.g. effect.columns.m1
            i = loc.index("[key]")
            loc = loc[:i]
            allowed = re.findall(r"'([^']*)'", (err.get("ctx") or {}).get("expected", ""))
            key = err.get("input")
            out.append((loc, f"key '{dotted(loc)}': {key!r} is not allowed here"
                        f"{did_you_mean(key, allowed)} Allowed: {', '.join(allowed)}."))
            continue
        name = dotted(loc)
        if kind == "extra_forbidden":
            options = fields_at(loc[:-1])
            hint = did_you_mean(loc[-1], options)
            if hint == "." and options:
                hint = f". Settings here: {', '.join(options)}."
            out.append((loc, f"key '{name}': unknown setting{hint}"))
        elif kind == "missing":
            what = _describe(loc)
            out.append((loc, f"key '{name}' is missing" + (f": add {what}" if what else "")))
        elif kind == "literal_error":
            allowed = re.findall(r"'([^']*)'", (err.get("ctx") or {}).get("expected", ""))
            out.append((loc, f"key '{name}': {show(err.get('input'))} is not allowed; choose one of "
                        f"{', '.join(allowed)}" + (did_you_mean(err.get("input"), allowed).rstrip(".")
                                                   if isinstance(err.get("input"), str) else "")))
        elif kind == "value_error":
            text = msg.removeprefix("Value error, ")
            for line in text.splitlines():
                if line.startswith("key '") or line.startswith("reviews/"):
                    match = re.match(r"key '([^']*)'", line)
                    where = tuple(int(p) if p.isdigit() else p for p in match.group(1).split(".")) if match else loc
                    out.append((where, line))
                else:
                    out.append((loc, f"key '{name}': {line}" if loc else line))
        else:
            out.append((loc, f"key '{name}': {show(err.get('input'))} is not valid: {msg}"))
    return out



def spec_problems(exc: ValidationError, rel: str, lines: Mapping[tuple[Any, ...], int],
                  sources: Mapping[tuple[Any, ...], str]) -> list[str]:
    """One line per schema problem, naming the file and the YAML line or the override.

    ``lines`` maps a location to its line in the file, ``sources`` an
    overridden location to how the override was written.

    Examples
    --------
    >>> try:
    ...     ReviewSpec.model_validate({"seed": -1})
    ... except ValidationError as exc:
    ...     print(next(p for p in spec_problems(exc, "review.yaml", {("seed",): 9}, {}) if "seed" in p))
    review.yaml: key 'seed': -1 is not valid: Input should be greater than or equal to 0 (line 9)
    """
    problems = []
    for loc, message in error_lines(exc):
        origin = next((sources[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in sources), None)
        if origin is None:  # an error about a block that contains an overridden key
            origin = next((s for p, s in sources.items() if p[: len(loc)] == loc and loc), None)
        if origin is not None:
            problems.append(f"{rel}: {origin}: {message}")
            continue
        line = next((lines[loc[:n]] for n in range(len(loc), 0, -1) if loc[:n] in lines), None)
        problems.append(f"{rel}: {message}" + (f" (line {line})" if line else ""))
    return problems

