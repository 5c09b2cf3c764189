"""Text for the terminal: untrusted text made harmless, long text cut.

Titles, answers and messages come from review files and manifests; an ANSI
escape sequence or another control character in them could recolour, hide or
rewrite what the terminal shows, so :func:`clean` removes them before printing.

Examples
--------
>>> clean("Title\\x1b[2J\\x1b[31m red\\x07")
'Title red'
"""
from __future__ import annotations

import re

__all__ = ["clean"]

# CSI / OSC escape sequences first, then any remaining C0/C1 control character (tabs become spaces)
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x9b[0-?]*[ -/]*[@-~]")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def clean(text: object, limit: int = 500) -> str:
    """``text`` as one printable line: escape sequences and control characters removed, cut at ``limit``.

    Parameters
    ----------
    text : object
        Converted with ``str``.
    limit : int
        Longest result, in characters (longer text ends with ``…``).

    Examples
    --------
    >>> clean("a\\tb\\nc"), clean("x" * 10, limit=5)
    ('a b c', 'xxxx…')
    """
    line = _CONTROLS.sub(lambda m: " " if m.group() in "\t\n\r" else "", _ESCAPES.sub("", str(text)))
    line = line.replace("\t", " ")
    return line if len(line) <= limit else line[: limit - 1] + "…"
