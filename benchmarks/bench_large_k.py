"""The analysis step's engine calls at large k (issue 11, item 7; not a test).

Run:  python benchmarks/bench_large_k.py [k[/studies] ...]   (default: 8000 10000/2000 10000 1000000)

``k/studies`` spreads ``k`` effects over that many studies (``data.study_id`` repeated), so the
review takes the default of several effects per study: CHE + CR2 for the pooled effect,
moderators and subgroups, the study-level diagnostics on each study's combined effects.

Issue 11: "a review of 8,000 effects takes 29 s in the analysis step (leave-one-out and
influence) and 1,000,000 rows does not finish"; goal: the analysis step for 10,000 effects
under 10 s on 2 cores. For each k this times, on simulated data with a continuous and a
categorical moderator and a subgroup, what :func:`synthesis.analysis.frequentist_analysis`
runs (pooled REML model, Egger, Begg, PET-PEESE, moderator table, subgroups; trim-and-fill and
the selection model up to ``ADJUSTMENT_CAP`` studies, influence and leave-one-out up to
:data:`synthesis.analysis.CASE_DIAGNOSTICS_CAP`, beyond which a note says they were not
computed), the exact Bayesian posterior of the one-strategy model and the certainty rating. Then, to show what the cap saves, leave-one-out and influence forced at
k = 2,000 (their REML refits are O(k²) work: about 40 s each at k = 8,000). Prints the timings
with the date.

Measured 2026-11-23 on 2 cores shared by 8 busy sessions (load average 5-14, so wall times are
3-10x those of a quiet machine; the process's CPU time is given too):

    10,000 effects in 2,000 studies (CHE)   analysis step 12.2 s wall, 2.6 s CPU
    10,000 effects, one per study           analysis step  5.0 s wall, 0.6 s CPU
    1,000,000 effects, one per study        analysis step 294 s wall, 33 s CPU (exact posterior 22 s CPU;
                                            trim-and-fill and the selection model not run above 5,000
                                            studies, Begg's p asymptotic above 500)
    case diagnostics forced at k = 2,000    leave-one-out 18.3 s wall (1.7 s CPU), influence 13.5 s (1.4 s)

Measured again 2026-11-23 23:37 UTC on a quiet machine (load average 0.1):

    10,000 effects in 2,000 studies (CHE)   analysis step engine calls 1.99 s wall, 2.41 s CPU
    10,000 effects, one per study           0.38 s wall, 0.64 s CPU
    case diagnostics forced at k = 2,000    leave-one-out 1.25 s, influence 1.17 s

The sensitivity multiverse (synthesis.analysis.sensitivity) is not part of these timings.
``--whole`` times instead what the notebook's first cell runs, ``analyse_review`` on a review
written to a temporary project (reading and checking the CSV, the frequentist analysis, the
exact posterior, certainty, and the sensitivity multiverse), for the issue's "whole analysis
step": ``python benchmarks/bench_large_k.py --whole 10000/2000``.

Measured 2026-11-24 01:06 UTC, load average 2.6 on 2 cores (one core running R tests):

    --whole 10000/2000   analyse_review 3.83 s wall, 2.67 s CPU (216 specifications)
    --whole 10000        analyse_review 2.09 s wall, 1.74 s CPU (72 specifications)

Before the multiverse's outlier rule was capped (``OUTLIER_REFIT_CAP``), the same runs took
8.45 s and 18.65 s: 10,000 leave-one-out REML refits for the studentized residuals.
"""
from __future__ import annotations

import sys
import time
import warnings
from datetime import datetime, timezone
from types import SimpleNamespace

import numpy as np
import pandas as pd

warnings.simplefilter("ignore")

from synthesis.analysis import (CASE_DIAGNOSTICS_CAP, bayesian_analysis, frequentist_analysis,  # noqa: E402
                                rate_and_answer)
from synthesis.meta.case_diagnostics import influence, leave_one_out  # noqa: E402
from synthesis.review.schema import Bayes  # noqa: E402

REVIEW_YAML = """id: large
title: A large simulated review (benchmark only)
question: {population: pupils, comparison: usual teaching, intervention: the programme, outcome: attainment,
           plain_question: "Does the programme help?"}
provenance: {citation: Simulated by benchmarks/bench_large_k.py, source: simulated, licence: CC0, simulated: true}
effect: {measure: SMD, columns: {yi: yi, vi: vi}}
data: {file: data.csv, study_label: study, study_id: sid, one_effect_per_study: %s}
moderators:
  - {name: dose, type: continuous}
  - {name: setting, type: categorical, reference: school}
subgroup: setting
analysis: {method: REML, test: z, level: 0.95}
decision: {mid: 0.1}
seed: 1
"""

FORCED_K = 2_000
SPEC = {"analysis": {"method": "REML", "test": "z", "level": 0.95},
        "moderators": [{"name": "dose", "type": "continuous"},
                       {"name": "setting", "type": "categorical", "reference": "school"}],
        "subgroup": "setting", "data": {"study_id": "sid"},
        "effect": {"measure": "SMD"}, "decision": {"mid": 0.1},
        "question": {"intervention": "the programme", "outcome": "attainment"}, "bayes": Bayes()}


def simulate(k: int, n_studies: int | None = None, seed: int = 20261123) -> pd.DataFrame:
    """``k`` effects, one per study or spread over ``n_studies`` (study-level moderators)."""
    rng = np.random.default_rng(seed)
    n_studies = n_studies or k
    sid = np.sort(np.r_[np.arange(n_studies), rng.integers(0, n_studies, k - n_studies)])
    vi = rng.uniform(0.01, 0.2, k)
    dose = rng.uniform(0, 10, n_studies)[sid]
    setting = rng.choice(["school", "home", "online"], n_studies)[sid]
    yi = 0.2 + 0.02 * dose + rng.normal(0, 0.2, n_studies)[sid] + rng.normal(0, np.sqrt(vi + 0.01))
    return pd.DataFrame({"sid": sid, "study": [f"S{i}" for i in sid], "yi": yi, "vi": vi, "sei": np.sqrt(vi),
                         "dose": dose, "setting": setting})


def timed(label: str, func):
    """Run ``func``; print wall time and this process's CPU time (less distorted on a busy machine)."""
    start, cpu = time.perf_counter(), time.process_time()
    out = func()
    print(f"  {label:<46} {time.perf_counter() - start:8.2f} s  (cpu {time.process_time() - cpu:6.2f} s)",
          flush=True)
    return out


def main(sizes: list[tuple[int, int | None]]) -> None:
    print(f"bench_large_k  {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}  (case diagnostics cap "
          f"{CASE_DIAGNOSTICS_CAP} studies)")
    for k, n_studies in sizes:
        data = simulate(k, n_studies)
        review = SimpleNamespace(spec=SPEC, data=data)
        print(f"k = {k:,} effects in {n_studies or k:,} studies")
        start, cpu = time.perf_counter(), time.process_time()
        analysis = timed("frequentist analysis (as the analysis step)", lambda: frequentist_analysis(review))
        analysis.bayes = timed("exact Bayesian posterior", lambda: bayesian_analysis(review, analysis.meta)[0])
        timed("certainty and answer", lambda: rate_and_answer(analysis))
        print(f"  {'analysis step engine calls, total':<46} {time.perf_counter() - start:8.2f} s  "
              f"(cpu {time.process_time() - cpu:6.2f} s)  "
              f"({analysis.headline()['model'] or 'one effect per study'})")
    k = FORCED_K
    fit = frequentist_analysis(SimpleNamespace(spec={"analysis": SPEC["analysis"]}, data=simulate(k))).meta
    print(f"k = {k:,}, case diagnostics forced (what the cap saves):")
    timed("leave-one-out (REML, blocks of rows)", lambda: leave_one_out(fit))
    timed("influence (REML, pooled: vectorised)", lambda: influence(fit))


def whole_step(sizes: list[tuple[int, int | None]]) -> None:
    """Time ``analyse_review`` (the notebook's analysis cell) on a review written to a temporary project."""
    import tempfile
    from pathlib import Path

    from synthesis.analysis import analyse_review

    print(f"bench_large_k --whole  {datetime.now(timezone.utc):%Y-%m-%d %H:%M UTC}")
    for k, n_studies in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / "reviews" / "large"
            folder.mkdir(parents=True)
            data = simulate(k, n_studies)
            data.assign(study=[f"S{i}-{j}" for j, i in enumerate(data["sid"])] if n_studies is None else data["study"]
                        ).drop(columns="sei").to_csv(folder / "data.csv", index=False)
            (folder / "review.yaml").write_text(REVIEW_YAML % ("true" if n_studies is None else "false"))
            print(f"k = {k:,} effects in {n_studies or k:,} studies")
            analysis = timed("analyse_review (the whole analysis step)", lambda: analyse_review("large", tmp))
            multiverse = getattr(analysis, "multiverse", None)
            print(f"  ({analysis.headline()['model'] or 'one effect per study'}; "
                  f"multiverse: {0 if multiverse is None else len(multiverse.to_frame()):,} specifications)")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--whole"]:
        whole_step([(int(a.split("/")[0]), int(a.split("/")[1]) if "/" in a else None)
                    for a in sys.argv[2:] or ["10000/2000"]])
        sys.exit(0)
    cases = [tuple(int(n) for n in arg.split("/")) for arg in sys.argv[1:]] or [
        (8_000,), (10_000, 2_000), (10_000,), (1_000_000,)]
    main([(case[0], case[1] if len(case) > 1 else None) for case in cases])
