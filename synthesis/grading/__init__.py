"""From numbers to judgements: GRADE certainty rules, plain-language wording, measure words and
natural units (EEF months' progress, absolute effects at a baseline risk)."""
from synthesis.grading.certainty import assess_certainty
from synthesis.grading.rating import Certainty, Downgrade
from synthesis.grading.units import natural_units
from synthesis.grading.wording import plain_language_answer

__all__ = ["Certainty", "Downgrade", "assess_certainty", "plain_language_answer", "natural_units"]
