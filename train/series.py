"""Time-series forecasting samples from a CSV: windows over chosen columns, split in time order.

A sample belongs to the split that holds its *targets*; its inputs may reach back into earlier
splits, as the past is always known when forecasting. The naive baseline is persistence: the
last observed value of each target.

* many_to_one: ``window`` steps -> the next ``horizon`` values of each target.
* many_to_many: at every step, the target ``horizon`` steps ahead. Training uses windows of
  ``window`` steps; val and test are each one long sequence that starts ``window`` steps early,
  with only the steps whose targets lie in the split scored (``mask``).
* one_to_many: the last ``window`` steps, flattened, condition a decoder of ``horizon`` steps.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgernn.runtime.errors import InputError
from edgernn.runtime.records import SeriesRecord

from . import baselines, differencing, seasons, timeindex
from .config import DataConfig, DataInfo
from .readers import read_table
from .splits import Dataset, Split, fit_stats, require_samples, time_bounds
from .timeindex import TimeIndex


def load_series(config: DataConfig, path: Path, sha: str) -> Dataset:
    """Forecasting data from the CSV at ``path``."""
    if config.task not in (None, "forecast"):
        raise InputError(f"{path}: CSV files hold time series for --task forecast, got --task {config.task}")
    inputs, targets, values, time, times = _columns(config, path)
    rows, window, horizon = len(values), config.window, config.horizon
    val_start, test_start = time_bounds(rows, config)
    if window + horizon > val_start:
        raise InputError(
            f"{path}: --window {window} + --horizon {horizon} = {window + horizon} rows is longer than the "
            f"training part of the series ({val_start} of {rows} rows)"
        )
    topology = config.topology or "many_to_many"
    extra = [c for c in targets if c not in inputs]
    t_idx = [inputs.index(c) if c in inputs else len(inputs) + extra.index(c) for c in targets]
    x_all, t_all = values[:, : len(inputs)], values[:, t_idx]
    found = seasons.find(time, times, t_all[:val_start, 0].astype(np.float64))
    plan = differencing.plan(config, inputs, targets, values, val_start, found, topology)
    if config.calendar:
        cycles = timeindex.cycles(time, times, val_start) if time is not None else []
        plan = differencing.with_calendar(plan, cycles, topology)
    in_stats = fit_stats(x_all[:val_start])
    out_mean, out_std = fit_stats(t_all[:val_start])
    transform = None
    if plan.active:
        transform, out_mean, out_std = differencing.transform(
            plan, values, t_idx, val_start, horizon, in_stats
        )
    bounds = {"train": (0, val_start), "val": (val_start, test_start), "test": (test_start, rows)}
    start = np.array(out_mean, dtype=np.float32)
    periods = tuple(x.period for x in found)
    cutter = _Cutter(x_all, t_all, window, horizon, start, plan.warmup, bool(plan.cycles), periods)
    make = getattr(cutter, topology)
    splits = {}
    for name, (lo, hi) in bounds.items():
        splits[name] = make(lo, hi, config.stride if name == "train" else 1, train=name == "train")
        require_samples(name, len(splits[name]), f"{hi - lo} rows, --window {window}, --horizon {horizon}")
    info = _info(path, sha, topology, inputs, targets, window, horizon, splits)
    in_mean, in_std = in_stats
    info.update(input_mean=in_mean, input_std=in_std, output_mean=out_mean, output_std=out_std)
    info.update(
        _series_info(inputs, time, plan, transform, rows, found, times, horizon, window), units=config.units
    )
    if not config.target:
        info["notes"] += _target_warning(targets[0], inputs, values[:val_start, : len(inputs)])
    if len(splits["train"]) < FEW_WINDOWS:
        info["notes"] += (
            f"only {len(splits['train'])} training windows ({val_start} rows, --window {window}): too few to "
            "trust the result; a shorter --window gives more",
        )
    if topology == "many_to_one":
        info.update(output_mean=out_mean * horizon, output_std=out_std * horizon)
    elif topology == "one_to_many":
        info.update(
            input_mean=out_mean, input_std=out_std, cond_mean=in_mean * window, cond_std=in_std * window
        )
    return Dataset(info=DataInfo(**info), **splits)


COUNTER = "step0"  # the forecaster's row-counter state input (see forecaster.py)
FEW_WINDOWS = 20  # fewer training windows than this earn a note: the metrics rest on very little


def _target_warning(target: str, inputs: tuple[str, ...], train: np.ndarray) -> tuple[str, ...]:
    """A warning when the default target (the last column) is constant or takes two values in
    training (a dummy, a flag): it names --target and the columns that vary more."""
    distinct = len(np.unique(train[:, inputs.index(target)]))
    if distinct > 2:
        return ()
    what = "constant" if distinct == 1 else "two-valued (a flag or dummy?)"
    others = [c for j, c in enumerate(inputs) if c != target and len(np.unique(train[:, j])) > 2]
    hint = f" (candidates: {', '.join(others)})" if others else ""
    return (
        f"warning: the default target {target!r} (the last column) is {what} in training; pass --target NAME{hint}",
    )


def _series_info(
    inputs,
    time: TimeIndex | None,
    plan: differencing.Plan,
    transform,
    rows: int,
    found: tuple,
    times,
    horizon: int,
    window: int,
) -> dict:
    """The series record, the graph's transform and the lines that say what was decided."""
    record = SeriesRecord(
        time_column=time.column if time else None,
        first=time.first if time else None,
        last=time.last if time else None,
        step=time.step if time else None,
        step_seconds=time.step_seconds if time else 0.0,
        business_days=bool(time and time.step == "daily" and timeindex.business_days(times)),
        horizon=horizon,
        window=window,
        period=plan.period if plan.period > 1 else (found[0].period if found else 1),
        seasons=tuple(x.period for x in found),
        season_reasons=tuple(x.reason for x in found),
        difference=plan.difference,
        reason=plan.reason,
        changes=tuple(name for name, changed in zip(inputs, plan.changed, strict=True) if changed),
        warmup=plan.warmup,
        calendar=tuple(differencing.calendar_features(plan.cycles)[3]),
        counter=COUNTER if plan.cycles else None,
    )
    notes = [time.describe(rows)] if time else []
    notes.append(f"forecast: {plan.reason}")
    notes += [f"season {x.period} rows: {x.reason}" for x in found]
    if record.changes:
        notes.append(f"inputs seen as changes: {', '.join(record.changes)}")
    if record.calendar:
        cycles = ", ".join(f"a {name} is {steps:.4g} rows" for name, steps, _ in plan.cycles)
        notes.append(
            f"calendar features {', '.join(record.calendar)} ({cycles}) from a row counter in the graph "
            f"(state {COUNTER!r}: rows since {time.first}; set it when the input starts later)"
        )
    return {"series": record, "transform": transform, "notes": tuple(notes)}


def _info(path, sha, topology, inputs, targets, window, horizon, splits) -> dict:
    """The :class:`DataInfo` fields a series implies, normalisation aside."""
    later = [f"{c}[t+{h}]" for h in range(1, horizon + 1) for c in targets]
    info = dict(
        source=str(path),
        sha256=sha,
        task="forecast",
        topology=topology,
        input_kind="features",
        feature_names=inputs,
        output_kind="regression",
        output_names=tuple(f"{c}[t+{horizon}]" for c in targets),
        window=window,
        horizon=horizon,
        metric="rmse",
        baseline="persistence",
        split_sizes=tuple(len(s) for s in splits.values()),
    )
    if topology == "many_to_one":
        info.update(output_names=tuple(later))
    elif topology == "one_to_many":
        ago = [
            f"{c}[t-{window - 1 - w}]" if w < window - 1 else f"{c}[t]" for w in range(window) for c in inputs
        ]
        info.update(feature_names=targets, output_names=targets, cond_kind="features", cond_names=tuple(ago))
    return info


def _columns(
    config: DataConfig, path: Path
) -> tuple[tuple[str, ...], tuple[str, ...], np.ndarray, TimeIndex | None, np.ndarray | None]:
    """Input names, target names, values ``[rows, inputs + targets that are not inputs]`` and the
    time index."""
    if config.columns:
        extra = tuple(t for t in config.target or () if t not in config.columns)
        table = read_table(path, tuple(config.columns) + extra, config.time_column)
        inputs = tuple(config.columns)
    else:
        table = read_table(path, (), config.time_column)
        inputs = table.names
        for t in config.target or ():
            if t not in inputs:
                known = (
                    ", ".join(inputs)
                    if table.time is None
                    else f"{', '.join(inputs)}; time: {table.time.column}"
                )
                raise InputError(f"{path}: unknown target column {t!r} (columns: {known})")
    targets = tuple(config.target) if config.target else (inputs[-1],)
    return inputs, targets, table.values.astype(np.float32), table.time, table.times


@dataclass(frozen=True)
class _Cutter:
    """Cuts samples whose targets lie in rows ``[lo, hi)`` out of the whole series."""

    inputs: np.ndarray  # [rows, input columns]
    targets: np.ndarray  # [rows, target columns]
    window: int
    horizon: int
    start: np.ndarray  # the decoder's first input: the training mean of the targets
    warmup: int = 0  # many_to_many: rows before each sequence that only prime a differencing graph
    counter: bool = False  # many_to_many: each sample's first row goes in `cond` (calendar row counter)
    periods: tuple[int, ...] = ()  # seasons of the seasonal naive baselines

    def _naive(self, rows: np.ndarray, lead: np.ndarray | int, flat: bool = False) -> dict[str, np.ndarray]:
        """Seasonal naive and training-mean forecasts of target rows ``rows`` (see baselines.py)."""
        out = baselines.predictions(self.targets, rows, lead, self.periods, self.start)
        return {k: v.reshape(v.shape[0], v.shape[1] * v.shape[2]) for k, v in out.items()} if flat else out

    def _ends(self, lo: int, hi: int, stride: int) -> np.ndarray:
        """Last input rows ``e`` whose targets ``e+1 .. e+horizon`` all lie in ``[lo, hi)``."""
        return np.arange(max(self.window - 1, lo - 1), hi - self.horizon, stride)

    def _past_and_ahead(self, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return ends[:, None] + np.arange(1 - self.window, 1), ends[:, None] + np.arange(1, self.horizon + 1)

    def many_to_one(self, lo: int, hi: int, stride: int, train: bool) -> Split:
        """``window`` steps in, the next ``horizon`` values of every target out (flattened, time-major)."""
        ends = self._ends(lo, hi, stride)
        past, ahead = self._past_and_ahead(ends)
        y = self.targets[ahead].reshape(len(ends), self.horizon * self.targets.shape[1])
        naive = self._naive(ahead, np.arange(1, self.horizon + 1)[None, :], flat=True)
        return Split(
            x=self.inputs[past], y=y, baseline=np.tile(self.targets[ends], (1, self.horizon)), naive=naive
        )

    def many_to_many(self, lo: int, hi: int, stride: int, train: bool) -> Split:
        """Training windows, or (val/test) one sequence with ``window`` steps of context before ``lo``.

        A differencing model gets ``warmup`` more rows in front of each, unscored: its first
        differences are then real ones, as they are for a stream that has run for a while."""
        window, horizon, warmup = self.window, self.horizon, self.warmup
        if train:
            length = window + warmup
            steps = np.arange(0, hi - horizon - length + 1, stride)[:, None] + np.arange(length)
            mask = None
            if warmup:
                mask = np.broadcast_to(np.arange(length) >= warmup, steps.shape).copy()
            return Split(
                x=self.inputs[steps],
                y=self.targets[steps + horizon],
                mask=mask,
                baseline=self.targets[steps],
                cond=self._rows(steps),
                naive=self._naive(steps + horizon, horizon),
            )
        first = max(0, lo - horizon - window - warmup)
        steps = np.arange(first, hi - horizon)[None, :] if hi > lo else np.zeros((0, 1), dtype=np.int64)
        mask = steps + horizon >= lo
        return Split(
            x=self.inputs[steps],
            y=self.targets[steps + horizon],
            mask=mask,
            baseline=self.targets[steps],
            cond=self._rows(steps),
            naive=self._naive(steps + horizon, horizon),
        )

    def _rows(self, steps: np.ndarray) -> np.ndarray | None:
        """The row counter each sample starts from (calendar features), or None."""
        return steps[:, :1].astype(np.float32) if self.counter else None

    def one_to_many(self, lo: int, hi: int, stride: int, train: bool) -> Split:
        """The flattened input window conditions ``horizon`` decoded steps (teacher-forced ``x``)."""
        ends = self._ends(lo, hi, stride)
        past, ahead = self._past_and_ahead(ends)
        y = self.targets[ahead]
        start = np.broadcast_to(self.start, (len(ends), 1, y.shape[-1]))
        return Split(
            x=np.concatenate([start, y[:, :-1]], axis=1),
            y=y,
            cond=self.inputs[past].reshape(len(ends), -1),
            baseline=np.repeat(self.targets[ends][:, None, :], self.horizon, axis=1),
            naive=self._naive(ahead, np.arange(1, self.horizon + 1)[None, :]),
        )
