"""The live lines of ``synthesis run``: one per review in progress (stage, elapsed seconds).

On a terminal the lines of the reviews still in progress stay at the bottom
and are redrawn in place; each review's final line ("done v3", "failed: ...")
is printed above them once and stays. When the output is not a terminal
(a pipe, a log file, a test's ``StringIO``) only the final lines are printed.

Examples
--------
>>> import io
>>> out = io.StringIO()
>>> progress = Progress(out)
>>> progress.stage("alpha", "executing"); progress.say("alpha: done v1 (3.0 s)", key="alpha")
>>> out.getvalue()
'alpha: done v1 (3.0 s)\\n'
"""
from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from typing import TextIO

from synthesis.cli.terminal import clean

__all__ = ["Progress"]

_UP_AND_CLEAR = "\x1b[{n}F\x1b[J"  # cursor to the start of the line n lines up, clear to the end of the screen


class Progress:
    """Live per-review lines on a terminal, final lines everywhere.

    Parameters
    ----------
    out : text stream
    live : bool, optional
        Redraw lines in place (default: ``out.isatty()``).
    clock : callable, optional
        Seconds (default :func:`time.monotonic`).

    Examples
    --------
    >>> import io
    >>> class Tty(io.StringIO):
    ...     def isatty(self): return True
    >>> out, now = Tty(), [0.0]
    >>> progress = Progress(out, clock=lambda: now[0])
    >>> progress.stage("alpha", "queued"); now[0] = 4.2; progress.stage("alpha", "executing")
    >>> out.getvalue().splitlines()[-1]
    '\\x1b[1F\\x1b[Jalpha: executing (4 s)'
    """

    def __init__(self, out: TextIO, live: bool | None = None, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        if live is None:
            try:
                live = bool(out.isatty())
            except (AttributeError, ValueError):
                live = False
        self.live, self.clock = live, clock
        self.active: dict[str, tuple[str, float]] = {}  # key -> (stage, start)
        self.finished: set[str] = set()
        self.drawn = 0  # live lines on screen now

    def stage(self, key: str, stage: str) -> None:
        """Review ``key`` reached ``stage`` (ignored once its final line is out)."""
        if key in self.finished:
            return
        start = self.active.get(key, (stage, self.clock()))[1]
        self.active[key] = (stage, start)
        self._draw()

    def say(self, line: str, key: str | None = None) -> None:
        """Print a final line (above the live lines); with ``key``, that review is finished."""
        if key is not None:
            self.active.pop(key, None)
            self.finished.add(key)
        self._draw(final=clean(line, limit=2000))

    def tick(self) -> None:
        """Redraw the elapsed seconds."""
        if self.active:
            self._draw()

    def close(self) -> None:
        """Remove the live lines (the final lines stay)."""
        self.active.clear()
        self._draw()

    def _draw(self, final: str | None = None) -> None:
        if not self.live:
            if final is not None:
                print(final, file=self.out, flush=True)
            return
        width = max(20, shutil.get_terminal_size().columns - 1)  # a wrapped line would break the redraw
        now = self.clock()
        lines = [] if final is None else [final]
        lines += [clean(f"{key}: {stage} ({now - start:.0f} s)", limit=width)
                  for key, (stage, start) in self.active.items()]
        prefix = _UP_AND_CLEAR.format(n=self.drawn) if self.drawn else ""
        if not lines and not prefix:
            return
        self.out.write(prefix + "".join(f"{line}\n" for line in lines))
        self.out.flush()
        self.drawn = len(self.active)
