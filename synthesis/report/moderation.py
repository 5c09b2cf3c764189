"""Where and at what scale it works: the effect predicted in each group of every moderator.

:func:`moderator_effects_section` shows, for each moderator, the effect predicted at each level
(or at the quartiles of a continuous moderator) on the measure's scale and in natural units,
one plain sentence with the one test of a difference, and for the scale-of-delivery moderator
(``moderators[].role: scale``) whether the effect holds at scale. The numbers come from
:func:`synthesis.analysis.moderators.moderator_predictions`; the words from
:mod:`synthesis.grading.wording`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd

from synthesis.grading.wording import moderator_sentence, scale_sentence
from synthesis.numbers import level_percent, number
from synthesis.report.sections import section
from synthesis.report.tables import estimate_with_interval
from synthesis.report.templating import Fragment, render_template

__all__ = ["moderator_effects_section", "scale_groups"]


def scale_groups(rows: pd.DataFrame) -> tuple[Any, Any]:
    """The research-trial row (the first level: the reference) and the routine-practice row of a scale moderator.

    The routine row is the level named "routine" or "practice", else the last level.

    Examples
    --------
    >>> t = pd.DataFrame({"setting": ["research trial", "demonstration", "routine practice"]})
    >>> [r["setting"] for r in scale_groups(t)]
    ['research trial', 'routine practice']
    """
    rows = rows.reset_index(drop=True)
    named = [i for i, s in enumerate(rows["setting"]) if "routine" in str(s).lower() or "practice" in str(s).lower()]
    return rows.iloc[0], rows.iloc[named[0] if named else len(rows) - 1]


def moderator_effects_section(predictions: pd.DataFrame | None, *, unit_phrase: Callable[[float, float, float], str]
                              | None = None, transform: Callable[[float], float] | None = None,
                              level: float = 0.95, direction: str = "higher_is_better", effect_name: str = "Effect",
                              title: str = "Where and at what scale does it work?") -> Fragment:
    """One table of predicted effects by group and one sentence per moderator (the scale question first).

    Parameters
    ----------
    predictions : DataFrame or None
        :func:`~synthesis.analysis.moderators.moderator_predictions`.
    unit_phrase : callable, optional
        (estimate, lower, upper) on the analysis scale -> the effect in natural units.
    transform : callable, optional
        Back-transformation for the measure's scale (``math.exp`` for ratios).
    effect_name : str
        The measure's name for the column header ("Odds ratio").

    Examples
    --------
    >>> t = pd.DataFrame({"moderator": ["p", "p"], "label": ["Prompts", "Prompts"], "role": [None, None],
    ...                   "setting": ["none", "prompts"], "value": [float("nan")] * 2, "pred": [0.12, 0.35],
    ...                   "ci_lb": [0.01, 0.21], "ci_ub": [0.23, 0.49], "k": [29, 17], "pval": [0.011] * 2,
    ...                   "note": ["", ""]})
    >>> s = moderator_effects_section(t)
    >>> s.count("p = 0.011"), "largest for prompts" in s
    (1, True)
    """
    if predictions is None or not len(predictions):
        return Fragment("")
    sentences: list[str] = []
    rows: list[list[str]] = []
    ordered = sorted(predictions.groupby("moderator", sort=False), key=lambda g: g[1]["role"].iloc[0] != "scale")
    for _, group in ordered:
        label = str(group["label"].iloc[0])
        note = str(group["note"].iloc[0] or "")
        if note:
            sentences.append(f"{label}: not compared ({note}).")
            continue
        continuous = group["value"].notna().any()
        pval = float(group["pval"].iloc[0])
        if group["role"].iloc[0] == "scale" and len(group) >= 2:
            research, scale = scale_groups(group)
            sentence = scale_sentence(*[(str(r["setting"]), r["pred"], r["ci_lb"], r["ci_ub"])
                                        for r in (research, scale)], pval, level=level, direction=direction)
            if unit_phrase is not None:
                sentence += " " + "; ".join(f"{where}: {unit_phrase(r['pred'], r['ci_lb'], r['ci_ub'])}"
                                            for where, r in ((f"In {research['setting']}s", research),
                                                             (f"in {scale['setting']}", scale))) + "."
            sentences.append(sentence)
        else:
            sentences.append(moderator_sentence(
                label, pval, list(zip(group["setting"], group["pred"])), level=level, continuous=continuous,
                direction=direction))
        for _, r in group.iterrows():
            setting = f"{number(r['value'], 0)} ({r['setting']})" if continuous else str(r["setting"])
            rows.append([label, setting, str(int(r["k"])),
                         estimate_with_interval(r["pred"], r["ci_lb"], r["ci_ub"], transform=transform),
                         unit_phrase(r["pred"], r["ci_lb"], r["ci_ub"]) if unit_phrase else ""])
    body = [render_template("sentences.html.j2", sentences=sentences)]
    if rows:
        headers = ["Characteristic", "Group", "Studies", f"{effect_name} ({level_percent(level)} CI)", "What it means"]
        body.append(render_template("table.html.j2", headers=headers, rows=rows, css_class="syn-table",
                                    numeric=[False, False, True, True, False], caption=None))
    intro = ("The effect expected in each kind of study, from a meta-regression on one characteristic at a time "
             "(for a number such as length: at its lower quartile, median and upper quartile). These compare "
             "studies with each other, so other differences between them may explain a difference.")
    return section(title, body, intro=intro, css_class="syn-moderators")
