"""predict() on pooled and regression results (metafor's ``predict.rma``), issue 11 item 4.

Reference: ``tests/data/metafor/bcg_vaccine_predict.json``, made by
``tests/r/predict_reference.R`` with metafor 3.8 converged tightly (``threshold =
1e-12``), so every quantity is compared at rtol 1e-6.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthesis as sy
from synthesis.errors import DataError
from synthesis.meta.prediction import PredictionResult, predict

DATA = Path(__file__).parent / "data" / "metafor"
REFERENCE = json.loads((DATA / "bcg_vaccine_predict.json").read_text())
BCG = pd.read_csv(DATA / "bcg_vaccine.csv")
COLUMNS = ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub")


def compare(result: PredictionResult, expected: dict, what: str) -> None:
    frame = result.to_frame()
    for column in COLUMNS:
        values = expected.get(column)
        if values is None:  # metafor gives no prediction interval for an EE model
            assert frame[column].isna().all(), f"{what}: {column}"
            continue
        np.testing.assert_allclose(frame[column].to_numpy(), np.array(values, dtype=float),
                                   rtol=1e-6, atol=1e-12, err_msg=f"{what}: {column}")


def fit_case(key: str):
    parts = key.split("|")
    mods, method, test = parts[:3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if mods == "pooled":
            return sy.meta_analysis(BCG, method=method, test=test), parts[3:]
        moderators = mods.split("+")
        return sy.meta_regression(BCG, moderators, method=method, test=test), parts[3:]


@pytest.mark.parametrize("key", sorted(REFERENCE["predict"]))
def test_predict_matches_metafor_on_bcg(key):
    fit, options = fit_case(key)
    newmods = None
    if key.startswith("ablat+alloc") and "fitted" not in options:
        newmods = pd.DataFrame(REFERENCE["newmods"])
    elif key.startswith("ablat|"):
        newmods = np.array([10.0, 30.0, 50.0])
    result = fit.predict(newmods, transf=np.exp if "exp" in options else None,
                         level=90 if "level90" in options else None)
    compare(result, REFERENCE["predict"][key], key)


def test_newmods_by_name_equals_the_raw_matrix():
    fit = sy.meta_regression(BCG, ["ablat", "alloc"], method="REML")
    named = fit.predict({"ablat": [10, 30], "alloc": ["alternate", "systematic"]})
    raw = fit.predict([[10, 0, 0], [30, 0, 1]])
    pd.testing.assert_frame_equal(named.summary(), raw.summary())
    assert named.to_frame().columns.tolist() == ["ablat", "alloc", *COLUMNS]
    single = fit.predict({"ablat": 30, "alloc": "random"})
    assert len(single) == 1 and single.pred[0] == pytest.approx(named.pred[0] + 20 * fit.coef[1] + fit.coef[2])


def test_reference_level_and_numeric_levels():
    data = BCG.assign(era=np.where(BCG["year"] < 1960, 1, 2))
    fit = sy.meta_regression(data, ["era", "alloc"], categorical=["era"], reference={"alloc": "random"})
    assert fit.coef_names == ["intrcpt", "era[2]", "alloc[alternate]", "alloc[systematic]"]
    result = fit.predict(pd.DataFrame({"era": [1, "2"], "alloc": ["random", "random"]}))
    np.testing.assert_allclose(result.pred, [fit.coef[0], fit.coef[0] + fit.coef[1]])


def test_fitted_values_are_indexed_by_study():
    fit = sy.meta_regression(BCG, ["ablat"], labels="author")
    frame = fit.predict().to_frame()
    assert frame.index.name == "study" and frame.index[0] == "Aronson" and len(frame) == 13


def test_pooled_prediction_is_the_model_and_pi_can_be_left_out():
    fit = sy.meta_analysis(BCG, method="REML", test="knha")
    row = fit.predict().to_frame().iloc[0]
    assert row["pred"] == fit.estimate and row["ci_lb"] == pytest.approx(fit.ci_lb)
    assert (row["pi_lb"], row["pi_ub"]) == pytest.approx((fit.pi_lb, fit.pi_ub))
    assert fit.predict(pi=False).to_frame()[["pi_lb", "pi_ub"]].isna().all(axis=None)
    assert sy.predict(fit, transf=np.exp).to_frame()["se"].isna().all()


def test_decreasing_transformation_keeps_bounds_in_order():
    fit = sy.meta_analysis(BCG, method="DL")
    frame = fit.predict(transf=lambda x: -x).to_frame().iloc[0]
    assert frame["ci_lb"] == pytest.approx(-fit.ci_ub) and frame["pi_lb"] == pytest.approx(-fit.pi_ub)


def test_result_protocol():
    fit = sy.meta_regression(BCG, ["ablat"], test="knha")
    result = fit.predict({"ablat": [20, 40]}, transf=np.exp)
    out = result.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["df"] == 11 and out["transformed"] and len(out["predictions"]) == 2
    assert out["predictions"][0]["se"] is None
    assert repr(result).startswith("Predicted effects (REML, knha, back-transformed): 95% CI and prediction")
    assert list(result.summary().columns) == list(COLUMNS)


@pytest.mark.parametrize("newmods, message", [
    ({"ablat": [10]}, "no value for 'alloc'"),
    ({"ablat": [10], "alloc": ["random"], "year": [1990]}, "'year' not in the model"),
    ({"ablat": [10], "alloc": ["randomised"]}, "has no level 'randomised'; its levels are alternate, random"),
    ({"ablat": [None], "alloc": ["random"]}, "'ablat' has a missing value"),
    ([[10, 1]], "newmods has 2 column(s) but the model has 3"),
    ([["a", "b", "c"]], "must hold numbers"),
])
def test_newmods_mistakes_give_one_line(newmods, message):
    fit = sy.meta_regression(BCG, ["ablat", "alloc"])
    with pytest.raises(DataError) as error:
        fit.predict(newmods)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_newmods_on_a_pooled_model_is_refused():
    with pytest.raises(DataError, match="without moderators"):
        predict(sy.meta_analysis(BCG), {"ablat": [10]})
