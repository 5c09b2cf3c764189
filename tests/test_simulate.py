"""Simulated strategy data: reproducibility, structure, the generating model, the illustrative review."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthesis.errors import DataError
from synthesis.bayes.simulate import DEFAULT_CLASSES, simulate_strategy_data

ROOT = Path(__file__).resolve().parents[1]
ILLUSTRATIVE = ROOT / "reviews" / "implementation-strategies-illustrative"


def test_same_seed_same_data():
    a, truth_a = simulate_strategy_data(n_studies=15, seed=5)
    b, truth_b = simulate_strategy_data(n_studies=15, seed=5)
    c, _ = simulate_strategy_data(n_studies=15, seed=6)
    pd.testing.assert_frame_equal(a, b)
    assert truth_a == truth_b
    assert not a["yi"].equals(c["yi"])


def test_structure_and_truth():
    data, truth = simulate_strategy_data(n_studies=30, seed=1, continuous={"intensity": 0.1},
                                         multi_component_rate=0.5)
    assert data["simulated"].all()
    assert data["study_id"].nunique() == 30
    assert data.groupby("study_id").size().between(1, 3).all()
    class_of = {s: c for c, members in DEFAULT_CLASSES.items() for s in members}
    for _, row in data.iterrows():
        comps = row["components"].split(";")
        assert row["strategy"] in comps
        assert row["arm"] == " + ".join(comps)
        assert row["strategy_class"].split(";") == [class_of[c] for c in comps]
    assert (data["components"].str.contains(";")).any()
    assert set(truth["strategy_effect"]) == set(class_of)
    assert set(truth["beta"]) == {"scale[demonstration]", "scale[routine]", "setting[hospital]",
                                  "setting[long-term care]", "intensity"}
    # the SMD sampling variance, computed from the estimate as metafor does
    n1, n2, y = data["n_treatment"], data["n_control"], data["yi"]
    assert np.allclose(data["vi"], 1 / n1 + 1 / n2 + y ** 2 / (2 * (n1 + n2)), atol=2e-6)
    assert [m["name"] for m in truth["moderators"]] == ["scale", "setting", "intensity"]


def test_given_effects_are_used():
    effects = {"Reminders": 0.05, "Audit and feedback": 0.4}
    _, truth = simulate_strategy_data(n_studies=5, seed=2, strategy_effects=effects)
    assert truth["strategy_effect"]["Reminders"] == 0.05
    assert truth["strategy_effect"]["Audit and feedback"] == 0.4


def test_generator_means_match_truth():
    """With many large studies and no heterogeneity, effects average to the true values."""
    data, truth = simulate_strategy_data(
        n_studies=3000, seed=3, tau_study=0.0, tau_effect=0.0, multi_component_rate=0.0,
        arm_size=(2000, 4000), effects_per_study=(1, 1))
    reference = data[(data.scale == "research") & (data.setting == "primary care")]
    means = reference.groupby("strategy")["yi"].mean()
    for strategy, value in truth["strategy_effect"].items():
        assert means[strategy] == pytest.approx(value, abs=0.01)
    shift = (data[data.scale == "routine"]["yi"].mean() - data[data.scale == "research"]["yi"].mean())
    assert shift == pytest.approx(truth["beta"]["scale[routine]"], abs=0.02)


def test_components_add_up():
    data, truth = simulate_strategy_data(
        n_studies=2000, seed=4, tau_study=0.0, tau_effect=0.0, multi_component_rate=1.0,
        arm_size=(3000, 4000), effects_per_study=(2, 2), categorical={}, interaction=0.1)
    multi = data[data.components.str.contains(";")]
    expected = multi.components.map(lambda c: sum(truth["strategy_effect"][s] for s in c.split(";")))
    assert (multi.yi - expected).mean() == pytest.approx(0.1, abs=0.005)


def test_bad_settings_are_refused():
    with pytest.raises(DataError, match="effects_per_study"):
        simulate_strategy_data(effects_per_study=(3, 1))
    with pytest.raises(DataError, match="reference"):
        simulate_strategy_data(categorical={"scale": {"routine": -0.1, "research": 0.0}})
    with pytest.raises(DataError, match="level_probs"):
        simulate_strategy_data(level_probs={"scale": [0.5, 0.5]})
    with pytest.raises(DataError, match="n_studies"):
        simulate_strategy_data(n_studies=0)


# ---------------------------------------------------------------- the illustrative review
def load_script():
    spec = importlib.util.spec_from_file_location("make_illustrative_review",
                                                  ROOT / "scripts" / "make_illustrative_review.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_illustrative_review_is_generated_and_labelled_simulated():
    script = load_script()
    assert script.main(["--project-dir", str(ROOT), "--check"]) == 0  # files match the script
    data = pd.read_csv(ILLUSTRATIVE / "studies.csv")
    assert data["simulated"].all()
    assert 40 <= data["study_id"].nunique() <= 60 and 80 <= len(data) <= 120
    assert (data["components"].str.contains(";")).sum() >= 5
    assert set(data["scale"]) == {"research", "demonstration", "routine"}
    assert data["strategy_class"].str.split(";").explode().nunique() >= 4
    assert "SIMULATED" in (ILLUSTRATIVE / "README.md").read_text()
    import yaml

    spec = yaml.safe_load((ILLUSTRATIVE / "review.yaml").read_text())
    assert spec["title"].startswith("Illustrative (simulated):")
    assert spec["provenance"]["simulated"] is True


def test_calibration_of_the_illustrative_review():
    script = load_script()
    effects = script.true_effects()
    # pp -> SMD at a 50% baseline: logit difference times sqrt(3)/pi
    assert effects["Local opinion leaders"] == pytest.approx(np.log(0.6 / 0.4) * np.sqrt(3) / np.pi,
                                                             abs=1e-3)
    assert effects["Practice facilitation"] == 0.56
    assert effects["Reminders"] < effects["Audit and feedback"] < effects["Local opinion leaders"]
