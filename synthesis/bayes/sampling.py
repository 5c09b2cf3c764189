"""Sampling machinery: sampler settings, seeds, the nutpie/PyMC dispatch and its cache.

Compiled nutpie models are cached in-process per model structure and data
shape (the ``key`` a model specification gives), so refitting the same
structure with new data (prior sensitivity, simulation studies) costs only the
sampling time, and on disk across processes by the model's graph
(:mod:`synthesis.bayes.compile_cache`). PyMC and nutpie are imported only when
a sampler runs.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal

import numpy as np

from synthesis.errors import DataError

__all__ = ["DEFAULT_SAMPLER", "SAMPLERS", "Sampler", "SamplerSettings", "quiet", "resolve_seed", "sample",
           "sampler_settings"]

DEFAULT_SAMPLER = "nutpie"  # chosen by benchmarks/bench_bayes.py (see its docstring)
Sampler = Literal["nutpie", "pymc"]
SAMPLERS: tuple[str, ...] = ("nutpie", "pymc")

_COMPILED: dict[tuple, Any] = {}


def resolve_seed(seed: int | None) -> int:
    """``seed`` checked, or a fresh one drawn from the operating system when None.

    Examples
    --------
    >>> resolve_seed(7), 0 <= resolve_seed(None) < 2 ** 32
    (7, True)
    """
    if seed is None:
        return int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
    if isinstance(seed, (bool, float)) or int(seed) < 0:
        raise DataError(f"seed must be a non-negative integer, not {seed!r}")
    return int(seed)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """Silence PyMC's progress chatter; the result carries everything that matters."""
    loggers = [logging.getLogger(name) for name in ("pymc", "pymc.sampling.mcmc", "pytensor")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module="pymc")
            # the C backend is only used for the initial point; sampling runs in numba
            warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS")
            warnings.filterwarnings("ignore", category=RuntimeWarning, module="arviz")
            yield
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


@dataclasses.dataclass(frozen=True)
class SamplerSettings:
    """What a fit was sampled with (recorded in ``BayesResult.settings``)."""

    sampler: str
    draws: int
    tune: int
    chains: int
    cores: int
    target_accept: float
    seed: int

    def as_dict(self) -> dict[str, Any]:
        """The settings as a plain dictionary."""
        return dataclasses.asdict(self)


def sampler_settings(sampler: str, draws: int, tune: int, chains: int, cores: int,
                     target_accept: float, seed: int | None) -> SamplerSettings:
    """Checked sampler settings; a user mistake gives a one-line :class:`DataError`.

    Examples
    --------
    >>> sampler_settings("nutpie", 1000, 1000, 4, 2, 0.9, seed=1).as_dict()["seed"]
    1
    >>> sampler_settings("stan", 1000, 1000, 4, 2, 0.9, seed=1)
    Traceback (most recent call last):
    ...
    synthesis.errors.DataError: sampler 'stan' is not known; use 'nutpie' or 'pymc'
    """
    if sampler not in SAMPLERS:
        raise DataError(f"sampler {sampler!r} is not known; use 'nutpie' or 'pymc'")
    for name, value in (("draws", draws), ("tune", tune), ("chains", chains), ("cores", cores)):
        if int(value) < 1:
            raise DataError(f"{name} must be a positive integer, not {value!r}")
    if not 0.5 <= float(target_accept) < 1.0:
        raise DataError(f"target_accept must be in [0.5, 1), not {target_accept!r}")
    return SamplerSettings(sampler, int(draws), int(tune), int(chains), int(cores),
                           float(target_accept), resolve_seed(seed))


def sample(key: tuple, build: Callable[[], Any], data: Mapping[str, np.ndarray],
           settings: SamplerSettings) -> Any:
    """Sample the model ``build()`` with ``data`` swapped in; returns InferenceData.

    ``build`` must create a PyMC model whose ``pm.Data`` names are the keys of
    ``data``. With nutpie the compiled model is cached under ``key`` (model
    structure and shapes) and reused with new data, and its numba code is kept
    on disk for other processes (:func:`synthesis.bayes.compile_cache.compile_nutpie`).
    Wall times are stored in ``idata.posterior.attrs`` (``compile_seconds``,
    ``sampling_seconds``), with ``compile_cache`` (``"memory"``, ``"hit"``,
    ``"compiled"``, ``"off"``) for nutpie.
    """
    start = time.perf_counter()
    with quiet():
        if settings.sampler == "nutpie":
            import nutpie

            from synthesis.bayes.compile_cache import compile_nutpie

            compiled = _COMPILED.get(key)
            cache = "memory"
            if compiled is None:
                compiled, cache = compile_nutpie(build(), key)
                _COMPILED[key] = compiled
            # data unused by this prior family (e.g. tau_loc) is not part of the graph
            compiled = compiled.with_data(**{k: v for k, v in data.items()
                                             if k in compiled.shared_data})
            compiled_at = time.perf_counter()
            idata = nutpie.sample(compiled, draws=settings.draws, tune=settings.tune,
                                  chains=settings.chains, cores=min(settings.cores, settings.chains),
                                  seed=settings.seed, progress_bar=False, save_warmup=False,
                                  target_accept=settings.target_accept)
            sampling = time.perf_counter() - compiled_at
            idata.posterior.attrs["compile_cache"] = cache
        else:
            import pymc as pm

            model = build()
            with model:
                pm.set_data(dict(data))
                idata = pm.sample(draws=settings.draws, tune=settings.tune,
                                  chains=settings.chains, cores=min(settings.cores, settings.chains),
                                  random_seed=settings.seed, progressbar=False,
                                  target_accept=settings.target_accept,
                                  compute_convergence_checks=False, return_inferencedata=True)
            sampling = float(idata.posterior.attrs.get("sampling_time", float("nan")))
    total = time.perf_counter() - start
    idata.posterior.attrs.update(compile_seconds=max(total - sampling, 0.0),
                                 sampling_seconds=sampling)
    return idata
