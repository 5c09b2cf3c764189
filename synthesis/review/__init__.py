"""Review questions as data: the ``review.yaml`` schema, overrides, study-data checks,
the loader, and the strategy taxonomies (ERIC, EPOC, KMb) with their crosswalk."""
from synthesis.review.loader import Review, list_review_ids, load_review, load_spec, validate_review
from synthesis.review.overrides import parse_overrides
from synthesis.review.schema import ReviewSpec
from synthesis.review.taxonomy import crosswalk, load_taxonomy

__all__ = ["Review", "ReviewSpec", "list_review_ids", "load_review", "load_spec", "parse_overrides",
           "validate_review", "crosswalk", "load_taxonomy"]
