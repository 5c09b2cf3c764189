"""From review to published report, one module per step:

- :mod:`~synthesis.pipeline.fingerprint`: hashes of data, notebook, package source, dependency versions;
- :mod:`~synthesis.pipeline.plan`: load a review, choose its notebook, decide whether it is up to date;
- :mod:`~synthesis.pipeline.execute`: papermill in a fresh kernel, failures as one line;
- :mod:`~synthesis.pipeline.render`: nbconvert to self-contained HTML;
- :mod:`~synthesis.pipeline.publish`: the run of one review, from plan to published version;
- :mod:`~synthesis.pipeline.store`: the versioned, locked report store;
- :mod:`~synthesis.pipeline.index`: ``reports/index.html``.

Names load on first use: the up-to-date check must not import the analysis stack.
"""
from synthesis._lazy import lazy_exports

_EXPORTS = {
    "compute_fingerprint": "synthesis.pipeline.fingerprint",
    "ReviewPlan": "synthesis.pipeline.plan",
    "plan_review": "synthesis.pipeline.plan",
    "render_html": "synthesis.pipeline.render",
    "RunOutcome": "synthesis.pipeline.publish",
    "execute_and_publish": "synthesis.pipeline.publish",
    "write_index": "synthesis.pipeline.index",
}
__all__ = sorted(_EXPORTS)
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
