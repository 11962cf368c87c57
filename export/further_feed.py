"""The gate's values for further inputs: made to match x, cut by rows and by steps with it.

Each further input is generated from its spec: its batch axis at the check's batch, its ``time``
axis at the check's length, a length of its own at x's length + batch + 2 (never x's), fixed axes
as exported; floats standard normal, integers within the example's ``[low, high]``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .further_axes import FurtherSpec


def own_length(batch: int, time: int) -> int:
    """The length given to further inputs' own axes in a check at (batch, time): never x's length,
    and another one in each check."""
    return time + batch + 2


def make_further(
    rng: np.random.Generator, specs: Sequence[FurtherSpec], batch: int, time: int
) -> list[np.ndarray]:
    """One array per spec for a check at ``(batch, time)``."""
    own = own_length(batch, time)
    out = []
    for spec in specs:
        shape = tuple(
            batch if d == "batch" else time if d == "time" else own if isinstance(d, str) else d
            for d in spec.dims
        )
        if spec.dtype == "float32":
            out.append(rng.standard_normal(shape, dtype=np.float32))
        elif spec.dtype == "bool":
            out.append(rng.integers(0, 2, shape).astype(bool))
        else:
            low, high = int(spec.low or 0), int(spec.high or 0)
            out.append(rng.integers(low, high + 1, shape).astype(spec.dtype))
    return out


def take_rows(
    args: list[np.ndarray], n_state: int, lengths: bool, specs, rows: np.ndarray
) -> list[np.ndarray]:
    """The graph's arguments (x, states[, lengths], further) for the batch rows ``rows``, in order."""
    x, states = args[0], args[1 : 1 + n_state]
    rest = args[1 + n_state :]
    out = [x[rows], *(s[:, rows] for s in states)]
    if lengths:
        out.append(rest[0][rows])
        rest = rest[1:]
    for value, spec in zip(rest, specs, strict=True):
        out.append(value if spec.batch_axis is None else np.take(value, rows, axis=spec.batch_axis))
    return out


def slice_steps(further: list[np.ndarray], specs, start: int, stop: int) -> list[np.ndarray]:
    """Steps ``start:stop`` of the inputs that run with x's time; the others whole (a stream passes
    them at every chunk)."""
    out = []
    for value, spec in zip(further, specs, strict=True):
        if spec.time_axis is None:
            out.append(value)
        else:
            index = [slice(None)] * value.ndim
            index[spec.time_axis] = slice(start, stop)
            out.append(value[tuple(index)])
    return out
