"""From numbers to judgements: GRADE certainty rules, plain-language wording and natural
units (EEF months' progress, absolute effects at a baseline risk)."""
from synthesis.grading.certainty import Certainty, Downgrade, assess_certainty, plain_language_answer
from synthesis.grading.units import natural_units

__all__ = ["Certainty", "Downgrade", "assess_certainty", "plain_language_answer", "natural_units"]
