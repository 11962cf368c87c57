"""Outputs flattened with ``view(-1, out)``: which order, so the graph can give ``[batch, time, out]``.

The official word-language-model example and d2l's RNN model return ``y.view(-1, vocab)``: rows
``[time * batch]`` (time-major) or ``[batch * time]``. Which one is not in the shape, so it is
probed: change one sequence of the batch and see which rows of ``y`` move.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .layout_probe import ATOL


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
