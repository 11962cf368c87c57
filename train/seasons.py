"""The seasons of a series, each with the reason it was found: from the spacing of its time column
(sub-daily rows: a day and a week; business days: a 5-row week; days: a week and a year; weeks,
months and quarters: a year), or, when the spacing does not say, from the autocorrelation of the
training rows' changes. Seasons feed the seasonal naive baselines and the differencing decision.
numpy only; every threshold is relative, so the scale of the data never changes a decision.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .stationarity import unit_root
from .timeindex import DAY_S, TimeIndex, business_days, every

ACF_MIN = 0.3  # a lag's autocorrelation of the changes must reach this to count as a season
MAX_LAG = 1000  # the longest season the autocorrelation looks for, in rows
ADF_ROWS = 20000  # the unit-root test that picks levels or changes reads the last rows only (speed)
_YEARLY = {"weekly": 52, "monthly": 12, "quarterly": 4}


@dataclass(frozen=True)
class Season:
    """A season of ``period`` rows and why it was taken."""

    period: int
    reason: str


def find(time: TimeIndex | None, times: np.ndarray | None, y_train: np.ndarray) -> tuple[Season, ...]:
    """The seasons of a series whose training target is ``y_train``, shortest first; only seasons
    that the training rows cover more than twice."""
    found = _from_spacing(time, times) if time is not None and times is not None else None
    if found is None:
        found = _from_data(y_train)
    rows = len(y_train)
    return tuple(
        s for s in sorted(found, key=lambda s: s.period) if s.period >= 2 and rows > 2 * s.period + 2
    )


def _from_spacing(time: TimeIndex, times: np.ndarray) -> list[Season] | None:
    """Seasons the spacing implies, or None when it implies none that is known."""
    step = time.step_seconds
    if step <= 0:
        return None
    if time.step in _YEARLY:
        return [Season(_YEARLY[time.step], f"{time.step} rows: a year is {_YEARLY[time.step]} rows")]
    if time.step == "yearly":
        return None  # no calendar cycle: a cycle of years (sunspots) shows in the autocorrelation
    per_day = DAY_S / step
    if per_day > 1.5:
        whole = round(per_day)
        if abs(per_day - whole) > 0.01 * per_day:
            return None
        what = every(step)
        return [
            Season(whole, f"{what} rows: a day is {whole} rows"),
            Season(7 * whole, f"{what} rows: a week is {7 * whole} rows"),
        ]
    if time.step == "daily":
        if business_days(times):
            return [
                Season(5, "business days (no Saturday or Sunday rows): a week is 5 rows"),
                Season(261, "business days: a year is about 261 rows"),
            ]
        return [Season(7, "daily rows: a week is 7 rows"), Season(365, "daily rows: a year is 365 rows")]
    return None


def _from_data(y: np.ndarray) -> list[Season]:
    """The strongest autocorrelation peak (lags 2 .. a third of the rows) of the levels when they are
    stationary, else of the changes (a trend hides a cycle in the levels), if one reaches :data:`ACF_MIN`."""
    y = np.asarray(y, dtype=np.float64)
    levels = not unit_root(y[-ADF_ROWS:]).change
    d = y if levels else np.diff(y)
    n = len(d)
    top = min(n // 3, MAX_LAG)
    if top < 3:
        return []
    d = d - d.mean()
    denom = float(d @ d)
    if denom <= 0.0:
        return []
    size = 1 << int(2 * n - 1).bit_length()  # FFT autocorrelation: O(n log n) for long series
    spectrum = np.fft.rfft(d, size)
    acf = np.fft.irfft(spectrum * np.conj(spectrum), size)[1 : top + 1] / denom  # acf[k-1] is lag k
    peaks = [k for k in range(2, top) if acf[k - 1] >= acf[k - 2] and acf[k - 1] >= acf[k]]
    if not peaks:
        return []
    top_acf = max(acf[k - 1] for k in peaks)
    if top_acf < ACF_MIN:
        return []
    best = min(k for k in peaks if acf[k - 1] >= 0.9 * top_acf)  # a season, not a multiple of it
    return [
        Season(
            best,
            f"the spacing names no season; the {'levels' if levels else 'changes'}' autocorrelation peaks at "
            f"lag {best} ({acf[best - 1]:.2f})",
        )
    ]
