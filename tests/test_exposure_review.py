"""A harmful exposure through the real pipeline: spousal smoking and lung cancer in women.

The fixture ``tests/data/reviews/passive-smoking-lung-cancer`` is metadat's ``dat.hackshaw1998``
(Hackshaw, Law & Wald, BMJ 1997;315:980-988): log odds ratios, ``direction: lower_is_better``,
``question.kind: exposure``. The published page must speak of harm and risk (never "helps"),
name lung cancer and the women, and agree in number with its manifest.
"""
from __future__ import annotations

import io
import json
import math
import re
import shutil
from pathlib import Path

from bs4 import BeautifulSoup

from synthesis.numbers import interval, level_percent, number

REPO = Path(__file__).resolve().parents[1]
REVIEW = "passive-smoking-lung-cancer"


def test_harmful_exposure_page_speaks_of_harm(tmp_path):
    from synthesis.cli.run_commands import run_reviews

    shutil.copytree(REPO / "tests/data/reviews" / REVIEW, tmp_path / "reviews" / REVIEW)
    shutil.copytree(REPO / "notebooks", tmp_path / "notebooks")
    out = io.StringIO()
    code = run_reviews([REVIEW], tmp_path, [], jobs=1, force=False, out=out)
    assert code == 0, out.getvalue()
    v1 = tmp_path / "reports" / REVIEW / "v1"
    manifest = json.loads((v1 / "manifest.json").read_text())
    soup = BeautifulSoup((v1 / "report.html").read_text(), "html.parser")
    for tag in soup(["script", "style"]):
        tag.decompose()
    text = " ".join(soup.get_text(" ").split())
    headline = " ".join(soup.find(class_="syn-headline").get_text(" ").split())

    assert "lung cancer" in headline and "living with a husband who smokes" in headline.lower()
    assert not re.search(r"\b(helps?|improves?|improvement)\b", text, re.I), "harm worded as benefit"
    assert "Chance of any increase in the risk of lung cancer" in text
    assert re.search(r"\d+ in every 1,000 women would develop lung cancer instead of 10", headline)
    assert "affect lung cancer" not in text and "affects the risk of lung cancer" in manifest["answer"]
    # the odds ratio on the page is the manifest's, at the shown precision, and it is shown once in the headline
    h = manifest["headline"]
    effect = (f"odds ratio {number(h['estimate'], transform=math.exp)} ({level_percent(0.95)} CI "
              f"{interval(h['ci_lb'], h['ci_ub'], transform=math.exp)})")
    assert headline.count(effect) == 1, headline
    forest = next(fig["aria-label"] for fig in soup.select("[role=img]") if fig["aria-label"].startswith("Forest plot"))
    assert f"Pooled estimate {number(h['estimate'], transform=math.exp)} (95% CI " \
           f"{interval(h['ci_lb'], h['ci_ub'], transform=math.exp)})" in forest
    assert "Hackshaw AK, Law MR, Wald NJ" in text and "metadat" in text
    posterior = [f["aria-label"] for f in soup.select("[role=img]") if f["aria-label"].startswith("Posterior")]
    assert all("chance of any harm" in alt and "benefit" not in alt for alt in posterior), posterior
