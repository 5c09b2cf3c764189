"""Cumulative meta-analysis (metafor's ``cumul.rma.uni``), issue 11 item 5.

Reference: ``tests/data/metafor/bcg_vaccine_predict.json`` (``cumul``), made by
``tests/r/predict_reference.R`` with metafor 3.8 converged tightly, compared at rtol 1e-6.
"""
from __future__ import annotations

import importlib
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthesis as sy
from synthesis.errors import DataError
from synthesis.meta import core
from synthesis.meta.cumulative_analysis import cumulative

DATA = Path(__file__).parent / "data" / "metafor"
REFERENCE = json.loads((DATA / "bcg_vaccine_predict.json").read_text())["cumul"]
BCG = pd.read_csv(DATA / "bcg_vaccine.csv")
#: metafor's cumul column -> ours
NAMES = {"estimate": "estimate", "se": "se", "zval": "zval", "tval": "tval", "pvals": "pval", "ci_lb": "ci_lb",
         "ci_ub": "ci_ub", "Q": "QE", "Qp": "QEp", "tau2": "tau2", "I2": "I2", "H2": "H2"}


def fit(method: str, test: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sy.meta_analysis(BCG, labels="author", method=method, test=test)


@pytest.mark.parametrize("key", sorted(REFERENCE))
def test_cumul_matches_metafor_on_bcg(key):
    method, test, column, *options = key.split("|")
    result = cumulative(fit(method, test), order=column, data=BCG, transf=np.exp if "exp" in options else None)
    expected = REFERENCE[key]
    np.testing.assert_array_equal(result.order, expected["order"])
    frame = result.to_frame()
    assert frame.index.tolist() == BCG["author"].to_numpy()[result.order].tolist()
    # at the boundary metafor's Fisher scoring halves its steps until one is below threshold and
    # stops at tau2 ~ 1e-13 instead of 0 (I2 ~ 1e-10 %); tests/test_metafor_live.py argues it
    boundary = (frame["tau2"].to_numpy() == 0) & (np.array(expected.get("tau2", [0.0] * len(frame)),
                                                           dtype=float) < 1e-10)
    for theirs, ours in NAMES.items():
        if theirs in expected:
            atol = np.where(boundary, 1e-8, 1e-12) if ours in ("I2", "H2") else 1e-12
            np.testing.assert_allclose(frame[ours].to_numpy(), np.array(expected[theirs], dtype=float),
                                       rtol=1e-6, atol=np.max(atol) if np.ndim(atol) else atol,
                                       err_msg=f"{key}: {ours}")


@pytest.mark.parametrize("method", core.METHODS)
def test_each_step_is_the_fit_on_the_first_studies(method):
    rng = np.random.default_rng(7)
    y, v = rng.normal(0.3, 0.4, 12), rng.uniform(0.01, 0.2, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = cumulative(sy.meta_analysis(y, v, method=method, test="knha")).to_frame()
        for i in (2, 5, 12):
            step = sy.meta_analysis(y[:i], v[:i], method=method, test="knha")
            row = frame.iloc[i - 1]
            assert row["k"] == i
            for ours, theirs in (("estimate", "estimate"), ("se", "se"), ("tval", "stat"), ("pval", "pval"),
                                 ("ci_lb", "ci_lb"), ("QE", "QE"), ("QEp", "QEp"), ("tau2", "tau2"),
                                 ("I2", "I2"), ("H2", "H2")):
                assert row[ours] == pytest.approx(getattr(step, theirs), rel=1e-9, abs=1e-12), (method, i, ours)


def test_order_by_a_sequence_with_dropped_rows_and_blocks(monkeypatch):
    data = BCG.assign(yi=BCG["yi"].where(BCG.index != 3))  # one row dropped by meta_analysis
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = sy.meta_analysis(data, method="REML")
    by_name = cumulative(model, order="year", data=data)
    by_values = cumulative(model, order=data["year"].to_numpy())
    pd.testing.assert_frame_equal(by_name.to_frame(), by_values.to_frame())
    assert len(by_name) == 12
    # the function shadows its module's name in synthesis.meta: patch the module itself
    monkeypatch.setattr(importlib.import_module("synthesis.meta.cumulative_analysis"), "BLOCK_CELLS", 30)  # a few rows per block
    pd.testing.assert_frame_equal(cumulative(model, order="year", data=data).to_frame(), by_name.to_frame())


def test_default_order_fixed_tau2_and_protocol():
    model = sy.meta_analysis(BCG, method="REML", tau2=0.1)
    result = cumulative(model)
    assert (result["tau2"] == 0.1).all() and result.order.tolist() == list(range(13))
    out = result.to_dict()
    json.dumps(out, allow_nan=False)
    assert out["k"] == 13 and len(out["studies"]) == 13 and out["final"]["estimate"] == result["estimate"].iloc[-1]
    assert repr(result).startswith("Cumulative meta-analysis (REML), k = 13: estimate from")
    assert result.summary().columns.tolist() == ["k", "estimate", "ci_lb", "ci_ub", "pval", "tau2", "I2"]


@pytest.mark.parametrize("kwargs, message", [
    ({"order": "year"}, "pass the data"),
    ({"order": "yaer", "data": BCG}, "column 'yaer'"),
    ({"order": [1, 2, 3]}, "order has 3 values but the model has 13 studies"),
])
def test_mistakes_give_one_line(kwargs, message):
    with pytest.raises(DataError, match=message):
        cumulative(sy.meta_analysis(BCG), **kwargs)


def test_meta_regression_is_refused():
    with pytest.raises(DataError, match="meta-regression"):
        cumulative(sy.meta_regression(BCG, ["ablat"]))
