"""The policymaker page's words over a grid: benefit or harm, direction, certainty, number, baseline risk.

Every sentence agrees with its subject ("programmes reduce", "facilitation reduces"), names the
outcome, never says "helps" or "improves" of a harmful exposure, and the natural-unit line names
the people and what happens to them; the effect line is not printed twice without a baseline risk.
"""
from __future__ import annotations

import itertools
import math
import re

import pytest
from bs4 import BeautifulSoup

from synthesis.grading.rating import LEVELS
from synthesis.grading.units import natural_units
from synthesis.grading.wording import (face_value_note, is_plural, plain_language_answer, probability_labels,
                                       question_direction)
from synthesis.report.sections import headline_section

SUBJECTS = {False: "practice facilitation", True: "cognitive-behavioural programmes"}
EXPOSURES = {False: "living with a husband who smokes", True: "second-hand smoke exposures at work"}
SINGULAR_VERBS = {"improves", "reduces", "increases", "results", "affects"}
PLURAL_VERBS = {"improve", "reduce", "increase", "result", "affect"}


def _verb_after(sentence: str, subject: str) -> str:
    """The first word after the subject and an optional modal ("probably", "may")."""
    rest = sentence.lower().split(subject.lower(), 1)[1].split()
    return rest[1] if rest[0] in ("probably", "may") else rest[0]


GRID = list(itertools.product(("intervention", "exposure"), ("higher_is_better", "lower_is_better"), LEVELS,
                              (False, True), (None, 0.01), ("towards", "away")))


@pytest.mark.parametrize(("kind", "direction", "level", "plural", "baseline", "side"), GRID)
def test_wording_grid(kind, direction, level, plural, baseline, side):
    subject = (SUBJECTS if kind == "intervention" else EXPOSURES)[plural]
    outcome = "the risk of lung cancer" if kind == "exposure" else "the share of people who do not reoffend"
    assert is_plural(subject) is plural
    # the effect lies in the direction the question asks about (benefit, or harm of an exposure) or away from it
    up = question_direction(kind, direction) in ("improvement", "increase") if direction == "higher_is_better" \
        else question_direction(kind, direction) == "increase"
    increase = up if side == "towards" else not up
    beneficial = increase == (direction == "higher_is_better")
    answer = plain_language_answer(level, subject, outcome, "increase" if increase else "decrease",
                                   beneficial=beneficial, plural=plural, kind=kind)
    assert outcome in answer, answer
    verb = _verb_after(answer, subject) if level != "very low" else answer.split(subject)[1].split()[0]
    assert verb in (PLURAL_VERBS if plural or level == "low" else SINGULAR_VERBS), (answer, verb)
    if level == "very low":
        assert verb == ("affect" if plural else "affects")
    if kind == "exposure":
        assert not re.search(r"\b(helps?|improves?)\b", answer), answer
    any_label, mid_label = probability_labels(kind, direction, outcome, "odds ratio 1.15")
    assert outcome in any_label and outcome not in (mid_label or "")
    if kind == "exposure":
        assert "helps" not in any_label + mid_label and "benefit" not in face_value_note(level, kind=kind)
    # the natural-unit line names the people, and with a baseline risk what happens to them
    log_or = math.log(1.3) if increase else math.log(1 / 1.3)
    units = natural_units("OR", log_or, log_or - 0.1, log_or + 0.1, baseline_risk=baseline, people="women",
                          event="develop lung cancer", direction=direction)
    if baseline is not None:
        assert re.match(r"\d+ in every 1,000 women would develop lung cancer instead of 10 \(", units.phrase)
    head = BeautifulSoup(headline_section("Q?", answer, level, units.phrase, units.detail,
                                          effect_context=f"on {outcome}:"), "html.parser")
    effect = head.find(class_="syn-effect").get_text(" ")
    assert effect.count("odds ratio") == 1 and outcome in effect  # printed once, outcome named


def test_face_value_note_says_what_low_certainty_can_do():
    assert "overstate" not in face_value_note("moderate")
    note = face_value_note("low", ["risk of bias (not assessed)"])
    assert "substantially different" in note and "risk of bias (not assessed)" in note


@pytest.mark.parametrize(("phrase", "plural"), [("living with a husband who smokes", False),
                                                ("writing-to-learn activities", True),
                                                ("giving feedback to teachers", False),
                                                ("text messages to parents", True),
                                                ("implementation strategies (audit and feedback)", True)])
def test_plural_head_noun(phrase, plural):
    assert is_plural(phrase) is plural


def test_review_settings_for_the_page_are_validated():
    from pydantic import ValidationError

    from synthesis.review.schema import CertaintySpec, Moderator, Question

    q = Question(population="p", intervention="i", comparison="c", outcome="o", plain_question="q?")
    assert q.kind == "intervention" and q.plural is None
    with pytest.raises(ValidationError, match="intervention|exposure"):
        Question(population="p", intervention="i", comparison="c", outcome="o", plain_question="q?", kind="harm")
    with pytest.raises(ValidationError, match="not_assessed but risk_of_bias_column"):
        CertaintySpec(risk_of_bias="not_assessed", risk_of_bias_column="rob")
    assert Moderator(name="program", type="categorical", role="scale").role == "scale"


def test_studies_table_says_risk_of_bias_not_assessed():
    import pandas as pd

    from synthesis.report.tables import studies_table

    d = pd.DataFrame({"study": ["A"], "yi": [0.2], "vi": [0.04]})
    caption = BeautifulSoup(studies_table(d, not_assessed="No judgements in the source"), "html.parser").caption
    assert caption.get_text() == "Risk of bias: not assessed (No judgements in the source); see How sure are we?"


def test_what_changed_in_words():
    from synthesis.report.changes import changes_in_words

    old = {"settings": {"analysis": {"method": "REML"}},
           "results": {"answer": "X may improve Y.", "certainty": "low", "headline": {"k": 10}}}
    same = {**old, "settings": {"analysis": {"method": "PM"}}}
    assert changes_in_words(old, same) == ["The answer and its certainty did not change (1 setting changed "
                                           "(analysis.method))."]
    fewer = {"settings": old["settings"], "results": {"answer": "X may improve Y.", "certainty": "very low",
                                                      "headline": {"k": 9}}}
    assert changes_in_words(old, fewer) == ["The certainty of the evidence changed from low to very low after "
                                            "1 study was removed."]
    assert changes_in_words(None, old) == []


def test_model_label_matches_the_model():
    from synthesis.report.plots.study import model_label

    assert model_label("EE") == model_label("FE") == "Common-effect model"
    assert model_label("MH").startswith("Common-effect model") and model_label("Peto").startswith("Common-effect")
    assert model_label("REML") == "Random-effects model (REML)" and model_label("DL").startswith("Random-effects")
