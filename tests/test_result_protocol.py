"""Every result object of the frequentist engine follows one protocol (synthesis.results).

``summary()`` and ``to_frame()`` are tidy DataFrames, ``to_dict()`` is JSON-able
(``allow_nan=False``), the ``repr`` is a title line followed by the key numbers, and
``_repr_html_`` escapes untrusted text. Pooled and regression results share metafor's
vocabulary (``QE, QEp, QM, QMp, zval, tval``); the older names are read-only aliases.
"""
from __future__ import annotations

import importlib
import json
import pkgutil
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

import synthesis
from synthesis import (BeggResult, EggerResult, InfluenceResult, LeaveOneOutResult, MetaRegressionResult,
                       MetaResult, SubgroupResult, TrimFillResult, begg_test, egger_test, influence,
                       leave_one_out, meta_analysis, meta_regression, subgroup_analysis, trim_and_fill)
from synthesis.meta.pooled import StatisticAliases
from synthesis.results import Result

BCG = pd.read_csv(Path(__file__).parent / "data" / "metafor" / "bcg_vaccine.csv")
BCG["study"] = BCG["author"] + " (" + BCG["year"].astype(str) + ")"
KONSTANTOPOULOS = pd.read_csv(Path(__file__).parent / "data" / "metafor" / "konstantopoulos2011_three_level.csv")


def pooled(**kwargs):
    return meta_analysis(BCG, labels="study", **kwargs)


def regression(**kwargs):
    return meta_regression(BCG, "ablat", labels="study", **kwargs)


def quiet(func, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return func(*args, **kwargs)


def subgroups():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return subgroup_analysis(BCG, "alloc")


CASES = {
    "MetaResult REML": pooled,
    "MetaResult EE (no prediction interval)": lambda: pooled(method="EE"),
    "MetaResult knha": lambda: pooled(test="knha"),
    "MetaRegressionResult": regression,
    "MetaRegressionResult knha": lambda: regression(test="knha"),
    "SubgroupResult": subgroups,
    "EggerResult rma": lambda: egger_test(pooled()),
    "EggerResult lm": lambda: egger_test(pooled(), "lm"),
    "BeggResult": lambda: begg_test(pooled()),
    "TrimFillResult": lambda: trim_and_fill(pooled()),
    "LeaveOneOutResult": lambda: leave_one_out(pooled()),
    "InfluenceResult": lambda: influence(pooled()),
    "InfluenceResult (regression)": lambda: influence(regression()),
    "MantelHaenszelResult": lambda: synthesis.mantel_haenszel(BCG, "OR", ai="tpos", bi="tneg", ci="cpos",
                                                              di="cneg", labels="study"),
    "MantelHaenszelResult (Peto)": lambda: synthesis.peto(BCG, ai="tpos", bi="tneg", ci="cpos", di="cneg",
                                                          labels="study"),
    "PredictionResult": lambda: pooled().predict(transf=np.exp),
    "PredictionResult (regression)": lambda: regression().predict({"ablat": [10, 50]}),
    "CumulativeResult": lambda: synthesis.cumulative(pooled(), order=BCG["year"]),
    "SelectionModelResult": lambda: quiet(synthesis.selection_model, pooled(method="ML")),  # delta near 0: warns
    "PetPeeseResult": lambda: synthesis.pet_peese(pooled()),
    "MultilevelResult": lambda: synthesis.multilevel_meta_analysis(KONSTANTOPOULOS, study="district"),
    "MultiverseResult": lambda: synthesis.meta.multiverse_analysis({"logRR": (BCG["yi"], BCG["vi"])},
                                                                   methods=("DL", "REML")),
}
CLASSES = (MetaResult, MetaRegressionResult, SubgroupResult, EggerResult, BeggResult, TrimFillResult,
           LeaveOneOutResult, InfluenceResult)


@pytest.fixture(scope="module", params=list(CASES), ids=list(CASES))
def result(request):
    return CASES[request.param]()


def test_every_engine_result_class_is_covered():
    """Every public result class of the engine has a case here (the list is read from the package)."""
    public = {getattr(synthesis.meta, name) for name in synthesis.meta.__all__ if name.endswith("Result")}
    assert {type(make()) for make in CASES.values()} == public
    assert set(CLASSES) <= public
    assert all(issubclass(cls, Result) for cls in CLASSES)


def test_summary_and_frame_are_tidy_frames(result):
    for table in (result.summary(), result.to_frame()):
        assert isinstance(table, pd.DataFrame) and not table.empty
        assert table.columns.is_unique and table.index.is_unique


def test_to_dict_is_json(result):
    out = result.to_dict()
    assert isinstance(out, dict) and out
    assert json.loads(json.dumps(out, allow_nan=False)) == out


def test_repr_is_title_then_key_numbers(result):
    lines = repr(result).splitlines()
    assert lines[0] == result.title() and len(lines) > 1
    assert str(result) == repr(result)


def test_repr_html(result):
    html = result._repr_html_()
    assert html.startswith("<p><strong>") and "<table" in html


def test_html_escapes_untrusted_text():
    data = BCG.assign(study=["<script>x</script>"] + BCG["study"].tolist()[1:],
                      **{"<b>arm</b>": BCG["alloc"]})
    fit = meta_analysis(data, labels="study")
    for res in (influence(fit), leave_one_out(fit), subgroup_analysis(data, "<b>arm</b>")):
        html = res._repr_html_()
        assert "<script>" not in html and "<b>arm" not in html


# ---------------------------------------------------------------- one vocabulary
def test_pooled_uses_QE_and_keeps_Q_aliases():
    fit = pooled()
    out, table = fit.to_dict(), fit.summary()
    assert {"QE", "QEp", "zval"} <= set(out) and not {"Q", "Q_pval", "tval"} & set(out)
    assert {"QE", "QEp"} <= set(table.index) and "Q" not in table.index
    assert "QE(df = 12)" in repr(fit)
    assert (fit.Q, fit.Q_pval) == (fit.QE, fit.QEp) == (out["QE"], out["QEp"])
    with pytest.raises(AttributeError):
        fit.Q = 1.0


def test_regression_uses_QE_QM_and_keeps_Q_aliases():
    fit = regression(test="knha")
    out = fit.to_dict()
    assert {"QE", "QEp", "QM", "QMp"} <= set(out) and not {"Q", "Q_pval"} & set(out)
    assert (fit.Q, fit.Q_pval) == (fit.QE, fit.QEp)
    assert "tval" in fit.summary().columns and "zval" not in fit.summary().columns
    assert "QE(df = 11)" in repr(fit) and "F(1, 11)" in repr(fit)


def test_subgroup_test_is_QM_with_the_old_names_as_aliases():
    res = subgroups()
    out = res.to_dict()
    assert {"QM", "QMp", "QM_df"} <= set(out) and "Q_between" not in out
    assert (res.Q_between, res.pval_between, res.df_between) == (res.QM, res.QMp, 2)
    assert "QM(df = 2)" in res.title()  # alloc: alternate, random, systematic
    with pytest.raises(AttributeError):
        res.pval_between = 0.5


def test_one_statistic_alias_mixin():
    assert all(cls.zval is StatisticAliases.zval and cls.tval is StatisticAliases.tval
               for cls in (MetaResult, MetaRegressionResult, EggerResult))
    knha, classic = pooled(test="knha"), egger_test(pooled(), "lm")
    assert "tval" in knha.to_dict() and "tval" in classic.to_dict() and "stat" not in classic.to_dict()
    assert "zval" in egger_test(pooled()).to_dict()
    assert classic.tval == classic.zval == classic.stat


# ---------------------------------------------------------------- case deletion
def test_leave_one_out_frame_and_summary():
    fit = pooled()
    loo = leave_one_out(fit)
    frame = loo.to_frame()
    assert list(frame.columns) == ["estimate", "se", "zval", "pval", "ci_lb", "ci_ub", "Q", "Q_pval",
                                   "tau2", "I2", "H2"]
    assert frame.index.name == "left_out" and list(frame.index) == list(fit.labels)
    frame.loc[:, "estimate"] = 0.0  # a copy: the result is not changed through it
    assert loo.to_frame()["estimate"].ne(0).all()
    pd.testing.assert_series_equal(loo["tau2"], loo.to_frame()["tau2"])  # as the old DataFrame
    assert len(loo) == fit.k
    row = loo.summary().loc["estimate"]
    assert row["full"] == fit.estimate
    assert row["min"] == loo["estimate"].min() and row["max"] == loo["estimate"].max()
    assert row["left_out_min"] == loo["estimate"].idxmin()
    assert "tval" in leave_one_out(pooled(test="knha")).to_frame().columns


def test_influence_frame_and_summary_put_flagged_studies_first():
    fit = pooled()
    res = influence(fit)
    frame = res.to_frame()
    assert list(frame.columns) == ["rstudent", "dffits", "cooks_d", "cov_r", "tau2_del", "QE_del", "dfbetas",
                                   "hat", "weight", "is_influential"]
    assert frame.index.name == "study" and list(frame.index) == list(fit.labels)
    flagged = frame.index[frame["is_influential"]].tolist()
    assert res.influential == flagged
    top = res.summary().head(len(flagged))
    assert top["is_influential"].all() and sorted(top.index) == sorted(flagged)
    assert res.to_dict()["influential"] == flagged
    assert len(res.to_dict()["studies"]) == fit.k


def test_trim_and_fill_summary_compares_observed_and_filled():
    fit = pooled()
    res = trim_and_fill(fit)
    table = res.summary()
    assert table.loc["observed", "estimate"] == fit.estimate
    assert table.loc["filled", "k"] == fit.k + res.k0


# ---------------------------------------------------------------- the package's names
def test_no_public_function_is_shadowed_by_a_submodule():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for info in pkgutil.walk_packages(synthesis.__path__, "synthesis."):
            importlib.import_module(info.name)
    packages = [synthesis] + [importlib.import_module(info.name)
                              for info in pkgutil.walk_packages(synthesis.__path__, "synthesis.")
                              if info.ispkg]
    for package in packages:
        for name in package.__all__:
            value = getattr(package, name)
            assert not isinstance(value, ModuleType), f"{package.__name__}.{name} is a module"
        # a submodule named like a public function shadows it whenever the import order changes
        submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
        assert not submodules & set(package.__all__), f"{package.__name__}: {submodules & set(package.__all__)}"
    for name in ("meta_analysis", "meta_regression", "subgroup_analysis", "egger_test", "begg_test",
                 "trim_and_fill", "leave_one_out", "influence", "effect_sizes", "aggregate_effects"):
        assert callable(getattr(synthesis, name)) and name in synthesis.__all__
    assert all(getattr(synthesis, cls.__name__) is cls for cls in CLASSES)
    assert np.isfinite(synthesis.leave_one_out(pooled()).to_frame()["estimate"]).all()
