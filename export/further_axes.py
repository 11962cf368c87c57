"""Which axis of each further input is batch, which is x's time, which a length of its own.

Declared in the style export already takes for x (``dims={"encoder_outputs": {0: "memory_time", 1:
"batch"}}``: ``"batch"``, ``"time"`` or any other name for a length of its own; axes not named are
fixed), or probed on the wrapper, each probe one call at a new size:

- **batch**: the axis of x's batch size that the module runs on with one more row, every batched
  input grown together (the first of several that works);
- **time**: an axis of x's length (x longer than one step) that runs only grown with x;
- **its own length** (``"<name>_time"``): an axis the module runs on longer while x stays as it is
  (an attention memory, an encoder's outputs);
- anything else is fixed at the example's size, and so is the last axis of an input of rank 3 and
  up (its features or categorical variables, as x's: a packed nn.LSTM runs on any width without a
  word, and ``x_cat[..., i]`` on any number of columns, so no probe could tell).

Integer inputs (embedding ids, categorical codes) keep the example's smallest and largest value, so
the gate feeds only values the module accepts; with one column per categorical variable on a fixed
last axis, the range every column takes (their cardinalities differ).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch

from .errors import ExportError

GROW = 3  # steps added by the time and length probes


@dataclass(frozen=True)
class FurtherSpec:
    """One further graph input: its name, where the module takes it, dims, dtype and value range."""

    name: str
    where: str
    dims: tuple[int | str, ...]  # "batch", "time", "<name>_time" (its own length) or a fixed size
    dtype: str
    low: float | None = None
    high: float | None = None

    @property
    def batch_axis(self) -> int | None:
        return self.dims.index("batch") if "batch" in self.dims else None

    @property
    def time_axis(self) -> int | None:
        return self.dims.index("time") if "time" in self.dims else None


def _grow(t: torch.Tensor, axis: int, by: int) -> torch.Tensor:
    reps = [t]
    while sum(r.shape[axis] for r in reps) < t.shape[axis] + by:
        reps.append(
            t.narrow(axis, 0, min(t.shape[axis], t.shape[axis] + by - sum(r.shape[axis] for r in reps)))
        )
    return torch.cat(reps, dim=axis)


class AxisProbe:
    """Runs the wrapper with x's batch or time grown and the further inputs grown along given axes."""

    def __init__(self, wrapper, args: tuple[torch.Tensor, ...], n_state: int, lengths: bool, further) -> None:
        self.wrapper, self.args, self.n_state, self.lengths = wrapper, args, n_state, lengths
        self.further = list(further)

    def runs(
        self,
        batch_axes: dict[int, int] | None = None,
        time_axes: dict[int, int] | None = None,
        own: dict[int, int] | None = None,
    ) -> bool:
        """Whether the wrapper runs with x one row larger (``batch_axes`` given: input -> its axis),
        or x ``GROW`` steps longer (``time_axes``), or only inputs' own axes longer (``own``)."""
        x, states = self.args[0], list(self.args[1 : 1 + self.n_state])
        further = list(self.further)
        if batch_axes is not None:
            x = _grow(x, 0, 1)
            states = [_grow(s, 1, 1) for s in states]
            further = [_grow(f, batch_axes[i], 1) if i in batch_axes else f for i, f in enumerate(further)]
        if time_axes is not None:
            x = _grow(x, 1, GROW)
            further = [_grow(f, time_axes[i], GROW) if i in time_axes else f for i, f in enumerate(further)]
        for i, axis in (own or {}).items():
            further[i] = _grow(further[i], axis, GROW)
        lengths = [torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)] if self.lengths else []
        try:
            with torch.no_grad():
                self.wrapper(x, *states, *lengths, *further)
        except Exception:  # a size the module refuses is what the probe looks for
            return False
        return True


def infer_specs(name: str, probe: AxisProbe, names, wheres, declared: dict | None) -> tuple[FurtherSpec, ...]:
    """The :class:`FurtherSpec` of every further input (see the module docstring)."""
    x = probe.args[0]
    batch, time = x.shape[0], x.shape[1]
    declared = {k: v for k, v in (declared or {}).items() if k != "x"}
    unknown = sorted(set(declared) - set(names))
    if unknown:
        raise ExportError(f"{name}: dims: no input named {unknown[0]!r}; the inputs are {['x', *names]}")
    dims: list[list[int | str]] = [list(f.shape) for f in probe.further]
    for i, n in enumerate(names):
        if n in declared:
            dims[i] = _declared(name, n, declared[n], probe.further[i])
    open_ = [i for i, n in enumerate(names) if n not in declared]
    _batch_axes(name, probe, dims, open_, batch)
    for i in open_:
        _length_axes(probe, dims, i, names[i], time)
    return tuple(_spec(n, w, d, f) for n, w, d, f in zip(names, wheres, dims, probe.further, strict=True))


def _declared(name: str, input_name: str, axes: dict, value: torch.Tensor) -> list[int | str]:
    if any(not isinstance(a, int) or not 0 <= a < value.dim() for a in axes) or not all(
        isinstance(v, str) and v for v in axes.values()
    ):
        raise ExportError(
            f"{name}: dims[{input_name!r}]: expected {{axis: 'batch' | 'time' | 'a_length_name'}} with axes "
            f"of {input_name} {list(value.shape)} (rank {value.dim()}), got {axes}"
        )
    return [axes.get(a, int(s)) for a, s in enumerate(value.shape)]


def _batch_axes(name: str, probe: AxisProbe, dims, open_: list[int], batch: int) -> None:
    """The batch axis of each open input: its one axis of x's batch size, or of several the first
    the module runs on one row larger (every other batched input grown with it)."""
    chosen: dict[int, int] = {i: d.index("batch") for i, d in enumerate(dims) if "batch" in d}
    choices = {i: [a for a, s in enumerate(dims[i]) if s == batch] for i in open_}
    for i in open_:
        if choices[i]:
            chosen[i] = choices[i][0]
    for i in open_:
        if len(choices[i]) > 1:
            works = [a for a in choices[i] if probe.runs(batch_axes={**chosen, i: a})]
            chosen[i] = works[0] if works else choices[i][0]
    for i in open_:
        if i in chosen:
            dims[i][chosen[i]] = "batch"


def _length_axes(probe: AxisProbe, dims, i: int, input_name: str, time: int) -> None:
    """x's time, a length of its own, or fixed, for each axis of input ``i`` but its batch."""
    own = 0
    value = probe.further[i]
    for axis, size in enumerate(list(dims[i])):
        if isinstance(size, str):
            continue
        if axis == value.dim() - 1 and value.dim() >= 3:
            continue  # the last axis of a rank-3 input is its features, as x's (dims declares otherwise)
        if probe.runs(own={i: axis}):
            dims[i][axis] = f"{input_name}_time" + (str(own) if own else "")
            own += 1
        elif size == time and time > 1 and probe.runs(time_axes=_timed(dims, {i: axis})):
            dims[i][axis] = "time"


def _timed(dims, extra: dict[int, int]) -> dict[int, int]:
    """Inputs already found to run with x's time, plus ``extra``: grown together with x."""
    return {**{j: d.index("time") for j, d in enumerate(dims) if "time" in d}, **extra}


def _spec(name: str, where: str, dims, value: torch.Tensor) -> FurtherSpec:
    dtype = str(value.dtype).removeprefix("torch.")
    if value.is_floating_point():
        return FurtherSpec(name, where, tuple(dims), dtype)
    if not value.numel():
        return FurtherSpec(name, where, tuple(dims), dtype, 0.0, 0.0)
    low, high = float(value.min()), float(value.max())
    if value.dim() >= 2 and isinstance(dims[-1], int):  # one column per categorical variable: the
        columns = value.reshape(-1, value.shape[-1])  # range every column takes (their cardinalities differ)
        low, high = (
            max(low, float(columns.min(0).values.max())),
            min(high, float(columns.max(0).values.min())),
        )
        low, high = (low, high) if low <= high else (float(value.min()), float(value.max()))
    return FurtherSpec(name, where, tuple(dims), dtype, low, high)


def further_inputs(
    name: str, wrapper, args: tuple, split, calling, config
) -> tuple[tuple[FurtherSpec, ...], bool]:
    """The further inputs' specs, and whether x runs one step per call only (a decoder step: the
    example's x has one step and the module refuses more)."""
    if split.plan is None:
        return (), False
    probe = AxisProbe(wrapper, args, calling.n_state, bool(config.lengths), split.further)
    specs = infer_specs(name, probe, split.plan.names, split.plan.wheres, getattr(config, "dims", None))
    if split.plan.x_step:  # x without a time axis: one step per call, whatever longer x would run
        return specs, True
    if probe.runs(time_axes={i: s.time_axis for i, s in enumerate(specs) if s.time_axis is not None}):
        return specs, False
    if args[0].shape[1] == 1 and calling.n_state:
        return specs, True  # a decoder step: one token and the state in, the next state out
    shapes = ", ".join(f"{n} {list(f.shape)}" for n, f in zip(split.plan.names, split.further, strict=True))
    raise ExportError(
        f"{name}: x {list(split.x.shape)} (rank {split.x.dim()}), read with {args[0].shape[1]} steps on its time "
        f"axis, cannot run {GROW} steps longer, alone or with any axis of the further inputs ({shapes}) "
        "grown as many steps: their lengths are tied in another ratio (an upsampling hop?) or x's time is "
        "another axis (declare dims={'x': {0: 'batch', T: 'time'}})"
    )


def named_apart(specs: tuple[FurtherSpec, ...], taken: set[str]) -> tuple[FurtherSpec, ...]:
    """Specs whose names clash with x, y, lengths or a state get ``_in`` appended."""
    out = []
    for spec in specs:
        new = spec.name
        while new in taken:
            new += "_in"
        taken.add(new)
        out.append(dataclasses.replace(spec, name=new))
    return tuple(out)


def tensor_spec(spec: FurtherSpec):
    """The manifest's record of a further input."""
    from edgernn.runtime.manifest import TensorSpec

    return TensorSpec(spec.name, tuple(spec.dims), spec.dtype, spec.where, spec.low, spec.high)


def cut_further(t, spec: FurtherSpec, start: int, stop: int, length: int | None = None, t0: int = 0):
    """Rows ``start:stop`` of a further input along its batch axis, and steps ``t0:length`` along its
    time axis when it has one (``length`` None: all of them). Works on torch and numpy arrays."""
    index = [slice(None)] * len(spec.dims)
    if spec.batch_axis is not None:
        index[spec.batch_axis] = slice(start, stop)
    if spec.time_axis is not None and length is not None:
        index[spec.time_axis] = slice(t0, length)
    return t[tuple(index)]
