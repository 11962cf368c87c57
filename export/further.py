"""Tensors a module takes besides ``x``, its state and its lengths: named, flattened, put back.

``forward(input_step, last_hidden, encoder_outputs)``, ``forward(x: dict)``, ``forward(x_in: tuple,
h=None)``: the graph keeps one input per tensor, named after where the module takes it
(``encoder_outputs``, ``x.encoder_cat``, ``x_in.1``), and :class:`CallPlan` puts them back where the
module reads them on every call. Non-tensor leaves (``None``, numbers, strings) are kept as the
example gave them. The main ``x`` is the first argument when that is a tensor; inside a dict, tuple
or dataclass it is the first float tensor of the highest rank (``main_input`` declares another).
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ExportError
from .state_tree import _flat

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class Leaf:
    """One tensor of the example, where the module takes it: its graph name and a readable place."""

    name: str
    where: str
    value: torch.Tensor


def flatten(value: Any, name: str, where: str, leaves: list[Leaf]) -> Any:
    """The tree the module takes, with each tensor replaced by ``("in", index into leaves)``."""
    if isinstance(value, torch.Tensor):
        leaves.append(Leaf(name, where, value))
        return ("in", len(leaves) - 1)
    if isinstance(value, dict):
        keys = tuple(value)
        kids = tuple(flatten(value[k], f"{name}.{k}", f"{where}[{k!r}]", leaves) for k in keys)
        return ("dict", keys, kids)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = tuple(f.name for f in dataclasses.fields(value))
        kids = tuple(flatten(getattr(value, n), f"{name}.{n}", f"{where}.{n}", leaves) for n in names)
        return ("dataclass", value, names, kids)
    if isinstance(value, tuple | list):
        fields = getattr(type(value), "_fields", None)  # a NamedTuple's items by their names
        keys = (
            [(f".{f}", f".{f}") for f in fields]
            if fields
            else [(f".{i}", f"[{i}]") for i in range(len(value))]
        )
        kids = tuple(flatten(v, name + k, where + w, leaves) for (k, w), v in zip(keys, value, strict=True))
        return ("seq", type(value), kids)
    return ("const", value)


def rebuild(tree: Any, values: list[Any], state: tuple[Any, ...] = (), lengths: Any = None) -> Any:
    """The module's argument from ``tree``, each ``("in", i)`` leaf taken from ``values[i]``, each
    ``("st", j)`` from the flat state's ``state[j]`` and ``("len",)`` from ``lengths``."""
    kind = tree[0]
    if kind == "in":
        return values[tree[1]]
    if kind == "st":
        return state[tree[1]]
    if kind == "len":
        return lengths
    if kind == "const":
        return tree[1]
    if kind == "dict":
        return {k: rebuild(t, values, state, lengths) for k, t in zip(tree[1], tree[2], strict=True)}
    if kind == "dataclass":
        kids = {n: rebuild(t, values, state, lengths) for n, t in zip(tree[2], tree[3], strict=True)}
        return dataclasses.replace(tree[1], **kids)
    items = [rebuild(t, values, state, lengths) for t in tree[2]]
    seq_type = tree[1]
    if hasattr(seq_type, "_fields"):  # a NamedTuple
        return seq_type(*items)
    return items if seq_type is list else seq_type(items)


@dataclass(frozen=True)
class CallPlan:
    """Where every tensor of a call goes: x's leaf, the state's parameter, each further input.

    ``slots`` maps each bound parameter to its tree; leaf ``0`` of ``leaves`` is always x. The state
    and the lengths are not in the trees: :class:`~.calling.Calling` places them as before.
    """

    slots: tuple[tuple[str, bool, Any], ...]  # (parameter, positional, tree), forward's order
    names: tuple[str, ...]  # graph name per further leaf (leaf i + 1)
    wheres: tuple[str, ...]  # where the module takes it, per further leaf
    x_where: str  # where the module takes x ("forward(x)", "x['encoder_cont']")
    state_position: int | None = None  # the state's positional index, when it is passed by position
    # a state the module passes some tensors of through unchanged (d2l's [enc_outputs, hidden]): its
    # tree, ("st", j) for the state's own tensors and ("in", i) for those further inputs; and which
    # tensors of the returned state are the state's own
    state_tree: Any = None
    state_keep: tuple[int, ...] | None = None
    lengths_leaf: str | None = None  # the lengths sit inside an argument (x['encoder_lengths']): its name
    # a state spread over several parameters (forward(x, hidden, cell) -> (y, hidden, cell)): their
    # names, and per name the index of forward's output item that returns it (see .state_params)
    state_names: tuple[str, ...] = ()
    returned: tuple[int, ...] = ()
    x_step: bool = False  # the module takes x without a time axis (one step): the graph's x[:, 0]

    def kept(self, returned: tuple[Any, ...]) -> tuple[Any, ...]:
        """The returned state's own tensors (those passed through unchanged are inputs)."""
        return returned if self.state_keep is None else tuple(returned[i] for i in self.state_keep)

    def describe(self) -> str:
        """Where the module takes x and each further input, for ``edgernn inspect``."""
        parts = [] if self.x_where == self.slots[0][0] else [f"x is the module's {self.x_where}"]
        if self.x_step:
            parts.append("x: the module takes one step without a time axis, the graph x[:, 0]")
        if self.state_names:
            parts.append(f"state: the module takes {', '.join(self.state_names)} and returns them flat")
        named = [n if n == w else f"{n} ({w})" for n, w in zip(self.names, self.wheres, strict=True)]
        return "; ".join(parts + ([f"further inputs: {', '.join(named)}"] if named else []))

    def arguments(
        self,
        x: Any,
        further: tuple[Any, ...],
        state: Any = None,
        state_param: str | None = None,
        lengths=None,
    ):
        """``(args, kwargs)`` for the module: x, the further inputs (and lengths kept inside an
        argument) in their trees, the state at its position (``None`` there when the module's default
        should fill it) or by keyword."""
        values = [x[:, 0] if self.x_step else x, *further]
        if self.state_tree is not None and state is not None:
            state = rebuild(self.state_tree, values, _flat(state))
        spread = list(state) if self.state_names and state is not None else [state]
        positional: list[Any] = []
        kwargs: dict[str, Any] = {}
        at = self.state_position
        for param, by_position, tree in self.slots:
            if by_position:
                if at is not None and len(positional) == at:
                    positional.extend(spread)
                positional.append(rebuild(tree, values, (), lengths))
            else:
                kwargs[param] = rebuild(tree, values, (), lengths)
        if at is not None and at >= len(positional) and state is not None:
            positional.extend(spread)
        elif at is None and state_param is not None and state is not None:
            kwargs.update(
                zip(self.state_names, spread, strict=True) if self.state_names else {state_param: state}
            )
        return positional, kwargs

    def regroup(self, out: Any) -> Any:
        """forward's output with a state returned flat (``(y, hidden, cell)``) as ``(y, (hidden, cell))``,
        in the order of the parameters that take it."""
        if not self.returned or not isinstance(out, tuple | list):
            return out
        rest = tuple(o for i, o in enumerate(out) if i not in self.returned)
        return (*rest, tuple(out[i] for i in self.returned))


class Bound:
    """The module with its further inputs fixed at the example's: called as ``bound(x[, state],
    **kwargs)`` the way the probes call a module of the simple contract."""

    def __init__(
        self, module: torch.nn.Module, plan: CallPlan, further: tuple[Any, ...], state_param: str | None
    ):
        self.module, self.plan, self.further, self.state_param = module, plan, further, state_param
        self.forward = module.forward  # its signature: the probes read parameter names from it
        self.edgernn_name = type(module).__name__
        self.edgernn_lengths = plan.lengths_leaf  # lengths inside an argument, passed by this name

    def __call__(self, x: Any, *rest: Any, **kwargs: Any) -> Any:
        state = rest[0] if rest else kwargs.pop(self.state_param, None) if self.state_param else None
        lengths = kwargs.pop(self.edgernn_lengths, None) if self.edgernn_lengths else None
        args, kw = self.plan.arguments(x, self.further, state, self.state_param, lengths)
        return self.plan.regroup(self.module(*args, **kw, **kwargs))


def bind_example(
    module: torch.nn.Module,
    items: tuple[Any, ...],
    example_kwargs: dict[str, Any],
    skip: set[str],
) -> dict[str, tuple[bool, Any]]:
    """Forward's parameters the example fills: ``{name: (positional, value)}`` in forward's order.
    Positional items are matched by position, ``example_kwargs`` by name; ``skip`` names what the
    export feeds itself (the lengths)."""
    name = type(module).__name__
    params = [p for p in _params(module) if p.kind not in (inspect.Parameter.VAR_KEYWORD,)]
    if params and params[0].kind == inspect.Parameter.VAR_POSITIONAL:
        raise ExportError(
            f"{name}: forward(*args) with {len(items)} example items: expected x or (x, state); several "
            "inputs need named parameters (forward(x, memory, ...))"
        )
    positional = [p for p in params if p.kind in _POSITIONAL]
    if len(items) > len(positional):
        raise ExportError(
            f"{name}: example_inputs: got {len(items)} items, but forward{inspect.signature(module.forward)} "
            f"takes {len(positional)} by position"
        )
    bound = {p.name: (True, v) for p, v in zip(positional, items, strict=False)}
    known = {p.name for p in params}
    has_var_kw = any(p.kind == inspect.Parameter.VAR_KEYWORD for p in _params(module))
    for key, value in example_kwargs.items():
        if key in bound:
            raise ExportError(f"{name}: example_kwargs[{key!r}]: already given by position in example_inputs")
        if key not in known and not has_var_kw:
            raise ExportError(
                f"{name}: example_kwargs[{key!r}]: forward{inspect.signature(module.forward)} takes no such "
                "parameter"
            )
        bound[key] = (False, value)
    return {k: v for k, v in bound.items() if k not in skip}


def _params(module: torch.nn.Module) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return []


def declared_leaf(leaves: list[Leaf], declared: str, option: str, name: str) -> int:
    """The leaf that ``option`` (``main_input``, ``main_output``) names; an unknown name is refused
    with the names there are."""
    found = [i for i, leaf in enumerate(leaves) if leaf.name == declared]
    if not found:
        raise ExportError(f"{name}: {option} {declared!r}: expected one of {[leaf.name for leaf in leaves]}")
    return found[0]


def main_leaf(leaves: list[Leaf], declared: str | None, name: str) -> int:
    """Which leaf of the first argument is x: the one ``main_input`` names, else the first float
    tensor of the highest rank (at least 2), else the first tensor of rank 2 (token ids)."""
    if declared is not None:
        return declared_leaf(leaves, declared, "main_input", name)
    floats = [(leaf.value.dim(), -i) for i, leaf in enumerate(leaves) if leaf.value.is_floating_point()]
    best = max((r for r in floats if r[0] >= 2), default=None)
    if best is not None:
        return -best[1]
    ranked = [i for i, leaf in enumerate(leaves) if leaf.value.dim() >= 2]
    if not ranked:
        shapes = {leaf.name: list(leaf.value.shape) for leaf in leaves}
        raise ExportError(
            f"{name}: expected a [batch, time(, features)] tensor for x among the first argument's "
            f"tensors, got {shapes}; declare it with main_input='name'"
        )
    return ranked[0]


def iter_leaves(tree: Any) -> Iterator[int]:
    """The leaf indices of ``tree`` in order."""
    kind = tree[0]
    if kind == "in":
        yield tree[1]
    elif kind == "dict":
        for t in tree[2]:
            yield from iter_leaves(t)
    elif kind == "dataclass":
        for t in tree[3]:
            yield from iter_leaves(t)
    elif kind == "seq":
        for t in tree[2]:
            yield from iter_leaves(t)


def renumber(tree: Any, mapping: dict[int, int]) -> Any:
    """``tree`` with its leaf indices mapped (x becomes leaf 0, the further inputs 1..n)."""
    kind = tree[0]
    if kind == "in":
        return ("in", mapping[tree[1]])
    if kind == "dict":
        return ("dict", tree[1], tuple(renumber(t, mapping) for t in tree[2]))
    if kind == "dataclass":
        return ("dataclass", tree[1], tree[2], tuple(renumber(t, mapping) for t in tree[3]))
    if kind == "seq":
        return ("seq", tree[1], tuple(renumber(t, mapping) for t in tree[2]))
    return tree
