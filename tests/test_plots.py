"""Figures return matplotlib Figures, state their finding in alt text and embed as data URIs."""
from __future__ import annotations

import base64
import io
import re
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from bs4 import BeautifulSoup
from matplotlib.figure import Figure
from scipy import stats

from synthesis.errors import DataError
from synthesis.report.plots import (OKABE_ITO, alt_text, figure_to_html, forest_plot, funnel_plot, moderator_plot,
                             posterior_plot, strategy_plot)

YI = np.array([-0.2, 0.1, 0.35, 0.5, 0.8])
VI = np.array([0.04, 0.02, 0.03, 0.05, 0.09])


def _result(**extra):
    fields = dict(yi=YI, vi=VI, labels=np.array(["A", "B", "C", "D", "<script>alert(1)</script>"]),
                  weights=np.array([15.0, 30.0, 20.0, 20.0, 15.0]), estimate=0.27, ci_lb=0.05, ci_ub=0.49,
                  pi_lb=-0.2, pi_ub=0.74, level=0.95, method="REML")
    fields.update(extra)
    return SimpleNamespace(**fields)


def _png(html_text: str) -> bytes:
    img = BeautifulSoup(html_text, "html.parser").find("img")
    src = img["src"]
    assert src.startswith("data:image/png;base64,")
    data = base64.b64decode(src.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return data


def test_forest_from_result_object():
    fig = forest_plot(_result(), xlabel="SMD")
    assert isinstance(fig, Figure)
    alt = alt_text(fig)
    assert alt.startswith("Forest plot of 5 studies (SMD). Study estimates range from -0.20 to 0.80.")
    assert "Pooled estimate 0.27 (95% CI 0.05 to 0.49)" in alt and "between -0.20 and 0.74" in alt
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert "<script>alert(1)</script>" in texts                  # labels drawn as text
    assert "0.80 [0.21, 1.39]" in texts                           # 0.8 +- 1.959964 * 0.3
    assert "30.0%" in texts and "100%" in texts and "95% prediction interval" in texts
    assert "Random-effects model (REML)" in texts


def test_forest_arrays_dataframe_and_transform():
    fig = forest_plot((np.log([0.5, 1.2, 0.8]), [0.04, 0.02, 0.05]), labels=["x", "y", "z"], transform=np.exp,
                      xlabel="Odds ratio")
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any(t.startswith("0.50 [") for t in texts)            # exponentiated study estimate
    # inverse-variance weights when none are given: 1/0.02 / (1/0.04 + 1/0.02 + 1/0.05)
    assert f"{100 * 50 / 95:.1f}%" in texts
    ticks = [t.get_text() for t in fig.axes[1].get_xticklabels()]
    assert "1" in ticks                                           # ratio axis labelled at round values
    frame = pd.DataFrame({"study": ["p", "q"], "yi": [0.1, 0.2], "vi": [0.01, 0.02]})
    assert "2 studies" in alt_text(forest_plot(frame, sort=True))
    summary = {"estimate": 0.15, "ci_lb": 0.0, "ci_ub": 0.3}
    assert "Pooled estimate 0.15" in alt_text(forest_plot(frame, summary=summary))


def test_forest_bad_input():
    with pytest.raises(DataError, match="equal length"):
        forest_plot(yi=[0.1, 0.2], vi=[0.01])
    with pytest.raises(DataError, match="positive"):
        forest_plot(yi=[0.1, 0.2], vi=[0.01, 0.0])
    with pytest.raises(DataError, match="labels"):
        forest_plot(yi=[0.1, 0.2], vi=[0.01, 0.02], labels=["a"])


def test_funnel_contours_and_alt():
    res = _result()
    filled = pd.DataFrame({"yi": [-0.4], "vi": [0.06]})
    fig = funnel_plot(res, filled=filled, egger_p=0.031)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    # y axis runs from the largest SE at the bottom to 0 at the top
    assert ax.get_ylim()[1] == 0 and ax.get_ylim()[0] > np.sqrt(0.09)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:4] == ["p > 0.10", "0.05 < p ≤ 0.10", "0.01 < p ≤ 0.05", "p ≤ 0.01"]
    # significant at 0.05 (|yi| / sei > 1.96): 0.35/0.173 = 2.02 and 0.5/0.224 = 2.24; 0.8/0.3 = 2.67
    alt = alt_text(fig)
    assert "3 of 5 lie in the regions" in alt and "Pooled estimate 0.27" in alt
    assert "Trim-and-fill added 1 study." in alt and "p = 0.031" in alt
    fig2 = funnel_plot(YI, VI, contours=(0.9, 0.95))
    assert [t.get_text() for t in fig2.axes[0].get_legend().get_texts()][:3] == \
        ["p > 0.10", "0.05 < p ≤ 0.10", "p ≤ 0.05"]
    for bad in [(0.0,), (), tuple(np.linspace(0.5, 0.99, 7))]:
        with pytest.raises(DataError, match="contours"):
            funnel_plot(YI, VI, contours=bad)


def test_posterior_probabilities_from_density_and_draws():
    x = np.linspace(-0.3, 0.7, 2001)
    dens = stats.norm.pdf(x, 0.2, 0.1)
    fig = posterior_plot((x, dens), mid=0.1)
    # P(>0) = Phi(2) = 97.7%, P(>0.1) = Phi(1) = 84.1%
    assert alt_text(fig) == ("Posterior distribution of the average effect: 98% chance of any benefit and 84% "
                             "chance of a benefit at least as large as the minimal important difference (0.10).")
    rng = np.random.default_rng(3)
    draws = rng.normal(-0.2, 0.1, 20000)
    alt = alt_text(posterior_plot(draws, mid=0.1, direction="lower_is_better"))
    assert "98% chance of any benefit" in alt and "84% chance" in alt and "(-0.10)" in alt
    frame = pd.DataFrame({"value": x, "density": dens})
    assert "98% chance" in alt_text(posterior_plot(frame))


def test_posterior_bad_input():
    with pytest.raises(DataError, match="at least 10"):
        posterior_plot([0.1, 0.2])
    with pytest.raises(DataError, match="direction"):
        posterior_plot(np.linspace(0, 1, 50), direction="up")


def test_strategy_plot_ranks_with_intervals():
    t = pd.DataFrame({"strategy": ["Reminders", "Outreach", "Audit"], "mean": [0.05, 0.35, 0.2],
                      "eti_lb": [-0.2, 0.1, 0.05], "eti_ub": [0.3, 0.6, 0.35], "prob_best": [0.05, 0.7, 0.25]})
    fig = strategy_plot(t, mid=0.1)
    texts = [tx.get_text() for ax in fig.axes for tx in ax.texts]
    assert texts.index("1. Outreach") < texts.index("2. Audit") < texts.index("3. Reminders")
    assert "70%" in texts and "Chance best" in texts
    assert alt_text(fig) == ("Strategies ranked by estimated effect: Outreach ranks first with 0.35 (0.10 to 0.60); "
                             "the intervals of 2 of the other 2 strategies overlap with it.")
    low = strategy_plot(t.set_index("strategy"), higher_is_better=False)
    assert "Reminders ranks first" in alt_text(low)


def test_moderator_plot_rows_and_subgroups():
    t = pd.DataFrame({"moderator": ["dose", "setting"], "label": ["Dose", "Setting"], "term": ["dose", "school"],
                      "estimate": [0.05, -0.3], "ci_lb": [0.01, -0.6], "ci_ub": [0.09, 0.1], "k": [10, 10]})
    fig = moderator_plot(t)
    texts = [tx.get_text() for ax in fig.axes for tx in ax.texts]
    assert "Dose (per unit)" in texts and "Setting: school" in texts
    assert alt_text(fig).endswith("intervals excluding no difference: Dose (per unit).")
    sub = pd.DataFrame({"k": [4, 6], "estimate": [0.1, 0.3], "ci_lb": [-0.1, 0.1], "ci_ub": [0.3, 0.5]},
                       index=pd.Index(["primary", "secondary"], name="phase"))
    texts = [tx.get_text() for ax in moderator_plot(sub).axes for tx in ax.texts]
    assert "primary (k = 4)" in texts
    with pytest.raises(DataError):
        moderator_plot(t.assign(estimate=np.nan))


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


@pytest.mark.parametrize("direction", ["higher_is_better", "lower_is_better"])
def test_forest_favours_labels_follow_the_direction(direction):
    fig = forest_plot(_result(), favours=("Practice facilitation", "Usual care, without a facilitator"),
                      direction=direction)
    ax = fig.axes[1]
    labels = {a.get_text(): a for a in ax.texts if "Favours" in a.get_text()}
    left, right = (("← Favours usual care", "Favours practice facilitation →") if direction == "higher_is_better"
                   else ("← Favours practice facilitation", "Favours usual care →"))
    assert set(labels) == {left, right}
    assert labels[left].get_ha() == "right" and labels[right].get_ha() == "left"   # either side of no effect
    better = "practice facilitation" if direction == "higher_is_better" else "usual care"
    assert f"(95% CI 0.05 to 0.49), favouring {better}; in a new setting" in alt_text(fig)   # the CI excludes 0
    assert not any("Favours" in t for t in _texts(forest_plot(_result())))   # no labels without names


@pytest.mark.parametrize(("method", "label"), [("EE", "Common-effect model"), ("FE", "Common-effect model"),
                                               ("MH", "Common-effect model (Mantel-Haenszel)"),
                                               ("DL", "Random-effects model (DL)")])
def test_forest_model_label_matches_the_model(method, label):
    assert label in _texts(forest_plot(_result(method=method)))


def test_every_interval_names_the_level_in_use():
    texts = _texts(forest_plot(_result(level=0.9)))
    assert "Estimate [90% CI]" in texts and "90% prediction interval" in texts
    assert not any("95%" in t for t in texts)
    assert "(90% CI" in alt_text(forest_plot(_result(level=0.9)))
    t = pd.DataFrame({"strategy": ["A", "B"], "estimate": [0.1, 0.3], "ci_lb": [-0.1, 0.1], "ci_ub": [0.3, 0.5]})
    assert strategy_plot(t, level=0.8).axes[1].get_xlabel() == "Effect\n(bars: 80% credible intervals)"
    assert moderator_plot(t.rename(columns={"strategy": "label"}), level=0.9).axes[1].get_xlabel() == \
        "Difference in effect\n(bars: 90% confidence intervals)"


@pytest.mark.parametrize(("higher_is_better", "side"), [(True, 0.1), (False, -0.1)])
def test_mid_line_on_the_side_that_matters(higher_is_better, side):
    t = pd.DataFrame({"strategy": ["A", "B"], "estimate": [0.1, -0.3], "ci_lb": [-0.1, -0.5],
                      "ci_ub": [0.3, -0.1]})
    ax = strategy_plot(t, mid=0.1, higher_is_better=higher_is_better).axes[1]
    mid_lines = [line.get_xdata()[0] for line in ax.get_lines() if line.get_linestyle() == ":"]
    assert mid_lines == [pytest.approx(side)]


def test_figure_to_html_embeds_png_with_escaped_alt():
    fig = forest_plot(_result())
    out = figure_to_html(fig, alt='Effect "big" & <b>bold</b>', caption="Figure 1 <i>", fmt="png")
    soup = BeautifulSoup(out, "html.parser")
    img = soup.find("img")
    assert img["alt"] == 'Effect "big" & <b>bold</b>'          # round-trips as text
    assert "<b>" not in out.split('alt="')[1].split('"')[0]
    assert soup.find("figcaption").text == "Figure 1 <i>" and soup.find("i") is None
    _png(out)
    width = round(fig.get_size_inches()[0] * 96)                   # natural size in CSS pixels
    assert img["width"] == str(width) and f"max-width:{width}px" in soup.find("figure")["style"]
    assert not re.search(r"(src|href)=\"https?://", out)
    # default alt text is the figure's own; no caption -> no figcaption
    default = figure_to_html(fig, fmt="png")
    assert BeautifulSoup(default, "html.parser").find("img")["alt"] == alt_text(fig)
    assert "<figcaption>" not in default


def test_figure_to_html_inline_svg_keeps_text_and_unique_ids():
    fig = forest_plot(_result(), favours=("tutoring", "usual teaching"))
    out = figure_to_html(fig, alt='Effect "big" & <b>bold</b>')
    soup = BeautifulSoup(out, "html.parser")
    holder = soup.find(attrs={"role": "img"})
    assert holder["aria-label"] == 'Effect "big" & <b>bold</b>' and holder.find("svg") is not None
    texts = [t.get_text() for t in soup.find_all("text")]
    assert "<script>alert(1)</script>" in texts and soup.find("script") is None   # text as escaped text
    assert "Favours tutoring →" in texts and "← Favours usual teaching" in texts
    assert "<?xml" not in out and "<metadata" not in out and "http://www.w3.org/1999/02/22-rdf" not in out
    ids = [tag["id"] for tag in soup.find_all(id=True)]
    assert ids and len(ids) == len(set(ids))
    prefix = ids[0].split("-")[0] + "-"
    assert all(i.startswith(prefix) for i in ids)
    other = BeautifulSoup(figure_to_html(funnel_plot(YI, VI)), "html.parser")
    assert not {tag["id"] for tag in other.find_all(id=True)} & set(ids)   # two figures, no shared id
    # never narrower than the width that keeps the smallest text (10 pt) at 11 px
    body = soup.find(class_="syn-figure-body")
    assert body["style"] == f"min-width:{int(np.ceil(fig.get_size_inches()[0] * 72 * 1.1))}px"
    again = forest_plot(_result(), favours=("tutoring", "usual teaching"))
    assert figure_to_html(again, alt='Effect "big" & <b>bold</b>') == out          # deterministic


def test_figure_to_html_requires_alt_and_dpi_scales():
    with pytest.raises(DataError, match="alt text"):
        figure_to_html(Figure())
    fig = funnel_plot(YI, VI)
    small = int.from_bytes(_png(figure_to_html(fig, dpi=50, fmt="png"))[16:20], "big")
    large = int.from_bytes(_png(figure_to_html(fig, dpi=100, fmt="png"))[16:20], "big")
    assert large == pytest.approx(2 * small, abs=2)
    with pytest.raises(DataError, match="fmt"):
        figure_to_html(fig, fmt="gif")


def test_palette_is_okabe_ito():
    assert OKABE_ITO["blue"] == "#0072B2" and OKABE_ITO["vermillion"] == "#D55E00" and len(OKABE_ITO) == 8
    fig = forest_plot(_result())
    colours = {tuple(np.round(c, 3)) for c in fig.axes[1].collections[1].get_facecolors()}
    assert colours == {(0.0, 0.447, 0.698, 1.0)}               # #0072B2
    buf = io.BytesIO()
    fig.savefig(buf, format="svg")                                 # vector output works too
    assert b"<svg" in buf.getvalue()[:400]
