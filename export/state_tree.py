"""A module's recurrent state as it nests it: found in forward's output, flattened, rebuilt.

The state is a tensor ``[rows, batch, hidden]``, or tuples/lists of them nested any way
(``(h, c)``, ``[(h1, c1), (h2, c2)]``); the graph takes and gives it flat.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import torch


def state_index(out: Any, like: Any = None) -> Any:
    """Where forward's tuple returns its state: the last item after y that is one (``(y, state)``,
    ``(y, output, state)`` as flair's language model, ``(y, lengths, states)`` as ESPnet's encoders),
    or a dict's key (``{"logits": y, "hidden": h}``); None: none; with ``like`` (the state it took), the last of its shapes (``(y, h, attn)``: not attn)."""
    found = state_candidates(out)
    if like is not None:
        shapes = [t.shape for t in _flat(like)]
        found = [i for i in found if [t.shape for t in _flat(out[i])] == shapes] or found
    return found[0] if found else None


def state_candidates(out: Any) -> list[Any]:
    """The items after y that could be a state, last first: tuple positions, or a dict's keys (of two
    items and more; never one named as y is, see :mod:`.further_outputs`)."""
    if isinstance(out, dict) and len(out) >= 2:
        named_y = ("prediction", "output", "logits", "y")
        return [k for k in reversed(list(out)) if k not in named_y and _is_state(out[k])]
    if not isinstance(out, tuple | list) or len(out) < 2:
        return []
    return [i for i in range(len(out) - 1, 0, -1) if _is_state(out[i])]


def _flat(state: Any) -> tuple[torch.Tensor, ...]:
    """The state's tensors in order, however it nests them (``((h1, c1), (h2, c2))`` per layer)."""
    if isinstance(state, torch.Tensor):
        return (state,)
    return tuple(t for item in state for t in _flat(item))


def _is_state(value: Any) -> bool:
    """A tensor ``[rows, batch, hidden]``, or non-empty tuples/lists of them, nested or not."""
    if isinstance(value, torch.Tensor):
        return value.dim() == 3 and value.is_floating_point()
    return isinstance(value, tuple | list) and bool(value) and all(_is_state(v) for v in value)


def _structure(state: Any) -> Any:
    """``"tensor"``, or ``("tuple" | "list", children)``: what :func:`_rebuild` makes from flat tensors."""
    if isinstance(state, torch.Tensor):
        return "tensor"
    return ("list" if isinstance(state, list) else "tuple", tuple(_structure(s) for s in state))


def _rebuild(structure: Any, flat: Iterator[torch.Tensor]) -> Any:
    if structure == "tensor":
        return next(flat)
    kind, children = structure
    items = [_rebuild(child, flat) for child in children]
    return items if kind == "list" else tuple(items)
