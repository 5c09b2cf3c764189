"""The report's tables: where it works (moderators, subgroups, strategies), the included
studies and the version with what changed.

Each function returns a :class:`~synthesis.report.templating.Fragment` rendered from
``table.html.j2`` inside ``section.html.j2``; cells are plain text (escaped by the
template), numbers are shown with :mod:`synthesis.numbers`.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from synthesis.grading.measures import back_transform, measure_words
from synthesis.numbers import MISSING, interval, level_percent, number, p_value, percent, probability
from synthesis.review.risk_of_bias import rob_judgements
from synthesis.report.sections import section
from synthesis.report.templating import Fragment, render_template

__all__ = ["moderator_table", "strategy_table", "studies_table", "version_section", "estimate_with_interval"]


#: each study's judgement in RoB 2 wording (Sterne et al. 2019, BMJ 366:l4898)
_ROB_WORDS = {"low": "Low", "some": "Some concerns", "high": "High"}


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _text(value: Any) -> str:
    """A cell's text: empty for a missing value."""
    return "" if _is_missing(value) else str(value)


def _first_column(df: pd.DataFrame, names: Sequence[str]) -> str | None:
    return next((n for n in names if n in df.columns), None)


def estimate_with_interval(est: Any, lb: Any, ub: Any, digits: int = 2,
                           transform: Callable[[float], float] | None = None) -> str:
    """``"0.13 (0.01 to 0.25)"``: an estimate with its interval; ``"–"`` when there is no estimate.

    Examples
    --------
    >>> estimate_with_interval(0.125, 0.005, 0.245), estimate_with_interval(None, 0, 1)
    ('0.13 (0.01 to 0.25)', '–')
    """
    if _is_missing(est):
        return MISSING
    return f"{number(est, digits, transform)} ({interval(lb, ub, digits, transform)})"


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], *, numeric: Sequence[bool],
           caption: str | None = None) -> Fragment:
    return render_template("table.html.j2", headers=list(headers), rows=rows, numeric=list(numeric),
                           caption=caption, css_class="syn-table")


def moderator_table(df: pd.DataFrame | None, subgroups: pd.DataFrame | None = None, *,
                    subgroup_name: str | None = None, subgroup_pval: float | None = None, digits: int = 2,
                    transform: Callable[[float], float] | None = None, level: float = 0.95,
                    title: str = "Where does it work best?") -> Fragment:
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
    rows: list[list[str]] = []
    if df is not None and len(df):
        label_col = _first_column(df, ("label", "moderator")) or df.columns[0]
        for _, r in df.iterrows():
            term = _text(r.get("term"))
            label = str(r[label_col])
            same = term in (label, str(r.get("moderator", label)))
            what = "per unit increase" if same or not term else f"{term} vs reference"
            if _text(r.get("comparison")):
                what = str(r.get("comparison"))
            note = _text(r.get("note"))
            effect = estimate_with_interval(r.get("estimate"), r.get("ci_lb"), r.get("ci_ub"), digits, transform)
            if note and effect == MISSING:
                effect = note
            k = r.get("k")
            rows.append([label, what, effect, p_value(r.get("pval")), "" if _is_missing(k) else str(int(k))])
    if subgroups is not None and len(subgroups):
        sg = subgroups.copy()
        if "level" not in sg.columns:
            sg = sg.rename_axis("level").reset_index()
        name = subgroup_name or "Subgroup"
        for _, r in sg.iterrows():
            k = r.get("k")
            rows.append([f"{name}: {r['level']}", "effect within subgroup",
                         estimate_with_interval(r.get("estimate"), r.get("ci_lb"), r.get("ci_ub"), digits, transform),
                         p_value(subgroup_pval), "" if _is_missing(k) else str(int(k))])
    if not rows:
        return section(title, render_template("muted.html.j2", text="No moderators or subgroups were analysed."))
    table = _table(["Characteristic", "Comparison", f"Estimate ({level_percent(level)} CI)", "p", "Studies"], rows,
                   numeric=[False, False, True, True, True])
    intro = ("Differences in effect by study characteristics (each analysed on its own) and effects "
             "within subgroups. These are observational comparisons between studies.")
    return section(title, table, intro=intro, css_class="syn-moderators")


def strategy_table(df: pd.DataFrame, *, label: str | None = None, higher_is_better: bool = True,
                   digits: int = 2, transform: Callable[[float], float] | None = None,
                   interval_label: str = "95% interval", title: str = "Which strategies work best?") -> Fragment:
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
            row.append(f"{int(r['rank_lb'])} to {int(r['rank_ub'])}")
        row += [str(r[lab]), estimate_with_interval(r[est], r[lb], r[ub], digits, transform)]
        row += [probability(r[c]) for c, _ in optional]
        rows.append(row)
    numeric = [True] + ([True] if has_rank_ci else []) + [False, True] + [True] * len(optional)
    intro = ("Strategies ordered by their estimated effect. Overlapping intervals mean the order is uncertain; "
             "look at the intervals and probabilities, not only the rank.")
    return section(title, _table(headers, rows, numeric=numeric), intro=intro, css_class="syn-strategies")


def studies_table(df: pd.DataFrame, *, label: str = "study", citation: str | None = "citation",
                  risk_of_bias: str | None = None, weights: Sequence[float] | None = None,
                  measure: str | None = None, level: float = 0.95, digits: int = 2,
                  extra: Sequence[str] = (), not_assessed: str | None = None,
                  title: str = "Included studies") -> Fragment:
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
    not_assessed : str, optional
        Without a risk-of-bias column: why risk of bias was not assessed (said under the table).

    Examples
    --------
    >>> d = pd.DataFrame({"study": ["<b>A</b>"], "yi": [0.2], "vi": [0.04], "citation": ["Smith (2020)"]})
    >>> "&lt;b&gt;A&lt;/b&gt;" in studies_table(d)
    True
    """
    transform = back_transform(measure)
    z = float(stats.norm.ppf(1 - (1 - (level if level <= 1 else level / 100)) / 2))
    yi = pd.to_numeric(df["yi"], errors="coerce").to_numpy(float)
    se = np.sqrt(pd.to_numeric(df["vi"], errors="coerce").to_numpy(float))
    w = weights if weights is not None else (df["weights"].to_numpy(float) if "weights" in df.columns else None)
    show_cit = citation is not None and citation in df.columns
    show_rob = risk_of_bias is not None and risk_of_bias in df.columns
    extra = [c for c in extra if c in df.columns]
    name = measure_words(measure).name if measure else "effect"
    headers = ["Study"] + (["Citation"] if show_cit else []) + extra + \
        [f"{name[:1].upper()}{name[1:]} ({level_percent(level)} CI)"] + \
        (["Weight"] if w is not None else []) + (["Risk of bias (RoB 2)"] if show_rob else [])
    judgements = rob_judgements(df[risk_of_bias].tolist(), risk_of_bias) if show_rob else []
    rows = []
    for i in range(len(df)):
        r = df.iloc[i]
        row = [str(r[label]) if label in df.columns else str(i + 1)]
        if show_cit:
            row.append(_text(r[citation]))
        row += [_text(r[c]) for c in extra]
        row.append(estimate_with_interval(yi[i], yi[i] - z * se[i], yi[i] + z * se[i], digits, transform))
        if w is not None:
            row.append(percent(w[i], 1))
        if show_rob:
            row.append(_ROB_WORDS[judgements[i]] if _text(r[risk_of_bias]) else "not judged (some concerns)")
        rows.append(row)
    numeric = [False] + [False] * show_cit + [False] * len(extra) + [True] + [True] * (w is not None) + \
        [False] * show_rob
    caption = None
    if not show_rob:
        caption = ("Risk of bias: not assessed" + (f" ({not_assessed.strip().rstrip('.')})" if not_assessed else "")
                   + "; see How sure are we?")
    return section(title, _table(headers, rows, numeric=numeric, caption=caption), css_class="syn-studies")


def version_section(version: Any, created_at: Any, fingerprint: Any, changes_df: pd.DataFrame | None = None,
                    *, summary: Sequence[str] = (), title: str = "Version and changes") -> Fragment:
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
    summary : sequence of str
        What changed in words (:func:`synthesis.report.changes.changes_in_words`), shown first.

    Examples
    --------
    >>> "first version" in version_section("v1", "2025-01-01", "abc123")
    True
    """
    label = str(version) if str(version).startswith("v") else f"v{version}"
    items = [("Version", label, False), ("Created", created_at, False)]
    if isinstance(fingerprint, Mapping):
        items += [(str(k).capitalize(), v, True) for k, v in fingerprint.items()]
    else:
        items.append(("Fingerprint", fingerprint, True))
    changes: Fragment | str | None = None
    if changes_df is not None:
        changes = ""
        if len(changes_df):
            rows = [[_text(v) for v in r] for r in changes_df.itertuples(index=False)]
            changes = _table([str(c).replace("_", " ").capitalize() for c in changes_df.columns], rows,
                             numeric=[False] * len(changes_df.columns),
                             caption="What changed since the previous version")
    return render_template("version.html.j2", title=title, items=items, changes=changes, summary=list(summary))
