"""synthesis: evidence synthesis for implementation and knowledge-mobilisation questions.

The frequentist engine reproduces R's metafor (3.8) number for number.
Public names are loaded on first use, so ``import synthesis`` stays cheap
(matplotlib and PyMC are imported only by the functions that need them).

Examples
--------
>>> import synthesis
>>> fit = synthesis.meta_analysis([0.1, 0.3, 0.35, 0.6], [0.02, 0.03, 0.025, 0.04])
>>> fit.k
4
"""
from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    "effect_sizes": "synthesis.effects",
    "meta_analysis": "synthesis.meta",
    "MetaResult": "synthesis.meta",
    "meta_regression": "synthesis.regression",
    "MetaRegressionResult": "synthesis.regression",
    "subgroup_analysis": "synthesis.regression",
    "SubgroupResult": "synthesis.regression",
    "egger_test": "synthesis.bias",
    "begg_test": "synthesis.bias",
    "trim_and_fill": "synthesis.bias",
    "leave_one_out": "synthesis.influence",
    "influence": "synthesis.influence",
    "forest_plot": "synthesis.plots",
    "funnel_plot": "synthesis.plots",
    "load_review": "synthesis.review",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'synthesis' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
