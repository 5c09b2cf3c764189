"""Where independent tasks run: in this process, a local process pool, or a Dask cluster.

One interface for the three (:func:`open_executor`), one loop over it
(:func:`run_tasks`: results as they complete, stage updates from the workers
on the way) and one plain function for callers that only want the results
(:func:`map_tasks`, also meant for sensitivity grids too big for one process:
:func:`grid_map` is what a review's notebook passes to the analysis: the cluster
named by ``SYNTHESIS_SCHEDULER`` in an analyst's own session, or None).

A task is a picklable, module-level function of one picklable item; on a Dask
cluster it is sent with cloudpickle by reference, so the worker must be able
to import it (``synthesis`` installed on the workers, the project folder
visible at the same path). Inside a task, :func:`report_stage` sends a stage
name ("executing", "rendering", ...) back to the caller: through a queue from
the local pool, through a Dask event topic from a cluster. ``distributed`` is
imported only when a Dask executor is opened, so planning and up-to-date
checks stay cheap.

Examples
--------
>>> map_tasks(abs, [-1, 2, -3], jobs=1)
[1, 2, 3]
>>> scheduler_target("tcp://10.0.0.5:8786")
('address', 'tcp://10.0.0.5:8786')
"""
from __future__ import annotations

import os
import queue as queue_module
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from synthesis.errors import PipelineError

__all__ = ["STAGES", "TaskDone", "scheduler_target", "open_executor", "run_tasks", "map_tasks", "report_stage",
           "describe_failure"]

#: the stages a review goes through, in order (shown by ``synthesis run`` on a terminal)
STAGES = ("queued", "planning", "executing", "rendering", "publishing")

#: the Dask event topic carrying stage updates from the workers
TOPIC = "synthesis-stage"

#: seconds to wait for a Dask scheduler before giving up
CONNECT_TIMEOUT = 10.0

_ADDRESS = re.compile(r"^(?:(tcp|tls|ws|wss|ucx)://)?(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")

# set in a local pool's worker process (and in this process when running serially)
_channel: Callable[[str, str], None] | None = None


@dataclass
class TaskDone:
    """One finished task: its position in the input, its value, or the exception it raised.

    Examples
    --------
    >>> TaskDone(0, "key", 42, None).ok
    True
    """

    index: int
    key: str
    value: Any
    error: BaseException | None

    @property
    def ok(self) -> bool:
        """Whether the task returned (rather than raised)."""
        return self.error is None


def scheduler_target(text: str) -> tuple[str, str]:
    """Check a ``--scheduler`` value: ``("address", url)`` or ``("file", path)``.

    Parameters
    ----------
    text : str
        A Dask scheduler address (``tcp://host:port``; ``host:port`` means
        tcp) or the path of an existing scheduler file (``dask scheduler
        --scheduler-file``).

    Raises
    ------
    ValueError
        With a one-line message saying what to give.

    Examples
    --------
    >>> scheduler_target("localhost:8786")
    ('address', 'tcp://localhost:8786')
    >>> scheduler_target("tcp://h:99999")
    Traceback (most recent call last):
    ...
    ValueError: port 99999 in 'tcp://h:99999' is not a port (1-65535)
    """
    text = text.strip()
    match = _ADDRESS.match(text)
    if match:
        scheme, host, port = match.groups()
        if not 1 <= int(port) <= 65535:
            raise ValueError(f"port {port} in {text[:80]!r} is not a port (1-65535)")
        return "address", f"{scheme or 'tcp'}://{host}:{port}"
    if text and Path(text).is_file():
        return "file", str(Path(text).resolve())
    raise ValueError(f"{text[:80]!r} is neither a Dask scheduler address (e.g. tcp://host:8786) "
                     "nor an existing scheduler file")


def report_stage(key: str, stage: str) -> None:
    """Tell the caller that task ``key`` reached ``stage`` (a no-op where nobody listens).

    Called inside tasks; never raises.

    Examples
    --------
    >>> report_stage("alpha", "executing")
    """
    try:
        if _channel is not None:
            _channel(key, stage)
        elif "distributed" in sys.modules:  # on a Dask worker (the module is loaded there)
            from distributed import get_worker

            get_worker().log_event(TOPIC, {"key": str(key), "stage": str(stage)})
    except Exception:  # noqa: BLE001 - progress is a courtesy; the task goes on without it
        pass


def describe_failure(exc: BaseException) -> str | None:
    """One line for an executor's own failures (a worker died, the cluster went away), else ``None``.

    Examples
    --------
    >>> from concurrent.futures.process import BrokenProcessPool
    >>> describe_failure(BrokenProcessPool("x"))[:34]
    'the worker process running it died'
    >>> describe_failure(ValueError("x")) is None
    True
    """
    name = type(exc).__name__
    if name in ("BrokenProcessPool", "KilledWorker"):
        return "the worker process running it died (out of memory or killed); nothing was published: run again"
    if name in ("CancelledError", "FutureCancelledError"):
        return "the task was cancelled (the Dask cluster went away or was shut down); run again"
    if name == "CommClosedError":
        return "the connection to the Dask cluster was lost; run again"
    return None


def _install_channel(stage_queue: Any) -> None:
    """Initializer of the local pool's workers: stage updates go into ``stage_queue``."""
    global _channel
    _channel = lambda key, stage: stage_queue.put((key, stage))  # noqa: E731


class _Serial:
    """Tasks run in this process, one at a time, when waited for."""

    def __init__(self, on_stage: Callable[[str, str], None]) -> None:
        self.on_stage = on_stage

    def submit(self, fn: Callable[[Any], Any], item: Any, key: str) -> Future:
        future: Future = Future()
        future.task = (fn, item)  # type: ignore[attr-defined]
        return future

    def poll(self, pending: list[Any], tick: float) -> None:
        global _channel
        future = pending[0]
        fn, item = future.task
        saved, _channel = _channel, self.on_stage
        try:
            future.set_result(fn(item))
        except Exception as exc:  # noqa: BLE001 - handed to the caller like a pool's failure
            future.set_exception(exc)
        finally:
            _channel = saved

    def close(self) -> None:
        pass


class _LocalPool:
    """A :class:`concurrent.futures.ProcessPoolExecutor`; stage updates through a multiprocessing queue."""

    def __init__(self, jobs: int, on_stage: Callable[[str, str], None]) -> None:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        self.on_stage = on_stage
        self.queue = multiprocessing.get_context().Queue()
        self.pool = ProcessPoolExecutor(max_workers=jobs, initializer=_install_channel, initargs=(self.queue,))

    def submit(self, fn: Callable[[Any], Any], item: Any, key: str) -> Future:
        return self.pool.submit(fn, item)

    def poll(self, pending: list[Any], tick: float) -> None:
        deadline = time.monotonic() + tick
        while time.monotonic() < deadline and not any(f.done() for f in pending):
            self._drain(timeout=min(0.05, tick))

    def _drain(self, timeout: float) -> None:
        try:
            while True:
                key, stage = self.queue.get(timeout=timeout)
                self.on_stage(key, stage)
                timeout = 0.0
        except (queue_module.Empty, OSError, ValueError, EOFError):
            pass

    def close(self) -> None:
        self.pool.shutdown(wait=True, cancel_futures=True)
        self._drain(timeout=0.0)  # the updates sent just before the last results (the workers have exited)
        self.queue.close()


class _Dask:
    """An existing Dask distributed cluster; stage updates through an event topic."""

    def __init__(self, target: tuple[str, str], on_stage: Callable[[str, str], None]) -> None:
        try:
            from distributed import Client
        except ImportError:
            raise PipelineError("--scheduler needs Dask distributed: pip install 'dask[distributed]'") from None
        kind, where = target
        try:
            if kind == "file":
                self.client = Client(scheduler_file=where, timeout=CONNECT_TIMEOUT, set_as_default=False)
            else:
                self.client = Client(where, timeout=CONNECT_TIMEOUT, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - OSError, TimeoutError, bad scheduler file: one line
            raise PipelineError(f"cannot reach the Dask scheduler at {where} ({type(exc).__name__}: "
                                f"{str(exc)[:160]}); check the address and that `dask scheduler` is running") from None
        self.events: queue_module.SimpleQueue = queue_module.SimpleQueue()
        self.on_stage = on_stage
        try:
            self.client.subscribe_topic(TOPIC, self.events.put)
        except Exception:  # noqa: BLE001 - progress is a courtesy
            pass

    def submit(self, fn: Callable[[Any], Any], item: Any, key: str) -> Any:
        import uuid

        return self.client.submit(fn, item, key=f"synthesis-{key}-{uuid.uuid4().hex[:8]}", pure=False, retries=0)

    def poll(self, pending: list[Any], tick: float) -> None:
        deadline = time.monotonic() + tick
        while True:
            try:
                while True:
                    _, message = self.events.get_nowait()
                    self.on_stage(message["key"], message["stage"])
            except (queue_module.Empty, KeyError, TypeError, ValueError):
                pass
            if time.monotonic() >= deadline or any(f.done() for f in pending):
                return
            time.sleep(0.05)

    def close(self) -> None:
        try:
            self.client.unsubscribe_topic(TOPIC)
        except Exception:  # noqa: BLE001
            pass
        self.client.close()


def open_executor(jobs: int | None = None, scheduler: str | None = None,
                  on_stage: Callable[[str, str], None] | None = None) -> Any:
    """The executor for ``jobs`` local processes, or the Dask cluster at ``scheduler``.

    Parameters
    ----------
    jobs : int, optional
        Local processes (default: number of cores); 1 runs the tasks in this
        process. Ignored with ``scheduler``.
    scheduler : str, optional
        A Dask scheduler address or scheduler file (see :func:`scheduler_target`).
    on_stage : callable, optional
        ``on_stage(key, stage)``, called in this process for each
        :func:`report_stage` of a task.

    Returns
    -------
    executor
        With ``submit(fn, item, key)``, ``poll(pending, tick)`` and ``close()``;
        used through :func:`run_tasks`.

    Raises
    ------
    PipelineError
        When the Dask scheduler cannot be reached (one line).

    Examples
    --------
    >>> ex = open_executor(jobs=1); f = ex.submit(abs, -2, "k"); ex.poll([f], 0.1); f.result()
    2
    """
    on_stage = on_stage or (lambda key, stage: None)
    if scheduler is not None:
        try:
            target = scheduler_target(scheduler)
        except ValueError as exc:
            raise PipelineError(f"--scheduler: {exc}") from None
        return _Dask(target, on_stage)
    jobs = max(1, jobs or os.cpu_count() or 1)
    return _Serial(on_stage) if jobs == 1 else _LocalPool(jobs, on_stage)


def run_tasks(fn: Callable[[Any], Any], items: Iterable[Any], keys: Iterable[str] | None = None, *,
              jobs: int | None = None, scheduler: str | None = None,
              on_stage: Callable[[str, str], None] | None = None,
              on_tick: Callable[[], None] | None = None, tick: float = 0.25) -> Iterator[TaskDone]:
    """Run ``fn(item)`` for every item; yield each :class:`TaskDone` as it completes.

    A task that raises, or whose worker dies, is yielded with its exception;
    the other tasks carry on.

    Parameters
    ----------
    fn : callable
        A picklable module-level function of one item.
    items : iterable
        Picklable arguments, one task each.
    keys : iterable of str, optional
        A name per task (default: its position), used by :func:`report_stage`
        and ``on_stage``.
    jobs, scheduler
        Where tasks run (see :func:`open_executor`). With one task and no
        scheduler it runs in this process.
    on_stage : callable, optional
        ``on_stage(key, stage)``: "queued" for every task when submitted, then
        whatever the tasks report.
    on_tick : callable, optional
        Called every ``tick`` seconds while waiting (to redraw a progress line).

    Examples
    --------
    >>> [(d.key, d.value) for d in run_tasks(len, ["ab", "c"], ["x", "y"], jobs=1)]
    [('x', 2), ('y', 1)]
    """
    items = list(items)
    keys = [str(k) for k in keys] if keys is not None else [str(i) for i in range(len(items))]
    if not items:
        return
    on_stage = on_stage or (lambda key, stage: None)
    if scheduler is None and len(items) == 1:
        jobs = 1
    executor = open_executor(jobs if scheduler is None else None, scheduler, on_stage)
    try:
        positions = {}
        for index, (item, key) in enumerate(zip(items, keys)):
            positions[executor.submit(fn, item, key)] = index
            on_stage(key, "queued")
        pending = list(positions)
        while pending:
            executor.poll(pending, tick)
            if on_tick is not None:
                on_tick()
            for future in [f for f in pending if f.done()]:
                pending.remove(future)
                index = positions[future]
                try:
                    yield TaskDone(index, keys[index], future.result(), None)
                except Exception as exc:  # noqa: BLE001 - reported with the task, the others go on
                    yield TaskDone(index, keys[index], None, exc)
    finally:
        executor.close()


#: the environment variable through which a run tells the notebook's kernel its Dask scheduler
SCHEDULER_VARIABLE = "SYNTHESIS_SCHEDULER"


def grid_map(environ: Any = None) -> Callable[[Callable[[Any], Any], list[Any]], list[Any]] | None:
    """The ``map`` for a sensitivity grid's per-subset fits: on a Dask cluster, or None (in process).

    An analyst running the notebook in their own session (e.g. JupyterLab) sets
    :data:`SCHEDULER_VARIABLE` to a scheduler address; the review's grid then sends its
    publication-bias fits there (``analyse_review(..., map=grid_map())``). Kernels that
    ``synthesis run`` starts never have it: with ``--scheduler`` the review itself runs
    on a worker, and a worker waiting for tasks queued behind it on the same cluster
    can deadlock the cluster (seen with two reviews on two single-thread workers).

    Examples
    --------
    >>> grid_map({}) is None
    True
    >>> grid_map({"SYNTHESIS_SCHEDULER": "tcp://10.0.0.5:8786"}).keywords
    {'scheduler': 'tcp://10.0.0.5:8786'}
    """
    import functools

    address = (os.environ if environ is None else environ).get(SCHEDULER_VARIABLE)
    return functools.partial(map_tasks, scheduler=address) if address else None


def map_tasks(fn: Callable[[Any], Any], items: Iterable[Any], *, jobs: int | None = None,
              scheduler: str | None = None) -> list[Any]:
    """``[fn(item) for item in items]``, computed in parallel (local processes or a Dask cluster).

    Parameters
    ----------
    fn : callable
        A picklable module-level function of one item.
    items : iterable
        Picklable arguments.
    jobs : int, optional
        Local processes (default: number of cores; 1: in this process).
    scheduler : str, optional
        A Dask scheduler address or scheduler file.

    Returns
    -------
    list
        The values in the order of ``items``.

    Raises
    ------
    Exception
        The first failing task's exception (an executor failure as
        :class:`~synthesis.errors.PipelineError`).

    Examples
    --------
    >>> map_tasks(str.upper, ["a", "b"], jobs=1)
    ['A', 'B']
    """
    items = list(items)
    values: list[Any] = [None] * len(items)
    for done in run_tasks(fn, items, jobs=jobs, scheduler=scheduler):
        if done.error is not None:
            reason = describe_failure(done.error)
            if reason is not None:
                raise PipelineError(f"task {done.index}: {reason}") from None
            raise done.error
        values[done.index] = done.value
    return values
