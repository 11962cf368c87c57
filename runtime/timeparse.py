"""Dates in a CSV's time column, as ``datetime64[s]`` in UTC: numpy only, shared by training (which
finds the time column) and ``edgernn run`` (which checks the rows a bundle is fed).

Forms read (one per cell; a column may mix them only as far as each cell parses):

* ISO dates and date-times: ``1958-03-29``, ``2010-01-01T13:00``, ``2010/01/01 13:05:09.5``, with an
  optional ``Z`` or ``+02:00`` offset (converted to UTC, so a DST change keeps the rows in order);
* months: ``1959-03``, ``1959/03``, ``03/1959``, ``1959M03``, ``Jan 1980``, ``1980 Jan``,
  ``January 1980``, ``Jan-1980``;
* quarters: ``1959-Q1``, ``1959Q1``, ``1959 Q1``, ``Q1 1959``, ``Q1-1959``.
"""

from __future__ import annotations

import re

import numpy as np

FORMATS = (
    "ISO dates or date-times (offsets such as +02:00 or Z are converted to UTC), months (YYYY-MM, MM/YYYY, "
    "YYYYMmm, 'Jan 1980', '1980 Jan', 'January 1980'), quarters (YYYY-Qn, 'Qn YYYY'), or integer years in a "
    "column named 'year'"
)
_ISO = re.compile(
    r"^(\d{4})([-/])(\d{2})\2(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$"
)
_MONTH_NUM = re.compile(r"^(\d{4})[-/](\d{1,2})$|^(\d{1,2})/(\d{4})$|^(\d{4})[Mm](\d{1,2})$")
_QUARTER = re.compile(r"^(\d{4})[- ]?[Qq]([1-4])$|^[Qq]([1-4])[- ]?(\d{4})$")
_NAMED = re.compile(r"^([A-Za-z]{3,9})\.?[- ]?(\d{4})$|^(\d{4})[- ]?([A-Za-z]{3,9})\.?$")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_FULL = (
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
)  # fmt: skip
DATE_LIKE = re.compile(r"^[A-Za-z]{3,9}\.?[- ]?\d{2,4}$|^\d{1,4}[/.-]\d{1,2}([/.-]\d{1,4})?|^\d{4}-\d{2}")


def parse_time(cell: str) -> np.datetime64 | None:
    """One cell as ``datetime64[s]`` (UTC), or None when it is none of the forms above."""
    text = cell.strip()
    match = _ISO.match(text)
    if match:
        return _iso(match)
    match = _MONTH_NUM.match(text)
    if match:
        g = match.groups()
        year, month = (g[0], g[1]) if g[0] else ((g[3], g[2]) if g[2] else (g[4], g[5]))
        return _month(int(year), int(month))
    match = _QUARTER.match(text)
    if match:
        g = match.groups()
        year, quarter = (g[0], g[1]) if g[0] else (g[3], g[2])
        return _month(int(year), 3 * int(quarter) - 2)
    match = _NAMED.match(text)
    if match:
        g = match.groups()
        name, year = (g[0], g[1]) if g[0] else (g[3], g[2])
        month = _month_number(name)
        return _month(int(year), month) if month else None
    return None


def _iso(match: re.Match[str]) -> np.datetime64 | None:
    y, _, mo, d, hh, mi, ss, zone = match.groups()
    try:
        value = np.datetime64(f"{y}-{mo}-{d}T{hh or '00'}:{mi or '00'}:{ss or '00'}", "s")
    except ValueError:
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        offset_s = sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
        value = value - np.timedelta64(offset_s, "s")  # local time minus its offset is UTC
    return value


def _month(year: int, month: int) -> np.datetime64 | None:
    if not 1 <= month <= 12:
        return None
    return np.datetime64(f"{year:04d}-{month:02d}-01T00:00:00", "s")


def _month_number(name: str) -> int | None:
    low = name.lower()
    if low in _FULL:
        return _FULL.index(low) + 1
    if low[:3] in _MONTHS and (len(low) == 3 or low == "sept"):
        return _MONTHS.index(low[:3]) + 1
    return None


def parse_cells(cells: list[str]) -> tuple[np.ndarray | None, int | None]:
    """Every cell as ``datetime64[s]``, or (None, index of the first cell that is not a time)."""
    parsed = []
    for i, cell in enumerate(cells):
        value = parse_time(cell)
        if value is None:
            return None, i
        parsed.append(value)
    return np.array(parsed, dtype="datetime64[s]"), None


def looks_like_dates(cells: list[str]) -> bool:
    """Whether a column that did not parse is nearly a time column: most of its cells parse, or its
    first cells look like dates (a year, a month name and a year, a d/m/y pattern)."""
    if not cells:
        return False
    head = cells[: min(len(cells), 50)]
    parsed = sum(parse_time(c) is not None for c in head)
    if parsed >= 0.5 * len(head):
        return True
    return all(DATE_LIKE.search(c) and not _is_number(c) for c in head[:5])


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
