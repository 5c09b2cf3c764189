"""Several effects per study: three-level and CHE models with CR2 inference.

The reference numbers are metafor 3.8's ``rma.mv(..., random = ~ 1 | study/effect)`` and
clubSandwich's ``coef_test(vcov = "CR2")`` on two published multi-effect data sets
(``tests/r/multilevel_reference.R`` wrote them; see ``tests/data/metafor/README.md``).

Tolerance: rtol 1e-6 throughout. metafor maximises the likelihood with nlminb (told
``rel.tol = 1e-12``) over log-variance components, so its sigma² agree with our Fisher
scoring (converged to 1e-10) to about 1e-9 relative here; everything else follows.
"""
from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import synthesis
from synthesis.errors import DataError
from synthesis.meta.multilevel import MultilevelResult, multilevel_meta_analysis
from synthesis.meta.multilevel_core import _batches, _profile
from synthesis.meta.robust import che_blocks, impute_covariance

DATA = Path(__file__).parent / "data" / "metafor"
RTOL = 1e-6

KONST = pd.read_csv(DATA / "konstantopoulos2011_three_level.csv")
ASSINK = pd.read_csv(DATA / "assink2016_che.csv")

# reference key -> (data, keyword arguments of multilevel_meta_analysis)
CASES = {
    ("konstantopoulos2011_three_level", "REML"): (KONST, {"study": "district", "effect": "school"}),
    ("konstantopoulos2011_three_level", "ML"): (KONST, {"study": "district", "effect": "school",
                                                        "method": "ML"}),
    ("konstantopoulos2011_three_level", "REML|year_c"): (KONST, {"study": "district", "effect": "school",
                                                                 "moderators": ["year_c"]}),
    ("assink2016_che", "che|REML"): (ASSINK, {"effect": "esid", "structure": "che", "rho": 0.6}),
    ("assink2016_che", "che|REML|deltype"): (ASSINK, {"effect": "esid", "structure": "che", "rho": 0.6,
                                                      "moderators": ["deltype"]}),
    ("assink2016_che", "multilevel|REML|year"): (ASSINK, {"effect": "esid", "moderators": ["year"]}),
}


def reference(name: str, key: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())[key]


def close(ours, theirs, what: str) -> None:
    np.testing.assert_allclose(np.atleast_1d(ours), np.atleast_1d(np.asarray(theirs, dtype=float)),
                               rtol=RTOL, atol=1e-12, err_msg=what)


@pytest.mark.parametrize("case", list(CASES), ids=["/".join(c) for c in CASES])
def test_model_based_numbers_equal_rma_mv(case):
    data, kwargs = CASES[case]
    ref = reference(*case)
    fit = multilevel_meta_analysis(data, robust=None, **kwargs)
    assert fit.converged and (fit.k, fit.n_studies) == (ref["k"], ref["n_studies"])
    assert len(fit.coef_names) == len(np.atleast_1d(ref["coef_names"]))
    for ours, theirs in (("sigma2", "sigma2"), ("coef", "beta"), ("se", "se"), ("stat", "zval"),
                         ("pval", "pval"), ("ci_lb", "ci_lb"), ("ci_ub", "ci_ub"), ("QE", "QE"),
                         ("QEp", "QEp"), ("ll", "logLik")):
        close(getattr(fit, ours), ref[theirs], ours)
    if fit.p > 1:
        close(fit.QM, ref["QM"], "QM")
        close(fit.QMp, ref["QMp"], "QMp")
    assert np.all(np.isinf(fit.df)) and fit.stat_name == "zval"


@pytest.mark.parametrize("case", list(CASES), ids=["/".join(c) for c in CASES])
def test_cr2_equals_clubsandwich_coef_test(case):
    data, kwargs = CASES[case]
    ref = reference(*case)["CR2"]
    fit = multilevel_meta_analysis(data, **kwargs)
    table = fit.to_frame()
    assert list(table.columns) == ["estimate", "se", "tval", "df", "pval", "ci_lb", "ci_ub"]
    for column in ("se", "tval", "df", "pval", "ci_lb", "ci_ub"):
        close(table[column].to_numpy(), ref[column], column)


PREDICTED = [case for case in CASES if "predict" in reference(*case)]


@pytest.mark.parametrize("robust", [None, "CR2"])
@pytest.mark.parametrize("case", PREDICTED, ids=["/".join(c) for c in PREDICTED])
def test_predict_equals_metafor_predict(case, robust):
    """``predict()`` of the rma.mv fit, and under CR2 of ``robust(fit, clubSandwich = TRUE)``
    (clubSandwich's linear_contrast: CR2 SE and a Satterthwaite df per prediction)."""
    data, kwargs = CASES[case]
    ref = reference(*case)["predict"]
    fit = multilevel_meta_analysis(data, robust=robust, **kwargs)
    newmods = np.asarray(ref["newmods"], dtype=float) if ref["newmods"] else None  # R NULL is {} in JSON
    table = fit.predict(newmods).table
    expected = ref["CR2" if robust else "model"]
    for column in ("pred", "se", "ci_lb", "ci_ub", "pi_lb", "pi_ub") + (("df",) if robust else ()):
        close(table[column].to_numpy(), expected[column], f"{column} ({robust or 'model-based'})")


def test_htz_equals_clubsandwich_wald_test():
    """CR2 HTZ test of the two deltype contrasts (clubSandwich::Wald_test(test = "HTZ"))."""
    data, kwargs = CASES[("assink2016_che", "che|REML|deltype")]
    ref = reference("assink2016_che", "che|REML|deltype")["HTZ"]
    htz = multilevel_meta_analysis(data, **kwargs).wald_htz()
    assert htz.df_num == ref["df_num"] == 2
    for ours, theirs in (("F", "F"), ("df_denom", "df_denom"), ("pval", "pval")):
        close(getattr(htz, ours), ref[theirs], ours)
    with pytest.raises(ValueError, match="needs a CR2 fit"):
        multilevel_meta_analysis(data, robust=None, **kwargs).wald_htz()


def test_htz_of_one_coefficient_is_the_squared_t_test():
    fit = multilevel_meta_analysis(KONST, **CASES[("konstantopoulos2011_three_level", "REML|year_c")][1])
    htz = fit.wald_htz()
    close(htz.F, fit.stat[1] ** 2, "F")
    close(htz.df_denom, fit.df[1], "df")
    close(htz.pval, fit.pval[1], "p")


def test_predict_by_level_name_equals_the_coded_rows():
    fit = multilevel_meta_analysis(ASSINK, **CASES[("assink2016_che", "che|REML|deltype")][1])
    levels = fit.coding["deltype"]
    named = fit.predict({"deltype": levels}).table
    coded = fit.predict(np.vstack([np.zeros(len(levels) - 1), np.eye(len(levels) - 1)])).table
    np.testing.assert_allclose(named.to_numpy(dtype=float), coded.to_numpy(dtype=float), rtol=1e-12)
    with pytest.raises(DataError, match="no level 'arson'"):
        fit.predict({"deltype": ["arson"]})
    with pytest.raises(DataError, match="predicts only its pooled effect"):
        multilevel_meta_analysis(ASSINK, effect="esid").predict({"deltype": ["overt"]})


def test_che_with_rho_zero_is_the_three_level_model():
    three = multilevel_meta_analysis(ASSINK, effect="esid")
    che = multilevel_meta_analysis(ASSINK, effect="esid", structure="che", rho=0.0)
    np.testing.assert_allclose(che.sigma2, three.sigma2, rtol=1e-12)
    np.testing.assert_allclose(che.se, three.se, rtol=1e-12)


def test_row_order_does_not_matter():
    shuffled = ASSINK.sample(frac=1.0, random_state=3)
    a = multilevel_meta_analysis(ASSINK, structure="che", moderators="deltype")
    b = multilevel_meta_analysis(shuffled, structure="che", moderators="deltype")
    np.testing.assert_allclose(b.coef, a.coef, rtol=1e-10)
    np.testing.assert_allclose(b.df, a.df, rtol=1e-8)


def test_impute_covariance_matches_the_che_blocks():
    blocks = impute_covariance(ASSINK["vi"], ASSINK["study"], rho=0.6)
    first = ASSINK.loc[ASSINK["study"] == 1, "vi"].to_numpy()
    np.testing.assert_allclose(blocks[1], che_blocks(first[None, :], 0.6)[0])
    assert blocks[1][0, 1] == pytest.approx(0.6 * np.sqrt(first[0] * first[1]))
    with pytest.raises(ValueError, match="rho"):
        impute_covariance([0.1], [1], rho=1.0)


def test_maximum_at_the_boundary_is_kept_at_zero():
    # effects within a study scatter less than their sampling error: sigma2 within is 0
    rng = np.random.default_rng(1)
    study = np.repeat(np.arange(30), 3)
    vi = np.full(90, 0.05)
    yi = np.repeat(rng.normal(0.3, 0.3, 30), 3) + rng.normal(0, 0.05, 90)
    data = pd.DataFrame({"study": study, "yi": yi, "vi": vi})
    fit = multilevel_meta_analysis(data, robust=None)
    assert fit.sigma2[1] == 0.0 and fit.sigma2[0] > 0
    batches = _batches(study, yi, np.ones((90, 1)), vi, 0.0)
    for nudge in ([0, 1e-6], [1e-6, 1e-6], [-1e-6, 1e-6]):
        assert _profile(batches, fit.sigma2 + nudge, reml=True).ll <= fit.ll


def test_result_protocol():
    fit = multilevel_meta_analysis(ASSINK, structure="che", moderators="deltype")
    assert isinstance(fit, MultilevelResult) and isinstance(fit, synthesis.Result)
    out = fit.to_dict()
    assert json.loads(json.dumps(out, allow_nan=False)) == out
    assert {"sigma2_study", "sigma2_effect", "QE", "QEp", "k", "n_studies", "ll"} <= set(out)
    lines = repr(fit).splitlines()
    assert lines[0] == fit.title() == "CHE model (rho = 0.6) (REML, CR2), k = 100 effects in 17 studies"
    assert "deltype[general]" in fit.summary().index
    assert fit._repr_html_().startswith("<p><strong>")
    assert fit.estimate == fit.coef[0] and fit.tval is fit.stat


def test_user_mistakes_are_one_line_messages():
    with pytest.raises(DataError, match="'cluster'.*not found"):
        multilevel_meta_analysis(ASSINK, study="cluster")
    twice = ASSINK.assign(esid=1)
    with pytest.raises(DataError, match="'esid'.*same effect id twice"):
        multilevel_meta_analysis(twice, effect="esid")
    with pytest.raises(DataError, match="one study"):
        multilevel_meta_analysis(ASSINK.assign(study=1))
    with pytest.raises(DataError, match="every study has one effect"):
        multilevel_meta_analysis(ASSINK.drop_duplicates("study"))
    with pytest.raises(ValueError, match="structure"):
        multilevel_meta_analysis(ASSINK, structure="cluster")
    with pytest.warns(UserWarning, match="row 1 dropped"):
        multilevel_meta_analysis(ASSINK.assign(year=ASSINK["year"].where(ASSINK.index > 0)), moderators="year")


def test_ten_thousand_effects_in_two_thousand_studies_is_fast():
    rng = np.random.default_rng(7)
    sizes = rng.integers(1, 10, 2000)
    sizes = np.round(sizes * 10_000 / sizes.sum()).astype(int).clip(1)
    study = np.repeat(np.arange(sizes.size), sizes)
    k = study.size
    vi = rng.uniform(0.01, 0.1, k)
    yi = 0.2 + rng.normal(0, 0.3, sizes.size)[study] + rng.normal(0, 0.2, k) + rng.normal(0, np.sqrt(vi))
    data = pd.DataFrame({"study": study, "yi": yi, "vi": vi, "x": rng.normal(size=k)})
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = multilevel_meta_analysis(data, moderators="x")
        che = multilevel_meta_analysis(data, structure="che", moderators="x")
    assert time.perf_counter() - started < 20  # about 1 s on an idle core
    assert fit.converged and che.converged and fit.k == che.k == k
    np.testing.assert_allclose(fit.sigma2, [0.09, 0.04], atol=0.02)  # the simulated truth


def test_fixed_variance_components_and_t_test():
    free = multilevel_meta_analysis(KONST, study="district", robust=None)
    fixed = multilevel_meta_analysis(KONST, study="district", robust=None, sigma2=list(free.sigma2))
    assert fixed.iterations == 0
    np.testing.assert_allclose(fixed.se, free.se, rtol=1e-12)
    half = multilevel_meta_analysis(KONST, study="district", robust=None, sigma2=[None, 0.0])
    assert half.sigma2[1] == 0.0 and half.ll < free.ll
    t = multilevel_meta_analysis(KONST, study="district", robust=None, test="t")
    assert t.stat_name == "tval" and t.df[0] == 55 and t.pval[0] > free.pval[0]
    with pytest.raises(ValueError, match="sigma2"):
        multilevel_meta_analysis(KONST, study="district", sigma2=[0.1])
