"""Live differential test of several effects per study against R (issue 11, item 1).

When ``Rscript`` with metafor and clubSandwich is installed, random multi-effect data
sets are generated (5-60 studies of 1-6 effects, three-level or CHE with rho in
{0, 0.5, 0.8}, REML or ML, without moderators, with a continuous one, or with a continuous
one and a three-level study factor), written to ONE csv batch, fitted by ONE ``Rscript
tests/r/multilevel.R`` call (``rma.mv(..., random = ~ 1 | study/esid)``,
``clubSandwich::coef_test(vcov = "CR2")``, ``Wald_test(test = "HTZ")`` of the moderator
terms, and ``predict(robust(fit, clubSandwich = TRUE), newmods)``) and compared number by
number at rtol 1e-6 (atol 1e-9): sigma², coefficients, model-based SEs, z and p-values,
QE, the log-likelihood, the CR2 SEs, t statistics, Satterthwaite df and p-values, the HTZ
F, df and p-value, and each prediction with its CR2 SE, Satterthwaite df and prediction
interval.

Seed: fresh on every run and printed; ``SYNTHESIS_DIFF_SEED=<n>`` repeats a run.
Size: ``SYNTHESIS_ML_DIFF_N`` data sets (default 100 under ``CI``, else 10: R takes about 1 s per data set).
Without R: skipped locally, a failure under ``CI``.

How the variance components are compared. ``rma.mv`` maximises the likelihood with
nlminb over ``log(sigma2)`` (metafor's ``rma.mv``: ``sigma2 <- exp(par)``) and stops on a
relative change of the objective (``rel.tol``, 1e-12 here, 1e-10 when nlminb reports
false convergence at 1e-12). Near the maximum the likelihood is flat (moving sigma² by d
changes it by about d² times the curvature), so metafor's sigma² can be 1e-5 away in
relative terms while its log-likelihood is within 1e-12 of the maximum, and a component
whose maximum is at 0 can only be approached (it stops at 1e-9 or below; we keep the
component at exactly 0). So, as the issue asks when metafor cannot reach 1e-6 on sigma²:

* every other number is compared at rtol 1e-6 with OUR model evaluated at METAFOR's
  sigma² (``multilevel_meta_analysis(..., sigma2=...)``, as ``rma.mv(sigma2 = ...)``): each
  formula (weights, coefficients, SEs, QE, the log-likelihood itself, the CR2 adjustment,
  the Satterthwaite df) is checked exactly, wherever an optimiser stopped;
* our own sigma² must equal metafor's at rtol 1e-6, or else have a log-likelihood at
  least metafor's (metafor stopped short of the maximum, not us) AND be a maximum itself:
  the gain a Newton step could still make from our sigma² (``g'H^-1 g / 2``, gradient and
  Hessian of our log-likelihood by finite differences, over the components not held at
  0 by a gradient pointing below it) must be under 1e-9. The run prints how often
  metafor stopped short. (Seed 992869170, set 80: metafor's sigma² was 5% below ours at
  1e-5 absolute, its log-likelihood 3.6e-6 lower; set 87 of the same seed found OUR
  Fisher scoring stalled on the boundary, fixed in ``synthesis.meta.multilevel``.)
"""
from __future__ import annotations

import os
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from synthesis.meta.multilevel import multilevel_meta_analysis
from r_oracle import agree, require_r, run_batch  # tests/ is on sys.path

SCRIPT = Path(__file__).parent / "r" / "multilevel.R"
#: the new moderator rows R's predict gets (columns of the design without the intercept)
NEWMODS = {"none": None, "x": np.array([[-1.0], [0.0], [1.0]]),
           "xg": np.array([[0.0, 0.0, 0.0], [1.0, 1.0, 0.0], [-1.0, 0.0, 1.0]])}
MAX_NEWTON_GAIN = 1e-9  # log-likelihood a Newton step could still gain from our sigma²




def generate(rng: np.random.Generator, set_id: int) -> pd.DataFrame:
    """One random multi-effect data set with its analysis spec on every row."""
    n_studies = int(rng.integers(5, 61))
    sizes = rng.integers(1, 7, n_studies)
    sizes[rng.integers(n_studies)] = max(2, sizes.max())  # at least one study with two effects
    study = np.repeat(np.arange(1, n_studies + 1), sizes)
    k = study.size
    structure = str(rng.choice(["multilevel", "che"]))
    rho = float(rng.choice([0.0, 0.5, 0.8]))
    sigma_study, sigma_effect = rng.choice([0.0, 0.05, 0.3], 2)
    vi = np.round(rng.uniform(0.01, 0.3, k), 4)
    x = np.round(rng.normal(0, 1, k), 3)
    g = rng.choice(np.array(["a", "b", "c"]), n_studies)
    g[:3] = ["a", "b", "c"]  # every level present (a study-level factor)
    yi = (rng.normal(0.3, 0.2) + 0.1 * x + rng.normal(0, np.sqrt(sigma_study), n_studies)[study - 1]
          + rng.normal(0, np.sqrt(sigma_effect), k) + rng.normal(0, np.sqrt(vi)))
    return pd.DataFrame({"set": set_id, "structure": structure, "rho": rho,
                         "method": str(rng.choice(["REML", "ML"], p=[0.75, 0.25])),
                         "mods": str(rng.choice(["none", "x", "xg"])), "study": study,
                         "esid": np.concatenate([np.arange(1, n + 1) for n in sizes]),
                         "yi": np.round(yi, 4), "vi": vi, "x": x, "g": g[study - 1]})


def newton_gain(frame: pd.DataFrame, sigma2: np.ndarray, **kwargs) -> float:
    """Log-likelihood a Newton step from ``sigma2`` could still gain (finite differences of our ll)."""
    def ll(point):
        return multilevel_meta_analysis(frame, robust=None, sigma2=list(point), **kwargs).ll

    sigma2 = np.asarray(sigma2, float)
    h = 1e-3 * np.maximum(sigma2, 1e-5)
    base = ll(sigma2)
    grad, hess = np.zeros(2), np.zeros((2, 2))
    for i in range(2):
        e = np.eye(2)[i] * h[i]
        if sigma2[i] > 0:
            grad[i] = (ll(sigma2 + e) - ll(np.maximum(sigma2 - e, 0))) / (h[i] + min(h[i], sigma2[i]))
        else:
            grad[i] = (ll(sigma2 + e) - base) / h[i]
        for j in range(i + 1):
            f = np.eye(2)[j] * h[j]
            hess[i, j] = hess[j, i] = (ll(sigma2 + e + f) - ll(sigma2 + e) - ll(sigma2 + f) + base) / (h[i] * h[j])
    free = (sigma2 > 0) | (grad > 0)
    if not free.any():
        return 0.0
    g, H = grad[free], hess[np.ix_(free, free)]
    return float(0.5 * g @ np.linalg.lstsq(-H, g, rcond=None)[0])


def ours(frame: pd.DataFrame, theirs: dict[tuple[str, int], float]) -> dict[tuple[str, int], float]:
    """Our sigma² and log-likelihood, and every other number at metafor's sigma² (module docstring)."""
    spec = frame.iloc[0]
    moderators = {"none": [], "x": ["x"], "xg": ["x", "g"]}[spec["mods"]]
    kwargs = dict(effect="esid", structure=spec["structure"], rho=spec["rho"], method=spec["method"],
                  moderators=moderators, categorical=["g"] if "g" in moderators else [])
    free = multilevel_meta_analysis(frame, robust=None, **kwargs)
    at_r = [theirs[("sigma2", 0)], theirs[("sigma2", 1)]]
    model = multilevel_meta_analysis(frame, robust=None, sigma2=at_r, **kwargs)
    robust = multilevel_meta_analysis(frame, sigma2=at_r, **kwargs)
    out: dict[tuple[str, int], float] = {("newton.gain", 0): newton_gain(frame, free.sigma2, **kwargs)}
    newmods = NEWMODS[spec["mods"]]
    prediction = robust.predict(newmods).table
    if robust.p > 1:
        htz = robust.wald_htz()
        out.update({("HTZ", 0): htz.F, ("HTZ", 1): htz.df_denom, ("HTZ", 2): htz.pval})
    for name, values in (("pred", prediction["pred"]), ("pred.se", prediction["se"]),
                         ("pred.df", prediction["df"]), ("pred.pi.lb", prediction["pi_lb"]),
                         ("pred.pi.ub", prediction["pi_ub"]),
                         ("sigma2", free.sigma2), ("free.logLik", free.ll), ("beta", model.coef),
                         ("se", model.se), ("zval", model.stat), ("pval", model.pval), ("QE", model.QE),
                         ("QEp", model.QEp), ("logLik", model.ll), ("CR2.se", robust.se),
                         ("CR2.tval", robust.stat), ("CR2.df", robust.df), ("CR2.pval", robust.pval)):
        for i, value in enumerate(np.atleast_1d(values)):
            out[(name, i)] = float(value)
    return out


def compare(mine: dict, theirs: dict) -> tuple[list[str], bool]:
    """Disagreements of one data set, and whether metafor's sigma² stopped short of ours."""
    failures, short = [], False
    ll_ours, ll_r = mine[("free.logLik", 0)], theirs[("logLik", 0)]
    at_maximum = ll_ours >= ll_r - 1e-12 * abs(ll_r) and mine[("newton.gain", 0)] < MAX_NEWTON_GAIN
    for key in sorted((set(mine) | set(theirs)) - {("free.logLik", 0), ("newton.gain", 0)}):
        got, expected = mine.get(key, np.nan), theirs.get(key, np.nan)
        if agree(got, expected):
            continue
        if key[0] == "sigma2" and at_maximum:
            short = True
            continue
        extra = (f" (logLik ours {ll_ours!r} R {ll_r!r}; a Newton step would gain {mine[('newton.gain', 0)]:.2g})"
                 if key[0] == "sigma2" else "")
        failures.append(f"{key[0]}[{key[1]}] ours {got!r} R {expected!r}{extra}")
    return failures, short


def test_rma_mv_and_clubsandwich_agree_on_random_data(tmp_path, seed):
    require_r("metafor", "clubSandwich")
    n_sets = int(os.environ.get("SYNTHESIS_ML_DIFF_N") or (100 if os.environ.get("CI") else 10))
    print(f"\nrma.mv differential: seed {seed} (repeat with SYNTHESIS_DIFF_SEED={seed}), {n_sets} data sets")
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    frames = [generate(rng, i) for i in range(n_sets)]
    theirs_by_set = run_batch(SCRIPT, pd.concat(frames, ignore_index=True), tmp_path, seed)
    r_seconds = time.perf_counter() - started
    failures, short_sets, unfitted = [], 0, 0
    for frame in frames:
        set_id = int(frame["set"].iloc[0])
        spec = frame.iloc[0]
        label = (f"set {set_id} ({spec['structure']}, rho {spec['rho']}, {spec['method']}, mods {spec['mods']}, "
                 f"k {len(frame)} in {frame['study'].nunique()} studies)")
        if set_id not in theirs_by_set:
            unfitted += 1  # rma.mv itself failed at both tolerances: nothing to compare
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                mine = ours(frame, theirs_by_set[set_id])
            except Exception as error:  # noqa: BLE001 - every failure is reported with its data set
                failures.append(f"{label}: ours raised {error!r}")
                continue
        problems, short = compare(mine, theirs_by_set[set_id])
        short_sets += short
        failures += [f"{label}: {p}" for p in problems]
    print(f"rma.mv differential: {n_sets} data sets in {time.perf_counter() - started:.1f} s (R {r_seconds:.1f} s); "
          f"{short_sets} where metafor's sigma2 stopped short of the maximum (lower logLik); "
          f"{unfitted} that rma.mv could not fit")
    assert unfitted <= n_sets // 10, f"seed {seed}: rma.mv failed on {unfitted} of {n_sets} data sets"
    assert not failures, (f"seed {seed}: {len(failures)} disagreements with rma.mv / clubSandwich, e.g.\n"
                          + "\n".join(failures[:40]))
