"""The text sections of the policymaker report: banner, headline, certainty, probabilities.

Each function returns a :class:`~synthesis.report.templating.Fragment` (HTML that
Jupyter displays, styled by ``synthesis/report/templates/report.css``), rendered
from a jinja2 template with autoescape on, so a title or message like
``<script>...</script>`` shows as text. Tables are in :mod:`synthesis.report.tables`,
the methods appendix in :mod:`synthesis.report.appendix`, figures in
:mod:`synthesis.report.plots`; :mod:`synthesis.report.page` fills all of them from
one analysis.

The order follows GUIDE §5: the question and a one-sentence answer with its
certainty and the effect in natural units first (:func:`headline_section`),
then why we are (un)sure (:func:`certainty_section`), probabilities
(:func:`probability_section`), where it works, figures, studies, version and methods.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from synthesis.grading.rating import LEVELS, Certainty
from synthesis.numbers import interval, level_percent, number, p_value, probability
from synthesis.report.templating import Fragment, join, render_template, report_block

__all__ = ["banner_simulated", "headline_section", "certainty_badge", "certainty_section",
           "probability_section", "publication_bias_sensitivity", "section", "render", "glossary", "GLOSSARY"]

#: the technical terms a policymaker page may use, each explained in a sentence (shown with :func:`glossary`)
GLOSSARY = {
    "certainty": ("Certainty of the evidence (GRADE)", "How sure we are of the answer: high, moderate, low or very "
                  "low. It starts high for randomised trials (low for other studies) and is rated down for risk of "
                  "bias, inconsistency, imprecision, publication bias and indirectness."),
    "CI": ("CI (confidence interval)", "The range of average effects that fit the studies; the percentage (e.g. "
           "95%) is how often such a range would contain the true average effect."),
    "SMD": ("SMD (standardised mean difference)", "The difference between groups in standard deviations of the "
            "outcome, so that studies measuring it on different scales can be combined; 0.2 is often called small "
            "and 0.5 medium."),
    "OR": ("Odds ratio", "How many times higher the odds of the outcome are with the intervention or exposure "
           "than without it; 1 means no difference."),
    "RR": ("Risk ratio", "How many times higher the risk of the outcome is with the intervention or exposure than "
           "without it; 1 means no difference."),
    "I2": ("I² (inconsistency)", "The share of the variation between studies' results that reflects real "
           "differences between them rather than chance: 0% none, above 50% substantial."),
    "PI": ("Prediction interval", "Where the effect in a new setting like those studied is expected to lie; wider "
           "than the confidence interval because settings differ."),
    "MID": ("MID (minimal important difference)", "The smallest change that would matter in practice, set by the "
            "reviewers before looking at the results."),
    "egger": ("Egger's test", "A check of whether small studies show larger effects than big ones, which can mean "
              "that small studies with disappointing results were not published."),
    "trimfill": ("Trim-and-fill", "A method that adds the studies that seem to be missing from the funnel plot and "
                 "recomputes the average, to see how much possible missing studies could matter."),
    "posterior": ("Posterior (Bayesian model)", "What the model concludes about the size of the effect after "
                  "combining the studies with the prior; the chances on this page are read from it."),
    "prior": ("Prior", "The model's cautious starting assumption about effect sizes before seeing the studies, "
              "written like mu ~ Normal(0, 1): the average effect (mu) is expected near 0, rarely beyond 2 "
              "standard deviations; tau is how much settings differ."),
}

_LEVEL_CLASS = {"high": "high", "moderate": "moderate", "low": "low", "very low": "very-low"}


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def section(title: str, body: Fragment | Iterable[Fragment | None] | None = None, *, intro: str | None = None,
            css_class: str = "", level: int = 2) -> Fragment:
    """A titled section around fragments rendered by the report's templates.

    ``title`` and ``intro`` are text (escaped); ``body`` is a fragment or several
    (plain strings in it are escaped too).

    Examples
    --------
    >>> print(section("Forest plot", render_template("muted.html.j2", text="x"), intro="A & B"))
    <section class="syn-section"><h2>Forest plot</h2><p class="syn-intro">A &amp; B</p><p class="syn-muted">x</p></section>
    """
    if body is not None and not isinstance(body, str):
        body = join(body)
    return render_template("section.html.j2", title=title, intro=intro, body=body, css_class=css_class,
                           level=level)


def banner_simulated(message: str | None = None) -> Fragment:
    """A banner saying the data are simulated.

    Examples
    --------
    >>> "Simulated data" in banner_simulated()
    True
    """
    text = message or ("These results use simulated data to show how the method works. They are "
                       "not evidence about any real intervention.")
    return render_template("banner.html.j2", message=text)


def _as_certainty(certainty: Any) -> Any:
    """Accept a Certainty, its ``to_dict()`` form or a level name."""
    if isinstance(certainty, Mapping):
        return Certainty.from_dict(certainty)
    return certainty


def certainty_badge(certainty: Any) -> Fragment:
    """The certainty as a coloured badge that also carries the words and GRADE symbols.

    Examples
    --------
    >>> print(certainty_badge("low"))
    <span class="syn-badge syn-badge--low"><span aria-hidden="true">⊕⊕◯◯</span> Low certainty</span>
    """
    certainty = _as_certainty(certainty)
    level = str(getattr(certainty, "level", certainty)).strip().lower()
    if level not in _LEVEL_CLASS:
        raise ValueError(f"unknown certainty level {level!r}; use high, moderate, low or very low")
    n = 4 - LEVELS.index(level)
    return render_template("badge.html.j2", css=_LEVEL_CLASS[level], symbols="⊕" * n + "◯" * (4 - n),
                           words=f"{level.capitalize()} certainty")


def _downgrade_summary(certainty: Any) -> str:
    reasons = [d for d in (_get(certainty, "downgrades") or []) if _get(d, "levels", 0)]
    if not reasons:
        return "Not rated down." if _get(certainty, "downgrades") is not None else ""
    names = [str(_get(d, "name", None) or str(_get(d, "domain")).replace("_", " ")).lower()
             + ("" if _get(d, "assessed", True) else " (not assessed)") for d in reasons]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Rated down for {listed}."


def headline_section(question: str, answer_sentence: str, certainty: Any, natural_units_phrase: str | None,
                     estimate_text: str | None, *, title: str | None = None,
                     effect_context: str | None = None) -> Fragment:
    """The first screen: question, one-sentence answer, certainty and the effect in natural units.

    Parameters
    ----------
    question : str
        The review question in plain words.
    answer_sentence : str
        GRADE plain-language answer (:func:`synthesis.grading.wording.plain_language_answer`).
    certainty : Certainty or str
        The rating (its downgrade domains are named next to the badge).
    natural_units_phrase : str, optional
        E.g. "about 3 months' additional progress (95% CI 1 to 5 months)".
    estimate_text : str, optional
        The effect on the analysis scale, e.g. "SMD 0.22 (95% CI 0.08 to 0.36)".
    title : str, optional
        Report title (an ``<h1>``).
    effect_context : str, optional
        What the effect line is about, after the "Effect" label: "on the risk of lung cancer:".

    Examples
    --------
    >>> html_ = headline_section("Does tutoring help?", "Tutoring probably improves reading.", "moderate",
    ...                          "about 3 months' additional progress", "SMD 0.22 (95% CI 0.08 to 0.36)")
    >>> 'class="syn-answer"' in html_
    True
    """
    certainty = _as_certainty(certainty)
    return render_template("headline.html.j2", title=title, question=question, answer=answer_sentence,
                           badge=certainty_badge(certainty), why=_downgrade_summary(certainty),
                           phrase=natural_units_phrase, effect_context=effect_context,
                           estimate=None if estimate_text == natural_units_phrase else estimate_text)


def certainty_section(certainty: Any, *, title: str = "How sure are we?") -> Fragment:
    """The certainty rating with one sentence per GRADE domain, downgrades first.

    ``certainty`` is a :class:`synthesis.grading.rating.Certainty` (or any object with
    ``level``, ``explanation`` and ``downgrades`` of ``domain, levels, reason``).

    Examples
    --------
    >>> from synthesis.grading.rating import Certainty, Downgrade
    >>> c = Certainty("moderate", (Downgrade("imprecision", 1, "The interval is wide."),), "Started high.")
    >>> "The interval is wide." in certainty_section(c)
    True
    """
    certainty = _as_certainty(certainty)
    downgrades = list(_get(certainty, "downgrades") or [])
    items = []
    for d in sorted(downgrades, key=lambda d: -int(_get(d, "levels", 0))):
        levels = int(_get(d, "levels", 0))
        assessed = bool(_get(d, "assessed", True))
        name = _get(d, "name", None) or str(_get(d, "domain")).replace("_", " ").capitalize()
        verdict = _get(d, "verdict", None) or ("not assessed" if not assessed else
                                               f"rated down {levels} level{'s' if levels > 1 else ''}"
                                               if levels else "no serious concern")
        items.append({"css": "syn-down" if levels else ("syn-ok" if assessed else "syn-na"), "name": name,
                      "verdict": verdict, "reason": _get(d, "reason", "")})
    return render_template("certainty.html.j2", title=title, badge=certainty_badge(certainty),
                           explanation=_get(certainty, "explanation") or "", items=items)


def probability_section(prob_gt_0: float | None, prob_gt_mid: float | None, mid: float | None,
                        prior_text: str | None, diagnostics_ok: bool, diagnostics_messages: Sequence[str] = (),
                        *, mid_text: str | None = None, title: str = "How likely is it to help?",
                        model_text: str = "a Bayesian random-effects model",
                        labels: tuple[str, str | None] | None = None, note: str | None = None) -> Fragment:
    """Chance that the strategy helps at all and by at least the MID, with the prior named.

    A plain warning box lists the diagnostics messages when the model did not
    pass its checks (``diagnostics_ok`` False). Probabilities are shown with
    :func:`synthesis.numbers.probability`.

    Parameters
    ----------
    prob_gt_0, prob_gt_mid : float or None
        Posterior probabilities (0-1) of any benefit / benefit >= MID.
    mid : float or None
        The minimal important difference (analysis scale), shown unless ``mid_text``.
    prior_text : str
        The priors, e.g. "mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)".
    diagnostics_ok : bool
    diagnostics_messages : sequence of str
    mid_text : str, optional
        The MID in words, e.g. "0.10 SD, about 1 month's progress".
    labels : (str, str or None), optional
        The two probabilities' labels in the question's direction
        (:func:`synthesis.grading.wording.probability_labels`); "helps" by default.
    note : str, optional
        On what the chances rest (:func:`synthesis.grading.wording.face_value_note`).

    Examples
    --------
    >>> s = probability_section(0.97, 0.62, 0.1, "mu ~ Normal(0, 1)", False, ["R-hat too high."])
    >>> "97%" in s and "syn-warning" in s
    True
    """
    any_label, mid_label = labels or ("Chance that it helps at all", None)
    rows = [(any_label, probability(prob_gt_0))]
    if mid is not None or mid_text:
        what = mid_text or number(mid)
        rows.append((mid_label or f"Chance that it helps by at least the minimal important difference ({what})",
                     probability(prob_gt_mid)))
    return render_template("probability.html.j2", title=title, rows=rows, model_text=model_text, note=note,
                           prior_text=prior_text, diagnostics_ok=diagnostics_ok,
                           messages=list(diagnostics_messages))


def glossary(terms: Sequence[str]) -> Fragment:
    """The terms used on the page explained, in a ``<details>`` that opens without JavaScript.

    ``terms`` are keys of :data:`GLOSSARY`, in the order shown (unknown keys are an error).

    Examples
    --------
    >>> g = glossary(["CI", "I2"])
    >>> "<details" in g and "confidence interval" in g
    True
    """
    return render_template("glossary.html.j2", items=[GLOSSARY[t] for t in dict.fromkeys(terms)])


def publication_bias_sensitivity(selection: Any, pet_peese: Any = None, *, estimate: float | None = None,
                                 transform: Any = None, level: float = 0.95) -> Fragment:
    """One sensitivity line: the estimate adjusted for publication bias (selection model, PET-PEESE).

    ``selection`` is a :class:`~synthesis.meta.selection.SelectionModelResult` (or its
    ``to_dict()``), None when it could not be fitted; ``estimate`` the unadjusted pooled
    estimate; ``transform`` the back-transformation of the measure (e.g. ``math.exp``).

    Examples
    --------
    >>> sel = {"estimate": 0.148, "ci_lb": 0.004, "ci_ub": 0.291, "LRTp": 0.281}
    >>> print(publication_bias_sensitivity(sel, {"chosen": "PET", "estimate": -0.056, "ci_lb": -0.24,
    ...                                          "ci_ub": 0.13}, estimate=0.22))
    <p class="syn-muted">Adjusted for possible publication bias (selection model): 0.15 (95% CI 0.00 to 0.29), unadjusted 0.22; test for selection p = 0.281. PET-PEESE (PET): -0.06 (95% CI -0.24 to 0.13).</p>
    """
    ci = level_percent(level) + " CI"
    if selection is None:
        text = ("Adjusted for possible publication bias (selection model): not estimated, because no study "
                "had a non-significant result to estimate how often such results go unpublished.")
    else:
        text = (f"Adjusted for possible publication bias (selection model): "
                f"{number(_get(selection, 'estimate'), transform=transform)} ({ci} "
                f"{interval(_get(selection, 'ci_lb'), _get(selection, 'ci_ub'), transform=transform)})")
        if estimate is not None:
            text += f", unadjusted {number(estimate, transform=transform)}"
        text += f"; test for selection p = {p_value(_get(selection, 'LRTp'))}."
    if pet_peese is not None:
        text += (f" PET-PEESE ({_get(pet_peese, 'chosen')}): {number(_get(pet_peese, 'estimate'), transform=transform)}"
                 f" ({ci} {interval(_get(pet_peese, 'ci_lb'), _get(pet_peese, 'ci_ub'), transform=transform)}).")
    return render_template("muted.html.j2", text=text)


def render(sections: Iterable[Fragment | None], *, include_css: bool = False) -> Any:
    """Join sections into one report block for ``display()``.

    Returns an :class:`IPython.display.HTML` when IPython is installed
    (otherwise the :class:`~synthesis.report.templating.Fragment`). ``None``
    sections are skipped. ``include_css`` adds the stylesheet inline (for a
    live notebook; the pipeline already puts it in the page head).

    Examples
    --------
    >>> out = render([banner_simulated(), None])
    >>> "syn-report" in out.data
    True
    """
    block = report_block(sections, include_css=include_css)
    try:
        from IPython.display import HTML
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebook only
        return block
    return HTML(str(block))
