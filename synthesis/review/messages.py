"""Problems in plain words: the small pieces every review message is made of.

A review's problems are collected, not raised one by one, and become one
:class:`~synthesis.errors.ReviewError` with one line per problem
(:func:`review_error`).
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import Any

from synthesis.errors import ReviewError

__all__ = ["did_you_mean", "dotted", "show", "join_words", "review_error"]


def did_you_mean(word: Any, options: Sequence[Any]) -> str:
    """``"; did you mean 'x'?"`` for the closest option (case does not matter), else ``"."``.

    Examples
    --------
    >>> did_you_mean("rmel", ["DL", "REML"]), did_you_mean("zzz", ["DL"])
    ("; did you mean 'REML'?", '.')
    """
    by_lower = {str(o).lower(): str(o) for o in options}
    close = difflib.get_close_matches(str(word).lower(), list(by_lower), n=1, cutoff=0.6)
    return f"; did you mean {by_lower[close[0]]!r}?" if close else "."


def dotted(loc: Sequence[Any]) -> str:
    """A location in the settings as a dotted key.

    Examples
    --------
    >>> dotted(("moderators", 0, "reference"))
    'moderators.0.reference'
    """
    return ".".join(str(p) for p in loc)


def show(value: Any) -> str:
    """A value as written in a message (its ``repr``, cut at 60 characters).

    Examples
    --------
    >>> show("abc"), show(-0.5)
    ("'abc'", '-0.5')
    """
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def join_words(items: Sequence[Any], limit: int = 8) -> str:
    """``'1, 2 and 3'``; beyond ``limit`` items, ``'1, 2 and 5 more'``.

    Examples
    --------
    >>> join_words([2, 5, 9]), join_words(range(1, 12), limit=2)
    ('2, 5 and 9', '1, 2 and 9 more')
    """
    words = [str(i) for i in items]
    if len(words) > limit:
        return ", ".join(words[:limit]) + f" and {len(words) - limit} more"
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def review_error(problems: Sequence[str]) -> ReviewError:
    """One :class:`~synthesis.errors.ReviewError`, one line per problem (repeats dropped).

    ``.problems`` holds the lines.

    Examples
    --------
    >>> review_error(["a: bad", "b: worse", "a: bad"]).problems
    ['a: bad', 'b: worse']
    """
    unique = list(dict.fromkeys(problems))
    err = ReviewError("\n".join(unique))
    err.problems = unique  # type: ignore[attr-defined]
    return err
