"""Compiled nutpie models kept on disk, so a fresh process does not compile again.

Most of a first fit's time is numba compiling the two C callbacks nutpie builds
around PyTensor's log-density and its "expand" function (about 80% of the
compile time; measured in ``benchmarks/bench_bayes.py``). nutpie passes
``cache=True`` on to ``numba.cfunc``, but numba's own cache never hits in a new
process: its index key hashes the callbacks' closure variables, which hold
PyTensor's generated functions with fresh random names in every process. This
module keys the callbacks instead by the model's *structure*:

* the model's own structural key (the caller's: for the strategy model the numbers
  of effects, studies, strategies, classes and moderator terms and whether there is
  an interaction), the names and types of its free variables, the names, shapes and
  dtypes of its ``pm.Data`` containers (their values are data, passed at run time,
  not compiled in), and a digest of the source of ``synthesis.bayes`` (which builds
  the graphs); without a caller's key, the printed PyTensor graph instead;
* the versions of Python, numba, llvmlite, nutpie, PyMC, PyTensor and NumPy
  (a new version gets a new directory).

Not the printed graph when a key is given: PyTensor's rewrites order some operands
by object identity, so the same model prints (and compiles) as one of a few
equivalent graphs from process to process (seen: two variants in alternate fresh
processes, also with ``PYTHONHASHSEED=0``); keyed by the printed graph, a warm cache
then missed every other time. Keyed by structure, the first compiled variant is
reused by every later process, so a warm cache also gives the same draws for the
same seed.

A changed review with the same structure therefore reuses the compiled model,
within a process and across processes. Each structure has its own directory
and a file lock, so two processes compiling the same model wait for each other
and processes with different models never share an index file. The cache
stores machine code only: a fit gives the same draws for the same seed whether
the cache was cold or warm (tested).

The cache lives in ``$SYNTHESIS_CACHE_DIR``, else ``$XDG_CACHE_HOME/synthesis``,
else ``~/.cache/synthesis``; delete the folder to empty it. Set
``SYNTHESIS_CACHE_DIR=off`` to compile without it.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import platform
import re
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = ["cache_root", "compile_nutpie", "structure_key"]

_VERSIONED = ("numba", "llvmlite", "nutpie", "pymc", "pytensor", "numpy")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]+")


def cache_root() -> Path | None:
    """The folder of compiled models, or None when ``SYNTHESIS_CACHE_DIR=off``.

    Examples
    --------
    >>> import os
    >>> os.environ["SYNTHESIS_CACHE_DIR"] = "/tmp/synthesis-cache-example"
    >>> str(cache_root())
    '/tmp/synthesis-cache-example'
    >>> del os.environ["SYNTHESIS_CACHE_DIR"]
    """
    explicit = os.environ.get("SYNTHESIS_CACHE_DIR", "").strip()
    if explicit.lower() in {"off", "0", "none", "false"}:
        return None
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME", "").strip() or Path.home() / ".cache"
    return Path(base) / "synthesis"


def _versions() -> str:
    parts = [f"python={platform.python_version()}", f"machine={platform.machine()}"]
    for name in _VERSIONED:
        try:
            parts.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            parts.append(f"{name}=?")
    return ";".join(parts)


def _source_digest() -> str:
    """SHA-256 of the source files of ``synthesis.bayes`` (the code that builds the graphs)."""
    folder = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted(folder.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def structure_key(model: Any, model_key: Any = None) -> str:
    """Hash of a PyMC model's structure and the library versions (hex, 24 characters).

    Data values are not part of it; data names, shapes and dtypes are. ``model_key``:
    the caller's structural key (see the module docstring); without it the printed
    graph is hashed.

    Examples
    --------
    >>> import pymc as pm
    >>> def model(y):
    ...     with pm.Model() as m:
    ...         data = pm.Data("y", y)
    ...         pm.Normal("obs", pm.Normal("mu"), 1.0, observed=data)
    ...     return m
    >>> structure_key(model([0.1, 0.2])) == structure_key(model([0.5, -0.3]))
    True
    >>> structure_key(model([0.1, 0.2])) == structure_key(model([0.1, 0.2, 0.3]))
    False
    """
    import pytensor

    data = sorted((name, tuple(var.get_value(borrow=True).shape), str(var.dtype))
                  for name, var in model.named_vars.items()
                  if isinstance(var, pytensor.compile.sharedvalue.SharedVariable))
    free = [(rv.name, str(rv.type)) for rv in model.free_RVs]
    if model_key is not None:
        structure = f"{model_key!r}\n{_source_digest()}"
    else:
        structure = _ADDRESS.sub("0x", pytensor.printing.debugprint(
            [model.logp(), *model.unobserved_value_vars], file="str", print_type=True))
    text = "\n".join([_versions(), repr(free), repr(data), structure])
    return hashlib.sha256(text.encode()).hexdigest()[:24]


@contextlib.contextmanager
def _keyed_cfunc_cache(folder: Path, key: str) -> Iterator[list]:
    """While active, ``numba.cfunc(cache=True)`` stores and finds callbacks by ``key`` in ``folder``.

    Yields the list of the callbacks' caches (to count hits).
    """
    from numba.core import ccallback, caching

    class KeyedCache(caching.FunctionCache):
        def __init__(self, py_func: Any) -> None:
            super().__init__(py_func)
            self._cache_path = str(folder)
            self._cache_file = caching.IndexDataCacheFile(
                cache_path=str(folder), filename_base=self._impl.filename_base,
                source_stamp=self._impl.locator.get_source_stamp())

        def _index_key(self, sig: Any, codegen: Any) -> tuple:
            return (sig, codegen.magic_tuple(), key)

    caches: list = []
    original = ccallback.CFunc.enable_caching

    def enable_caching(self: Any) -> None:
        try:
            self._cache = KeyedCache(self._pyfunc)
        except (RuntimeError, OSError):  # numba found no usable cache locator: compile uncached
            return
        caches.append(self._cache)

    ccallback.CFunc.enable_caching = enable_caching
    try:
        yield caches
    finally:
        ccallback.CFunc.enable_caching = original


def compile_nutpie(model: Any, model_key: Any = None) -> tuple[Any, str]:
    """``nutpie.compile_pymc_model(model)``, its numba callbacks read from / written to the disk cache.

    ``model_key``: the caller's structural key of the model (:func:`structure_key`).

    Returns the compiled model and what happened: ``"hit"`` (loaded from the
    cache), ``"compiled"`` (compiled here, and stored when numba could) or
    ``"off"`` (no cache).
    """
    import nutpie

    root = cache_root()
    if root is None:
        return nutpie.compile_pymc_model(model), "off"
    from filelock import FileLock

    key = structure_key(model, model_key)
    folder = root / "nutpie" / key
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:  # an unwritable cache folder slows the fit down, it does not stop it
        return nutpie.compile_pymc_model(model), "off"
    with FileLock(str(folder / "compile.lock")), _keyed_cfunc_cache(folder, key) as caches:
        compiled = nutpie.compile_pymc_model(model, cache=True)
    callbacks = (compiled.compiled_logp_func, compiled.compiled_expand_func)
    hit = len(caches) == 2 and all(getattr(f, "cache_hits", 0) for f in callbacks)
    return compiled, "hit" if hit else "compiled"
