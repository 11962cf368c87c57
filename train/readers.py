"""Read user data files and reject bad ones with one message naming the file, column and row.

CSV: a header row, then one row per time step. NPZ: arrays ``x``, ``y``, optional ``lengths``,
``cond`` and ``labels``; a folder (or an ``x.npy`` path) with ``x.npy``/``y.npy``/... works the
same. Text: UTF-8. Nothing here unpickles: ``numpy.load`` always runs with ``allow_pickle=False``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgernn.runtime import timeparse
from edgernn.runtime.arrayfiles import check_arrays, read_npy, read_npz
from edgernn.runtime.csvinput import Row, csv_lines, number_cell
from edgernn.runtime.errors import InputError

from . import timeindex
from .padding import nan_padding
from .timeindex import TimeIndex

ARRAY_KEYS = ("x", "y", "lengths", "cond", "labels")
NAN_PADDED = "nan_padded"  # a flag read_arrays adds when the lengths came from x's NaN padding


def _existing(path: str | Path) -> Path:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    return path


@dataclass(frozen=True)
class Table:
    """The numeric columns of a CSV and its time index, when it has one."""

    names: tuple[str, ...]
    values: np.ndarray  # float64 [rows, columns]
    time: TimeIndex | None = None
    times: np.ndarray | None = None  # datetime64[s] [rows], the time column parsed


def read_csv(path: str | Path, columns: tuple[str, ...]) -> tuple[tuple[str, ...], np.ndarray]:
    """Read the named ``columns`` (all but a time column when empty) as float64 ``[rows, columns]``."""
    table = read_table(path, columns)
    return table.names, table.values


def read_table(path: str | Path, columns: tuple[str, ...] = (), time_column: str | None = None) -> Table:
    """Read the named ``columns`` (every column but the time index when empty) and the time index.

    The time index is ``time_column``, or else the first column not asked for whose cells are all
    dates (see :mod:`~edgernn.train.timeindex`). Every row must have as many fields as the header;
    the chosen cells must be finite numbers. Errors name the file, the line (1 = header) and the column.
    """
    path = _existing(path)
    header, body = _csv_rows(path)
    for name in (*columns, *([time_column] if time_column else [])):
        if name not in header:
            raise InputError(f"{path}: unknown column {name!r} (columns: {', '.join(header)})")
    for line, row in body:
        if len(row) != len(header):
            raise InputError(
                f"{path}: line {line} has {len(row)} fields, expected {len(header)} like the header"
            )
    time, times = _time_index(path, header, body, columns, time_column)
    names = tuple(columns) if columns else tuple(h for h in header if time is None or h != time.column)
    if not names:
        raise InputError(f"{path}: no columns to read besides the time column {time.column!r}")
    values = np.empty((len(body), len(names)), dtype=np.float64)
    bad: dict[str, tuple[int, str]] = {}
    for c, name in enumerate(names):
        i = header.index(name)
        for r, (line, row) in enumerate(body):
            try:
                values[r, c] = number_cell(path, line, repr(name), row[i])
            except InputError as err:
                if columns:
                    raise
                bad[name] = (line, str(err))
                break
    if bad:
        name = min(bad, key=lambda n: (bad[n][0], names.index(n)))  # the first bad cell, by line and column
        first = bad[name][1]
        numeric = [n for n in names if n not in bad]
        hint = f" (numeric columns: {', '.join(numeric)})" if numeric else ""
        rest = [repr(n) for n in bad if n != name]
        others = f"; also not numbers: {', '.join(rest)}" if rest else ""
        raise InputError(f"{first}{others}; leave columns that are not numbers out with --columns{hint}")
    return Table(names, values, time, times)


def _csv_rows(path: Path) -> tuple[list[str], list[Row]]:
    """The header and the non-empty rows with their line numbers (the runtime's CSV reader)."""
    rows = csv_lines(path)
    if not rows or not any(rows[0][1]):
        raise InputError(f"{path}: empty file, expected a header row")
    body = [(line, cells) for line, cells in rows[1:] if cells]
    if not body:
        raise InputError(f"{path}: no data rows after the header")
    return rows[0][1], body


def _time_index(
    path: Path, header: list[str], body: list, columns: tuple[str, ...], name: str | None
) -> tuple[TimeIndex | None, np.ndarray | None]:
    """The named time column (which must parse), or the first unrequested column of dates."""
    candidates = [name] if name else [h for h in header if h not in columns]
    for candidate in candidates:
        i = header.index(candidate)
        cells = [row[i] for _, row in body]
        times = timeindex.parse_column(candidate, cells)
        if times is None:
            if not name and not columns and timeparse.looks_like_dates(cells):
                _nearly_dates(path, candidate, body, i)
            if name:
                line, cell = next(
                    (ln, row[i]) for ln, row in body if timeindex.parse_column(candidate, [row[i]]) is None
                )
                raise InputError(
                    f"{path}: line {line}, column {candidate!r}: {cell.strip()[:40]!r} is not a time "
                    f"(--time-column expects {timeindex.FORMATS})"
                )
            continue
        bad = timeindex.first_disorder(times)
        if bad is not None:
            line = body[bad][0]
            raise InputError(
                f"{path}: line {line}, time column {candidate!r}: {body[bad][1][i].strip()!r} does not come "
                f"after {body[bad - 1][1][i].strip()!r}; sort the rows by time"
            )
        return timeindex.index_of(candidate, times), times
    return None, None


def _nearly_dates(path: Path, column: str, body: list, i: int) -> None:
    """Refuse a column that is nearly a time column, naming the first cell that is not a time."""
    good = next((row[i].strip() for _, row in body if timeindex.parse_time(row[i]) is not None), None)
    line, cell = next((ln, row[i]) for ln, row in body if timeindex.parse_time(row[i]) is None)
    like = f" like {good!r} above it" if good is not None else ""
    raise InputError(
        f"{path}: line {line}, column {column!r}: {cell.strip()[:40]!r} is not a time{like}, though the column "
        f"looks like dates (time columns hold {timeindex.FORMATS}); fix the cell, or pass --time-column "
        f"to use another column"
    )


def read_arrays(path: str | Path) -> dict[str, np.ndarray]:
    """Read ``x``, ``y`` and the optional arrays from an ``.npz``, a folder of ``.npy`` files, or ``x.npy``
    (the runtime's array reader and checks)."""
    path = _existing(path)
    if path.is_dir() or path.suffix == ".npy":
        folder = path if path.is_dir() else path.parent
        arrays = {k: read_npy(folder / f"{k}.npy") for k in ARRAY_KEYS if (folder / f"{k}.npy").exists()}
        where = folder
    elif path.suffix == ".npz":
        arrays = read_npz(path, ARRAY_KEYS)
        where = path
    else:
        raise InputError(f"{path}: expected .csv, .npz, .npy, .txt or a folder of .npy files")
    arrays, from_nan = nan_padding(where, arrays)
    check_arrays(where, arrays, required=("x", "y"))
    return {**arrays, NAN_PADDED: np.array(True)} if from_nan else arrays


def read_text(path: str | Path) -> str:
    """Read a UTF-8 text file; empty files are refused."""
    path = _existing(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not UTF-8 text (byte {err.start})") from None
    if not text.strip():
        raise InputError(f"{path}: the text file is empty")
    return text
