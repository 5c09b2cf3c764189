"""Lazy re-exports for package ``__init__`` modules (PEP 562).

A package lists ``public name -> defining module``; the name is imported on
first use, so ``import synthesis.report`` does not pull in matplotlib and
``import synthesis`` stays cheap.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, namespace: dict[str, Any], exports: Mapping[str, str]
                 ) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Return ``(__getattr__, __dir__)`` for a package exporting ``exports`` lazily.

    Examples
    --------
    >>> ns = {}
    >>> getattr_, dir_ = lazy_exports("demo", ns, {"sqrt": "math"})
    >>> getattr_("sqrt")(9.0), "sqrt" in dir_()
    (3.0, True)
    """
    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(exports))

    return __getattr__, __dir__
