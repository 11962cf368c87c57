"""Outputs whose layout is not ``[batch, time, out]``: ``view(-1, out)`` rows (which order, so the graph
can give ``[batch, time, out]``), and a y with a length of its own that follows x's.

The official word-language-model example and d2l's RNN model return ``y.view(-1, vocab)``: rows
``[time * batch]`` (time-major) or ``[batch * time]``. Which one is not in the shape, so it is
probed: change one sequence of the batch and see which rows of ``y`` move.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import torch

from .errors import ExportError
from .layout_probe import ATOL

if TYPE_CHECKING:  # calling imports this module
    from .calling import Calling


def flattened_order(run: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> str | None:
    """``"batch"`` when ``run(x)`` (x batch-first ``[batch, time, ...]``) returns rows ``b * time + t``,
    ``"time"`` for rows ``t * batch + b``, None when neither (or when ``run`` fails)."""
    batch, time = x.shape[0], x.shape[1]
    changed = x.clone()
    row = changed[0]
    if x.is_floating_point():
        row.add_(1.0 + row.abs())
    else:  # token ids stay within the ids the example uses
        rolled = row.roll(1, dims=0)
        row.copy_(rolled if not torch.equal(rolled, row) else (row + 1) % (int(x.max()) + 1))
    try:
        with torch.no_grad():
            y, y2 = run(x), run(changed)
    except Exception:  # a probe the module cannot run tells nothing
        return None
    if y.shape != y2.shape or y.shape[0] != batch * time:
        return None
    moved = ~torch.isclose(y, y2, atol=ATOL, rtol=0).all(dim=-1)
    rows = torch.arange(batch * time)
    if torch.equal(moved, rows < time):
        return "batch"
    if torch.equal(moved, rows % batch == 0):
        return "time"
    return None


def unflatten(y: torch.Tensor, order: str | None, batch: int, time: int) -> torch.Tensor:
    """``y [batch * time | time * batch, out]`` as ``[batch, time, out]``."""
    if order == "batch":
        return y.reshape(batch, time, *y.shape[1:])
    if order == "time":
        return y.reshape(time, batch, *y.shape[1:]).transpose(0, 1)
    return y


def own_length(name: str, wrapper, args: tuple, calling: Calling, y, config, specs) -> Calling:
    """y ``[batch, frames, out]`` whose length follows x's without equalling it (a strided or pooling
    front end: pyannote's SincNet, a subsampling encoder): its own symbolic length, whole sequences
    only. Probed by running x twice as long; a y that keeps its length is left to the topology's
    refusal (a decoding loop of fixed length)."""
    batch, time = args[0].shape[0], args[0].shape[1]
    fits = y.dim() == 3 and y.shape[0] == batch and y.shape[1] != time
    if not fits or config.topology == "many_to_one" or calling.one_step or calling.unflatten:
        return calling
    if config.lengths or any("time" in f.dims for f in specs):
        return calling  # lengths and time-aligned inputs would have to be mapped onto y's frames
    longer = (torch.cat([args[0], args[0]], dim=1), *args[1:])
    try:
        with torch.no_grad():
            grown = _first_output(wrapper(*longer))
    except Exception:  # the module runs on no other length: the topology's refusal says so
        return calling
    if grown.dim() != 3 or grown.shape[1] == y.shape[1]:
        return calling
    if calling.n_state:
        raise ExportError(
            f"{name}: y {list(y.shape)} has its own length ({y.shape[1]} frames for x's {time} steps, "
            f"{grown.shape[1]} for {2 * time}: a strided front end?) and the module carries state: a stream "
            "of x's steps cannot give y's frames; pass state=False to export it for whole sequences"
        )
    wrapper.calling = calling = dataclasses.replace(calling, y_own_time=True)
    return calling


def _first_output(out: Any) -> Any:
    return out[0] if isinstance(out, tuple) else out
