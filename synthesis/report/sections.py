"""HTML building blocks of the policymaker report.

Each function returns an HTML string (a ``<section>`` or ``<div>``) styled by
``synthesis/report/templates/report.css`` (the pipeline inlines that
file into the page head); :func:`render` joins sections for
``IPython.display.display``. Every value that comes from data or YAML
(labels, titles, questions, citations, messages) goes through
:func:`html.escape`, so a study labelled ``<script>...</script>`` shows as
text. The only markup passed through unescaped is HTML produced by this
package (sections and :func:`synthesis.report.figures.figure_to_html` figures).

The order follows GUIDE §5: the question and a one-sentence answer with its
certainty and the effect in natural units first (:func:`headline_section`),
then why we are (un)sure (:func:`certainty_section`), probabilities
(:func:`probability_section`), where it works (:func:`moderator_table`,
:func:`strategy_table`), figures, studies, version and methods.
"""
from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from synthesis.grading.units import MEASURE_NAMES, format_probability, level_label

__all__ = ["banner_simulated", "headline_section", "certainty_badge", "certainty_section",
           "probability_section", "moderator_table", "strategy_table", "studies_table",
           "version_section", "methods_section", "section", "render", "Report", "METHOD_NAMES"]

#: tau² estimators (metafor ``method``) in words
METHOD_NAMES = {
    "EE": "a common-effect (inverse-variance) model", "FE": "a common-effect (inverse-variance) model",
    "DL": "a random-effects model with the DerSimonian-Laird estimator of between-study variance",
    "HE": "a random-effects model with the Hedges (method of moments) estimator of between-study variance",
    "HS": "a random-effects model with the Hunter-Schmidt estimator of between-study variance",
    "SJ": "a random-effects model with the Sidik-Jonkman estimator of between-study variance",
    "ML": "a random-effects model with the maximum-likelihood estimator of between-study variance",
    "REML": "a random-effects model with the restricted maximum-likelihood (REML) estimator of "
            "between-study variance",
    "EB": "a random-effects model with the empirical Bayes estimator of between-study variance",
    "PM": "a random-effects model with the Paule-Mandel estimator of between-study variance",
}
_MEASURE_DETAIL = {
    "SMD": "standardised mean difference (Hedges' g with the exact small-sample correction)",
    "MD": "mean difference", "OR": "odds ratio (analysed as log odds ratio)",
    "RR": "risk ratio (analysed as log risk ratio)", "RD": "risk difference",
}
_TEST_TEXT = {
    "z": "Confidence intervals and p-values use the normal distribution (Wald-type).",
    "knha": "Confidence intervals and p-values use the Hartung-Knapp-Sidik-Jonkman method "
            "(t distribution with k - 1 degrees of freedom; IntHout et al. 2014, BMC Med Res Methodol 14:25).",
}
_LEVEL_CLASS = {"high": "high", "moderate": "moderate", "low": "low", "very low": "very-low"}


def _e(value: Any) -> str:
    """Escape any value for HTML text and attributes."""
    return html.escape("" if value is None else str(value), quote=True)


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _num(value: Any, digits: int = 2, transform: Callable[[float], float] | None = None) -> str:
    if _is_missing(value):
        return "–"
    x = float(transform(float(value))) if transform is not None else float(value)
    if not math.isfinite(x):
        return "–"
    text = f"{x:.{digits}f}"
    return text.lstrip("-") if float(text) == 0 else text


def _interval(est: Any, lb: Any, ub: Any, digits: int = 2,
              transform: Callable[[float], float] | None = None) -> str:
    if _is_missing(est):
        return "–"
    return f"{_num(est, digits, transform)} ({_num(lb, digits, transform)} to {_num(ub, digits, transform)})"


def _pval(p: Any) -> str:
    if _is_missing(p):
        return "–"
    p = float(p)
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _first_column(df: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in df.columns), None)


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], *, caption: str | None = None,
           css_class: str = "syn-table", numeric: Sequence[bool] | None = None) -> str:
    """A table from already-escaped cell strings (headers/caption are escaped here)."""
    numeric = list(numeric) if numeric is not None else [False] * len(headers)
    num = ' class="syn-num"'
    head = "".join(f'<th scope="col"{num if n else ""}>{_e(h)}</th>' for h, n in zip(headers, numeric))
    body = "".join("<tr>" + "".join(f"<td{num if n else ''}>{cell}</td>" for cell, n in zip(row, numeric))
                   + "</tr>" for row in rows)
    cap = f"<caption>{_e(caption)}</caption>" if caption else ""
    return (f'<div class="syn-table-wrap"><table class="{css_class}">{cap}<thead><tr>{head}</tr></thead>'
            f"<tbody>{body}</tbody></table></div>")


# ---------------------------------------------------------------- sections
def section(title: str, body_html: str = "", *, intro: str | None = None, css_class: str = "",
            level: int = 2) -> str:
    """A titled section around HTML made by this package (``title``/``intro`` are escaped).

    Examples
    --------
    >>> section("Forest plot", "<p>x</p>", intro="A & B")
    '<section class="syn-section"><h2>Forest plot</h2><p class="syn-intro">A &amp; B</p><p>x</p></section>'
    """
    cls = f"syn-section {css_class}".strip()
    lead = f'<p class="syn-intro">{_e(intro)}</p>' if intro else ""
    return f'<section class="{_e(cls)}"><h{level}>{_e(title)}</h{level}>{lead}{body_html}</section>'


def banner_simulated(message: str | None = None) -> str:
    """A banner saying the data are simulated.

    Examples
    --------
    >>> "Simulated data" in banner_simulated()
    True
    """
    text = message or ("These results use simulated data to show how the method works. They are "
                       "not evidence about any real intervention.")
    return (f'<div class="syn-banner" role="note"><strong>Simulated data.</strong> {_e(text)}</div>')


def _as_certainty(certainty: Any) -> Any:
    """Accept a Certainty, its ``to_dict()`` form or a level name."""
    if isinstance(certainty, Mapping):
        from synthesis.grading.certainty import Certainty

        return Certainty.from_dict(certainty)
    return certainty


def certainty_badge(certainty: Any) -> str:
    """The certainty as a coloured badge that also carries the words and GRADE symbols.

    Examples
    --------
    >>> certainty_badge("low")
    '<span class="syn-badge syn-badge--low"><span aria-hidden="true">⊕⊕◯◯</span> Low certainty</span>'
    """
    certainty = _as_certainty(certainty)
    level = str(getattr(certainty, "level", certainty)).strip().lower()
    if level not in _LEVEL_CLASS:
        raise ValueError(f"unknown certainty level {level!r}; use high, moderate, low or very low")
    n = 4 - list(_LEVEL_CLASS).index(level)
    symbols = "⊕" * n + "◯" * (4 - n)
    return (f'<span class="syn-badge syn-badge--{_LEVEL_CLASS[level]}"><span aria-hidden="true">{symbols}'
            f"</span> {_e(level.capitalize())} certainty</span>")


def _downgrade_summary(certainty: Any) -> str:
    reasons = [d for d in (_get(certainty, "downgrades") or []) if _get(d, "levels", 0)]
    if not reasons:
        return "Not rated down." if _get(certainty, "downgrades") is not None else ""
    names = [str(_get(d, "name", None) or str(_get(d, "domain")).replace("_", " ")).lower() for d in reasons]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    return f"Rated down for {listed}."


def headline_section(question: str, answer_sentence: str, certainty: Any, natural_units_phrase: str | None,
                     estimate_text: str | None, *, title: str | None = None) -> str:
    """The first screen: question, one-sentence answer, certainty and the effect in natural units.

    Parameters
    ----------
    question : str
        The review question in plain words.
    answer_sentence : str
        GRADE plain-language answer (:func:`synthesis.grading.certainty.plain_language_answer`).
    certainty : Certainty or str
        The rating (its downgrade domains are named next to the badge).
    natural_units_phrase : str, optional
        E.g. "about 3 months' additional progress (95% CI 1 to 5 months)".
    estimate_text : str, optional
        The effect on the analysis scale, e.g. "SMD 0.22 (95% CI 0.08 to 0.36)".
    title : str, optional
        Report title (an ``<h1>``).

    Examples
    --------
    >>> html_ = headline_section("Does tutoring help?", "Tutoring probably improves reading.", "moderate",
    ...                          "about 3 months' additional progress", "SMD 0.22 (95% CI 0.08 to 0.36)")
    >>> 'class="syn-answer"' in html_
    True
    """
    certainty = _as_certainty(certainty)
    parts = ['<section class="syn-headline" aria-label="Summary of the answer">']
    if title:
        parts.append(f'<h1 class="syn-title">{_e(title)}</h1>')
    parts.append(f'<p class="syn-question"><span class="syn-label">Question</span> {_e(question)}</p>')
    parts.append(f'<p class="syn-answer">{_e(answer_sentence)}</p>')
    why = _downgrade_summary(certainty)
    parts.append(f'<p class="syn-certainty-line">{certainty_badge(certainty)}'
                 + (f' <span class="syn-why">{_e(why)}</span>' if why else "") + "</p>")
    if natural_units_phrase or estimate_text:
        effect = f"<strong>{_e(natural_units_phrase)}</strong>" if natural_units_phrase else ""
        if estimate_text:
            effect += (" " if effect else "") + f'<span class="syn-muted">{_e(estimate_text)}</span>'
        parts.append(f'<p class="syn-effect"><span class="syn-label">Effect</span> {effect}</p>')
    parts.append("</section>")
    return "".join(parts)


def certainty_section(certainty: Any, *, title: str = "How sure are we?") -> str:
    """The certainty rating with one sentence per GRADE domain, downgrades first.

    ``certainty`` is a :class:`synthesis.grading.certainty.Certainty` (or any object with
    ``level``, ``explanation`` and ``downgrades`` of ``domain, levels, reason``).

    Examples
    --------
    >>> from synthesis.grading.certainty import Certainty, Downgrade
    >>> c = Certainty("moderate", (Downgrade("imprecision", 1, "The interval is wide."),), "Started high.")
    >>> "The interval is wide." in certainty_section(c)
    True
    """
    certainty = _as_certainty(certainty)
    downgrades = list(_get(certainty, "downgrades") or [])
    ordered = sorted(downgrades, key=lambda d: -int(_get(d, "levels", 0)))
    items = []
    for d in ordered:
        levels = int(_get(d, "levels", 0))
        assessed = bool(_get(d, "assessed", True))
        name = _get(d, "name", None) or str(_get(d, "domain")).replace("_", " ").capitalize()
        verdict = _get(d, "verdict", None) or ("not assessed" if not assessed else
                                               f"rated down {levels} level{'s' if levels > 1 else ''}"
                                               if levels else "no serious concern")
        cls = "syn-down" if levels else ("syn-ok" if assessed else "syn-na")
        items.append(f'<li class="{cls}"><strong>{_e(name)}: {_e(verdict)}.</strong> {_e(_get(d, "reason", ""))}</li>')
    explanation = _get(certainty, "explanation") or ""
    body = (f'<p>{certainty_badge(certainty)} {_e(explanation)}</p>'
            + (f'<ul class="syn-reasons">{"".join(items)}</ul>' if items else ""))
    return f'<section class="syn-section syn-certainty"><h2>{_e(title)}</h2>{body}</section>'


def probability_section(prob_gt_0: float | None, prob_gt_mid: float | None, mid: float | None,
                        prior_text: str | None, diagnostics_ok: bool, diagnostics_messages: Sequence[str] = (),
                        *, mid_text: str | None = None, title: str = "How likely is it to help?",
                        model_text: str = "a Bayesian random-effects model") -> str:
    """Chance that the strategy helps at all and by at least the MID, with the prior named.

    A plain warning box lists the diagnostics messages when the model did not
    pass its checks (``diagnostics_ok`` False).

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

    Examples
    --------
    >>> s = probability_section(0.97, 0.62, 0.1, "mu ~ Normal(0, 1)", False, ["R-hat too high."])
    >>> "97%" in s and "syn-warning" in s
    True
    """
    rows = [("Chance that it helps at all", format_probability(prob_gt_0))]
    if mid is not None or mid_text:
        what = mid_text or _num(mid)
        rows.append((f"Chance that it helps by at least the minimal important difference ({what})",
                     format_probability(prob_gt_mid)))
    items = "".join(f"<div><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>" for label, value in rows)
    prior = f" Prior: {_e(prior_text)}." if prior_text else " Prior: not stated."
    body = (f'<dl class="syn-probs">{items}</dl><p class="syn-muted">Probabilities from {_e(model_text)}.'
            f"{prior}</p>")
    if not diagnostics_ok:
        msgs = "".join(f"<li>{_e(m)}</li>" for m in diagnostics_messages)
        body += ('<div class="syn-warning" role="note"><strong>Treat these probabilities with caution.'
                 "</strong> The Bayesian model did not pass its quality checks"
                 + (f":<ul>{msgs}</ul>" if msgs else ".") + "</div>")
    return f'<section class="syn-section syn-probability"><h2>{_e(title)}</h2>{body}</section>'


def moderator_table(df: pd.DataFrame | None, subgroups: pd.DataFrame | None = None, *,
                    subgroup_name: str | None = None, subgroup_pval: float | None = None, digits: int = 2,
                    transform: Callable[[float], float] | None = None, level: float = 0.95,
                    title: str = "Where does it work best?") -> str:
    """Moderator (meta-regression) and subgroup results in one small table.

    Parameters
    ----------
    df : DataFrame or None
        Moderator rows as ``synthesis.analysis.moderator_table``: ``label``
        (or ``moderator``), ``term``, ``estimate``, ``ci_lb``, ``ci_ub``,
        ``pval``, ``k``, optional ``note`` and ``comparison`` (e.g. "tailored vs not tailored").
    subgroups : DataFrame, optional
        ``SubgroupResult.table``: index (or ``level`` column) = subgroup,
        ``k``, ``estimate``, ``ci_lb``, ``ci_ub``.
    subgroup_name : str, optional
        What the subgroups are (e.g. "School phase").
    subgroup_pval : float, optional
        Test for subgroup differences.
    transform : callable, optional
        Back-transformation of estimates (e.g. ``np.exp`` for ratios).

    Examples
    --------
    >>> t = pd.DataFrame({"label": ["Dose"], "term": ["dose"], "estimate": [0.05], "ci_lb": [0.0],
    ...                   "ci_ub": [0.1], "pval": [0.04], "k": [12]})
    >>> "Dose" in moderator_table(t)
    True
    """
    lev = level_label(level)
    rows: list[list[str]] = []
    if df is not None and len(df):
        label_col = _first_column(df, ("label", "moderator")) or df.columns[0]
        for _, r in df.iterrows():
            term = "" if _is_missing(r.get("term")) else str(r.get("term"))
            label = str(r[label_col])
            same = term in (label, str(r.get("moderator", label)))
            what = "per unit increase" if same or not term else f"{term} vs reference"
            if not _is_missing(r.get("comparison")) and str(r.get("comparison")):
                what = str(r.get("comparison"))
            note = "" if _is_missing(r.get("note")) else str(r.get("note"))
            effect = _interval(r.get("estimate"), r.get("ci_lb"), r.get("ci_ub"), digits, transform)
            if note and effect == "–":
                effect = note
            rows.append([_e(label), _e(what), _e(effect), _e(_pval(r.get("pval"))),
                         _e("" if _is_missing(r.get("k")) else int(r.get("k")))])
    if subgroups is not None and len(subgroups):
        sg = subgroups.copy()
        if "level" not in sg.columns:
            sg = sg.rename_axis("level").reset_index()
        name = subgroup_name or "Subgroup"
        for _, r in sg.iterrows():
            rows.append([_e(f"{name}: {r['level']}"), _e("effect within subgroup"),
                         _e(_interval(r.get("estimate"), r.get("ci_lb"), r.get("ci_ub"), digits, transform)),
                         _e(_pval(subgroup_pval)) if subgroup_pval is not None else "–",
                         _e("" if _is_missing(r.get("k")) else int(r.get("k")))])
    if not rows:
        return section(title, '<p class="syn-muted">No moderators or subgroups were analysed.</p>')
    table = _table(["Characteristic", "Comparison", f"Estimate ({lev} CI)", "p", "Studies"], rows,
                   numeric=[False, False, True, True, True])
    intro = ("Differences in effect by study characteristics (each analysed on its own) and effects "
             "within subgroups. These are observational comparisons between studies.")
    return section(title, table, intro=intro, css_class="syn-moderators")


def strategy_table(df: pd.DataFrame, *, label: str | None = None, higher_is_better: bool = True,
                   digits: int = 2, transform: Callable[[float], float] | None = None,
                   interval_label: str = "95% interval", title: str = "Which strategies work best?") -> str:
    """Strategies ranked by effect, each with its interval and probabilities (not bare ranks).

    Parameters
    ----------
    df : DataFrame
        One row per strategy: label (``strategy``/``label`` column or the
        index), ``estimate``/``mean``, ``ci_lb``/``eti_lb``/``hdi_lb``,
        ``ci_ub``/...; optional ``prob_gt_0``, ``prob_gt_mid``, ``prob_best``
        (0-1) and ``rank_lb``, ``rank_ub`` (rank interval).

    Examples
    --------
    >>> t = pd.DataFrame({"strategy": ["A", "B"], "estimate": [0.1, 0.3], "ci_lb": [-0.1, 0.1],
    ...                   "ci_ub": [0.3, 0.5], "prob_best": [0.2, 0.8]})
    >>> s = strategy_table(t)
    >>> s.index("B") < s.index("A")
    True
    """
    if label is None and not {"strategy", "label"} & set(df.columns):
        df = df.rename_axis(df.index.name or "strategy").reset_index()
    lab = label or _first_column(df, ("strategy", "label")) or df.columns[0]
    est = _first_column(df, ("estimate", "mean"))
    lb = _first_column(df, ("ci_lb", "eti_lb", "hdi_lb"))
    ub = _first_column(df, ("ci_ub", "eti_ub", "hdi_ub"))
    if est is None or lb is None or ub is None:
        raise ValueError("strategy_table needs estimate/mean and interval columns (ci_lb, ci_ub or eti_lb, "
                         f"eti_ub); the table has {', '.join(map(str, df.columns))}")
    values = pd.to_numeric(df[est], errors="coerce").to_numpy(float)
    order = np.argsort(-values if higher_is_better else values, kind="stable")
    optional = [(c, h) for c, h in (("prob_gt_0", "Chance it helps"), ("prob_gt_mid", "Chance of an important benefit"),
                                    ("prob_best", "Chance it is the best")) if c in df.columns]
    has_rank_ci = {"rank_lb", "rank_ub"} <= set(df.columns)
    headers = ["Rank"] + (["Rank (interval)"] if has_rank_ci else []) + ["Strategy", f"Effect ({interval_label})"]
    headers += [h for _, h in optional]
    rows = []
    for position, i in enumerate(order, start=1):
        r = df.iloc[i]
        row = [str(position)]
        if has_rank_ci:
            row.append(_e(f"{int(r['rank_lb'])} to {int(r['rank_ub'])}"))
        row += [_e(r[lab]), _e(_interval(r[est], r[lb], r[ub], digits, transform))]
        row += [_e(format_probability(None if _is_missing(r[c]) else float(r[c]))) for c, _ in optional]
        rows.append(row)
    numeric = [True] + ([True] if has_rank_ci else []) + [False, True] + [True] * len(optional)
    intro = ("Strategies ordered by their estimated effect. Overlapping intervals mean the order is uncertain; "
             "look at the intervals and probabilities, not only the rank.")
    return section(title, _table(headers, rows, numeric=numeric), intro=intro, css_class="syn-strategies")


def studies_table(df: pd.DataFrame, *, label: str = "study", citation: str | None = "citation",
                  risk_of_bias: str | None = None, weights: Sequence[float] | None = None,
                  measure: str | None = None, level: float = 0.95, digits: int = 2,
                  extra: Sequence[str] = (), title: str = "Included studies") -> str:
    """A table of the included studies with citations, effects and weights.

    Parameters
    ----------
    df : DataFrame
        One row per effect size with ``yi``, ``vi`` and the ``label`` column;
        ``citation`` and ``risk_of_bias`` columns are shown when present.
    weights : sequence, optional
        Model weights in percent (row order of ``df``); also read from a
        ``weights`` column.
    measure : str, optional
        ``OR``/``RR`` show exponentiated effects.
    extra : sequence of str
        Further columns to show as they are (e.g. ``year``, ``country``).

    Examples
    --------
    >>> d = pd.DataFrame({"study": ["<b>A</b>"], "yi": [0.2], "vi": [0.04], "citation": ["Smith (2020)"]})
    >>> "&lt;b&gt;A&lt;/b&gt;" in studies_table(d)
    True
    """
    transform = math.exp if str(measure).upper() in ("OR", "RR") else None
    z = float(stats.norm.ppf(1 - (1 - (level if level <= 1 else level / 100)) / 2))
    yi = pd.to_numeric(df["yi"], errors="coerce").to_numpy(float)
    se = np.sqrt(pd.to_numeric(df["vi"], errors="coerce").to_numpy(float))
    w = weights if weights is not None else (df["weights"].to_numpy(float) if "weights" in df.columns else None)
    show_cit = citation is not None and citation in df.columns
    show_rob = risk_of_bias is not None and risk_of_bias in df.columns
    extra = [c for c in extra if c in df.columns]
    name = MEASURE_NAMES.get(str(measure).upper(), "Effect") if measure else "Effect"
    headers = ["Study"] + (["Citation"] if show_cit else []) + extra + \
        [f"{name[:1].upper()}{name[1:]} ({level_label(level)} CI)"] + \
        (["Weight"] if w is not None else []) + (["Risk of bias"] if show_rob else [])
    rows = []
    for i in range(len(df)):
        r = df.iloc[i]
        row = [_e(r[label] if label in df.columns else i + 1)]
        if show_cit:
            row.append(_e("" if _is_missing(r[citation]) else r[citation]))
        row += [_e("" if _is_missing(r[c]) else r[c]) for c in extra]
        row.append(_e(_interval(yi[i], yi[i] - z * se[i], yi[i] + z * se[i], digits, transform)))
        if w is not None:
            row.append(_e(f"{float(w[i]):.1f}%"))
        if show_rob:
            row.append(_e("" if _is_missing(r[risk_of_bias]) else r[risk_of_bias]))
        rows.append(row)
    numeric = [False] + [False] * show_cit + [False] * len(extra) + [True] + [True] * (w is not None) + \
        [False] * show_rob
    return section(title, _table(headers, rows, numeric=numeric), css_class="syn-studies")


def version_section(version: Any, created_at: Any, fingerprint: Any, changes_df: pd.DataFrame | None = None,
                    *, title: str = "Version and changes") -> str:
    """Version label, date, fingerprint(s) and what changed since the previous version.

    Parameters
    ----------
    version : str or int
        ``v3`` or 3.
    created_at : str or datetime
    fingerprint : str or mapping
        One fingerprint, or several (``{"data": ..., "parameters": ...}``).
    changes_df : DataFrame or None
        What changed (any columns, e.g. ``what, before, after``); None for
        the first version, empty when nothing in the results changed.

    Examples
    --------
    >>> "first version" in version_section("v1", "2025-01-01", "abc123")
    True
    """
    label = str(version) if str(version).startswith("v") else f"v{version}"
    prints = fingerprint.items() if isinstance(fingerprint, Mapping) else [("Fingerprint", fingerprint)]
    items = [("Version", _e(label)), ("Created", _e(created_at))]
    items += [(str(k).capitalize() if isinstance(fingerprint, Mapping) else str(k),
               f'<code class="syn-fingerprint">{_e(v)}</code>') for k, v in prints]
    dl = '<dl class="syn-meta">' + "".join(f"<div><dt>{_e(k)}</dt><dd>{v}</dd></div>" for k, v in items) + "</dl>"
    if changes_df is None:
        changes = '<p class="syn-muted">This is the first version of this report.</p>'
    elif len(changes_df) == 0:
        changes = '<p class="syn-muted">Nothing in the results changed since the previous version.</p>'
    else:
        cols = list(changes_df.columns)
        rows = [[_e("" if _is_missing(v) else v) for v in r] for r in changes_df.itertuples(index=False)]
        changes = _table([str(c).replace("_", " ").capitalize() for c in cols], rows,
                         caption="What changed since the previous version")
    return f'<section class="syn-section syn-version"><h2>{_e(title)}</h2>{dl}{changes}</section>'


def methods_section(*, measure: str, method: str, test: str = "z", level: float = 0.95, k: int | None = None,
                    prior: str | None = None, sampler: Mapping[str, Any] | str | None = None,
                    bias_tests: bool = True, natural_units: str | None = None,
                    extra: Sequence[str] = (), title: str = "Methods") -> str:
    """A short methods appendix naming every estimator and prior.

    Examples
    --------
    >>> s = methods_section(measure="SMD", method="REML", test="knha", prior="mu ~ Normal(0, 1)")
    >>> "restricted maximum-likelihood" in s and "Hartung-Knapp" in s
    True
    """
    from synthesis.grading import certainty as cr

    m = str(measure).upper()
    items = [f"Effect measure: {_MEASURE_DETAIL.get(m, MEASURE_NAMES.get(m, m))}."]
    pooled = METHOD_NAMES.get(str(method).upper(), f"the {method} estimator")
    items.append(f"Studies were pooled with {pooled}" + (f" ({k} studies)." if k is not None else "."))
    items.append(_TEST_TEXT.get(str(test), f"Test: {test}.") + f" Intervals are {level_label(level)} intervals.")
    items.append("Heterogeneity: I² (Higgins & Thompson 2002, Stat Med 21:1539-1558) and a prediction interval "
                 "for the effect in a new setting (Riley et al. 2011, BMJ 342:d549).")
    if bias_tests:
        items.append(f"Small-study effects (with at least {cr.MIN_STUDIES_BIAS} studies): Egger's regression test "
                     "(Egger et al. 1997, BMJ 315:629-634), Begg's rank correlation test and trim-and-fill "
                     "(Duval & Tweedie 2000, Biometrics 56:455-463, L0 estimator).")
    if prior:
        text = f"Bayesian model priors: {prior}."
        if sampler:
            text += f" Sampler: {_sampler_text(sampler)}."
        items.append(text)
    items.append(
        "Certainty of evidence: GRADE (Guyatt et al. 2011), starting high for randomised trials; rated down for "
        f"risk of bias (≥{cr.ROB_HIGH_SERIOUS:g}% of weight from high-risk studies: one level; "
        f"≥{cr.ROB_HIGH_VERY_SERIOUS:g}%: two), inconsistency (I² ≥ {cr.I2_SERIOUS:g}% with a prediction "
        "interval crossing no effect or the minimal important difference), imprecision (confidence interval "
        "crossing no effect or the minimal important difference; fewer than "
        f"{cr.OIS_PARTICIPANTS} participants), publication bias (Egger p < {cr.EGGER_ALPHA:g} with a "
        f"trim-and-fill shift over {100 * cr.TRIMFILL_SHIFT:g}%) and the reviewer's judgement of indirectness. "
        "Answers are worded as recommended by Santesso et al. 2020 (J Clin Epidemiol 119:126-135).")
    if natural_units:
        items.append(natural_units)
    items += [str(x) for x in extra]
    body = '<ul class="syn-methods">' + "".join(f"<li>{_e(x)}</li>" for x in items) + "</ul>"
    return f'<section class="syn-section syn-methods-section"><h2>{_e(title)}</h2>{body}</section>'


def _sampler_text(sampler: Mapping[str, Any] | str) -> str:
    if isinstance(sampler, Mapping):
        keys = ("sampler", "chains", "draws", "tune", "target_accept", "seed")
        return ", ".join(f"{k} {sampler[k]}" for k in keys if k in sampler)
    return str(sampler)


# ---------------------------------------------------------------- output
class Report(str):
    """HTML string that Jupyter displays as HTML (``_repr_html_``)."""

    def _repr_html_(self) -> str:
        return str(self)


def render(sections: Iterable[str | None], *, include_css: bool = False) -> Any:
    """Join sections into one report block for ``display()``.

    Returns an :class:`IPython.display.HTML` when IPython is installed
    (otherwise a :class:`Report` string with ``_repr_html_``). ``None``
    sections are skipped. ``include_css`` adds the stylesheet inline (for a
    live notebook; the pipeline already puts it in the page head).

    Examples
    --------
    >>> out = render([banner_simulated(), None])
    >>> "syn-report" in out.data
    True
    """
    body = "".join(s for s in sections if s)
    css = ""
    if include_css:
        from pathlib import Path

        path = Path(__file__).parent / "templates" / "report.css"
        if path.is_file():
            css = f"<style>{path.read_text(encoding='utf-8')}</style>"
    text = f'{css}<div class="syn-report">{body}</div>'
    try:
        from IPython.display import HTML
    except ImportError:  # pragma: no cover - IPython is a dependency of the notebook only
        return Report(text)
    return HTML(text)
