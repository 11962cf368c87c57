"""A state spread over several parameters and returned flat: ``forward(x, hidden, cell) -> (y, hidden, cell)``.

The state parameters are consecutive parameters after x, each state-shaped, that forward returns as
the trailing items of its output tuple (the seq2seq decoder of bentrevett/pytorch-seq2seq and many
tutorials). Shapes alone cannot tell ``hidden`` from ``cell``, so the pairing is read from behaviour:
the module is called with distinct random values for the state, and every recurrent layer inside
(``nn.LSTM``, ``nn.GRU``, ``nn.RNN``, their cells, subclasses included) records which of them it took
as which slot of its state and which tensor it gave back in that slot. A parameter pairs with the
returned item that the same slot gave back; a module returning ``(y, cell, hidden)`` for
``forward(x, hidden, cell)`` is paired that way. Where no recurrent layer shows it and two members
share their shapes, the export is refused: a swapped pairing would pass every check of its own.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .errors import ExportError
from .state_tree import _flat, _is_state

_RECURRENT = (nn.LSTM, nn.GRU, nn.RNN, nn.LSTMCell, nn.GRUCell, nn.RNNCell)


def state_group(
    module: Any, bound: dict[str, tuple[bool, Any]], first: str, call
) -> tuple[tuple[str, ...], tuple[int, ...]] | None:
    """The state parameters (two or more, in forward's order) and, per parameter, the index of the
    item of forward's output tuple that returns it; None when the state is no such group. ``call``
    runs the module on ``(args, kwargs)``."""
    names = [p for p in bound if p != first]
    runs = _runs([p for p in names if _is_state(bound[p][1])], names)
    if not runs:
        return None
    values = {p: _distinct(bound[p][1], i) for i, p in enumerate(n for run in runs for n in run)}
    args = [values.get(p, v) for p, (by_pos, v) in bound.items() if by_pos]
    kwargs = {p: values.get(p, v) for p, (by_pos, v) in bound.items() if not by_pos}
    recorder = _Recorder(module)
    try:
        out = call(args, kwargs)
    except Exception:  # random values the module refuses: no group read here (the example ran)
        return None
    finally:
        recorder.close()
    if not isinstance(out, tuple | list):
        return None
    for run in runs:  # the longest group first
        for k in range(len(run), 1, -1):
            for start in range(len(run) - k + 1):
                group = run[start : start + k]
                found = _paired(type_name(module), group, values, out, recorder)
                if found is not None:
                    return tuple(group), found
    return None


def type_name(module: Any) -> str:
    return getattr(module, "edgernn_name", None) or type(module).__name__


def _runs(states: list[str], names: list[str]) -> list[list[str]]:
    """Runs of consecutive state-shaped parameters, two or more long, longest first."""
    runs: list[list[str]] = []
    for p in names:
        if p in states and runs and runs[-1] and names.index(runs[-1][-1]) == names.index(p) - 1:
            runs[-1].append(p)
        elif p in states:
            runs.append([p])
    return sorted((r for r in runs if len(r) >= 2), key=len, reverse=True)


def _distinct(value: Any, seed: int) -> Any:
    """Random values of the example's shapes, distinct for every state tensor (zeros tell nothing)."""
    if isinstance(value, torch.Tensor):
        gen = torch.Generator().manual_seed(1000 + seed)
        return 0.5 * torch.randn(value.shape, generator=gen, dtype=value.dtype)
    return type(value)(_distinct(v, 31 * seed + i + 1) for i, v in enumerate(value))


def _paired(
    name: str, group: list[str], values: dict[str, Any], out: Any, recorder: _Recorder
) -> tuple[int, ...] | None:
    """Per member of ``group``, the output index that returns it (see the module docstring)."""
    k = len(group)
    if len(out) <= k or not all(_is_state(o) for o in out[-k:]):
        return None
    tail = list(range(len(out) - k, len(out)))
    given = [_shapes(values[p]) for p in group]
    if sorted(given) != sorted(_shapes(out[i]) for i in tail):
        return None
    if any(r is v for i in tail for r in _flat(out[i]) for p in group for v in _flat(values[p])):
        return None  # a tensor passed back unchanged is an input, not the state
    slots_in = [recorder.slot_in(values[p]) for p in group]
    slots_out = {i: recorder.slot_out(out[i]) for i in tail}
    pairing: list[int] = []
    for slot in slots_in:
        match = [i for i in tail if slot is not None and slots_out[i] == slot and i not in pairing]
        if len(match) != 1:
            break
        pairing.append(match[0])
    else:
        if all(given[j] == _shapes(out[i]) for j, i in enumerate(pairing)):
            return tuple(pairing)
    if len(set(given)) == k:  # shapes alone pair them, one way only
        return tuple(next(i for i in tail if _shapes(out[i]) == g) for g in given)
    raise ExportError(
        f"{name}: forward takes its state as {', '.join(group)} and returns {k} tensors of the same shapes "
        f"last, {_shapes_text(out, tail)}, but no recurrent layer inside shows which returned tensor is "
        f"which parameter: expected each passed to an nn.LSTM/GRU/RNN (or cell) as it is and returned as "
        "that layer gave it, in any order"
    )


def _shapes(value: Any) -> tuple[tuple[int, ...], ...]:
    return tuple(tuple(t.shape) for t in _flat(value))


def _shapes_text(out: Any, tail: list[int]) -> str:
    return ", ".join(str([list(s) for s in _shapes(out[i])]) for i in tail)


class _Recorder:
    """Forward hooks on every recurrent layer: the state tensors each call took and gave, per slot."""

    def __init__(self, module: Any) -> None:
        target = getattr(module, "module", module)  # a Bound runner holds the module
        self.taken: list[tuple[tuple[int, int, int], torch.Tensor]] = []
        self.given: list[tuple[tuple[int, int, int], torch.Tensor]] = []
        layers = (
            [m for m in target.modules() if isinstance(m, _RECURRENT)] if hasattr(target, "modules") else []
        )
        self.handles = [
            layer.register_forward_hook(self._hook(i), with_kwargs=True) for i, layer in enumerate(layers)
        ]
        self.calls = 0

    def _hook(self, layer: int):
        def record(mod: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            call, self.calls = self.calls, self.calls + 1
            hx = args[1] if len(args) > 1 else kwargs.get("hx")
            if hx is not None:
                self.taken += [((layer, call, s), t) for s, t in enumerate(_flat(hx))]
            given = output if isinstance(mod, nn.LSTMCell | nn.GRUCell | nn.RNNCell) else output[1]
            self.given += [((layer, call, s), t) for s, t in enumerate(_flat(given))]

        return record

    def slot_in(self, value: Any) -> Any:
        """The one slot that took ``value`` (every tensor of it, in order), else None."""
        return _one_slot(self.taken, value)

    def slot_out(self, value: Any) -> Any:
        """The one slot that gave ``value`` back, else None."""
        return _one_slot(self.given, value)

    def close(self) -> None:
        for handle in self.handles:
            handle.remove()


def _one_slot(seen: list[tuple[tuple[int, int, int], torch.Tensor]], value: Any) -> Any:
    flat = _flat(value)
    found = []
    for t in flat:
        hits = {key for key, s in seen if s is t or (s.shape == t.shape and torch.equal(s, t))}
        if len(hits) != 1:
            return None
        found.append(hits.pop())
    return tuple(found) if len(found) > 1 else found[0]
