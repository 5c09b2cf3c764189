"""Review questions as data: the ``review.yaml`` schema, overrides, study-data checks,
the loader, and the strategy taxonomies (ERIC, EPOC, KMb) with their crosswalk.

Names load on first use: listing the reviews (:mod:`synthesis.review.folders`)
must not import the loader's pandas and pydantic, so an unchanged ``synthesis run``
stays fast.
"""
from synthesis._lazy import lazy_exports

_EXPORTS = {
    "Review": "synthesis.review.loader",
    "list_review_ids": "synthesis.review.folders",
    "load_review": "synthesis.review.loader",
    "load_spec": "synthesis.review.loader",
    "validate_review": "synthesis.review.loader",
    "parse_overrides": "synthesis.review.overrides",
    "ReviewSpec": "synthesis.review.schema",
    "crosswalk": "synthesis.review.taxonomy",
    "load_taxonomy": "synthesis.review.taxonomy",
}
__all__ = ["Review", "ReviewSpec", "list_review_ids", "load_review", "load_spec", "parse_overrides",
           "validate_review", "crosswalk", "load_taxonomy"]
__getattr__, __dir__ = lazy_exports(__name__, globals(), _EXPORTS)
