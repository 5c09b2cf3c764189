"""Every quantity in the metafor 3.8 reference files (tests/data/metafor/*.json).

Tolerances: rtol 1e-6 for closed-form quantities, 1e-4 for iterative ones.

Where a number depends on an iteratively estimated tau² (ML, REML, EB, PM,
Q-profile bounds, leave-one-out and influence refits), metafor stops early:
Fisher scoring ends when tau² changes by less than ``threshold = 1e-5`` and
the PM estimator and the Q-profile bounds come from ``uniroot`` with
``tol = .Machine$double.eps^0.25`` (about 1.2e-4) -- see the ``control``
argument in metafor's documentation of ``rma.uni`` and ``confint.rma.uni``
(Viechtbauer 2010, J Stat Softw 36(3)). Our estimators converge to 1e-12,
so for those we check two things instead of loosening tolerances silently:

1. tau² agrees with metafor's within metafor's own stopping tolerance
   (rtol 1e-4, or 1.5e-4 absolute where metafor uses ``uniroot``), and our
   value solves the estimating equation to 1e-10 (tests/test_meta.py);
2. every other quantity, recomputed with tau² fixed at metafor's value,
   agrees with rtol 1e-6: the formulas are exact, only the stopping differs.
"""
from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from synthesis import effect_sizes, meta_analysis, meta_regression
from synthesis.meta.small_study import begg_test, egger_test, trim_and_fill
from synthesis.meta.case_diagnostics import influence, leave_one_out

DATA = Path(__file__).parent / "data" / "metafor"
NAMES = ["baskerville2012_practice_facilitation", "bangertdrowns2004_writing_to_learn",
         "landenberger2005_cbt_offenders", "bcg_vaccine"]
CLOSED = ("EE", "DL", "HE", "HS", "SJ")
ITERATIVE = ("ML", "REML", "EB", "PM")
RTOL = 1e-6
UNIROOT_TOL = 1.5e-4  # .Machine$double.eps^0.25 = 1.22e-4, metafor's default 'tol' for uniroot


def load(name):
    return pd.read_csv(DATA / f"{name}.csv"), json.loads((DATA / f"{name}.json").read_text())


def close(got, expected, rtol=RTOL, atol=1e-12, what=""):
    expected = np.asarray(expected, dtype=float)
    np.testing.assert_allclose(np.asarray(got, dtype=float), expected, rtol=rtol, atol=atol, err_msg=what)


def check_fit(fit, ref, name):
    for key, expected in ref.items():
        if expected is None:  # metafor reports no prediction interval for the EE model
            assert key in ("pi_lb", "pi_ub") and np.isnan(getattr(fit, key)), f"{name}: {key}"
            continue
        close(getattr(fit, key), expected, what=f"{name}: {key}")


@pytest.mark.parametrize("name", NAMES)
def test_effect_sizes_from_counts(name):
    data, _ = load(name)
    if name.startswith("landenberger"):
        es = effect_sizes(data, "OR", ai="n.cbt.non", bi="n.cbt.rec", ci="n.ctrl.non", di="n.ctrl.rec")
    elif name == "bcg_vaccine":
        es = effect_sizes(data, "RR", ai="tpos", bi="tneg", ci="cpos", di="cneg")
    else:
        pytest.skip("reported effect sizes only (no raw data)")
    close(es["yi"], data["yi"], what="yi")
    close(es["vi"], data["vi"], what="vi")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", CLOSED)
def test_pooled_closed_form(name, method):
    data, ref = load(name)
    check_fit(meta_analysis(data, method=method), ref["pooled"][method], f"{name} {method}")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ITERATIVE)
def test_pooled_iterative(name, method):
    data, ref = load(name)
    expected = ref["pooled"][method]
    fit = meta_analysis(data, method=method)
    atol = UNIROOT_TOL if method == "PM" else 1e-12
    close(fit.tau2, expected["tau2"], rtol=1e-4, atol=atol, what=f"{name} {method} tau2")
    conditional = meta_analysis(data, method=method, tau2=expected["tau2"])
    check_fit(conditional, expected, f"{name} {method} (tau2 fixed at metafor's)")


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("method", ["DL", "REML", "PM"])
def test_knha(name, method):
    data, ref = load(name)
    expected = ref["knha"][method]
    tau2 = None if method == "DL" else expected["tau2"]
    fit = meta_analysis(data, method=method, test="knha", tau2=tau2)
    check_fit(fit, expected, f"{name} knha {method}")
    assert fit.df == expected["df"]


@pytest.mark.parametrize("name", NAMES)
def test_q_profile(name):
    data, ref = load(name)
    expected = ref["tau2_ci_qprofile_REML"]
    ci = meta_analysis(data).confint()
    close(ci.loc["tau2", "ci_lb"], expected["tau2_lb"], rtol=1e-4, atol=UNIROOT_TOL)
    close(ci.loc["tau2", "ci_ub"], expected["tau2_ub"], rtol=1e-4, atol=UNIROOT_TOL)
    # I² bounds are a closed-form function of the tau² bounds: exact given metafor's tau² bounds
    s2 = meta_analysis(data).s2
    for bound in ("lb", "ub"):
        t2 = expected[f"tau2_{bound}"]
        close(100 * t2 / (s2 + t2), expected[f"I2_{bound}"], what=f"I2_{bound}")
        close(ci.loc["I2", f"ci_{bound}"], expected[f"I2_{bound}"], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("name", NAMES)
def test_blup_and_weights(name):
    data, ref = load(name)
    fit = meta_analysis(data, tau2=ref["pooled"]["REML"]["tau2"])
    close(fit.blup["pred"], ref["blup_REML"]["pred"], what="blup")
    close(fit.weights, ref["weights_REML"], what="weights")
    close(meta_analysis(data).weights, ref["weights_REML"], rtol=1e-4, what="weights (own tau2)")


@pytest.mark.parametrize("name", NAMES)
def test_egger(name):
    data, ref = load(name)
    fit = meta_analysis(data)
    classic = egger_test(fit, model="lm")
    close(classic.tval, ref["egger_classic"]["tval"])
    close(classic.pval, ref["egger_classic"]["pval"])
    assert classic.df == ref["egger_classic"]["df"]
    rma = egger_test(fit, model="rma")  # iterative (REML meta-regression on the SE)
    close(rma.zval, ref["egger_REML"]["zval"], rtol=1e-4)
    # the test's own tau² is iterative and not in the reference; a relative error e in z moves
    # the two-sided normal p-value by about z² e relatively, so the p-value gets that allowance
    z = ref["egger_REML"]["zval"]
    close(rma.pval, ref["egger_REML"]["pval"], rtol=1e-4 * (1 + z * z))
    close(rma.limit_estimate, ref["egger_REML"]["limit_estimate"], rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_begg(name):
    data, ref = load(name)
    res = begg_test(meta_analysis(data))
    close(res.tau, ref["begg"]["tau"])
    close(res.pval, ref["begg"]["pval"])


@pytest.mark.parametrize("name", NAMES)
def test_trim_and_fill(name):
    data, ref = load(name)
    expected = ref["trimfill_REML"]
    res = trim_and_fill(meta_analysis(data))
    assert res.k0 == expected["k0"] and res.side == expected["side"]
    for key in ("estimate", "ci_lb", "ci_ub", "tau2"):
        close(getattr(res.fit, key), expected[key], rtol=1e-4, what=key)
    assert len(res.filled) == expected["k0"]


@pytest.mark.parametrize("name", NAMES)
def test_leave_one_out(name):
    data, ref = load(name)
    expected = ref["leave1out_REML"]
    fit = meta_analysis(data)
    own = leave_one_out(fit).to_frame()
    close(own["tau2"], expected["tau2"], rtol=1e-4, atol=1e-6, what="tau2")
    close(own["estimate"], expected["estimate"], rtol=1e-4, what="estimate")
    conditional = leave_one_out(fit, tau2=np.asarray(expected["tau2"])).to_frame()
    for key in ("estimate", "I2"):
        close(conditional[key], expected[key], what=key)


@pytest.mark.parametrize("name", NAMES)
def test_influence(name):
    data, ref = load(name)
    expected = ref["influence_REML"]
    fit = meta_analysis(data, tau2=ref["pooled"]["REML"]["tau2"])
    table = influence(fit, tau2_del=np.asarray(ref["leave1out_REML"]["tau2"])).to_frame()
    for key in ("rstudent", "cooks_d", "hat"):
        close(table[key], expected[key], what=key)
    close(table["dfbetas"], np.ravel(expected["dfbetas"]), what="dfbetas")
    assert table["is_influential"].tolist() == list(expected["is_influential"])
    # and with everything estimated by us: same flags, same values to metafor's tolerance
    own = influence(meta_analysis(data)).to_frame()
    assert own["is_influential"].tolist() == list(expected["is_influential"])
    close(own["rstudent"], expected["rstudent"], rtol=1e-3)


def regression_cases():
    for name in NAMES:
        _, ref = load(name)
        for key in ref["metaregression"]:
            yield pytest.param(name, key, id=f"{name}-{key}")


@pytest.mark.parametrize("name,key", list(regression_cases()))
def test_meta_regression(name, key):
    data, ref = load(name)
    expected = ref["metaregression"][key]
    formula, test = key.split("|")
    terms = [t.strip() for t in formula.split("+")]
    categorical = [re.sub(r"factor\((.*)\)", r"\1", t) for t in terms if t.startswith("factor(")]
    moderators = [re.sub(r"factor\((.*)\)", r"\1", t) for t in terms]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # rows with a missing moderator are dropped with a warning
        own = meta_regression(data, moderators, categorical=categorical, test=test)
        fit = meta_regression(data, moderators, categorical=categorical, test=test, tau2=expected["tau2"])
    names = [re.sub(r"factor\((\w+)\)(.*)", r"\1[\2]", n) for n in expected["coef_names"]]
    assert fit.coef_names == names
    assert fit.k == expected["k"]
    close(own.tau2, expected["tau2"], rtol=1e-3, atol=1e-6, what="tau2 (own)")
    # R² = 100 (tau²_0 - tau²) / tau²_0 in percent combines two iterative estimates (the
    # intercept-only one is not in the reference), each stopped at metafor's threshold of 1e-5:
    # allow 0.01 percentage points
    close(own.R2, expected["R2"], rtol=1e-4, atol=1e-2, what="R2 (own)")
    for field in ("coef", "se", "ci_lb", "ci_ub", "pval", "I2", "QM", "QMp", "QE", "QEp"):
        close(getattr(fit, field), expected[field], what=field)
