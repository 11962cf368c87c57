"""Tensors a module returns besides ``y`` and its state: named, flattened, further graph outputs.

``(y, attn)``, ``(y, hidden, attn_weights)``, ``{"prediction": p, "attention": a}`` or a NamedTuple:
every tensor besides y and the state becomes a graph output after the state outputs, named by where
it sits as :func:`~.further.flatten` names further inputs: a tuple's items ``out.1``, ``out.2.k``; a
dict's or a NamedTuple's or a dataclass's by their keys (``attention``, ``prediction.attn``).
Non-tensor items (``None``, numbers, strings) are left out, and so is an integer ``[batch]`` tensor
that equals the lengths the graph was given (ESPnet's ``olens``: the lengths again).

``y`` is a tuple's first item; in a dict, NamedTuple or dataclass the item ``main_output`` names,
else the one named ``prediction``, ``output``, ``logits`` or ``y``, else the first float tensor of
the highest rank. Each further output's dims are probed (:func:`output_specs`): ``"batch"`` (grows
with x's batch), ``"time"`` (grows with x's time), a further input's own length it grows with
(``memory_time``), ``"<name>_time"`` for a length of its own, or fixed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import torch

from .errors import ExportError
from .further import Leaf, declared_leaf, flatten
from .further_axes import GROW, FurtherSpec, _grow
from .state_tree import _flat

MAIN_NAMES = ("prediction", "output", "logits", "y")


def split_output(
    name: str, out: Any, stateful: bool, index: int = 1, main: str | None = None, keep: Any = None
) -> tuple[torch.Tensor, tuple[torch.Tensor, ...], tuple[Leaf, ...]]:
    """``(y, flat state, further outputs)`` of what forward returned (see the module docstring);
    ``keep``: the further outputs' names to give (None: all)."""
    if isinstance(out, torch.Tensor):
        return out, (), ()
    named = _named_items(out)
    if named is None:
        raise ExportError(
            f"{name}: forward returned {_describe(out)}; expected a tensor y, (y, ...), (y, state) or a "
            "dict/NamedTuple/dataclass of tensors"
        )
    state_at = index if stateful and isinstance(out, tuple | list | dict) else None
    state = _flat(out[state_at]) if state_at is not None else ()
    leaves: list[Leaf] = []
    tops: list[str] = []
    for i, (key, where, value) in enumerate(named):
        if state_at is not None and (key == str(state_at) if isinstance(out, dict) else i == state_at):
            continue
        before = len(leaves)
        flatten(value, key, where, leaves)
        tops.extend([key] * (len(leaves) - before))
    keyed = not (isinstance(out, tuple | list) and not hasattr(type(out), "_fields"))
    y_at = _main(name, leaves, tops, keyed, main, out)
    kept = [leaf for i, leaf in enumerate(leaves) if i != y_at and (keep is None or leaf.name in keep)]
    extras = tuple(_graph_dtype(leaf) for leaf in kept)
    return leaves[y_at].value, state, extras


def _named_items(out: Any) -> list[tuple[str, str, Any]] | None:
    if isinstance(out, dict):
        return [(str(k), f"[{k!r}]", v) for k, v in out.items()]
    if dataclasses.is_dataclass(out) and not isinstance(out, type):
        return [(f.name, f".{f.name}", getattr(out, f.name)) for f in dataclasses.fields(out)]
    if isinstance(out, tuple | list) and out:
        fields = getattr(type(out), "_fields", None)
        if fields:
            return [(f, f".{f}", v) for f, v in zip(fields, out, strict=True)]
        return [(f"out.{i}", f"[{i}]", v) for i, v in enumerate(out)]
    return None


def _main(name: str, leaves: list[Leaf], tops: list[str], keyed: bool, main: str | None, out: Any) -> int:
    """Which leaf is y (see the module docstring)."""
    if main is not None:
        return declared_leaf(leaves, main, "main_output", name)
    if not keyed:
        if not leaves or tops[0] != "out.0" or leaves[0].name != "out.0":
            raise ExportError(
                f"{name}: forward returned {_describe(out)}; expected a tensor y first, (y, ...) or (y, state)"
            )
        return 0
    for wanted in MAIN_NAMES:
        if wanted in tops and leaves[tops.index(wanted)].name == wanted:
            return tops.index(wanted)
    floats = [(leaf.value.dim(), -i) for i, leaf in enumerate(leaves) if leaf.value.is_floating_point()]
    if not floats:
        raise ExportError(f"{name}: forward returned {_describe(out)}; expected a float tensor y among them")
    return -max(floats)[1]


def _graph_dtype(leaf: Leaf) -> Leaf:
    """float32, int64 or bool, as the manifest records further outputs."""
    value = leaf.value
    if value.is_floating_point():
        value = value.float()
    elif value.dtype != torch.bool:
        value = value.long()
    return dataclasses.replace(leaf, value=value)


def _describe(value: Any) -> str:
    if isinstance(value, dict):
        return f"a dict with keys {list(value)[:5]}"
    if isinstance(value, torch.Tensor):
        return f"a tensor {list(value.shape)}"
    if isinstance(value, tuple | list):
        return f"a {type(value).__name__} of {len(value)} ({', '.join(_describe(v) for v in value[:3])})"
    return type(value).__name__


def echoes_lengths(leaf: Leaf, lengths: torch.Tensor | None) -> bool:
    """An integer ``[batch]`` output equal to the lengths the graph was given (kept out)."""
    value = leaf.value
    return (
        lengths is not None
        and not value.is_floating_point()
        and value.shape == lengths.shape
        and bool(torch.equal(value.long(), lengths))
    )


def extra_leaves(wrapper, args: tuple[torch.Tensor, ...]) -> tuple[Leaf, ...]:
    """Every further output the wrapper's module gives on ``args``, named (its calling's ``extras``
    ignored), the graph's lengths echoed back left out."""
    calling = dataclasses.replace(wrapper.calling, extras=None)
    n = calling.n_state
    lengths = args[1 + n] if calling.lengths else None
    further = args[1 + n + bool(calling.lengths) :]
    with torch.no_grad():
        _, _, leaves = calling.call(wrapper.module, args[0], tuple(args[1 : 1 + n]), lengths, further)
    return tuple(leaf for leaf in leaves if not echoes_lengths(leaf, lengths))


def output_specs(
    wrapper, args: tuple[torch.Tensor, ...], leaves: tuple[Leaf, ...], in_specs, one_step: bool
) -> tuple[FurtherSpec, ...]:
    """The :class:`FurtherSpec` of each further output ``leaves`` (the wrapper returns them after y and
    the state): each axis that grows with x's batch, x's time or a further input's own length."""
    n = len(args) - len(in_specs) - 1 - bool(wrapper.calling.lengths)
    base = [leaf.value for leaf in leaves]
    dims: list[list[int | str]] = [list(v.shape) for v in base]
    for label, grown in _probes(args, n, bool(wrapper.calling.lengths), in_specs, one_step):
        try:
            with torch.no_grad():
                out = wrapper(*grown)
        except Exception:  # a size the module refuses tells nothing about the outputs
            continue
        got = list(out[1 + n :]) if isinstance(out, tuple) else []
        if len(got) != len(base):
            continue
        for leaf, d, b, g in zip(leaves, dims, base, got, strict=True):
            for axis in range(min(b.dim(), g.dim())):
                if isinstance(d[axis], int) and g.shape[axis] != b.shape[axis]:
                    grew = g.shape[axis] - b.shape[axis]
                    d[axis] = label if label != "time" or grew == GROW else f"{leaf.name}_time"
    return tuple(
        FurtherSpec(leaf.name, leaf.where, tuple(d), str(leaf.value.dtype).removeprefix("torch."))
        for leaf, d in zip(leaves, dims, strict=True)
    )


def _probes(args, n: int, lengths: bool, in_specs, one_step: bool):
    """``(label, grown args)``: x's batch one row larger; x ``GROW`` steps longer (and the inputs that
    run with its time); each further input's own length ``GROW`` longer."""
    x, states, further = args[0], list(args[1 : 1 + n]), list(args[1 + n + lengths :])

    def pack(x, states, further):
        steps = [torch.full((x.shape[0],), x.shape[1], dtype=torch.int64)] if lengths else []
        return (x, *states, *steps, *further)

    yield (
        "batch",
        pack(
            _grow(x, 0, 1),
            [_grow(s, 1, 1) for s in states],
            [
                f if s.batch_axis is None else _grow(f, s.batch_axis, 1)
                for f, s in zip(further, in_specs, strict=True)
            ],
        ),
    )
    if not one_step:
        timed = [
            f if s.time_axis is None else _grow(f, s.time_axis, GROW)
            for f, s in zip(further, in_specs, strict=True)
        ]
        yield "time", pack(_grow(x, 1, GROW), states, timed)
    own = sorted({d for s in in_specs for d in s.dims if isinstance(d, str) and d not in ("batch", "time")})
    for length in own:
        grown = []
        for f, s in zip(further, in_specs, strict=True):
            for axis, d in enumerate(s.dims):
                f = _grow(f, axis, GROW) if d == length else f
            grown.append(f)
        yield length, pack(x, states, grown)


def further_outputs(
    wrapper, args: tuple[torch.Tensor, ...], calling, in_specs
) -> tuple[Any, tuple[FurtherSpec, ...]]:
    """The calling with its further outputs named (the wrapper then returns them after the state) and
    their specs; ``()`` when the module returns none."""
    leaves = extra_leaves(wrapper, args)
    if not leaves:
        return calling, ()
    calling = wrapper.calling = dataclasses.replace(calling, extras=tuple(leaf.name for leaf in leaves))
    return calling, output_specs(wrapper, args, leaves, in_specs, calling.one_step)


def _cut(value, spec: FurtherSpec, rows, steps: int | None = None):
    """``value``'s batch ``rows`` (an index array or a slice) and its first ``steps`` time steps."""
    index: list[Any] = [slice(None)] * value.ndim
    if spec.batch_axis is not None:
        index[spec.batch_axis] = rows
    if spec.time_axis is not None and steps is not None:
        index[spec.time_axis] = slice(0, steps)
    return value[tuple(index)]


def row_outputs(out: list, n_state: int, specs, per_step: bool, i: int, n: int) -> list:
    """Row ``i`` of a batch's outputs (y, states, further outputs), its first ``n`` steps."""
    y = out[0][i : i + 1, :n] if per_step else out[0][i : i + 1]
    states = [s[:, i : i + 1] for s in out[1 : 1 + n_state]]
    return [
        y,
        *states,
        *(_cut(v, s, slice(i, i + 1), n) for v, s in zip(out[1 + n_state :], specs, strict=True)),
    ]


def reorder_outputs(out: list, n_state: int, specs, rows) -> list:
    """A batch's outputs (y, states, further outputs) with their rows in the order ``rows``."""
    states = [s[:, rows] for s in out[1 : 1 + n_state]]
    return [
        out[0][rows],
        *states,
        *(_cut(v, s, rows) for v, s in zip(out[1 + n_state :], specs, strict=True)),
    ]


def joined(chunks: list[list], n_state: int, specs, per_step: bool) -> list:
    """A stream's outputs, one list per call, as one call on the whole sequence would give them: y
    and the further outputs with a time axis joined along it, the others and the state the last call's."""
    last = chunks[-1]
    y = np.concatenate([c[0] for c in chunks], axis=1) if per_step else last[0]
    extras = [
        last[1 + n_state + k]
        if spec.time_axis is None
        else np.concatenate([c[1 + n_state + k] for c in chunks], axis=spec.time_axis)
        for k, spec in enumerate(specs)
    ]
    return [y, *last[1 : 1 + n_state], *extras]
