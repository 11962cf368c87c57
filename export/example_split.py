"""The example, split into what the graph takes: x, the state, and every further tensor.

``example_inputs`` is matched to ``forward``'s parameters by position and ``example_kwargs`` by name.
An item is the state only when it behaves as one: ``forward`` returns a state of the same shapes
(``(y, state)``, ``(y, out, state)``). Everything else that holds tensors is a further input, kept
where the module takes it (see :mod:`.further`). The simple contract, ``x`` or ``(x, state)``, takes
the same path as before and builds no plan.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ExportError
from .further import Bound, CallPlan, Leaf, bind_example, flatten, iter_leaves, main_leaf, renumber
from .lengths_feed import _LENGTHS_NAME, lengths_parameter
from .state_params import state_group
from .state_tree import _flat, _is_state, state_index

_BY_POSITION = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


@dataclass(frozen=True)
class Split:
    """x, the example state (or None), and where the rest goes (``plan`` None: the simple contract)."""

    x: torch.Tensor
    state: Any
    plan: CallPlan | None = None
    further: tuple[torch.Tensor, ...] = ()  # the further inputs' example values, graph order
    state_param: inspect.Parameter | None = None  # the state's parameter, when the plan chose it

    @property
    def x_step(self) -> bool:
        """x came without a time axis (a decoder step): the graph's ``[batch, 1]``."""
        return self.plan is not None and self.plan.x_step

    def runner(self, module: torch.nn.Module) -> Any:
        """What the probes call: the module itself, or the module with its further inputs bound."""
        if self.plan is None:
            return module
        return Bound(module, self.plan, self.further, self.state_param.name if self.state_param else None)


def split_example(
    module: torch.nn.Module, example_inputs: Any, example_kwargs: dict[str, Any] | None, config: Any
) -> Split:
    """Split the example (see the module docstring); refuse what no parameter takes, and an x that
    is no ``[batch, time(, features)]`` tensor, naming its rank and shape."""
    name = type(module).__name__
    items = tuple(example_inputs) if isinstance(example_inputs, tuple | list) else (example_inputs,)
    kwargs = dict(example_kwargs or {})
    if not items:
        raise ExportError(f"{name}: example_inputs: expected x, (x, state) or (x, ...), got nothing")
    lengths = lengths_parameter(module) if config.lengths else None
    simple = not kwargs and isinstance(items[0], torch.Tensor) and len(items) <= 2
    if simple and len(items) == 2 and items[0].dim() in (1, 2) and _is_state(items[1]):
        try:
            bound = bind_example(module, items, {}, {lengths} if lengths else set())
        except ExportError:  # forward(*args): the simple contract's
            bound = {}
        simple = not bound or not _takes_one_step(module, bound, next(iter(bound)), lengths)  # a step: a plan
    if simple and (len(items) == 1 or not _holds_tensor(items[1]) or _behaves(module, items, lengths)):
        return Split(_plain_x(name, items[0]), items[1] if len(items) == 2 else None)
    bound = bind_example(module, items, kwargs, {lengths} if lengths else set())
    return _plan(module, name, bound, config, lengths)


def _plain_x(name: str, x: Any) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.dim() < 2:
        got = f"a rank-{x.dim()} tensor {list(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        unbatched = (
            "; the bundle's x always has a batch axis: an unbatched sequence needs one (x[None], indexed "
            "in forward)"
            if isinstance(x, torch.Tensor) and x.dim() == 1
            else ""
        )
        raise ExportError(
            f"{name}: example input: expected a [batch, time(, features)] tensor "
            f"(rank 2 or 3; higher ranks with a batch and a time axis{unbatched}), got {got}"
        )
    return x


def _holds_tensor(value: Any) -> bool:
    leaves: list[Leaf] = []
    flatten(value, "", "", leaves)
    return bool(leaves)


def _behaves(module: torch.nn.Module, items: tuple[Any, ...], lengths: str | None) -> bool:
    """``(x, s)``: forward(x, s) runs and returns a state shaped like ``s`` (an error here is the old
    path's to report, with its own message)."""
    if not _is_state(items[1]):
        return False  # tensors that are no state: further inputs
    try:
        out = _call(module, list(items), {}, items[0], lengths)
    except Exception:  # the simple path reports the failure with the call and its shapes
        return True
    return _returns_like(out, items[1]) and not _passed_through(out, items[1])


def _passed_through(out: Any, state: Any) -> list[int]:
    """Flat positions of the state's tensors that forward returns unchanged, as the same objects
    (an encoder's outputs travelling with the hidden state): inputs, not state. All of them: none."""
    index = state_index(out, state)
    if index is None:
        return []
    returned, given = _flat(out[index]), _flat(state)
    same = [i for i, (r, g) in enumerate(zip(returned, given, strict=False)) if r is g]
    return [] if len(same) == len(given) else same


def _call(
    module: torch.nn.Module, args: list[Any], kwargs: dict[str, Any], x: Any, lengths: str | None
) -> Any:
    """The module on the example; with full lengths in each layout (and as fractions) when the
    export feeds lengths, the first that runs (else the last error is raised)."""
    feeds: list[dict[str, Any]] = [{}]
    if lengths and isinstance(x, torch.Tensor) and x.dim() >= 2:
        steps = [torch.full((x.shape[a],), x.shape[1 - a], dtype=torch.int64) for a in (0, 1)]
        feeds = [{lengths: s} for s in steps] + [{lengths: torch.ones(x.shape[a])} for a in (0, 1)]
    for feed in feeds[:-1]:
        try:
            with torch.no_grad():
                return module(*args, **kwargs, **feed)
        except Exception:  # the next layout of the lengths may be the module's
            continue
    with torch.no_grad():  # the last one's error is the one reported
        return module(*args, **kwargs, **feeds[-1])


def _returns_like(out: Any, state: Any) -> bool:
    index = state_index(out, state)
    if index is None:
        return False
    return [tuple(t.shape) for t in _flat(out[index])] == [tuple(t.shape) for t in _flat(state)]


def _state_of(
    module: torch.nn.Module, bound: dict[str, tuple[bool, Any]], first: str, lengths: str | None
) -> tuple[tuple[str, ...], tuple[int, ...], list[int]]:
    """The bound parameters that behave as the state (one, or several returned flat: see
    :mod:`.state_params`; none: ``()``), the output items that return a spread state, and the flat
    positions of a single state's tensors that forward passes through unchanged."""
    candidates = [p for p, (_, v) in bound.items() if p != first and _is_state(v)]
    if not candidates:
        return (), (), []
    args = [v for by_pos, v in bound.values() if by_pos]
    kwargs = {p: v for p, (by_pos, v) in bound.items() if not by_pos}
    try:
        out = _call(module, args, kwargs, _first_tensor(bound[first][1]), lengths)
    except Exception as err:  # the user's forward may raise anything: say where and with what
        shapes = {p: _shape(v) for p, (_, v) in bound.items()}
        raise ExportError(
            f"{type(module).__name__}: forward failed on the example ({shapes}): "
            f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        ) from None
    x = _first_tensor(bound[first][1])
    group = state_group(module, bound, first, lambda a, k: _call(module, a, k, x, lengths))
    if group is not None:
        return group[0], group[1], []
    found = next((p for p in candidates if _returns_like(out, bound[p][1])), None)
    return ((found,) if found else ()), (), (_passed_through(out, bound[found][1]) if found else [])


def _takes_one_step(module: torch.nn.Module, bound: dict[str, tuple[bool, Any]], first: str, lengths) -> bool:
    """x has no time axis: ``[batch]`` ids, or a float ``[batch, features]`` that forward refuses one
    column wider (a ``[batch, time]`` x of scalar steps runs on it)."""
    x = bound[first][1]
    if not isinstance(x, torch.Tensor) or x.dim() not in (1, 2):
        return False
    if x.dim() == 1:
        return True
    if not x.is_floating_point():
        return False
    wider = torch.cat([x, x[:, :1]], 1)
    args = [wider if p == first else v for p, (by_pos, v) in bound.items() if by_pos]
    kwargs = {p: (wider if p == first else v) for p, (by_pos, v) in bound.items() if not by_pos}
    try:
        _call(module, args, kwargs, wider, lengths)
    except Exception:  # refused one column wider: its axis 1 is features
        return True
    return False


def _pop_state(bound: dict[str, tuple[bool, Any]], names: tuple[str, ...]) -> tuple[Any, bool]:
    """The example state taken out of ``bound`` (several parameters: their values as a tuple), and
    whether the example gave it by position."""
    if not names:
        return None, False
    by_position = bound[names[0]][0]
    values = tuple(bound.pop(p)[1] for p in names)
    return (values if len(names) > 1 else values[0]), by_position


def _shape(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return list(value.shape)
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_shape(v) for v in value]
    return type(value).__name__


def _first_tensor(value: Any) -> Any:
    leaves: list[Leaf] = []
    flatten(value, "", "", leaves)
    return leaves[0].value if leaves else None


def _plan(
    module: torch.nn.Module, name: str, bound: dict[str, tuple[bool, Any]], config: Any, lengths: str | None
) -> Split:
    params = {p.name: p for p in inspect.signature(module.forward).parameters.values()}
    first = next(iter(bound))
    state_names, returned, through = _state_of(module, bound, first, lengths)
    state_name = state_names[0] if state_names else None
    one_step = bool(state_names) and _takes_one_step(module, bound, first, lengths)
    example_state, state_given_by_position = _pop_state(bound, state_names)
    leaves: list[Leaf] = []
    trees = [(p, by_pos, flatten(v, p, p, leaves)) for p, (by_pos, v) in bound.items()]
    state_tree, keep = None, None
    if through:
        state_tree, keep, example_state = _state_apart(example_state, state_name, through, leaves)
    inside = _lengths_inside(leaves) if config.lengths and lengths is None else None
    if inside is not None:
        trees = [(p, by_pos, _mark_lengths(t, inside)) for p, by_pos, t in trees]
    x_tree = trees[0][2]
    x_leaves = list(iter_leaves(x_tree))
    if not x_leaves:
        raise ExportError(
            f"{name}: expected x, the first argument, to hold a tensor, got {_shape(bound[first][1])}"
        )
    declared = getattr(config, "main_input", None)
    x_index = x_leaves[0]
    if x_tree[0] != "in":
        x_index = x_leaves[main_leaf([leaves[i] for i in x_leaves], declared, name)]
    elif declared not in (None, first):
        raise ExportError(f"{name}: main_input {declared!r}: x is the first argument, the tensor {first!r}")
    # x [batch] with a state forward returns: one step per call, the graph's x [batch, 1(, features)]
    x_step = one_step and x_tree[0] == "in"
    order = [x_index, *(i for i in range(len(leaves)) if i not in (x_index, inside))]
    mapping = {old: new for new, old in enumerate(order)}
    state_param = params[state_name] if state_name else _unbound_state(bound, params, first)
    position = None
    by_position = state_given_by_position or (
        state_param is not None and state_param.kind == inspect.Parameter.POSITIONAL_ONLY
    )
    if state_param is not None and state_param.kind in _BY_POSITION and by_position:
        position = [p for p in params.values() if p.kind in _BY_POSITION].index(state_param)
    further = [leaves[i] for i in order[1:]]
    plan = CallPlan(
        slots=tuple((p, by_pos, renumber(t, mapping)) for p, by_pos, t in trees),
        names=tuple(leaf.name for leaf in further),
        wheres=tuple(leaf.where for leaf in further),
        x_where=leaves[x_index].where,
        state_position=position,
        state_tree=renumber(state_tree, mapping) if state_tree is not None else None,
        state_keep=keep,
        lengths_leaf=leaves[inside].name if inside is not None else None,
        state_names=state_names if len(state_names) > 1 else (),
        returned=returned,
        x_step=x_step,
    )
    x = leaves[x_index].value.unsqueeze(1) if x_step else _plain_x(name, leaves[x_index].value)
    return Split(x, example_state, plan, tuple(leaf.value for leaf in further), state_param)


def _lengths_inside(leaves: list[Leaf]) -> int | None:
    """With ``lengths=True`` and no lengths parameter: the integer ``[batch]`` tensor inside an
    argument named like lengths (pytorch-forecasting's ``x["encoder_lengths"]``), else None."""
    found = [
        i
        for i, leaf in enumerate(leaves)
        if leaf.value.dim() == 1
        and not leaf.value.is_floating_point()
        and _LENGTHS_NAME.search(leaf.name.rsplit(".", 1)[-1])
    ]
    return found[0] if found else None


def _mark_lengths(tree: Any, index: int) -> Any:
    """``tree`` with the leaf ``index`` taken by the graph's lengths: ``("len",)``."""
    if tree[0] == "in":
        return ("len",) if tree[1] == index else tree
    if tree[0] in ("dict", "seq"):
        return (tree[0], tree[1], tuple(_mark_lengths(t, index) for t in tree[2]))
    if tree[0] == "dataclass":
        return (*tree[:3], tuple(_mark_lengths(t, index) for t in tree[3]))
    return tree


def _state_apart(state: Any, name: str, through: list[int], leaves: list[Leaf]):
    """The state's tree with the tensors passed through as further inputs (added to ``leaves``) and
    the rest as ``("st", j)``; the kept positions; the example state of the kept tensors alone."""
    flat = _flat(state)
    keep = tuple(i for i in range(len(flat)) if i not in through)
    own: list[Leaf] = []
    tree = flatten(state, name, name, own)  # the state nests tensors, tuples and lists only

    def place(node: Any) -> Any:
        if node[0] == "in":
            k = node[1]
            if k in keep:
                return ("st", keep.index(k))
            leaves.append(own[k])
            return ("in", len(leaves) - 1)
        if node[0] == "seq":
            return ("seq", node[1], tuple(place(t) for t in node[2]))
        return node

    kept = tuple(flat[i] for i in keep)
    return place(tree), keep, (kept[0] if len(kept) == 1 else kept)


def _unbound_state(bound, params: dict[str, inspect.Parameter], first: str):
    """The state's parameter when the example gives none: the first after x that nothing fills (not
    the lengths', never ``**kwargs``)."""
    skip = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
    rest = [p for n, p in params.items() if n != first and n not in bound]
    return next((p for p in rest if p.kind not in skip and not _LENGTHS_NAME.search(p.name)), None)


def lengths_in_example(
    module: torch.nn.Module, example_inputs: Any, example_kwargs: dict[str, Any] | None
) -> tuple[Any, dict[str, Any] | None, bool]:
    """An example that gives the lengths itself (``(x, input_lengths)``, or ``lengths=`` in
    ``example_kwargs``) asks for them: the example without them, and True. The lengths are a rank-1
    tensor bound to forward's lengths parameter (named ``lengths`` or like it); the export feeds its
    own from then on. Positional items after them move to ``example_kwargs`` by name."""
    param = lengths_parameter(module)
    items = list(example_inputs) if isinstance(example_inputs, tuple | list) else [example_inputs]
    kwargs = dict(example_kwargs or {})
    if param is None:
        return example_inputs, example_kwargs, False
    if _is_lengths(kwargs.get(param)):
        del kwargs[param]
        return example_inputs, kwargs, True
    params = [p for p in inspect.signature(module.forward).parameters.values() if p.kind in _BY_POSITION]
    names = [p.name for p in params]
    if param not in names or names.index(param) >= len(items) or not _is_lengths(items[names.index(param)]):
        return example_inputs, example_kwargs, False
    at = names.index(param)
    kwargs.update({n: v for n, v in zip(names[at + 1 :], items[at + 1 :], strict=False) if n not in kwargs})
    rest = items[:at]
    return (rest[0] if len(rest) == 1 else tuple(rest)), kwargs, True


def _is_lengths(value: Any) -> bool:
    return isinstance(value, torch.Tensor) and value.dim() == 1 and value.numel() > 0
