"""Several effects per study in a review: ``analysis.dependence`` (che | multilevel | aggregate).

The shipped illustrative review (95 simulated effects in 48 studies) is analysed with
each option and compared with R: ``rma.mv(yi, V, random = ~ 1 | study_id/effect_id)``
with ``V = impute_covariance_matrix(vi, study_id, r = 0.6)`` (or ``vi``) and
``clubSandwich::coef_test(vcov = "CR2")``, and ``rma()`` on ``aggregate()``. The numbers
are in ``tests/data/analysis/implementation_strategies_dependence.json``, written by
``tests/r/dependence_reference.R``; with R installed the script is run again on the
review's data and its output compared too (slow-marked: ``pytest -m slow tests/test_dependence.py``).
"""
from __future__ import annotations

import json
import os
import subprocess
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest

from synthesis.analysis import frequentist_analysis, rate_and_answer
from synthesis.analysis.dependence import describe_model
from synthesis.analysis.moderators import labelled_levels
from synthesis.report.page import methods
from synthesis.review.loader import load_review, validate_review
from r_oracle import r_packages_available, require_r  # tests/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
REVIEW = "implementation-strategies-illustrative"
REFERENCE = ROOT / "tests" / "data" / "analysis" / "implementation_strategies_dependence.json"
SCRIPT = ROOT / "tests" / "r" / "dependence_reference.R"
RTOL = 1e-6  # REML converged tightly on both sides


@lru_cache(maxsize=None)
def analysed(dependence: str):
    review = load_review(REVIEW, ROOT, {"analysis.dependence": dependence})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = frequentist_analysis(review)
        rate_and_answer(analysis)
    return analysis


def close(ours, theirs) -> None:
    np.testing.assert_allclose(np.atleast_1d(np.asarray(ours, dtype=float)),
                               np.atleast_1d(np.asarray(theirs, dtype=float)), rtol=RTOL, atol=1e-9)


def check_review_against(reference: dict) -> None:
    for dependence in ("che", "multilevel"):
        a, ref = analysed(dependence), reference[dependence]
        head, pooled = a.headline(), ref["pooled"]
        for ours, theirs in (("estimate", "beta"), ("se", "se"), ("df", "df"), ("pval", "pval"), ("ci_lb", "ci_lb"),
                             ("ci_ub", "ci_ub"), ("pi_lb", "pi_lb"), ("pi_ub", "pi_ub"), ("I2", "I2")):
            close(head[ours], pooled[theirs])
        close([head["sigma2_study"], head["sigma2_effect"]], pooled["sigma2"])
        assert (head["k"], head["n_effects"], head["test"]) == (48, 95, "CR2")
        for name in ("scale", "setting"):
            rows, mod = a.moderators[a.moderators["moderator"] == name], ref["moderators"][name]
            for column, key in (("estimate", "beta"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("pval", "pval")):
                close(rows[column], np.asarray(mod[key])[1:])
            # the moderator's test: CR2 HTZ of its terms (clubSandwich::Wald_test)
            close(rows["QMp"].iloc[0], mod["HTZ"]["pval"])
            assert set(rows["k"]) == {48}
            # the page's effect at each level: predict() of the same robust working model
            effects = a.moderator_effects[a.moderator_effects["moderator"] == name].sort_values("pred")
            order = np.argsort(mod["predict"]["pred"])
            for column in ("pred", "ci_lb", "ci_ub"):
                close(effects[column], np.asarray(mod["predict"][column])[order])
            review = load_review(REVIEW, ROOT)
            data, _ = labelled_levels(review.data, [m.model_dump() for m in review.spec.moderators])
            assert effects["k"].tolist() == [data.loc[data[name].astype(str) == level, "study_id"].nunique()
                                             for level in effects["setting"]]
            assert sum(effects["k"]) == 48
        table, sub = a.subgroups.table, ref["subgroups"]
        for column, key in (("estimate", "beta"), ("se", "se"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"),
                            ("pval", "pval")):
            close(table[column], sub[key])
        htz = ref["moderators"]["scale"]["HTZ"]  # three levels: the CR2 HTZ test of ~ scale
        close([a.subgroups.QM, a.subgroups.QMp], [htz["F"], htz["pval"]])
        assert a.subgroups.QM_df[0] == 2 and np.isclose(a.subgroups.QM_df[1], htz["df_denom"], rtol=RTOL)
    head, agg = analysed("aggregate").headline(), reference["aggregate"]["pooled"]
    for ours, theirs in (("estimate", "beta"), ("se", "se"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"),
                         ("tau2", "tau2"), ("pi_lb", "pi_lb"), ("pi_ub", "pi_ub")):
        close(head[ours], agg[theirs])
    assert head["k"] == agg["k"] == 48 and head["model"] is None


def test_review_matches_rma_mv_and_club_sandwich_reference():
    check_review_against(json.loads(REFERENCE.read_text()))


@pytest.mark.slow  # about 40 s of R on a busy machine; the default suite checks the stored reference
@pytest.mark.skipif(not r_packages_available("metafor", "clubSandwich", "jsonlite") and not os.environ.get("CI"),
                    reason="Rscript with metafor and clubSandwich not installed")
def test_review_matches_rma_mv_live(tmp_path):
    require_r("metafor", "clubSandwich", "jsonlite")
    out = tmp_path / "reference.json"
    run = subprocess.run(["Rscript", str(SCRIPT), str(ROOT / "reviews" / REVIEW / "studies.csv"), str(out)],
                         capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr[-2000:]
    live = json.loads(out.read_text())
    check_review_against(live)
    stored = json.loads(REFERENCE.read_text())
    close(live["che"]["pooled"]["beta"], stored["che"]["pooled"]["beta"])


def test_the_three_options_are_different_models():
    che, multilevel, aggregate = (analysed(d) for d in ("che", "multilevel", "aggregate"))
    assert che.dependent.structure == "che" and che.dependent.rho == 0.6
    assert multilevel.dependent.structure == "multilevel" and aggregate.dependent is None
    estimates = [a.headline()["estimate"] for a in (che, multilevel, aggregate)]
    assert len({round(e, 6) for e in estimates}) == 3
    assert che.headline()["model"] == describe_model(che.dependent)
    assert che.headline()["model"].startswith("correlated and hierarchical effects (CHE), rho 0.6")
    # what assumes one independent effect per study runs on the 48 studies' combined effects
    assert che.meta.k == multilevel.meta.k == aggregate.meta.k == 48
    assert che.egger is not None and "combined into one" in " ".join(che.notes)
    # the three-level model's sampling errors are independent: its study-level data are combined at rho 0
    assert multilevel.meta.estimate != che.meta.estimate


def test_default_is_che_and_rho_moves_the_model():
    default = analysed("che")
    review = load_review(REVIEW, ROOT)
    assert review.spec.analysis.dependence == "che"
    lower = load_review(REVIEW, ROOT, {"analysis.rho": 0.2})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = frequentist_analysis(lower).dependent
    assert fit.rho == 0.2 and fit.estimate != default.dependent.estimate


def test_certainty_counts_studies_and_methods_name_the_model():
    a = analysed("che")
    assert a.certainty is not None and a.headline()["k"] == 48
    text = str(methods(a))
    assert "95 effect sizes from 48 studies" in text and "CR2 cluster-robust" in text
    assert "correlate 0.6" in text


@pytest.mark.parametrize("setting", [{"analysis.dependence": "che"},
                                     {"analysis.dependence": "multilevel", "analysis.rho": 0.3}])
def test_one_effect_per_study_records_dependence_as_unused(setting):
    """validate and run agree: the setting is said to be unused, never silently ignored."""
    review = validate_review("practice-facilitation", ROOT, setting)
    said = [n for n in review.notes if "is not used" in n]
    assert len(said) == len(setting) and all("one effect size" in n for n in said)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        analysis = frequentist_analysis(review)
    from synthesis.analysis.review_analysis import unused_analysis_settings

    recorded = unused_analysis_settings(review)
    assert sorted(u["setting"] for u in recorded) == sorted(setting)
    plain = frequentist_analysis(load_review("practice-facilitation", ROOT))
    assert analysis.dependent is None and analysis.headline()["model"] is None
    assert analysis.headline()["estimate"] == plain.headline()["estimate"]


def test_rho_of_the_three_level_model_is_unused():
    review = validate_review(REVIEW, ROOT, {"analysis.dependence": "multilevel", "analysis.rho": 0.4})
    assert any("analysis.rho" in n and "three-level" in n for n in review.notes)


def test_rho_outside_zero_to_one_is_refused():
    from synthesis.errors import ReviewError

    with pytest.raises(ReviewError, match="rho"):
        load_review(REVIEW, ROOT, {"analysis.rho": 1.0})
