"""Live differential test against R's metafor on random data sets (issue 15).

When ``Rscript`` with metafor is installed, random data sets are generated
(every measure of :func:`synthesis.effect_sizes`, zero cells included, k from
2 to 200, every tau² method, z and Knapp-Hartung tests, meta-regression with a
continuous and a categorical moderator, influence and leave-one-out, Egger,
Begg and trim-and-fill), written to ONE csv batch, fitted by ONE
``Rscript tests/r/differential.R`` call and compared number by number at
rtol 1e-6 (atol 1e-9): closed forms are exact, and the iterative estimators
are converged tightly on both sides (metafor's ``control = list(threshold =
1e-12, maxiter = 1000, tol = 1e-12)``).

Seed: fresh on every run and printed; ``SYNTHESIS_DIFF_SEED=<n>`` repeats a run.
Size: ``SYNTHESIS_DIFF_N`` data sets (default 500 under ``CI``, else 100).
Without R: skipped locally, a failure under ``CI``.

Conventions that are ours by design (the data are generated or compared accordingly):

* OR/RR: studies with no events (or only events) in both arms are left out
  (Cochrane Handbook 10.4.4.2), so R's ``escalc`` is called with ``drop00 = TRUE``.
* An equal-effects model has no prediction interval (metafor's ``predict`` prints none).

Exclusions, each narrow (a quantity under a condition), with its reason:

* Q-profile upper bounds of tau², I² and H² when ours lies above
  ``max(100, 10 tau²)``: ``confint.rma.uni`` searches no further than that
  limit (its ``tau2.max``) and reports the limit itself (printed with ">").
* I² and H² (of the model, a meta-regression or a leave-one-out fit) when
  our tau² is 0 and metafor's below 1e-10: approaching the boundary, metafor's
  Fisher scoring halves its steps until one is below ``threshold`` and stops
  at tau² of about 1e-12; I² = 100 tau²/(s² + tau²) then multiplies it by
  100/s², which is large when the sampling variances are small (proportions:
  I² of 4e-7 % against our 0).
* R² of a meta-regression when our residual tau² is 0 and metafor's is below
  1e-10: metafor's Fisher scoring approaches the boundary by step halving and
  stops once a step is below ``threshold`` (1e-12), at tau² of about 1e-13 in
  both the null and the full model, and reports R² = 1 - tau²/tau²_0 as the
  ratio of those two round-off values (7.7% in one case); its own rule gives
  R² = 0 when the null model's tau² is exactly 0 (``rma.uni``: "if
  (identical(tau2.RE, 0)) R2 <- 0"), which is what we report.
* R² of a meta-regression when metafor's is NA: ``rma.uni`` refits the
  intercept-only model for R² inside ``try()`` and sets ``R2 <- NA`` when that
  refit raises, which its Fisher scoring does when it does not converge at
  ``threshold = 1e-12`` (RD, REML, k = 15, seed 1264354851, set 259: the null
  model alone fails with "Fisher scoring algorithm did not converge"; ours
  converges and reports 77.4%).
* Statistics infinite up to round-off (``r_oracle.infinite_up_to_roundoff``,
  for every live module).
* ML/REML fits where our log-likelihood at our tau² is higher than at
  metafor's (by more than 1e-8): the likelihood has two local maxima and
  metafor's Fisher scoring, started at the Hedges estimate, climbs to the
  lower one; when that one is below the likelihood at tau² = 0, its
  ``ll0check`` sets tau² = 0 ("Fisher scoring algorithm may have gotten stuck
  at a local maximum"), still not the maximum (seed 1345280410, set 200: RR,
  k = 130, log-likelihood 17.3179 at our tau² = 6.3e-5, 17.2669 at metafor's 0).
  Every quantity of that model is excluded; ours is the maximum.
* dfbetas and dffits that differ by less than 1e-9 once multiplied by the
  model's smallest standard error, i.e. deleted estimates that agree to 1e-9
  on the estimate's scale: both are a difference b - b(-i) over a standard
  error, so a deleted fit that metafor stops at a change in tau² below
  ``threshold`` moves them relatively much when the deletion changes little
  (EB, k = 17: b(-6) 0.98133203246 in ``influence`` against 0.98133203243
  from ours and from metafor itself at ``threshold = 1e-15``; dfbetas
  -0.00149158 vs -0.00149158, 6e-6 relative; seed 1345280410, set 26). A
  threshold of 1e-15 for every fit is no remedy: R then took 20 times longer
  and some fits no longer converged.
* Trim-and-fill's estimates (not k0 or the side) when two effect sizes are
  equal up to round-off: which of them is trimmed and mirrored follows their
  order, and 1/17 vs 1/32 against 1.5/102 vs 0.5/64 (both a risk ratio of
  32/17 exactly) is 1 ulp apart in R's log and equal in ours, so R trims the
  other study of the pair (seed 900341659, set 307: estimates 0.0055 vs 0.0083
  with the same k0 = 6). Neither is more right.
* Egger's regression test with ``model = "rma"`` and trim-and-fill when
  metafor refuses the data: both fit a meta-regression on the standard
  errors, and ``rma.uni`` stops ("Model matrix not of full rank") when an
  eigenvalue of X'X is below its absolute ``evtol`` of 1e-7, which happens
  when the standard errors differ only in the fourth decimal (three
  correlations from samples of 136, 136 and 138; seed 1345280410, set 414).
  The design is of full rank and ours fits it.

Scope kept for run time, not for any disagreement (the run must stay within a
couple of minutes on 2 cores): case-deletion and leave-one-out diagnostics on
half of the data sets with k <= 25 (R refits k models of k x k matrices), and
Egger, Begg and trim-and-fill for 3 <= k <= 60 (R's trimfill refits until k0
is stable, 20 s at k = 200; the exact Kendall distribution grows with k and
is NaN in R above k = 170, see docs/metafor-differences.md).
"""
from __future__ import annotations

import functools
import os
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthesis import effect_sizes, meta_analysis, meta_regression
from synthesis.meta.case_diagnostics import influence, leave_one_out
from synthesis.meta.effects import MEASURES
from synthesis.meta.small_study import begg_test, egger_test, trim_and_fill
from r_oracle import Quantities, agree, compare_quantities, require_r, run_batch  # tests/ is on sys.path

SCRIPT = Path(__file__).parent / "r" / "differential.R"
METHODS = ("EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
DIAGNOSTICS_MAX_K = 25  # case deletion refits k models in R: kept small for the run time
BIAS_MAX_K = 60  # trimfill and the exact Kendall test in R grow fast with k
RAW = ("ai", "bi", "ci", "di", "n1i", "n2i", "m1i", "sd1i", "m2i", "sd2i", "xi", "ni", "ri", "yi", "vi")




# ---- random data sets ------------------------------------------------------------------------
def _counts(rng: np.random.Generator, k: int, theta: np.ndarray) -> dict[str, np.ndarray]:
    n1, n2 = rng.integers(4, 120, k), rng.integers(4, 120, k)
    base = rng.choice([0.01, 0.05, 0.2, 0.5, 0.9])
    p2 = np.clip(rng.beta(2, 2 / base - 2, k), 1e-3, 1 - 1e-3)
    p1 = 1 / (1 + np.exp(-(np.log(p2 / (1 - p2)) + theta)))
    ai, ci = rng.binomial(n1, p1), rng.binomial(n2, p2)
    return {"ai": ai, "bi": n1 - ai, "ci": ci, "di": n2 - ci}


def _double_zero(cols: dict[str, np.ndarray]) -> np.ndarray:
    """Studies left out of an OR/RR analysis: no events, or only events, in both arms."""
    return ((cols["ai"] == 0) & (cols["ci"] == 0)) | ((cols["bi"] == 0) & (cols["di"] == 0))


def generate(rng: np.random.Generator, set_id: int) -> pd.DataFrame:
    """One random data set with its analysis spec on every row."""
    measure = str(rng.choice(list(MEASURES)))
    k = int(np.clip(np.round(np.exp(rng.uniform(np.log(2), np.log(200)))), 2, 200))
    tau = np.sqrt(rng.choice([0.0, 0.01, 0.05, 0.2, 0.6]))
    theta = rng.normal(rng.normal(0, 0.4), tau, k) if tau > 0 else np.full(k, rng.normal(0, 0.4))
    cols: dict[str, np.ndarray] = {}
    if measure in ("SMD", "MD"):
        n1, n2 = rng.integers(3, 150, k), rng.integers(3, 150, k)
        sd1, sd2 = np.round(rng.uniform(0.5, 2.0, k), 3), np.round(rng.uniform(0.5, 2.0, k), 3)
        m2 = np.round(rng.normal(10, 1, k), 3)
        m1 = np.round(m2 + theta * (sd1 + sd2) / 2 + rng.normal(0, np.sqrt(1 / n1 + 1 / n2)), 3)
        cols = {"m1i": m1, "sd1i": sd1, "n1i": n1, "m2i": m2, "sd2i": sd2, "n2i": n2}
    elif measure in ("OR", "RR", "RD"):
        cols = _counts(rng, k, theta)
        while measure != "RD" and _double_zero(cols).sum() > k - 2:  # leave at least two studies
            cols = _counts(rng, k, theta)
    elif measure in ("PLO", "PR"):
        ni = rng.integers(3, 150, k)
        p = rng.choice([0.02, 0.3, 0.5, 0.97])
        logit = np.log(p / (1 - p)) + theta
        cols = {"xi": rng.binomial(ni, 1 / (1 + np.exp(-logit))), "ni": ni}
    elif measure in ("ZCOR", "COR"):
        ni = rng.integers(10, 300, k)
        cols = {"ri": np.round(np.tanh(theta / 2 + rng.normal(0, 1 / np.sqrt(ni - 3))), 3), "ni": ni}
    else:
        vi = np.round(rng.uniform(0.005, 0.5, k), 4)
        cols = {"yi": np.round(rng.normal(theta, np.sqrt(vi)), 4), "vi": vi}
    frame = pd.DataFrame(cols)
    mods = "none"
    # a meta-regression only on complete data, so that every model has k > p and full rank
    if k >= 8 and not (measure in ("OR", "RR") and _double_zero(cols).any()):
        mods = str(rng.choice(["none", "x", "x+g"], p=[0.5, 0.3, 0.2]))
    frame["x"] = np.round(rng.normal(0, 1, k), 3)
    groups = np.array(list("abc"))[rng.integers(0, 3, k)]
    groups[:2] = "a"  # a reference level with two studies; sometimes a level of one study (bug 3)
    if (groups == "a").all():  # a factor of one level is not a moderator (R's contrasts fail)
        groups[-1] = "b"
    frame["g"] = groups
    frame.insert(0, "set", set_id)
    frame.insert(1, "measure", measure)
    frame.insert(2, "method", str(rng.choice(METHODS)))
    frame.insert(3, "test", str(rng.choice(["z", "knha"])))
    frame.insert(4, "mods", mods)
    frame.insert(5, "diagnostics", int(k <= DIAGNOSTICS_MAX_K and rng.random() < 0.5))
    frame.insert(6, "bias", int(mods == "none" and 3 <= k <= BIAS_MAX_K))
    return frame


# ---- our side ------------------------------------------------------------------------------
def _table(result) -> pd.DataFrame:
    """A diagnostics table, whether returned as a DataFrame or a result object."""
    return result if isinstance(result, pd.DataFrame) else result.to_frame()


def _first(obj, *names):
    for name in names:  # tolerate a rename of Q/Q_pval to metafor's QE/QEp
        if hasattr(obj, name):
            return getattr(obj, name)
    raise AttributeError(names[0])


def ours(frame: pd.DataFrame) -> tuple[Quantities, Any]:
    """Every quantity the R script emits, computed by this engine, and the fitted model
    (a meta-regression when the set has moderators), which the exclusions look at."""
    spec = frame.iloc[0]
    out: dict[tuple[str, int], float] = {}

    def emit(name: str, values) -> None:
        for i, value in enumerate(np.atleast_1d(np.asarray(values, dtype=float))):
            out[(name, i)] = float(value)

    measure = spec["measure"]
    group = MEASURES[measure][0]
    es = effect_sizes(frame, measure, **{a: a for a in group})
    if measure != "GEN":
        emit("yi", es["yi"])
        emit("vi", es["vi"])
    data = es.assign(x=frame["x"], g=frame["g"]).dropna(subset=["yi", "vi"])
    method, test = spec["method"], spec["test"]
    if spec["mods"] != "none":
        moderators = ["x"] if spec["mods"] == "x" else ["x", "g"]
        fit = meta_regression(data, moderators, categorical=["g"], method=method, test=test)
        _fit_stats(emit, "reg.", fit.coef, fit, fit.QE, fit.QEp)
        emit("reg.QM", fit.QM)
        emit("reg.QMp", fit.QMp)
        emit("reg.R2", fit.R2)
        if spec["diagnostics"]:
            _diagnostics(emit, "reg.", fit)
        return out, fit
    fit = meta_analysis(data, method=method, test=test)
    _fit_stats(emit, "", fit.estimate, fit, _first(fit, "QE", "Q"), _first(fit, "QEp", "Q_pval"))
    if method != "EE":
        emit("pi.lb", fit.pi_lb)
        emit("pi.ub", fit.pi_ub)
        if fit.k > 1:
            ci = fit.confint()
            for row, name in (("tau2", "ci.tau2"), ("I2", "ci.I2"), ("H2", "ci.H2")):
                emit(name, ci.loc[row, ["ci_lb", "ci_ub"]])
    if spec["diagnostics"] and fit.k > 1:
        _diagnostics(emit, "", fit)
        loo = _table(leave_one_out(fit))
        for col, name in (("estimate", "estimate"), ("se", "se"), (loo.columns[2], "zval"),
                          ("pval", "pval"), ("ci_lb", "ci.lb"), ("ci_ub", "ci.ub"), ("Q", "Q"),
                          ("Q_pval", "Qp"), ("tau2", "tau2"), ("I2", "I2"), ("H2", "H2")):
            if not (name == "tau2" and method == "EE"):  # metafor's leave1out has no tau2 column for EE
                emit(f"l1o.{name}", loo[col])
    if spec["bias"] and fit.k > 2:
        for model in ("rma", "lm"):
            eg = egger_test(fit, model)
            emit(f"egger.{model}", [eg.stat, eg.pval, eg.limit_estimate, eg.limit_ci_lb, eg.limit_ci_ub])
        bg = begg_test(fit)
        emit("begg", [bg.tau, bg.pval])
        tf = trim_and_fill(fit)
        emit("trimfill", [tf.k0, tf.side == "right", tf.fit.estimate, tf.fit.se, tf.fit.ci_lb,
                          tf.fit.ci_ub, tf.fit.tau2])
    return out, fit


def _fit_stats(emit, prefix: str, beta, fit, QE: float, QEp: float) -> None:
    emit(f"{prefix}beta", beta)
    for name, attr in (("se", "se"), ("stat", "stat"), ("pval", "pval"), ("ci.lb", "ci_lb"),
                       ("ci.ub", "ci_ub"), ("tau2", "tau2"), ("I2", "I2"), ("H2", "H2")):
        emit(f"{prefix}{name}", getattr(fit, attr))
    emit(f"{prefix}QE", QE)
    emit(f"{prefix}QEp", QEp)


def _diagnostics(emit, prefix: str, fit) -> None:
    table = _table(influence(fit))
    for col, name in (("rstudent", "rstudent"), ("dffits", "dffits"), ("cooks_d", "cook.d"),
                      ("cov_r", "cov.r"), ("tau2_del", "tau2.del"), ("QE_del", "QE.del"),
                      ("hat", "hat"), ("weight", "weight")):
        emit(f"{prefix}inf.{name}", table[col])
    dfbetas = [c for c in table.columns if c.startswith("dfbetas")]
    for j, col in enumerate(dfbetas):
        emit(f"{prefix}inf.dfbs{j}", table[col])
    emit(f"{prefix}inf.is.infl", table["is_influential"].astype(float))


# ---- exclusions ----------------------------------------------------------------------------
def excluded(quantity: str, index: int, mine: Quantities, theirs: Quantities, fit: Any = None) -> str | None:
    """The written reason when a disagreement is one of metafor's documented limits
    (``fit``: our fitted model of the data set, as :func:`ours` returns it)."""
    if quantity in ("ci.tau2", "ci.I2", "ci.H2") and index == 1:
        cap = theirs.get(("ci.tau2.max", 0), np.inf)
        if theirs.get(("ci.tau2", 1), np.nan) == cap < mine.get(("ci.tau2", 1), np.nan):
            return "Q-profile upper bound beyond confint's search limit max(100, 10 tau2)"
    prefix = quantity[: quantity.rfind(".") + 1]  # "", "reg." or "l1o."
    tau2 = (prefix + "tau2", index if prefix == "l1o." else 0)
    boundary = mine.get(tau2) == 0 and theirs.get(tau2, 1) < 1e-10
    if boundary and quantity[len(prefix):] in ("I2", "H2"):
        return "I2/H2 of metafor's boundary stop at tau2 ~ 1e-12 instead of 0"
    if boundary and quantity == "reg.R2":
        return "R2 of metafor's boundary stop: a ratio of two round-off tau2 values"
    if quantity == "reg.R2" and np.isnan(theirs.get((quantity, index), 0.0)):
        return "R2: metafor's intercept-only refit did not converge (rma.uni sets R2 to NA)"
    model = "reg." if quantity.startswith("reg.") else "l1o." if quantity.startswith("l1o.") else ""
    if model != "l1o." and _higher_maximum(fit, theirs.get((model + "tau2", 0))):
        return "metafor's Fisher scoring stopped at a lower local maximum of the likelihood"
    if fit is not None and quantity[len(model):].startswith(("inf.dfbs", "inf.dffits")) \
            and abs(mine.get((quantity, index), np.nan) - theirs.get((quantity, index), np.nan)) * np.min(fit.se) <= 1e-9:
        return "dfbetas/dffits: deleted estimates agree to 1e-9 (metafor's threshold on tau2)"
    if quantity == "trimfill" and index >= 2 and _has_ties(fit.yi) \
            and all(agree(mine.get(("trimfill", i), np.nan), theirs.get(("trimfill", i), np.nan)) for i in (0, 1)):
        return "trim-and-fill: two effect sizes tie up to round-off, which one is mirrored is arbitrary"
    if quantity in ("egger.rma", "trimfill") and np.isnan(theirs.get((quantity, index), np.nan)) \
            and _smallest_eigenvalue(fit.vi) <= 1e-7:
        return "metafor's evtol (1e-7) refuses a regression on near-equal standard errors"
    return None


def _has_ties(y: np.ndarray) -> bool:
    """Two effect sizes equal up to round-off."""
    ys = np.sort(np.asarray(y, dtype=float))
    return bool(np.any(np.diff(ys) <= 1e-12 * np.maximum(1.0, np.abs(ys[1:]))))


def _smallest_eigenvalue(v: np.ndarray) -> float:
    """Of X'X for X = [1, sei]: what metafor's ``evtol`` checks before a regression on the SEs."""
    design = np.column_stack([np.ones(len(v)), np.sqrt(np.asarray(v, dtype=float))])
    return float(np.linalg.eigvalsh(design.T @ design).min())


def _higher_maximum(fit, their_tau2: float | None) -> bool:
    """Our ML/REML log-likelihood at our tau² above the one at metafor's tau² (by > 1e-8)."""
    if fit is None or their_tau2 is None or np.isnan(their_tau2) or fit.method not in ("ML", "REML"):
        return False
    from synthesis.meta.core import log_likelihood
    y, v, X = fit.yi, fit.vi, fit.X
    return log_likelihood(fit.method, fit.tau2, y, v, X) > log_likelihood(fit.method, their_tau2, y, v, X) + 1e-8


def test_metafor_agrees_on_random_data(tmp_path, seed):
    require_r("metafor")
    n_sets = int(os.environ.get("SYNTHESIS_DIFF_N") or (500 if os.environ.get("CI") else 100))
    print(f"\nmetafor differential: seed {seed} (repeat with SYNTHESIS_DIFF_SEED={seed}), {n_sets} data sets")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    frames = [generate(rng, i) for i in range(n_sets)]
    batch = pd.concat(frames, ignore_index=True).reindex(
        columns=[*frames[0].columns[:7], *RAW, "x", "g"])
    theirs_by_set = run_batch(SCRIPT, batch, tmp_path, seed)
    r_seconds = time.perf_counter() - started
    failures, exclusions, compared = [], Counter(), 0
    for frame in frames:
        set_id = int(frame["set"].iloc[0])
        theirs = theirs_by_set.get(set_id, {})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mine, fit = ours(frame)
            except Exception as error:  # noqa: BLE001 - every failure is reported with its data set
                failures.append(f"set {set_id}: ours raised {error!r}")
                continue
        found, excluded_here, n = compare_quantities(
            mine, theirs, functools.partial(excluded, fit=fit), skip=frozenset({("ci.tau2.max", 0)}))
        spec = frame.iloc[0]
        failures += [f"set {set_id} ({spec['measure']}, {spec['method']}, {spec['test']}, mods {spec['mods']}, "
                     f"k {len(frame)}): {failure}" for failure in found]
        exclusions.update(excluded_here)
        compared += n
    elapsed = time.perf_counter() - started
    print(f"metafor differential: {n_sets} data sets, {compared} quantities compared in {elapsed:.1f} s "
          f"(R {r_seconds:.1f} s); excluded: {dict(exclusions) or 'none'}")
    assert not failures, (f"seed {seed}: {len(failures)} disagreements with metafor, e.g.\n"
                          + "\n".join(failures[:40]))
