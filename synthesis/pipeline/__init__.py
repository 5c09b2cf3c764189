"""From review to published report: fingerprint, plan, execute (papermill), render
(nbconvert), the versioned report store, the index page and the run loop.

Names load on first use: the up-to-date check must not import the analysis stack.
"""
from synthesis._lazy import lazy_exports

_EXPORTS = {
    "plan_review": "synthesis.pipeline.run",
    "execute_and_publish": "synthesis.pipeline.run",
    "write_index": "synthesis.pipeline.run",
    "compute_fingerprint": "synthesis.pipeline.run",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
