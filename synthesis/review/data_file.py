"""The study data file: reading the CSV, and naming rows, lines and cells in messages.

Row numbers count studies: row 1 is the first data row, under the header (the
convention of the engine's messages); "line" is the line of the file, which
is also the row number a spreadsheet shows (the header is line 1)::

    reviews/demo/studies.csv, row 14 (line 15 of the file), column 'vi': -0.02 is not a valid variance (must be > 0)
"""
from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synthesis.errors import ReviewError
from synthesis.review.messages import join_words

__all__ = ["Problems", "read_table", "numeric", "same_level", "format_cell", "split_cells", "unique_labels"]

_MAX_CELLS_PER_PROBLEM = 5


@dataclass
class Problems:
    """Collects data problems with file, row (and line) and column.

    Examples
    --------
    >>> problems = Problems("reviews/demo/studies.csv", lines=[2, 3, 5])
    >>> problems.cells([2], "vi", "-1 is not a valid variance (must be > 0)")
    >>> problems.messages
    ["reviews/demo/studies.csv, row 3 (line 5 of the file), column 'vi': -1 is not a valid variance (must be > 0)"]
    """

    rel: str
    lines: list[int]
    messages: list[str] = field(default_factory=list)

    def add(self, message: str) -> None:
        """A problem of the file as a whole (the file's name is put in front)."""
        self.messages.append(f"{self.rel}: {message}")

    def where(self, positions: Sequence[int]) -> str:
        """``row 3 (line 5 of the file)`` for 0-based positions."""
        rows = [p + 1 for p in positions]
        lines = [self.lines[p] for p in positions]
        if len(rows) == 1:
            return f"row {rows[0]} (line {lines[0]} of the file)"
        return f"rows {join_words(rows)} (lines {join_words(lines)})"

    def cells(self, positions: Sequence[int], column: str, text: str | Callable[[int], str]) -> None:
        """One message per bad cell (``text`` may be a function of the position)."""
        positions = list(positions)
        for p in positions[:_MAX_CELLS_PER_PROBLEM]:
            detail = text(p) if callable(text) else text
            self.messages.append(f"{self.rel}, {self.where([p])}, column {column!r}: {detail}")
        if len(positions) > _MAX_CELLS_PER_PROBLEM:
            rest = positions[_MAX_CELLS_PER_PROBLEM:]
            self.messages.append(f"{self.rel}, column {column!r}: the same problem in {len(rest)} more "
                                 f"{'row' if len(rest) == 1 else 'rows'} ({self.where(rest)})")


def _record_lines(text: str, n_rows: int) -> list[int]:
    """The file line where each data row starts (header = line 1)."""
    starts, end = [], 0
    try:
        reader = csv.reader(io.StringIO(text))
        for record in reader:
            start, end = end + 1, reader.line_num
            if record:
                starts.append(start)
    except csv.Error:
        starts = []
    if len(starts) - 1 != n_rows:
        return [i + 2 for i in range(n_rows)]
    return starts[1:]


def read_table(path: Path, rel: str) -> tuple[pd.DataFrame, list[int]]:
    """Read a UTF-8 CSV file; return the table and the file line of each row.

    Unreadable, empty or badly headed files are refused with one
    :class:`~synthesis.errors.ReviewError` naming ``rel``.

    Examples
    --------
    >>> import tempfile
    >>> path = Path(tempfile.mkdtemp()) / "studies.csv"
    >>> _ = path.write_text('study,yi\\n"A\\nB",0.1\\nC,0.2\\n')
    >>> table, lines = read_table(path, "studies.csv")
    >>> len(table), lines
    (2, [2, 4])
    """
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ReviewError(f"{rel}: file not found; check data.file in review.yaml") from None
    except UnicodeDecodeError:
        raise ReviewError(f"{rel}: not a UTF-8 text file; save it as CSV UTF-8") from None
    except OSError as exc:
        raise ReviewError(f"{rel}: cannot be read ({exc.strerror})") from None
    if not text.strip():
        raise ReviewError(f"{rel}: the file is empty; it needs a header row and one row per effect size")
    try:
        table = pd.read_csv(io.StringIO(text))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise ReviewError(f"{rel}: not a readable CSV file ({str(exc).strip()}); check the quotes and "
                          "the number of commas in each row") from None
    unnamed = [c for c in table.columns if str(c).startswith("Unnamed: ")]
    if unnamed:
        raise ReviewError(f"{rel}: the header row has {len(unnamed)} empty column name(s); name every column")
    header = next(csv.reader(io.StringIO(text)), [])
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise ReviewError(f"{rel}: the header row repeats the column name(s) {', '.join(map(repr, dupes))}; "
                          "give every column its own name")
    return table, _record_lines(text, len(table))


def numeric(series: pd.Series) -> tuple[pd.Series, list[int]]:
    """Column as floats and the positions of cells that are not numbers.

    Examples
    --------
    >>> numeric(pd.Series(["1", "x", None]))[1]
    [1]
    """
    if pd.api.types.is_bool_dtype(series):
        return series.astype(float), []
    values = pd.to_numeric(series, errors="coerce")
    bad = np.flatnonzero(values.isna().to_numpy() & series.notna().to_numpy())
    return values.astype(float), [int(i) for i in bad]


def same_level(level: Any, wanted: Any) -> bool:
    """Whether a data level equals a level written in YAML (``0`` = ``0.0``, ``no`` = ``False``).

    Examples
    --------
    >>> same_level(0.0, 0), same_level("no", False), same_level("rct", "cct")
    (True, True, False)
    """
    if isinstance(wanted, bool) or isinstance(level, (bool, np.bool_)):
        truthy = {"true", "yes", "y", "on", "1", "1.0"}
        falsy = {"false", "no", "n", "off", "0", "0.0"}
        a, b = str(level).strip().lower(), str(wanted).strip().lower()
        return (a in truthy and b in truthy) or (a in falsy and b in falsy)
    try:
        return float(level) == float(wanted)
    except (TypeError, ValueError):
        return str(level).strip() == str(wanted).strip()


def format_cell(value: Any) -> str:
    """A cell as text: empty for a missing value, ``2008`` (not ``2008.0``) for a whole number.

    Examples
    --------
    >>> format_cell(2008.0), format_cell(float("nan")), format_cell("Aspy")
    ('2008', '', 'Aspy')
    """
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return ""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value)


def unique_labels(labels: list[str], studies: list[Any]) -> tuple[list[str], list[str]]:
    """Tell apart labels shared by different studies: 'Aspy (2008)' twice -> 'Aspy (2008a)', 'Aspy (2008b)'.

    Rows of the same study (same ``studies`` entry) keep the same label. The
    one place where study labels are made unique; returns the labels and the
    labels that were repeated.

    Examples
    --------
    >>> unique_labels(["Aspy (2008)", "Aspy (2008)", "Lee (2001)"], [1, 2, 3])
    (['Aspy (2008a)', 'Aspy (2008b)', 'Lee (2001)'], ['Aspy (2008)'])
    """
    owners: dict[str, list[Any]] = {}
    for label, study in zip(labels, studies):
        if study not in owners.setdefault(label, []):
            owners[label].append(study)
    out = []
    for label, study in zip(labels, studies):
        if len(owners[label]) < 2:
            out.append(label)
            continue
        letter = "abcdefghijklmnopqrstuvwxyz"[owners[label].index(study) % 26]
        match = re.search(r"(\d{4})(\)?)$", label)
        out.append(label[: match.start()] + match.group(1) + letter + match.group(2) if match
                   else f"{label} ({letter})")
    return out, sorted(k for k, v in owners.items() if len(v) > 1)


def split_cells(column: pd.Series) -> list[list[str]]:
    """';'-separated parts of each cell (empty list for an empty cell).

    Examples
    --------
    >>> split_cells(pd.Series(["a; b", None]))
    [['a', 'b'], []]
    """
    return [[] if pd.isna(cell) else [c.strip() for c in str(cell).split(";") if c.strip()] for cell in column]


