"""Which axis of ``x`` a stateless module reads as its batch, found by keeping rows apart.

A stateful module tells its layout through its state's batch dim. A stateless one written
PyTorch's default way (``nn.LSTM(batch_first=False)`` fed ``[time, batch, ...]``) tells nothing:
traced as it is, its graph would take the module's time axis for the batch, pass the gate (graph
and module see the same array) and give wrong numbers on every ``[batch, time, ...]`` input. Rows
of a batch are independent, steps of a sequence are not: change one slice of ``x`` along an axis
and only the batch axis keeps every other slice of the output as it was.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .errors import ExportError

ATOL = 1e-6  # an untouched row is computed the same way, so only float noise may differ


def reads_time_major(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> bool | None:
    """True when ``run`` keeps rows along axis 1 of ``x`` apart and not along axis 0, False when it
    keeps them apart along axis 0, None when neither (or when ``run`` fails on the probes)."""
    probe = x.repeat(2, 2, *[1] * (x.dim() - 2))  # both candidate axes at least 2 long
    try:
        with torch.no_grad():
            y = run(probe)
            keeps = [_keeps_rows_apart(run, probe, y, axis) for axis in (0, 1)]
    except Exception:  # a probe the module cannot run says nothing about its layout
        return None
    if keeps[0]:
        return False
    return True if keeps[1] else None


def _keeps_rows_apart(run, probe: torch.Tensor, y: torch.Tensor, axis: int) -> bool:
    out_axis = axis if y.dim() >= 3 else 0  # [batch, out] has its batch first in either layout
    if y.dim() < 2 or y.shape[out_axis] != probe.shape[axis]:
        return False
    changed = probe.clone()
    row = changed.select(axis, 0)
    if probe.is_floating_point():
        row.add_(1.0 + row.abs())
    else:
        row.copy_(row.roll(1, dims=-1 if row.dim() else 0))
    y2 = run(changed)
    return torch.allclose(
        y.narrow(out_axis, 1, y.shape[out_axis] - 1),
        y2.narrow(out_axis, 1, y.shape[out_axis] - 1),
        atol=ATOL,
        rtol=0,
    )


def time_major_by_state(x: torch.Tensor, batch: int, name: str) -> bool:
    """The state's batch dim tells the input's layout: ``x`` is ``[batch, time, ...]`` or ``[time, batch, ...]``."""
    if x.shape[0] == batch:
        return False
    if x.shape[1] == batch:
        return True
    raise ExportError(
        f"{name}: the state's batch dim is {batch}, but the example input {list(x.shape)} has no axis 0 or 1 "
        "of that size; expected x [batch, time, ...] (or [time, batch, ...]) and state [rows, batch, hidden]"
    )
