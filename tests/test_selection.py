"""Selection model and PET-PEESE against metafor 3.8 on published data (no R needed).

``tests/data/metafor/selection_reference.json`` holds what ``tests/r/selection.R`` computed
on the published data sets below (metafor's ``selmodel(type="stepfun")`` and R's ``lm``);
regenerate it with ``python tests/test_selection.py`` when R with metafor is installed.

Tolerances: 1e-6 (relative, or absolute near 0) for the estimates, tau², delta and the LRT,
which both sides reach once metafor's ``optim`` is run with ``reltol = 1e-15`` (BFGS and
Nelder-Mead, the better kept: the script's ``thorough`` mode); standard
errors 1e-4, because they are curvatures at metafor's optimum, which is still ~1e-7 away
from the exact one, and come from numDeriv's finite differences (ours differentiate the
analytic gradient). PET and PEESE are closed form: 1e-9.
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthesis import meta_analysis, meta_regression
from synthesis.meta.precision_effect import pet_peese
from synthesis.meta.selection import SelectionModelResult, selection_model

DATA = Path(__file__).parent / "data" / "metafor"
SCRIPT = Path(__file__).parent / "r" / "selection.R"
REFERENCE = DATA / "selection_reference.json"

#: name -> (data file, tau² method, alternative, steps, moderator column or None)
SETS = {
    "writing_REML": ("bangertdrowns2004_writing_to_learn", "REML", "greater", "0.025", None),
    "writing_EE": ("bangertdrowns2004_writing_to_learn", "EE", "greater", "0.025", None),
    "writing_two_steps": ("bangertdrowns2004_writing_to_learn", "REML", "greater", "0.025;0.5", None),
    "writing_two_sided": ("bangertdrowns2004_writing_to_learn", "ML", "two.sided", "0.05", None),
    "cbt_REML": ("landenberger2005_cbt_offenders", "REML", "greater", "0.025", None),
    "facilitation_DL": ("baskerville2012_practice_facilitation", "DL", "greater", "0.025", None),
    "bcg_less": ("bcg_vaccine", "REML", "less", "0.025", None),
    "bcg_less_ablat": ("bcg_vaccine", "REML", "less", "0.025", "ablat"),
}


def batch_frame(sets: dict[str, tuple[pd.DataFrame, str, str, str, bool]]) -> pd.DataFrame:
    """The input of ``tests/r/selection.R``: one row per study of every set."""
    parts = []
    for name, (frame, method, alternative, steps, mods) in sets.items():
        part = pd.DataFrame({"set": name, "method": method, "alternative": alternative, "steps": steps,
                             "moderated": int(mods), "yi": frame["yi"].to_numpy(), "vi": frame["vi"].to_numpy(),
                             "x": frame["x"].to_numpy() if mods else np.nan})
        parts.append(part)
    return pd.concat(parts, ignore_index=True)


def run_r(frame: pd.DataFrame, thorough: bool = False) -> dict[str, dict[str, list[float]]]:
    """Run the R script on a batch; ``{set: {quantity: [values]}}`` (``thorough``: two optimisers)."""
    with tempfile.TemporaryDirectory() as tmp:
        src, dst = Path(tmp) / "in.csv", Path(tmp) / "out.csv"
        frame.to_csv(src, index=False)
        command = ["Rscript", str(SCRIPT), str(src), str(dst)] + (["thorough"] if thorough else [])
        run = subprocess.run(command, capture_output=True, text=True)
        if run.returncode != 0:
            raise RuntimeError(run.stderr[-2000:])
        out = pd.read_csv(dst)
    result: dict[str, dict[str, list[float]]] = {}
    for (name, quantity), rows in out.groupby(["set", "quantity"], sort=False):
        values = rows.sort_values("index")["value"].astype(float)
        result.setdefault(str(name), {})[str(quantity)] = [None if np.isnan(x) else float(x) for x in values]
    return result


def published(name: str) -> tuple[pd.DataFrame, str, str, str, bool]:
    file, method, alternative, steps, moderator = SETS[name]
    frame = pd.read_csv(DATA / f"{file}.csv")
    if moderator:
        frame = frame.assign(x=frame[moderator])
    return frame, method, alternative, steps, moderator is not None


def regenerate() -> None:
    """Rewrite the reference JSON with R (``python tests/test_selection.py``)."""
    reference = run_r(batch_frame({name: published(name) for name in SETS}), thorough=True)
    REFERENCE.write_text(json.dumps({"metafor": "3.8-1", "script": "tests/r/selection.R thorough",
                                     "sets": reference},
                                    indent=1) + "\n")


def fit_for(frame: pd.DataFrame, method: str, mods: bool):
    if mods:
        return meta_regression(frame, "x", method=method)
    return meta_analysis(frame["yi"], frame["vi"], method=method)


def close(ours: float, theirs: float | None, tol: float) -> bool:
    if theirs is None:
        return ours is None or not np.isfinite(ours)
    return abs(ours - theirs) <= tol * max(1.0, abs(theirs))


@pytest.fixture(scope="module")
def reference() -> dict:
    return json.loads(REFERENCE.read_text())["sets"]


@pytest.mark.parametrize("name", sorted(SETS))
def test_selection_model_matches_metafor(name, reference):
    frame, method, alternative, steps, mods = published(name)
    expected = reference[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sel = selection_model(fit_for(frame, method, mods), steps=[float(s) for s in steps.split(";")],
                              alternative=alternative)
    assert isinstance(sel, SelectionModelResult)
    assert sel.ll >= expected["ll"][0] - 1e-8  # our maximum is at least metafor's
    checks = {"beta": (sel.coefficients["estimate"], 1e-6), "tau2": ([sel.tau2], 1e-6),
              "delta": (sel.delta, 1e-6), "LRT": ([sel.LRT], 1e-6), "LRTp": ([sel.LRTp], 1e-6),
              "ll0": ([sel.ll0], 1e-9), "se": (sel.coefficients["se"], 1e-4),
              "se.delta": (sel.se_delta, 1e-4), "ci.lb": (sel.coefficients["ci_lb"], 1e-4)}
    if method != "EE":
        checks["se.tau2"] = ([sel.se_tau2], 1e-4)
    for quantity, (ours, tol) in checks.items():
        for i, (a, b) in enumerate(zip(np.asarray(ours, dtype=float), expected[quantity])):
            assert close(a, b, tol), f"{name} {quantity}[{i}]: ours {a!r}, metafor {b!r}"


@pytest.mark.parametrize("name", ["writing_REML", "cbt_REML", "bcg_less"])
def test_pet_peese_matches_lm(name, reference):
    frame, method, *_ = published(name)
    expected = reference[name]
    result = pet_peese(meta_analysis(frame["yi"], frame["vi"], method=method))
    for reg, fitted in (("pet", result.pet), ("peese", result.peese)):
        assert close(fitted.estimate, expected[f"{reg}.estimate"][0], 1e-9)
        assert close(fitted.se, expected[f"{reg}.se"][0], 1e-9)
        assert close(fitted.pval, expected[f"{reg}.pval"][0], 1e-9)
        assert close(fitted.ci_lb, expected[f"{reg}.ci"][0], 1e-9)
        assert close(fitted.ci_ub, expected[f"{reg}.ci"][1], 1e-9)


def test_pet_peese_conditional_rule():
    """PEESE when PET's intercept is significant (one-sided 5%) in the direction of the effect."""
    rng = np.random.default_rng(3)
    v = rng.uniform(0.002, 0.05, 40)
    strong = meta_analysis(0.5 + rng.normal(0, np.sqrt(v)), v)
    assert pet_peese(strong).chosen == "PEESE"
    null = meta_analysis(1.5 * np.sqrt(v) + rng.normal(0, np.sqrt(v)), v)
    res = pet_peese(null)
    assert res.chosen == "PET" and res.pet_p_one_sided >= 0.05
    assert res.estimate == res.pet.estimate
    negative = meta_analysis(-0.5 + rng.normal(0, np.sqrt(v)), v)
    assert pet_peese(negative).chosen == "PEESE"  # the direction follows the pooled effect


def test_empty_interval_warns_and_returns_none():
    v = np.full(12, 0.01)
    fit = meta_analysis(np.linspace(0.5, 0.9, 12), v)  # every study significant
    with pytest.warns(UserWarning, match="no study has a p-value in 0.025 < p <= 1"):
        assert selection_model(fit) is None


def test_bad_arguments_and_too_few_studies():
    fit = meta_analysis([0.1, 0.5, 0.02], [0.01, 0.02, 0.03])
    with pytest.raises(ValueError, match="alternative"):
        selection_model(fit, alternative="up")
    with pytest.raises(ValueError, match="steps"):
        selection_model(fit, steps=(1.5,))
    with pytest.warns(UserWarning, match="k = 2"):
        two = meta_analysis([0.1, 0.5], [0.01, 0.02])
    with pytest.raises(ValueError, match="too few"):
        selection_model(two)


def test_result_protocol():
    frame, method, alternative, steps, mods = published("writing_REML")
    sel = selection_model(fit_for(frame, method, mods))
    out = sel.to_dict()
    json.dumps(out, allow_nan=False)
    for key in ("estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "tau2", "delta", "LRT", "LRTp", "k"):
        assert key in out
    assert sel.to_frame().shape[0] == 1
    assert "selection model" in repr(sel)
    assert sel.summary().loc["LRT", "value"] == pytest.approx(sel.LRT)
    pp = pet_peese(fit_for(frame, method, mods))
    json.dumps(pp.to_dict(), allow_nan=False)
    assert pp.to_frame().shape[0] == 1 and "PET-PEESE" in repr(pp)


if __name__ == "__main__":
    regenerate()
    sys.exit(0)
