"""A stateless module that returns its final state alone (``(h, c)``, an encoder's ``encode``)."""

from __future__ import annotations

import dataclasses

import torch

from .errors import ExportError


class StateOnly(ExportError):
    """forward gives a recurrent state and no output: no other reading of x changes that."""


def state_only(name: str, wrapper, args, calling, y: torch.Tensor, guarded_call) -> tuple:
    """The graph gives such a state batch-first, each tensor flattened, concatenated: ``y [batch,
    out]``. Refused (:class:`StateOnly`) when the output holds anything else besides. A first axis
    as long as the batch or the time is the state's rows only when it stays so with x one row and
    one step longer (bentrevett's 2-layer encoder on a batch of 2)."""
    batch, time = args[0].shape[0], args[0].shape[1]
    raw = y.transpose(0, 1) if calling.time_major and y.dim() == 3 else y  # as the module gave it
    if calling.n_state or raw.dim() != 3 or raw.shape[1] != batch:
        return calling, y
    if raw.shape[0] in (batch, time) and not _rows_fixed(wrapper, args, calling, raw.shape[0]):
        return calling, y
    wrapper.calling = as_state = dataclasses.replace(calling, state_output=True)
    try:
        out = guarded_call(name, wrapper, args, as_state)
        return as_state, out[0] if isinstance(out, tuple) else out
    except ExportError:
        wrapper.calling = calling
    raise StateOnly(
        f"{name}: forward returns {list(y.shape)} first, the shape of a recurrent state [layers*directions, "
        f"batch={batch}, hidden], and other values besides: expected an output y [batch, (time,) out], "
        "(y, state), or the final state alone"
    )


def _rows_fixed(wrapper, args, calling, rows: int) -> bool:
    """x alone, one row and one step longer: the first axis keeps its length, the second follows."""
    if len(args) != 1:
        return False
    x = args[0]
    grown = torch.cat([x, x[:1]], 0)
    grown = torch.cat([grown, grown[:, :1]], 1)
    try:
        with torch.no_grad():
            out = wrapper(grown)
    except Exception:  # a module that refuses the grown x says nothing here
        return False
    y = out[0] if isinstance(out, tuple) else out
    raw = y.transpose(0, 1) if calling.time_major and y.dim() == 3 else y
    return raw.dim() == 3 and raw.shape[0] == rows and raw.shape[1] == grown.shape[0]
