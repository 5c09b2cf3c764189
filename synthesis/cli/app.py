"""The ``synthesis`` command-line interface.

A thin layer over :mod:`synthesis.review.loader` and :mod:`synthesis.pipeline`:
it parses arguments, calls the library, and turns user-facing errors
(:class:`synthesis.errors.SynthesisError`) into a short message and exit
code 1 without a traceback.

Commands
--------
validate [ID ...]   check review specifications and study data
list                show each review, its size and latest report version
run [ID ...]        execute, render and publish versioned reports
diff ID [VA VB]     what changed between two report versions
verify [ID ...]     check every published version against its recorded hashes

Exit codes
----------
0 success; 1 a review failed, was invalid or a version does not match its
record, or the Dask scheduler given with ``run --scheduler`` cannot be reached; 2 a wrong command-line flag (argparse); 130 interrupted (Ctrl-C);
141 the output pipe was closed (``synthesis diff ... | head``), quietly.
"""
from __future__ import annotations

import argparse
import os
import sys

from synthesis.cli.terminal import clean
from synthesis.errors import SynthesisError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="synthesis",
        description="Evidence synthesis for implementation and knowledge-mobilisation questions.",
    )
    parser.add_argument("--version", action="version", version=f"synthesis {_package_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("validate", help="check review specifications and study data")
    p.add_argument("ids", nargs="*", metavar="ID", help="review ids (default: all reviews)")
    p.add_argument("--project", default=".", metavar="DIR", help="project folder (default: current folder)")

    p = sub.add_parser("list", help="list reviews with their latest report version")
    p.add_argument("--project", default=".", metavar="DIR", help="project folder (default: current folder)")

    p = sub.add_parser("run", help="execute the review notebooks and publish versioned reports")
    p.add_argument("ids", nargs="*", metavar="ID", help="review ids (default: all reviews)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a review setting (dotted keys for nesting); repeatable")
    p.add_argument("--jobs", type=_positive_int, default=None, metavar="N",
                   help="reviews run in parallel (default: number of cores)")
    p.add_argument("--scheduler", type=_scheduler, default=None, metavar="ADDRESS",
                   help="execute on an existing Dask cluster: its scheduler address (tcp://host:8786) or "
                        "scheduler file; the workers need synthesis installed and the project folder at the "
                        "same path (default: local processes, --jobs)")
    p.add_argument("--force", action="store_true", help="re-execute even when nothing changed")
    p.add_argument("--timeout", type=_positive_seconds, default=None, metavar="SECONDS",
                   help="longest a notebook cell may run before the review fails (default: 1800)")
    p.add_argument("--project", default=".", metavar="DIR", help="project folder (default: current folder)")

    p = sub.add_parser("diff", help="what changed between two versions of a review's report")
    p.add_argument("id", metavar="ID")
    p.add_argument("versions", nargs="*", metavar="VERSION", help="two versions, e.g. v1 v2 (default: the last two)")
    p.add_argument("--project", default=".", metavar="DIR", help="project folder (default: current folder)")

    p = sub.add_parser("verify", help="check every published version against the hashes recorded when it was published")
    p.add_argument("ids", nargs="*", metavar="ID", help="review ids (default: every review with reports)")
    p.add_argument("--project", default=".", metavar="DIR", help="project folder (default: current folder)")
    return parser


def _package_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("synthesis")
    except PackageNotFoundError:  # running from a source tree
        return "0+unknown"


def _positive_int(text: str) -> int:
    """argparse type for --jobs: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give e.g. --jobs 2") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is too small; give at least 1 (--jobs 1 runs one review at a time)")
    return value


def _positive_seconds(text: str) -> float:
    """argparse type for --timeout: a number of seconds > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number of seconds; give e.g. --timeout 600") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text[:40]} is not a usable timeout; give a number of seconds above 0")
    return value


def _scheduler(text: str) -> str:
    """argparse type for --scheduler: a Dask scheduler address or an existing scheduler file."""
    from synthesis.pipeline.executors import scheduler_target

    try:
        kind, where = scheduler_target(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return where


def _closed_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, as command-line tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # Python's final flush must not raise again
    except (OSError, ValueError):
        pass
    return 141


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``synthesis`` console script; returns the exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    try:
        if args.command in ("validate", "list", "verify"):
            from synthesis.cli import review_commands as handlers
        else:
            from synthesis.cli import run_commands as handlers
        handler = getattr(handlers, f"cmd_{args.command}")
        code = int(handler(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not in Python's final flush
        return code
    except SynthesisError as exc:
        text = "\n".join(clean(line, limit=2000) for line in str(exc).splitlines())
        print(f"error: {text}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return _closed_pipe()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
