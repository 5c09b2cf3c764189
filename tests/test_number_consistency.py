"""One rounding rule on the whole page: a number shows the same wherever it appears.

An estimate of exactly 0.125 must read 0.13 in the headline, the tables, the figures'
alt text and labels and the certainty reasons (Python's ``round``/``:.2f`` would say
0.12 in some of them), and a probability of 0.875 must read 88% in the probability
section and in the posterior figure.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup

from synthesis.analysis import ReviewAnalysis, analyse_review, rate_and_answer
from synthesis.meta.pooled import meta_analysis
from synthesis.meta.small_study import egger_test, trim_and_fill
from synthesis.numbers import interval, number, probability
from synthesis.report import page, plots

REPO = Path(__file__).resolve().parents[1]


class _Posterior:
    """A stand-in for the exact Bayesian result with P(mu > 0) = 0.875 and P(mu > MID) = 0.625."""

    def prob_greater(self, threshold: float = 0.0, param: str = "mu") -> float:
        return 0.875 if threshold == 0 else 0.625

    def density(self, param: str = "mu") -> pd.DataFrame:
        x = np.linspace(-0.5, 0.8, 400)
        return pd.DataFrame({"value": x, "density": np.exp(-0.5 * ((x - 0.125) / 0.11) ** 2)})

    def prior_description(self) -> str:
        return "mu ~ Normal(0, 1); tau ~ Half-Normal(0.5)"


def _constructed() -> ReviewAnalysis:
    data = pd.DataFrame({"study": ["A (2001)", "B (2005)", "C (2010)", "D (2015)"], "yi": [0.125] * 4,
                         "vi": [0.01, 0.02, 0.04, 0.03]})
    spec = {"id": "consistency", "title": "Consistency", "effect": {"measure": "SMD"},
            "question": {"plain_question": "Does it help?", "intervention": "Tutoring", "outcome": "reading"},
            "decision": {"mid": 0.1}, "certainty": {"indirectness": "none"},
            "provenance": {"citation": "Made up for a test", "simulated": True}}
    meta = meta_analysis(data, labels="study", method="REML")
    assert meta.estimate == 0.125  # identical effects: the pooled estimate is exactly 0.125
    analysis = ReviewAnalysis(review=type("Review", (), {"spec": spec, "data": data})(), meta=meta,
                              egger=egger_test(meta, "rma"), trimfill=trim_and_fill(meta), bayes=_Posterior())
    rate_and_answer(analysis)
    return analysis


def _page(analysis: ReviewAnalysis) -> BeautifulSoup:
    return BeautifulSoup("".join(page.report_sections(analysis)), "html.parser")


def _alts(soup: BeautifulSoup) -> list[str]:
    """The figures' alt texts in page order (inline SVG: the aria-label of its role="img" holder)."""
    return [el.get("alt") or el["aria-label"] for el in soup.select('.syn-figure img, .syn-figure [role="img"]')]


def test_an_estimate_of_0125_reads_013_everywhere():
    a = _constructed()
    soup = _page(a)
    estimate, ci = number(a.meta.estimate), interval(a.meta.ci_lb, a.meta.ci_ub)
    assert estimate == "0.13"
    headline = soup.find(class_="syn-headline").get_text(" ")
    assert f"SMD {estimate} (95% CI {ci})" in headline
    forest, funnel, posterior = _alts(soup)
    assert f"Pooled estimate {estimate} (95% CI {ci})" in forest
    assert "Study estimates range from 0.13 to 0.13" in forest
    assert f"Pooled estimate {estimate}." in funnel
    reasons = soup.find(class_="syn-certainty").get_text(" ")
    assert f"95% confidence interval ({ci})" in reasons
    studies = [tr.find_all("td")[1].get_text() for tr in soup.find(class_="syn-studies").find("tbody").find_all("tr")]
    assert all(cell.startswith(f"{estimate} (") for cell in studies)
    # the page's words and alt texts (the figures' axis ticks, e.g. 0.125, are positions, not estimates;
    # the figures' numbers are checked below)
    words = BeautifulSoup(str(soup), "html.parser")
    for svg in words.find_all("svg"):
        svg.decompose()
    assert "0.12" not in words.get_text(" ") + " ".join(_alts(soup))
    # the forest plot's own right-hand column says the same
    fig = plots.forest_plot(a.meta, labels=list(a.meta.labels))
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert f"{estimate} [{number(a.meta.ci_lb)}, {number(a.meta.ci_ub)}]" in texts


def test_a_probability_of_0875_reads_88_percent_in_table_and_figure():
    a = _constructed()
    soup = _page(a)
    assert probability(0.875) == "88%"
    values = [dd.get_text() for dd in soup.find(class_="syn-probability").find_all("dd")]
    assert values == ["88%", "63%"]
    posterior = [t for t in _alts(soup) if not t.startswith("Specification curve")][-1]
    assert "88% chance of any benefit" in posterior and "63% chance of a benefit" in posterior
    fig = plots.posterior_plot(a.bayes.density("mu"), mid=0.1, prob_any=0.875, prob_mid=0.625)
    legend = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert "Any benefit (both shaded): 88%" in legend and any(t.endswith(": 63%") for t in legend)


@pytest.mark.skipif(not (REPO / "reviews/practice-facilitation").is_dir(), reason="needs the shipped review")
def test_shipped_review_numbers_agree_across_the_page():
    a = analyse_review("practice-facilitation", REPO)
    soup = _page(a)
    ci = interval(a.meta.ci_lb, a.meta.ci_ub)
    effect = f"SMD {number(a.meta.estimate)} (95% CI {ci})"
    assert effect in soup.find(class_="syn-headline").get_text(" ")
    assert f"Pooled estimate {number(a.meta.estimate)} (95% CI {ci})" in _alts(soup)[1]
    assert f"({ci})" in soup.find(class_="syn-certainty").get_text(" ")
    shown = [dd.get_text() for dd in soup.find(class_="syn-probability").find_all("dd")]
    assert f"{shown[0]} chance of any benefit" in [t for t in _alts(soup) if not t.startswith("Specification curve")][-1]


SHIPPED = sorted(p.name for p in (REPO / "reviews").iterdir() if (p / "review.yaml").is_file()) \
    if (REPO / "reviews").is_dir() else []


def _shipped_param(review_id: str) -> object:
    """The sampled strategy model takes minutes: its review's page is checked under ``-m slow``."""
    slow = review_id == "implementation-strategies-illustrative"
    return pytest.param(review_id, marks=[pytest.mark.slow] if slow else [], id=review_id)


def _text(node) -> str:
    return " ".join(node.get_text(" ").split())


@pytest.mark.parametrize("review_id", [_shipped_param(r) for r in SHIPPED])
def test_every_shipped_page_shows_each_number_once_and_as_the_manifest_says(review_id):
    """Headline, forest legend, certainty reasons, probabilities, posterior legend and the
    moderator table and figure show the same numbers, equal to the manifest's at the shown precision."""
    from synthesis.grading.measures import back_transform, measure_words
    from synthesis.numbers import level_percent, percent

    a = analyse_review(review_id, REPO)
    results = a.results()
    h = results["headline"]
    soup = _page(a)
    transform = back_transform(h["measure"])
    lev = level_percent(a.meta.level)
    est, ci = number(h["estimate"], transform=transform), interval(h["ci_lb"], h["ci_ub"], transform=transform)
    headline = _text(soup.find(class_="syn-headline"))
    assert f"{measure_words(h['measure']).short} {est} ({lev} CI {ci})" in headline
    assert headline.count(f"{est} ({lev} CI {ci})") == 1
    assert results["natural_units"]["phrase"] in headline
    forest = next(alt for alt in _alts(soup) if alt.startswith("Forest plot"))
    assert f"Pooled estimate {est} ({lev} CI {ci})" in forest
    reasons = _text(soup.find(class_="syn-certainty"))
    assert f"({ci})" in reasons and f"I² = {percent(h['I2'])}" in reasons
    if h.get("prob_gt_0") is not None:
        shown = [dd.get_text() for dd in soup.find(class_="syn-probability").find_all("dd")]
        assert shown[0] == probability(h["prob_gt_0"])
        if h.get("prob_gt_mid") is not None:
            assert shown[1] == probability(h["prob_gt_mid"])
        posterior = next((alt for alt in _alts(soup) if alt.startswith("Posterior")), None)
        assert posterior is None or f"{shown[0]} chance of any benefit" in posterior
    # the moderator table and its figure show the same predicted effects; one p-value per moderator
    section = soup.find(class_="syn-moderators")
    if section is not None and section.find("table") is not None:
        cells = [[_text(td) for td in tr.find_all("td")] for tr in section.find("tbody").find_all("tr")]
        p_values = re.findall(r"p = [0-9.<]+", _text(section.find(class_="syn-findings")))
        assert len(p_values) == len({row[0] for row in cells})
        assert not any("p = " in cell for row in cells for cell in row)
        fig = next(alt for alt in _alts(soup) if alt.startswith("Moderator"))
        assert f"{len(cells)} rows" in fig
