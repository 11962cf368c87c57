"""A CSV of time steps for ``edgernn run``: columns mapped by name when the bundle knows its columns.

One row per time step. A header row (a first line with no number in it) names the columns: for a
bundle whose manifest lists its input columns, they are read by name in the bundle's order, in any
order in the file, extra columns (such as the time column) are left out with a note, and a missing
one is refused. Without a header the width must match the bundle's inputs. Bundles that do not name
their columns read every column in file order, as before.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from .errors import InputError
from .limits import read_text_file
from .manifest import Manifest


def is_number(text: str) -> bool:
    """Whether ``float()`` reads ``text``."""
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_csv_rows(path: Path, manifest: Manifest | None = None) -> tuple[np.ndarray, list[str]]:
    """Values ``[rows, columns]`` for the bundle's inputs, and notes on how the columns were mapped."""
    rows = _rows(path)
    header = None if any(is_number(cell) for cell in rows[0][1]) else [c.strip() for c in rows[0][1]]
    body = rows[1:] if header is not None else rows
    if not body:
        raise InputError(f"{path}: expected at least one row of values, found none")
    names = manifest.input.columns if manifest is not None else None
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
    return _values(path, body, index, labels), notes


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    """Non-empty lines as cells; a blank line between rows is refused (it would drop a time step)."""
    # Only \n, \r\n and \r end a line: str.splitlines would also split at \v, \x1c-\x1e and U+2028,
    # turning one row into two time steps.
    lines = re.split(r"\r\n|\r|\n", read_text_file(path))
    while lines and not lines[-1].strip():
        lines.pop()
    for number, text in enumerate(lines, 1):
        if not text.strip():
            raise InputError(
                f"{path}: line {number} is empty; every line is one time step, so remove it or fill it in"
            )
    if not lines:
        raise InputError(f"{path}: expected at least one row of values, found none")
    return [
        (number, [cell.strip().strip('"') for cell in text.split(",")])
        for number, text in enumerate(lines, 1)
    ]


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


def _values(path: Path, body: list[tuple[int, list[str]]], index: list[int], labels: list[str]) -> np.ndarray:
    try:
        return np.array([[cells[i] for i in index] for _, cells in body], dtype=np.float64)
    except ValueError:
        pass  # find the bad line and cell to name them
    for line, cells in body:
        for label, i in zip(labels, index, strict=True):
            cell = cells[i]
            if not is_number(cell):
                shown = repr(cell[:20]) + (f"… ({len(cell)} characters)" if len(cell) > 20 else "")
                raise InputError(f"{path}: line {line}, column {label}: {shown} is not a number")
    raise InputError(f"{path}: expected rows of numbers separated by commas")
