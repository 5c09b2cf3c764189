"""Plain-language answers in GRADE wording (Santesso et al. 2020, GRADE guidelines 26,
J Clin Epidemiol 119:126-135): the direction of an effect and the one-sentence answer
whose verb carries the certainty ("probably improves", "may reduce").
"""
from __future__ import annotations

import math
import re

from synthesis.errors import DataError
from synthesis.grading.rating import LEVELS, Certainty
from synthesis.grading.units import orient

__all__ = ["is_beneficial", "direction_of_effect", "plain_language_answer", "is_plural", "KINDS",
           "question_direction", "probability_labels", "face_value_note", "moderator_sentence", "scale_sentence"]

#: what a review asks about: something done to help, or something people are exposed to
KINDS = ("intervention", "exposure")

#: words that end a noun phrase's head ("living WITH a husband who smokes", "tutoring FOR pupils")
_HEAD_ENDS = {"who", "that", "which", "with", "of", "for", "in", "at", "by", "to", "from", "on", "among",
              "and", "or", "delivered", "given", "run", "led"}


def is_plural(noun_phrase: str, stated: bool | None = None) -> bool:
    """Whether a noun phrase's head noun is plural, so its verb is "improve", not "improves".

    ``stated`` (the review's ``question.plural``) wins when given. Otherwise the head is the
    last word before a bracket, comma, preposition or relative word; a phrase that starts
    with a verb in -ing ("living with a smoker", "giving feedback") is singular.

    Examples
    --------
    >>> is_plural("implementation strategies (audit and feedback, reminders)"), is_plural("practice facilitation")
    (True, False)
    >>> is_plural("living with a husband who smokes"), is_plural("cognitive-behavioural programmes")
    (False, True)
    >>> is_plural("text messages to parents"), is_plural("the class size"), is_plural("data", stated=True)
    (True, False, True)
    """
    if stated is not None:
        return bool(stated)
    words = str(noun_phrase).split("(")[0].split(",")[0].split()
    head: list[str] = []
    for word in words:
        if word.lower() in _HEAD_ENDS and head:
            break
        head.append(word)
    if not head or head[0].lower().endswith("ing"):
        return False
    last = head[-1].lower().strip(".;:")
    return last.endswith("s") and not last.endswith(("ss", "us", "is"))


def question_direction(kind: str = "intervention", direction: str = "higher_is_better") -> str:
    """The change the question is about: ``"improvement"``/``"reduction"`` of a benefit, ``"increase"`` of a harm.

    An intervention is asked whether it helps (an improvement, or a reduction of a bad outcome);
    an exposure whether it harms (an increase of a bad outcome, or a reduction of a good one).

    Examples
    --------
    >>> question_direction("intervention", "lower_is_better"), question_direction("exposure", "lower_is_better")
    ('reduction', 'increase')
    """
    if kind not in KINDS:
        raise DataError(f"question.kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "intervention":
        return "improvement" if direction == "higher_is_better" else "reduction"
    return "increase" if direction == "lower_is_better" else "reduction"


def probability_labels(kind: str, direction: str, outcome: str, mid_text: str | None = None
                       ) -> tuple[str, str | None]:
    """Labels of the two probabilities, in the direction the question asks (benefit or harm).

    Examples
    --------
    >>> probability_labels("intervention", "higher_is_better", "reading", "0.10 SD")[0]
    'Chance of any improvement in reading'
    >>> probability_labels("exposure", "lower_is_better", "the risk of lung cancer")
    ('Chance of any increase in the risk of lung cancer', None)
    """
    change = question_direction(kind, direction)
    article = "an" if change[0] in "aeiou" else "a"
    first = f"Chance of any {change} in {outcome}"
    if not mid_text:
        return first, None
    return first, (f"Chance of {article} {change} at least as large as the smallest change that matters "
                   f"(the minimal important difference, {mid_text})")


def face_value_note(level: str, concerns: list[str] | None = None, *, kind: str = "intervention") -> str:
    """What the probabilities rest on and, at low or very low certainty, what the concerns could do to them.

    Examples
    --------
    >>> face_value_note("high")[:60]
    'These chances take the studies at face value: they assume th'
    >>> "very different" in face_value_note("very low", ["risk of bias", "inconsistency"])
    True
    """
    text = ("These chances take the studies at face value: they assume the studies are free of bias "
            "and that the model describes them well.")
    level = str(level).strip().lower()
    if level not in ("low", "very low"):
        return text
    names = [c for c in (concerns or []) if c]
    listed = (names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]) if names else ""
    why = f" because of concerns about {listed}" if listed else ""
    size = "very different from" if level == "very low" else "substantially different from"
    what = "harm" if kind == "exposure" else "a benefit"
    return (f"{text} The certainty of the evidence is {level}{why}: the true effect may be {size} what the "
            f"studies show, so these chances overstate how sure we can be of {what}. Read them together "
            "with the answer above, not instead of it.")


def is_beneficial(estimate: float, direction: str = "higher_is_better") -> bool:
    """Whether the estimate points towards benefit.

    Examples
    --------
    >>> is_beneficial(-0.2, "lower_is_better")
    True
    """
    return orient(estimate, estimate, estimate, direction)[0] > 0


def direction_of_effect(estimate: float, *, mid: float | None = None) -> str:
    """``"increase"``, ``"decrease"`` or ``"none"`` (|estimate| below the MID).

    "Little or no difference" is used when a MID is given and the point
    estimate is smaller than it (Santesso et al. 2020: trivial effect); the
    certainty rating carries how sure that is.

    Examples
    --------
    >>> direction_of_effect(0.05, mid=0.1), direction_of_effect(-0.3)
    ('none', 'decrease')
    """
    est = float(estimate)
    if (mid is not None and math.isfinite(float(mid)) and abs(est) < abs(float(mid))) or est == 0:
        return "none"
    return "increase" if est > 0 else "decrease"


_VERBS = {"improve": ("improves", "improve"), "increase": ("increases", "increase"),
          "decrease": ("reduces", "reduce")}
_MODAL = {"high": "", "moderate": "probably ", "low": "may "}


def plain_language_answer(certainty: Certainty | str, intervention: str, outcome: str,
                          effect_direction: str, *, beneficial: bool | None = None,
                          plural: bool = False, kind: str = "intervention") -> str:
    """A one-sentence answer in GRADE plain-language wording (Santesso et al. 2020).

    ===========  ====================================  ===================================================
    certainty    effect                                no important effect
    ===========  ====================================  ===================================================
    high         X improves / reduces Y                X results in little or no difference in Y
    moderate     X probably improves / reduces Y       X probably results in little or no difference in Y
    low          X may improve / reduce Y              X may result in little or no difference in Y
    very low     It is unclear whether X affects Y because the evidence is very uncertain
    ===========  ====================================  ===================================================

    Parameters
    ----------
    certainty : Certainty or str
        The rating or its level name.
    intervention, outcome : str
        Plain names, e.g. "Tutoring", "reading attainment".
    effect_direction : {"increase", "decrease", "none"}
        From :func:`direction_of_effect` on the analysis scale.
    beneficial : bool, optional
        For an increase: True says "improves", otherwise "increases".
    plural : bool
        The intervention is a plural noun ("Coaching sessions improve ...").
    kind : {"intervention", "exposure"}
        An exposure never "improves" an outcome: its beneficial increase "increases" it.

    Examples
    --------
    >>> plain_language_answer("moderate", "Tutoring", "reading attainment", "increase", beneficial=True)
    'Tutoring probably improves reading attainment.'
    >>> plain_language_answer("high", "Text reminders", "missed appointments", "decrease", plural=True)
    'Text reminders reduce missed appointments.'
    >>> plain_language_answer("low", "Mentoring", "reoffending", "none")
    'Mentoring may result in little or no difference in reoffending.'
    >>> plain_language_answer("very low", "coaching", "staff turnover", "decrease")
    'It is unclear whether coaching affects staff turnover because the evidence is very uncertain.'
    >>> plain_language_answer("moderate", "living with a smoker", "the risk of lung cancer", "increase",
    ...                       beneficial=False, kind="exposure")
    'Living with a smoker probably increases the risk of lung cancer.'
    """
    level = certainty.level if isinstance(certainty, Certainty) else str(certainty).strip().lower()
    if level not in LEVELS:
        raise DataError(f"certainty must be one of {', '.join(LEVELS)}, got {level!r}")
    x, y = str(intervention).strip(), str(outcome).strip()
    if not x or not y:
        raise DataError("plain_language_answer needs the intervention and the outcome named")
    if level == "very low":
        return f"It is unclear whether {x} {'affect' if plural else 'affects'} {y} because the evidence is very uncertain."
    direction = {"little_or_no_difference": "none", "no_difference": "none"}.get(effect_direction,
                                                                                 effect_direction)
    modal = _MODAL[level]
    if direction == "none":
        verb = "result" if level == "low" or plural else "results"
        sentence = f"{x} {modal}{verb} in little or no difference in {y}."
    elif direction in ("increase", "decrease"):
        key = "improve" if direction == "increase" and beneficial and kind != "exposure" else direction
        third, base = _VERBS[key]
        verb = base if level == "low" or plural else third
        sentence = f"{x} {modal}{verb} {y}."
    else:
        raise DataError(f"effect_direction must be 'increase', 'decrease' or 'none', got {effect_direction!r}")
    return sentence[0].upper() + sentence[1:]


def _alpha(level: float) -> float:
    return 1 - (level / 100 if level > 1 else level)


def moderator_sentence(label: str, pval: float, levels: list[tuple[str, float]], *, level: float = 0.95,
                       continuous: bool = False, direction: str = "higher_is_better") -> str:
    """One plain sentence on whether the effect differs by a study characteristic, with its one p-value.

    ``levels`` are (group, predicted effect) pairs on the analysis scale; the p-value is the
    test of any difference (meta-regression), shown once.

    Examples
    --------
    >>> moderator_sentence("Prompts", 0.011, [("no prompts", 0.12), ("prompts", 0.35)])
    'The effect differed by prompts (test for a difference: p = 0.011): it was largest for prompts and smallest for no prompts.'
    >>> moderator_sentence("Age group", 0.39, [("adults", 0.4), ("juveniles", 0.5)])
    'The studies do not show that the effect differs by age group (test for a difference: p = 0.390).'
    >>> moderator_sentence("Length of the programme (weeks)", 0.04, [("lower quartile", 0.13), ("median", 0.22),
    ...                    ("upper quartile", 0.29)], continuous=True)
    'The effect changed with the length of the programme (test for a difference: p = 0.040): it was larger where the length of the programme was greater.'
    """
    from synthesis.numbers import p_value

    what = label[:1].lower() + label[1:] if not label[:2].isupper() else label
    if continuous:  # "the length of the programme", its unit left to the table
        what = "the " + re.sub(r"\s*\([^)]*\)", "", what).strip()
    test = f"(test for a difference: p = {p_value(pval)})"
    if not (math.isfinite(pval) and pval < _alpha(level)):
        verb = "changes with" if continuous else "differs by"
        return f"The studies do not show that the effect {verb} {what} {test}."
    sign = 1 if direction == "higher_is_better" else -1
    ordered = sorted(levels, key=lambda lv: sign * lv[1])
    if continuous:
        more = "larger" if ordered[-1][0] == levels[-1][0] else "smaller"
        return f"The effect changed with {what} {test}: it was {more} where {what} was greater."
    return (f"The effect differed by {what} {test}: it was largest for {ordered[-1][0]} and smallest for "
            f"{ordered[0][0]}.")


def scale_sentence(research: tuple[str, float, float, float], scale: tuple[str, float, float, float],
                   pval: float, *, level: float = 0.95, direction: str = "higher_is_better") -> str:
    """The answer to "does it hold at scale?": the effect in research trials against routine practice.

    Each group is (name, estimate, lower, upper) on the analysis scale.

    Examples
    --------
    >>> scale_sentence(("research trial", 0.79, 0.33, 1.24), ("routine practice", 0.31, 0.18, 0.44), 0.012)
    'Does it hold at scale? Yes, but it is smaller: the effect in routine practice is clear yet smaller than in research trials (test for a difference: p = 0.012).'
    """
    from synthesis.numbers import p_value

    est, lo, hi = orient(*scale[1:], direction)
    ref = orient(*research[1:], direction)[0]
    differs = math.isfinite(pval) and pval < _alpha(level)
    test = f"(test for a difference: p = {p_value(pval)})"
    where, ref_name = scale[0], research[0]
    plural_ref = ref_name if ref_name.endswith("s") else ref_name + "s"
    if lo > 0:
        if differs and est < ref:
            return (f"Does it hold at scale? Yes, but it is smaller: the effect in {where} is clear yet smaller "
                    f"than in {plural_ref} {test}.")
        return f"Does it hold at scale? Yes: the effect in {where} is clear and not smaller than in {plural_ref} {test}."
    if hi < 0:
        return f"Does it hold at scale? No: in {where} the effect points the other way {test}."
    return (f"Does it hold at scale? Not shown: in {where} the studies cannot rule out no effect"
            f"{', and it is smaller than in ' + plural_ref if differs and est < ref else ''} {test}.")
