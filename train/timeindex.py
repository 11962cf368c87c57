"""The time index of a CSV series: which column holds dates, the step between rows, and the season.

A column whose every cell is a date, date-time, month or quarter in one of the forms of
:mod:`edgernn.runtime.timeparse` (ISO with offsets converted to UTC, ``Jan 1980``, ``01/1980``,
``1980M01``, ``1959-Q1``, ...) is a time column; so is a column named ``year`` holding integer years.
It is the index of the rows, never a feature. The step is the median spacing; the seasons are
:mod:`edgernn.train.seasons`'. numpy only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from edgernn.runtime.timeparse import FORMATS, parse_cells, parse_time

__all__ = ["FORMATS", "parse_time", "parse_column", "TimeIndex", "index_of", "cycles", "first_disorder"]

_YEAR = re.compile(r"^\s*\d{3,4}\s*$")
YEAR_NAMES = ("year", "yr")
DAY_S = 86400.0
# (name of the step, lower and upper bound of the median spacing in seconds, season period in steps)
_STEPS = (
    ("hourly", 3000.0, 5000.0, 24),
    ("daily", 0.8 * DAY_S, 1.2 * DAY_S, 7),
    ("weekly", 6 * DAY_S, 8 * DAY_S, 52),
    ("monthly", 27 * DAY_S, 32 * DAY_S, 12),
    ("quarterly", 88 * DAY_S, 93 * DAY_S, 4),
    ("yearly", 360 * DAY_S, 370 * DAY_S, 1),
)


def parse_column(name: str, cells: list[str]) -> np.ndarray | None:
    """The column as ``datetime64[s]`` when every cell is a time (or an integer year in a column named
    like ``year``); None otherwise."""
    if name.strip().lower() in YEAR_NAMES and cells and all(_YEAR.match(c) for c in cells):
        return np.array([np.datetime64(f"{int(c):04d}-01-01", "s") for c in cells])
    parsed, _ = parse_cells(cells)
    return parsed if parsed is not None and len(parsed) else None


@dataclass(frozen=True)
class TimeIndex:
    """A series' time column, its median step and season period."""

    column: str
    first: str  # ISO text of the first and last row
    last: str
    step: str  # "weekly", "quarterly", ... or "3.5-day"
    step_seconds: float
    period: int  # season in steps (1: no season)
    gaps: int  # spacings longer than 1.5x the median step

    def describe(self, rows: int) -> str:
        """One line: what the column holds and that it is not a feature."""
        season = f"; season {self.period} steps" if self.period > 1 else ""
        gaps = f"; {self.gaps} gaps longer than 1.5x the step" if self.gaps else ""
        return (
            f"time column {self.column!r}: {rows} {self.step} rows, {self.first} .. {self.last}"
            f"{season}{gaps} (the row index, left out of the features)"
        )


def index_of(column: str, times: np.ndarray) -> TimeIndex:
    """Step, season and gaps of the parsed ``times`` (increasing; checked by the caller)."""
    seconds = np.diff(times.astype(np.int64)).astype(np.float64)
    step = float(np.median(seconds)) if len(seconds) else 0.0
    name, period = f"{step / DAY_S:.3g}-day", 1
    if 0 < step < 0.8 * DAY_S:  # sub-daily: "half-hourly", "15-minute", ...; a day is the season
        name = every(step)
        per_day = DAY_S / step
        period = round(per_day) if abs(per_day - round(per_day)) <= 0.01 * per_day else 1
    for label, low, high, p in _STEPS:
        if low <= step < high:
            name, period = label, p
    gaps = int((seconds > 1.5 * step).sum()) if step else 0
    if name == "daily" and business_days(times):  # a weekend is no gap; a missing weekday is
        days = times.astype("datetime64[D]")
        gaps = int((np.busday_count(days[:-1], days[1:]) > 1).sum())
    return TimeIndex(column, _iso(times[0]), _iso(times[-1]), name, step, period, gaps)


_CYCLES = (("day", DAY_S), ("week", 7 * DAY_S), ("year", 365.2425 * DAY_S))
_STEPS_PER_YEAR = {"monthly": 12.0, "quarterly": 4.0}  # uneven month lengths: count them, not seconds


def cycles(index: TimeIndex, times: np.ndarray, train_rows: int) -> list[tuple[str, float, float]]:
    """The calendar cycles a series' calendar features follow: ``(name, steps per cycle, phase of
    row 0)`` for each cycle (day, week, year) that holds at least 2 steps and that the training rows
    cover at least twice. The phase then advances ``1 / steps`` per row (exact for hours in a day,
    days in a week, months and quarters in a year; weeks in a year drift by under a day)."""
    if index.step_seconds <= 0 or train_rows < 2:
        return []
    span = float(times[train_rows - 1].astype(np.int64) - times[0].astype(np.int64))
    found = []
    for name, seconds in _CYCLES:
        steps = seconds / index.step_seconds
        if name == "year":
            steps = _STEPS_PER_YEAR.get(index.step, steps)
        if index.step == "daily" and business_days(times):  # 5 rows a week, ~261 a year
            steps = {"week": 5.0, "year": 365.2425 * 5 / 7}.get(name, steps)
        if steps >= 2 - 1e-9 and span >= 2 * seconds * (1 - 0.02):
            phase = _phase(times[0], name)
            if name == "week" and steps == 5.0:
                phase = phase * 7.0 / 5.0  # Monday 0, Tuesday 0.2, ... Friday 0.8
            found.append((name, float(steps), phase))
    return found


def every(step_s: float) -> str:
    """A sub-daily step in words: "hourly", "half-hourly", "15-minute", "10-second"."""
    minutes = step_s / 60.0
    if abs(minutes - 60) < 1:
        return "hourly"
    if abs(minutes - 30) < 0.5:
        return "half-hourly"
    if minutes >= 1:
        return f"{minutes:.4g}-minute"
    return f"{step_s:.4g}-second"


def business_days(times: np.ndarray) -> bool:
    """Whether daily rows skip weekends: no Saturday or Sunday row among more than ten."""
    days = times.astype("datetime64[D]").astype(np.int64)
    return len(days) > 10 and not np.any((days + 3) % 7 >= 5)  # 1970-01-01 was a Thursday


def _phase(time: np.datetime64, cycle: str) -> float:
    """Where ``time`` lies in the cycle, in [0, 1): the day from midnight, the week from Monday, the
    year from January 1st."""
    seconds = time.astype("datetime64[s]")
    if cycle == "day":
        return float((seconds - seconds.astype("datetime64[D]")).astype(np.int64)) / DAY_S
    if cycle == "week":
        days = float(seconds.astype(np.int64)) / DAY_S + 3.0  # 1970-01-01 was a Thursday
        return (days % 7.0) / 7.0  # (business days start on a Monday too: phase 0 .. 0.8 in 5 rows)
    year = seconds.astype("datetime64[Y]")
    start = year.astype("datetime64[s]").astype(np.int64)
    end = (year + 1).astype("datetime64[s]").astype(np.int64)
    return float(seconds.astype(np.int64) - start) / float(end - start)


def first_disorder(times: np.ndarray) -> int | None:
    """Index of the first row whose time is not after the previous row's, or None."""
    bad = np.flatnonzero(np.diff(times.astype(np.int64)) <= 0)
    return int(bad[0]) + 1 if bad.size else None


def _iso(value: np.datetime64) -> str:
    text = str(value.astype("datetime64[s]"))
    return text.removesuffix("T00:00:00")
