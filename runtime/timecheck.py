"""``edgernn run`` reads the time column of a bundle trained on a dated series.

The rows must come as they did in training: oldest first, one step apart (the manifest's spacing:
months counted as months, business days skipping weekends), no repeats. The first line that breaks
this is refused in one line; ``--allow-gaps`` runs across missing rows with a note. What comes back:
the forecast time of each output row (its row's time plus the horizon), the rows since the training
CSV's first (the calendar counter, so ``--start-row`` is not needed) and how many outputs are warm-up
(the context and differencing history a cold start lacks; the model was scored only after them).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import InputError
from .limits import read_text_file
from .records import SeriesRecord
from .timeparse import FORMATS, parse_time

_MONTHS = {"monthly": 1, "quarterly": 3, "yearly": 12}
_TOLERANCE = 0.01  # of a step: spacing that rounds to a whole number of steps


@dataclass(frozen=True)
class TimeCheck:
    """The checked time column of a CSV input."""

    forecast: tuple[str, ...]  # per input row: the time its output forecasts
    start_row: int  # rows between the training CSV's first row and this input's first
    warmup: int  # leading outputs a cold start cannot get right (context + differencing history)
    notes: tuple[str, ...]


def check_csv(path: Path, series: SeriesRecord | None, allow_gaps: bool) -> TimeCheck | None:
    """Check the time column of the CSV at ``path`` against ``series`` (None: nothing to check)."""
    if series is None or series.time_column is None or series.first is None:
        return None
    lines, cells = _column(path, series.time_column)
    parsed: list[np.datetime64] = []
    for line, cell in zip(lines, cells, strict=True):
        value = _year(cell) if series.step == "yearly" else None
        value = value if value is not None else parse_time(cell)
        if value is None:
            raise InputError(
                f"{path}: line {line}, time column {series.time_column!r}: {cell!r} is not a time ({FORMATS})"
            )
        parsed.append(value)
    times = np.array(parsed, dtype="datetime64[s]")
    _respaced(path, times, series)
    position = _positions(times, series)
    notes = _spacing(path, lines, cells, position, series, allow_gaps)
    start = float(position[0])
    if start < 0 or abs(start - round(start)) > _TOLERANCE:
        where = "before" if start < 0 else "between rows of"
        raise InputError(
            f"{path}: line {lines[0]}: {cells[0]!r} falls {where} the training series ({series.step} rows from "
            f"{series.first}); the calendar features count whole rows from there"
        )
    warmup = min(len(cells), series.window + series.warmup)
    if warmup:
        notes.append(
            f"the first {warmup} outputs are warm-up (warmup=1: {series.window} rows of context"
            + (f" + {series.warmup} of differencing history" if series.warmup else "")
            + " that a cold start lacks; the model was scored only after them)"
        )
    forecast = tuple(_later(t, series) for t in times)
    return TimeCheck(forecast, int(round(start)), warmup, tuple(notes))


def _year(cell: str) -> np.datetime64 | None:
    """An integer year (a yearly series' ``year`` column) as its January 1st."""
    return np.datetime64(f"{int(cell):04d}-01-01", "s") if cell.isdigit() and 3 <= len(cell) <= 4 else None


def _respaced(path: Path, times: np.ndarray, series: SeriesRecord) -> None:
    """Refuse rows whose typical spacing is not the bundle's (daily rows into a monthly bundle)."""
    seconds = np.abs(np.diff(times.astype(np.int64)))
    if len(seconds) < 2 or series.step_seconds <= 0:
        return
    median = float(np.median(seconds))
    if not 0.6 <= median / series.step_seconds <= 1.6:
        raise InputError(
            f"{path}: time column {series.time_column!r}: rows are {_span(median)} apart, the bundle's are "
            f"{series.step} ({_span(series.step_seconds)}); resample to the bundle's spacing"
        )


def _span(seconds: float) -> str:
    for unit, size in (("days", 86400.0), ("hours", 3600.0), ("minutes", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g} {unit}"
    return f"{seconds:.3g} seconds"


def _column(path: Path, name: str) -> tuple[list[int], list[str]]:
    """Line numbers and cells of the column ``name``; the header must name it."""
    rows = list(csv.reader(io.StringIO(read_text_file(path))))
    header = [c.strip() for c in rows[0]] if rows else []
    if name not in header:
        raise InputError(
            f"{path}: missing the time column {name!r}; this bundle was trained on dated rows and checks their "
            f"order and spacing (the header has {', '.join(header) or 'nothing'})"
        )
    i = header.index(name)
    body = [(n, r) for n, r in enumerate(rows[1:], start=2) if any(c.strip() for c in r)]
    return [n for n, _ in body], [r[i].strip() if i < len(r) else "" for _, r in body]


def _positions(times: np.ndarray, series: SeriesRecord) -> np.ndarray:
    """Each time in training steps since the training CSV's first row (float: whole when on the grid)."""
    first = np.datetime64(series.first, "s")
    months = _MONTHS.get(series.step or "")
    if months:
        origin = int(first.astype("datetime64[M]").astype(np.int64))
        return (times.astype("datetime64[M]").astype(np.int64) - origin) / float(months)
    if series.business_days:
        days = times.astype("datetime64[D]")
        weekend = np.is_busday(days) == False  # noqa: E712 (numpy array)
        count = np.busday_count(first.astype("datetime64[D]"), days).astype(np.float64)
        return np.asarray(np.where(weekend, count + 0.5, count))  # a weekend day is off the grid
    return (times - first).astype(np.int64) / float(series.step_seconds or 1.0)


def _spacing(
    path: Path,
    lines: list[int],
    cells: list[str],
    position: np.ndarray,
    series: SeriesRecord,
    allow_gaps: bool,
) -> list[str]:
    """Refuse rows out of order, repeated or off the bundle's spacing; gaps only with ``allow_gaps``."""
    delta = np.diff(position)
    step, col = series.step, series.time_column
    whole = np.abs(delta - np.round(delta)) <= _TOLERANCE
    for bad in np.flatnonzero((delta <= _TOLERANCE) | ~whole):
        k = int(bad)
        at, prev, this = lines[k + 1], cells[k], cells[k + 1]
        if abs(delta[k]) <= _TOLERANCE:
            why = f"repeats {prev!r}; each time step comes once"
        elif delta[k] < 0:
            why = f"{this!r} comes before {prev!r}; the rows must be oldest first"
        else:
            why = f"{prev!r} -> {this!r} is not a whole number of the bundle's {step} steps"
        raise InputError(f"{path}: line {at}, time column {col!r}: {why}")
    gaps = np.flatnonzero(np.round(delta) > 1)
    if gaps.size == 0:
        return []
    k = int(gaps[0])
    missing = int(np.round(delta[gaps]).sum() - gaps.size)
    first = f"line {lines[k + 1]}: {cells[k]!r} -> {cells[k + 1]!r}"
    count = f"{gaps.size} gap{'s' if gaps.size > 1 else ''}"
    if not allow_gaps:
        raise InputError(
            f"{path}: time column {col!r}: {count} ({missing} missing {step} rows; first at {first}); "
            "fill them, or pass --allow-gaps to run across them"
        )
    return [f"{count} ({missing} missing {step} rows; first at {first}): run across them (--allow-gaps)"]


def _later(time: np.datetime64, series: SeriesRecord) -> str:
    """ISO text of the time ``series.horizon`` steps after ``time``."""
    h = series.horizon
    months = _MONTHS.get(series.step or "")
    if months:
        month = time.astype("datetime64[M]") + np.timedelta64(months * h, "M")
        value = month.astype("datetime64[s]") + (time - time.astype("datetime64[M]").astype("datetime64[s]"))
    elif series.business_days:
        day = np.busday_offset(time.astype("datetime64[D]"), h, roll="forward")
        value = day.astype("datetime64[s]") + (time - time.astype("datetime64[D]").astype("datetime64[s]"))
    else:
        value = time + np.timedelta64(int(round(h * series.step_seconds)), "s")
    return str(value).removesuffix("T00:00:00")


def counter_row(
    dated: TimeCheck | None, series: SeriesRecord | None, start_row: int | None, notes: list[str]
) -> tuple[int | None, bool]:
    """The calendar counter's first row: ``--start-row`` when given, else the input's dates; and
    whether it was inferred. The time check's notes join ``notes``."""
    if dated is None:
        return start_row, False
    notes += dated.notes
    inferred = start_row is None and series is not None and series.counter is not None
    return (dated.start_row if inferred else start_row), inferred
