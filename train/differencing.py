"""Which columns of a series a forecaster sees as changes, and what it predicts of its targets.

``--difference auto`` decides from the training rows alone, so the decision is fixed before any
validation row is seen and can be recorded in the manifest:

1. a seasonal difference (predict ``y[t+h] - y[t+h-P]``) when a season ``P`` was found
   (:mod:`~edgernn.train.seasons`) and the seasonal change is less spread than the step change
   (seasonal naive beats persistence on the training rows; of several seasons, the tightest); when
   the seasonal change itself keeps a unit root (ADF), its first difference too (``season+first``:
   predict ``y[t+h] - y[t+h-P] - (y[t] - y[t-P])``);
2. else a first difference (predict ``y[t+h] - y[t]``) unless the ADF test rejects a unit root;
3. every other input column enters as its change or its level by the same ADF rule.

The graph adds the predicted change back (:mod:`edgernn.train.forecaster`), so outputs stay levels.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from edgernn.runtime.errors import InputError

from .config import SEASONAL, DataConfig, Transform
from .seasons import Season
from .stationarity import unit_root

# seasonal change spread / step change spread below which the season is differenced: seasonal naive
# beats persistence on the training rows (0.5 missed monthly orders at 0.80 whose test ratio was 0.25)
SEASON_RATIO = 1.0
_MIN_REL = 1e-12  # a spread under this fraction of the column's magnitude is no spread (float rounding)


@dataclass(frozen=True)
class Plan:
    """The decision: the targets' difference, the columns seen as changes, and why."""

    difference: str  # "none", "first", "season" or "season+first"
    period: int  # rows back of a seasonal difference (1 otherwise)
    changed: tuple[bool, ...]  # per input column
    reason: str
    cycles: tuple[tuple[str, float, float], ...] = ()  # calendar: (name, steps per cycle, phase of row 0)

    @property
    def active(self) -> bool:
        """Whether the model needs the differencing graph at all."""
        return self.difference != "none" or any(self.changed) or bool(self.cycles)

    @property
    def warmup(self) -> int:
        """Rows a cold start needs before every difference is a real one."""
        if self.difference in SEASONAL:
            return self.period
        return 1 if self.active else 0


def plan(
    config: DataConfig,
    inputs: tuple[str, ...],
    targets: tuple[str, ...],
    values: np.ndarray,
    val_start: int,
    seasons: tuple[Season, ...],
    topology: str,
) -> Plan:
    """Decide the differences of a series ``values`` ``[rows, inputs + extra targets]``; ``seasons``
    are the candidates for a seasonal difference (see :mod:`~edgernn.train.seasons`)."""
    mode, levels = config.difference, (False,) * len(inputs)
    if mode == "none":
        return Plan("none", 1, levels, "--difference none")
    flag = f"--difference {mode}"
    if topology != "many_to_many":
        if mode != "auto":
            raise InputError(f"{flag}: differencing needs --topology many_to_many, got {topology}")
        return Plan("none", 1, levels, f"levels: differencing applies to many_to_many, not {topology}")
    missing = [t for t in targets if t not in inputs]
    if missing:
        if mode != "auto":
            raise InputError(
                f"{flag}: the target {missing[0]!r} must be an input column too (the graph adds the predicted "
                "change back to its last value); add it to --columns"
            )
        return Plan("none", 1, levels, f"levels: the target {missing[0]!r} is not an input column")
    train = values[:val_start].astype(np.float64)
    cols = [inputs.index(t) for t in targets]
    difference, period, reason = _target_rule(config, flag, train, cols, seasons)
    changed = []
    for j in range(len(inputs)):
        if j in cols:
            changed.append(difference == "first")
        else:
            changed.append(unit_root(train[:, j]).change)
    reason += _range_note(values, val_start, cols[0], targets[0])
    return Plan(difference, period if difference in SEASONAL else 1, tuple(changed), reason)


def _target_rule(
    config: DataConfig, flag: str, train: np.ndarray, cols: list[int], seasons: tuple[Season, ...]
) -> tuple[str, int, str]:
    """The targets' difference, its period and why (see the module docstring)."""
    horizon = config.horizon
    usable = [s for s in seasons if len(cols) == 1 and horizon <= s.period and len(train) > 2 * s.period + 2]
    if config.difference == "season":
        if not usable:
            found = ", ".join(str(s.period) for s in seasons) or "none"
            raise InputError(
                f"{flag}: needs a season (found: {found}) of at least --horizon {horizon} rows, one target, "
                f"and more than two seasons of training rows ({len(train)})"
            )
        best = min(usable, key=lambda s: _season_ratio(train[:, cols[0]], s.period))
        return "season", best.period, f"seasonal difference (period {best.period}, {best.reason}): {flag}"
    if config.difference == "1":
        return "first", 1, f"first difference: {flag}"
    if usable:
        y = train[:, cols[0]]
        ratios = {s.period: _season_ratio(y, s.period) for s in usable}
        best = min(usable, key=lambda s: ratios[s.period])
        if ratios[best.period] < SEASON_RATIO:
            why = (
                f"seasonal difference (period {best.period}; {best.reason}): the seasonal change is "
                f"{ratios[best.period]:.2f}x as spread as the step change on the training rows"
            )
            drift = unit_root(y[best.period :] - y[: -best.period])
            if drift.change:
                return "season+first", best.period, f"{why}; then its first difference: it {drift.why}"
            return "season", best.period, why
    verdicts = [unit_root(train[:, c]) for c in cols]
    changing = [v for v in verdicts if v.change]
    if changing:
        return "first", 1, f"first difference: {changing[0].why}"
    return "none", 1, f"levels: {verdicts[0].why}"


def _season_ratio(y: np.ndarray, period: int) -> float:
    """Spread of the seasonal change over the spread of the step change (scale-free)."""
    step = float(np.std(np.diff(y)))
    seasonal = float(np.std(y[period:] - y[:-period]))
    if step <= _MIN_REL * max(float(np.abs(y).max()), 1e-300):
        return float("inf")
    return seasonal / step


def _range_note(values: np.ndarray, val_start: int, col: int, name: str) -> str:
    """How far the later rows leave the training range of the target (a level model cannot follow)."""
    train, later = values[:val_start, col], values[val_start:, col]
    width = float(train.max() - train.min()) or 1.0
    above = float(later.max() - train.max()) / width
    below = float(train.min() - later.min()) / width
    worst = max(above, below)
    if worst <= 0.05:
        return ""
    where = "above" if above >= below else "below"
    return f"; val/test {name} reach {worst:.0%} of the training range {where} it"


HARMONICS = 2  # sin/cos pairs per calendar cycle (a second harmonic helps a lopsided yearly cycle)


def with_calendar(plan_: Plan, cycles: list[tuple[str, float, float]], topology: str) -> Plan:
    """``plan_`` with calendar features for ``cycles`` (``--calendar``); refused where there are none."""
    if topology != "many_to_many":
        raise InputError(f"--calendar: calendar features need --topology many_to_many, got {topology}")
    if not cycles:
        raise InputError(
            "--calendar: needs a time column whose step fits a day, week or year at least twice, and "
            "training rows that cover that cycle twice"
        )
    return dataclasses.replace(plan_, cycles=tuple(cycles))


def calendar_features(cycles) -> tuple[list[float], list[float], list[bool], list[str]]:
    """Rates, offsets, sin-or-cos and names of the calendar features: harmonics 1..2 of each cycle
    (capped at steps/2; a sine at exactly steps/2 is always 0 and left out)."""
    rates, offsets, sines, names = [], [], [], []
    for name, steps, phase in cycles:
        for k in range(1, min(HARMONICS, int(steps // 2)) + 1):
            for sine in (True, False):
                if sine and abs(k - steps / 2) < 1e-9:
                    continue
                rates.append(k / steps)
                offsets.append(k * phase % 1.0)
                sines.append(sine)
                names.append(f"{'sin' if sine else 'cos'}{k}_{name}")
    return rates, offsets, sines, names


def transform(
    plan_: Plan, values: np.ndarray, cols: list[int], val_start: int, horizon: int, input_stats: tuple
) -> tuple[Transform, tuple[float, ...], tuple[float, ...]]:
    """The graph constants, and the targets' output normalisation (level mean, change spread)."""
    train = values[:val_start].astype(np.float64)
    in_mean, in_std = input_stats
    mean, std = list(in_mean), list(in_std)
    period = plan_.period
    for j, changed in enumerate(plan_.changed):
        if changed:
            mean[j], std[j] = _stats(np.diff(train[:, j]), _magnitude(train[:, j]))
    if plan_.difference in SEASONAL:
        mean[cols[0]], std[cols[0]] = _stats(
            train[period:, cols[0]] - train[:-period, cols[0]], _magnitude(train[:, cols[0]])
        )
    change_mean, out_std = [], []
    for c in cols:
        y = train[:, c]
        if plan_.difference == "first":
            m, s = _stats(y[horizon:] - y[:-horizon], _magnitude(y))  # y[t+h] - y[t]
        elif plan_.difference == "season+first":
            z = y[period:] - y[:-period]
            m, s = _stats(z[horizon:] - z[:-horizon], _magnitude(y))  # y[t+h]-y[t+h-P] - (y[t]-y[t-P])
        elif plan_.difference == "season":
            m, s = _stats(y[period:] - y[:-period], _magnitude(y))  # y[t+h] - y[t+h-P], over every t+h
        else:
            m, s = 0.0, float(in_std[c])
        change_mean.append(m)
        out_std.append(s)
    out_mean = tuple(float(in_mean[c]) for c in cols)
    rates, offsets, sines, _ = calendar_features(plan_.cycles)
    record = Transform(
        calendar_rate=tuple(rates),
        calendar_offset=tuple(offsets),
        calendar_sine=tuple(sines),
        difference=plan_.difference,
        period=period,
        changed=plan_.changed,
        targets=tuple(cols),
        feature_mean=tuple(mean),
        feature_std=tuple(std),
        change_mean=tuple(change_mean),
    )
    return record, out_mean, tuple(out_std)


def _stats(values: np.ndarray, scale: float | None = None) -> tuple[float, float]:
    """Mean and spread; a spread that is float rounding next to ``scale`` (the column's magnitude)
    becomes 1, so a constant column is not blown up, whatever its units."""
    std = float(values.std())
    scale = float(np.abs(values).max()) if scale is None and values.size else (scale or 0.0)
    floor = _MIN_REL * scale if scale > 0 else 0.0
    return float(values.mean()), std if std > floor and std > 0 else 1.0


def _magnitude(values: np.ndarray) -> float:
    return float(np.abs(values).max()) if values.size else 0.0
