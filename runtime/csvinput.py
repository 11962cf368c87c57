"""The one CSV reader: every entry point (``edgernn run``, ``train``) reads CSV text here.

Lines: only ``\n``, ``\r\n`` and ``\r`` end one (one line is one row, one time step); cells follow
the csv module's quoting (``"temp, C"`` is one cell) and are stripped; a BOM is dropped; the file
must be a regular UTF-8 file that fits in memory. :func:`csv_lines` gives the rows,
:func:`number_cell` reads one cell with the checks every reader applies.

For ``edgernn run`` (:func:`read_csv_rows`): one row per time step. A header row names the columns:
the first line is a header when it holds every column name the bundle records (so numeric names
such as ``0,1`` are recognised) or some of them beside a cell that is no number, or when it holds no
number at all. For a bundle
whose manifest lists its input columns, they are read by name in the bundle's order, in any order in
the file, extra columns (such as the time column) are left out with a note, and a missing one is
refused. Without a header the width must match the bundle's inputs. Bundles that do not name their
columns read every column in file order.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path

import numpy as np

from .errors import InputError
from .limits import read_text_file
from .manifest import FLOAT32_MAX, Manifest

Row = tuple[int, list[str]]  # (line number from 1, stripped cells); a blank line has no cells


def is_number(text: str) -> bool:
    """Whether ``float()`` reads ``text``."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_lines(path: Path) -> list[Row]:
    """Every line of the CSV file at ``path`` up to its last non-blank one, as stripped cells."""
    try:
        text = read_text_file(path)
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    # Only \n, \r\n and \r end a line: str.splitlines would also split at \v, \x1c-\x1e and U+2028,
    # turning one row into two time steps.
    lines = re.split(r"\r\n|\r|\n", text)
    while lines and not lines[-1].strip():
        lines.pop()
    return [(number, _cells(path, number, line)) for number, line in enumerate(lines, 1)]


def _cells(path: Path, number: int, line: str) -> list[str]:
    if not line.strip():
        return []
    try:
        return [cell.strip() for cell in next(csv.reader([line]))]
    except csv.Error as err:
        raise InputError(f"{path}: line {number} is not valid CSV ({err})") from None


def number_cell(path: Path, line: int, column: str, cell: str) -> float:
    """One cell as a float: a finite number within float32's range (models compute in float32);
    ``column`` is the column as messages show it (``'temp'``, or ``2`` without a header)."""
    text = cell.strip()
    if not text:
        raise InputError(f"{path}: line {line}, column {column}: empty cell, expected a number")
    try:
        value = float(text)
    except ValueError:
        shown = repr(text[:20]) + (f"… ({len(text)} characters)" if len(text) > 20 else "")
        raise InputError(f"{path}: line {line}, column {column}: {shown} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{path}: line {line}, column {column}: {text!r} is not a finite number")
    if abs(value) > FLOAT32_MAX:
        raise InputError(
            f"{path}: line {line}, column {column}: {text!r} is beyond the float32 range (±{FLOAT32_MAX:.3g}) "
            "that models compute in"
        )
    return value


def is_header(cells: list[str], names: tuple[str, ...] | None) -> bool:
    """Whether a first line is a header: it holds every recorded column name, or some of them beside
    a cell that is no number (a header with a name missing or misspelt), or it holds no number."""
    if names and set(names) <= set(cells):
        return True
    numbers = [is_number(cell) for cell in cells]
    if names and not all(numbers) and set(names) & set(cells):
        return True
    return not any(numbers)


def read_csv_rows(path: Path, manifest: Manifest | None = None) -> tuple[np.ndarray, list[str]]:
    """Values ``[rows, columns]`` for the bundle's inputs, and notes on how the columns were mapped."""
    rows = _rows(path)
    names = manifest.input.columns if manifest is not None else None
    header = rows[0][1] if is_header(rows[0][1], names) else None
    body = rows[1:] if header is not None else rows
    if not body:
        raise InputError(f"{path}: expected at least one row of values, found none")
    width = len(header) if header is not None else len(body[0][1])
    like = "the header" if header is not None else f"line {body[0][0]}"
    for line, cells in body:
        if len(cells) != width:
            raise InputError(f"{path}: line {line} has {len(cells)} fields, expected {width} like {like}")
    if manifest is not None and manifest.input.kind == "tokens" and width != 1:
        raise InputError(
            f"{path}: a token model reads one column of ids (one per row: the rows are time steps), "
            f"got {width} columns"
        )
    index, labels, notes = _mapping(path, header, width, names, manifest)
    if names and header is not None and any(is_number(cell) for cell in header):
        notes.insert(0, f"line 1 read as the header: it holds the bundle's column names {', '.join(names)}")
    return _values(path, body, index, labels), notes


def _rows(path: Path) -> list[Row]:
    """The lines of a run input; a blank line between rows is refused (it would drop a time step)."""
    rows = csv_lines(path)
    if not rows:
        raise InputError(f"{path}: expected at least one row of values, found none")
    for number, cells in rows:
        if not cells:
            raise InputError(
                f"{path}: line {number} is empty; every line is one time step, so remove it or fill it in"
            )
    return rows


def _mapping(
    path: Path, header: list[str] | None, width: int, names: tuple[str, ...] | None, manifest: Manifest | None
) -> tuple[list[int], list[str], list[str]]:
    """Which file column feeds each input, their names for messages, and notes."""
    if names is None:
        labels = [repr(h) for h in header] if header is not None else [str(i + 1) for i in range(width)]
        return list(range(width)), labels, []
    if header is None:
        if width != len(names):
            raise InputError(
                f"{path}: no header row and {width} columns, but the bundle reads {len(names)} "
                f"({', '.join(names)}); add a header row naming them"
            )
        note = f"no header row: reading the {width} columns as {', '.join(names)} (the bundle's order)"
        return list(range(width)), [repr(n) for n in names], [note]
    twice = sorted({h for h in header if header.count(h) > 1 and h in names})
    if twice:
        raise InputError(f"{path}: column {twice[0]!r} appears {header.count(twice[0])} times in the header")
    missing = [n for n in names if n not in header]
    if missing:
        raise InputError(
            f"{path}: missing column {missing[0]!r}; the bundle reads {', '.join(names)}, "
            f"the header has {', '.join(header)}"
        )
    time = manifest.series.time_column if manifest is not None and manifest.series is not None else None
    extra = [h + (" (time column)" if h == time else "") for h in header if h not in names]
    notes = [f"left out columns the bundle does not read: {', '.join(extra)}"] if extra else []
    index = [header.index(n) for n in names]
    if index != sorted(index):
        notes.append(f"columns mapped by name in the bundle's order: {', '.join(names)}")
    return index, [repr(n) for n in names], notes


def _values(path: Path, body: list[Row], index: list[int], labels: list[str]) -> np.ndarray:
    try:
        return np.array([[cells[i] for i in index] for _, cells in body], dtype=np.float64)
    except ValueError:
        pass  # find the bad line and cell to name them
    for line, cells in body:
        for label, i in zip(labels, index, strict=True):
            if not is_number(cells[i]):
                number_cell(path, line, label, cells[i])
    raise InputError(f"{path}: expected rows of numbers separated by commas")
