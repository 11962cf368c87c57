"""How a user's module takes and gives its state, read from ``forward``'s signature and one call.

People write stateful modules many ways: ``forward(self, x, h)``, ``forward(self, x, hidden=None)``,
``forward(self, x, *, state=None)``, with the state a tensor, an ``(h, c)`` tuple or a list, and the
input batch-first or time-major. :func:`read_calling` works out which, once, so the export wrapper
can call the module the way it is written and give the graph one fixed signature:
``x [batch, time, ...], h0[, c0][, lengths] -> y, hn[, cn]``.
"""

from __future__ import annotations

import dataclasses
import inspect
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import ExportError
from .further_outputs import _describe, split_output
from .input_layout import output_to_graph
from .layout_probe import reads_time_major, time_major_by_state
from .lengths_feed import LengthsFeed, lengths_or_refuse, lengths_parameter, parameters, probe_lengths
from .output_layout import unflatten
from .state_tree import _flat, _is_state, _rebuild, _structure, state_candidates, state_index
from .wrapper import RecurrentLayer

Y_FRAMES = "frames"  # the symbolic length of a y that has its own (a strided front end)
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.VAR_POSITIONAL)


@dataclass(frozen=True)
class Calling:
    """How to call the module: where its state goes, what shape it has, and the input's layout."""

    state_param: str | None = None  # the parameter that takes the state; None: stateless
    positional: bool = False  # pass the state as the second positional argument (else by keyword)
    structure: Any = "tensor"  # "tensor" or (tuple|list, children): the state as the module nests it
    shapes: tuple[tuple[int, int], ...] = ()  # (rows, hidden) per state tensor
    time_major: bool = False  # the module takes x as [time, batch, ...]; the graph stays batch-first
    lengths: str | None = None  # the parameter that takes lengths (int64 [batch]), by keyword
    lengths_fraction: bool = False  # it takes them as fractions of the padded length (float32)
    layout: Any = None  # InputLayout: x is not [batch, time(, features)] (channel-first, rank 4...)
    y_time_axis: int | None = None  # y's time axis when it is not 1 (moved there, the rest flattened)
    unflatten: str | None = None  # y came as view(-1, out): rows "batch"-major or "time"-major
    state_index: Any = 1  # where forward returns its state: (y, state), (y, out, state), {..., 'hidden': h}
    scalar_steps: bool = False  # the module takes float x [batch, time]: the graph's x has 1 feature
    flat_output: bool = False  # the module returns y [batch]: the graph's y is [batch, 1]
    state_output: bool = False  # forward returns its final state only: y is it, batch-first, flattened
    y_rank: int = 0  # the module's y rank when it is above 3 ([batch, time, ...]: the rest flattened)
    one_step: bool = False  # the module runs on one step of x per call only (a decoder step)
    y_own_time: bool = False  # y [batch, frames, out]: its length follows x's without equalling it
    plan: Any = None  # CallPlan: further inputs (and x inside a dict...); None: forward(x[, state])
    main_output: str | None = None  # which tensor of a dict/NamedTuple output is y (see .further_outputs)
    extras: tuple[str, ...] | None = ()  # the further outputs the graph gives, by name (None: all)
    dropped_state: Any = None  # state=False: where forward returns the state the graph does not give

    @property
    def n_state(self) -> int:
        return len(self.shapes)

    def call(
        self, module: nn.Module, x: torch.Tensor, state: tuple[torch.Tensor, ...], lengths=None, further=()
    ):
        """``module`` on batch-first ``x``, flat ``state`` and the further inputs as the graph takes
        them; returns ``(y batch-first, flat state, further outputs)`` (see :mod:`.further_outputs`)."""
        x = x[..., 0] if self.scalar_steps else x
        xm = self.layout.to_module(x) if self.layout else x.transpose(0, 1) if self.time_major else x
        packed = _rebuild(self.structure, iter(state)) if self.state_param is not None else None
        steps = None
        if self.lengths:
            steps = LengthsFeed(self.lengths, 0, self.lengths_fraction).convert(lengths, x.shape[1])
        inside = self.plan is not None and self.plan.lengths_leaf is not None
        if self.plan is not None:
            args, kwargs = self.plan.arguments(xm, tuple(further), packed, self.state_param, steps)
        else:
            args, kwargs = [xm], {}
            if self.state_param is not None:
                if self.positional:
                    args.append(packed)
                else:
                    kwargs[self.state_param] = packed
        if self.lengths and not inside:
            kwargs[self.lengths] = steps
        out = module(*args, **kwargs)
        out = self.plan.regroup(out) if self.plan is not None else out
        if self.state_output:
            return _state_as_y(out), (), ()
        stateful = self.state_param is not None or self.dropped_state is not None
        at = self.state_index if self.dropped_state is None else self.dropped_state
        y, returned, extras = split_output(
            type(module).__name__, out, stateful, at, self.main_output, self.extras
        )
        returned = () if self.dropped_state is not None else returned
        returned = self.plan.kept(returned) if self.plan is not None else returned
        if self.flat_output and y.dim() == 1:
            y = y.unsqueeze(-1)
        if self.y_time_axis is not None:
            y = output_to_graph(y, self.y_time_axis)
        if self.unflatten:  # the graph gives [batch, time, out] for the module's view(-1, out)
            return unflatten(y, self.unflatten, x.shape[0], x.shape[1]), returned, extras
        if self.time_major and y.dim() == 3:
            y = y.transpose(0, 1)
        return y, returned, extras

    def module_io(self) -> str:
        """How the graph's I/O differs from the module's, one clause each ("" when it does not)."""
        parts = []
        if self.layout is not None:
            parts.append(f"x: the module takes {self.layout.describe()}, the graph [batch, time, features]")
        elif self.time_major:
            parts.append("x: the module takes [time, batch, ...], the graph [batch, time, ...]")
        if self.lengths_fraction:
            parts.append("lengths: the module takes fractions of the padded length, the graph int64 steps")
        if self.y_time_axis not in (None, 1):
            parts.append(
                f"y: the module's axis {self.y_time_axis} is time, the graph's axis 1 (rest flattened)"
            )
        if self.state_output:
            parts.append(
                "y: the module returns its final state only ([layers*directions, batch, hidden] each); the "
                "graph gives it batch-first, each tensor flattened, concatenated: [batch, out]"
            )
        if self.y_rank:
            parts.append(
                f"y: the module gives rank {self.y_rank} [batch, time, ...], the graph [batch, time, out]"
            )
        if self.one_step:
            parts.append("x: one step per call (the module runs on no more)")
        if self.y_own_time:
            parts.append(
                f"y: a length of its own ({Y_FRAMES}) that follows x's (a strided front end); whole "
                "sequences only, no stream"
            )
        if self.plan is not None:
            parts.append(self.plan.describe())
        if self.unflatten:
            parts.append(
                f"y: the module returns view(-1, out) {self.unflatten}-major, the graph [batch, time, out]"
            )
        return "; ".join(parts)

    def describe(self, args: tuple[torch.Tensor, ...]) -> str:
        """How the module was called on the graph's ``args``, with every shape, for error messages."""
        x, rest = args[0], args[1:]
        shape = [x.shape[1], x.shape[0], *x.shape[2:]] if self.time_major else list(x.shape)
        shape = list(self.layout.to_module(x).shape) if self.layout else shape
        parts = [f"x {shape}" + (" (time-major)" if self.time_major else "")]
        if self.state_param is not None:
            parts.append(f"{self.state_param}={[list(t.shape) for t in rest[: self.n_state]]}")
        if self.lengths:
            kind = "fractions" if self.lengths_fraction else "steps"
            parts.append(f"{self.lengths}={kind} {list(rest[self.n_state].shape)}")
        return f"forward({', '.join(parts)})"


def _state_as_y(out: Any) -> torch.Tensor:
    """A final state ``[rows, batch, hidden]`` (or a tuple of them) as ``[batch, rows * hidden + ...]``."""
    if not _is_state(out):
        raise ExportError(f"expected the final state alone, got {_describe(out)}")
    return torch.cat([t.transpose(0, 1).reshape(t.shape[1], -1) for t in _flat(out)], dim=-1)


def state_parameter(module: nn.Module) -> inspect.Parameter | None:
    """The parameter of ``forward`` after ``x`` that takes the state: the first one that is not the
    lengths' (``**kwargs`` never counts)."""
    params = parameters(module)
    if not params:
        return None
    lengths = lengths_parameter(module)
    rest = [p for p in params[1:] if p.kind != inspect.Parameter.VAR_KEYWORD and p.name != lengths]
    if params and params[0].kind == inspect.Parameter.VAR_POSITIONAL:
        return params[0]  # forward(*args): x and the state both travel in args
    return rest[0] if rest else None


def read_calling(
    module: nn.Module,
    x: torch.Tensor,
    example_state: Any,
    *,
    state: bool | str,
    lengths: bool,
    time_major: bool | None,
    layers: list[RecurrentLayer],
    lengths_as: str | None = None,
    time_axis: int | None = None,
    split: Any = None,
) -> tuple[Calling, tuple[torch.Tensor, ...]]:
    """Work out how ``module`` takes its state (see :class:`Calling`) and return the calling with the
    example state (flat; zeros when the example gave none). ``x`` is the example as the module takes it;
    ``split`` (see :mod:`.example_split`) binds the further inputs and names the state's parameter."""
    name = type(module).__name__
    plan = split.plan if split is not None else None
    param = split.state_param if plan is not None else state_parameter(module)
    if plan is not None:
        module = split.runner(module)  # probes call the module with its further inputs bound
    calling, flat = _read(
        module, name, x, example_state, param, state, lengths, time_major, layers, lengths_as, time_axis
    )
    return (dataclasses.replace(calling, plan=plan) if plan is not None else calling), flat


def _read(module, name, x, example_state, param, state, lengths, time_major, layers, lengths_as, time_axis):
    lengths = (
        _lengths_feed(module, x, example_state, param, time_major, layers, lengths_as, time_axis)
        if lengths
        else None
    )
    if state is False or (state == "auto" and param is None and example_state is None):
        calling = _stateless(module, x, time_major, lengths, layers)
        if state is False and param is not None and param.default is not inspect.Parameter.empty:
            # (y, state) for whole sequences: the state it returns is neither graph output nor further one
            at = _probe_default(module, x, lengths, name, param)[0]
            calling = dataclasses.replace(calling, dropped_state=at) if at is not None else calling
        return calling, ()
    if param is None:
        raise ExportError(
            f"{name}: state=True, but forward{inspect.signature(module.forward)} takes no state after x; "
            "expected forward(x, state) -> (y, state), or pass state=False"
        )
    positional = param.kind in _POSITIONAL
    if example_state is not None:
        if not _is_state(example_state):
            raise ExportError(
                f"{name}: example state: expected a [layers*directions, batch, hidden] float tensor or a "
                f"tuple/list of them, got {_describe(example_state)} (the second item of example_inputs is "
                f"taken for {param.name!r}, the state; several inputs are not supported yet)"
            )
        return _stateful(module, x, example_state, param.name, positional, lengths, time_major)
    if param.default is not inspect.Parameter.empty or param.kind == inspect.Parameter.VAR_POSITIONAL:
        probed = _probe_default(module, x, lengths, name, param)[1]
        if probed is not None:
            return _stateful(module, x, _zeros_like(probed), param.name, positional, lengths, time_major)
        if state == "auto":
            return _stateless(module, x, time_major, lengths, layers), ()
        raise ExportError(
            f"{name}: state=True: expected forward(x) to return (y, state) with the state a tensor or a "
            f"tuple of tensors, got {_describe(_run(module, (x,), lengths, name))}. Pass state=False for a "
            "module whose forward returns y only"
        )
    zeros = _zero_state(name, x, layers, bool(time_major), param.name)
    return _stateful(module, x, zeros, param.name, positional, lengths, time_major)


def _stateless(module, x, time_major: bool | None, lengths: LengthsFeed | None, layers) -> Calling:
    """A stateless module's calling; its layout, when not given, is the axis its lengths fit, else read
    by :func:`reads_time_major` (only where a time-major nn module is inside)."""
    if time_major is None and lengths is not None:
        time_major = lengths.batch_axis == 1
    if time_major is None and not all(layer.batch_first for layer in layers):
        time_major = reads_time_major(lambda probe: split_output("", module(probe), False)[0], x)
    return Calling(time_major=bool(time_major), **_lengths_fields(lengths))


def _lengths_fields(lengths: LengthsFeed | None) -> dict[str, Any]:
    return {
        "lengths": lengths.param if lengths else None,
        "lengths_fraction": bool(lengths and lengths.fraction),
    }


def _lengths_feed(
    module, x, example_state, param, time_major, layers, lengths_as, time_axis=None
) -> LengthsFeed:
    """The module's lengths parameter, and the axis and kind of lengths it runs on (see
    :func:`probe_lengths`): the axis given, else the one the example state's batch matches, else
    batch-first, then time-major."""
    name = _name(module)
    found = lengths_or_refuse(module, name)
    if time_major is not None:
        axes = [int(time_major)]
    elif _is_state(example_state):
        batch = _flat(example_state)[0].shape[1]
        axes = [a for a in (0, 1) if x.shape[a] == batch] or [0, 1]
    else:
        axes = [0, 1]
    needs_state = param is not None and (
        example_state is not None
        or (param.default is inspect.Parameter.empty and param.kind != inspect.Parameter.VAR_POSITIONAL)
    )

    def call(axis: int, kwargs: dict[str, Any]) -> Any:
        args = [x]
        if needs_state:
            state = example_state
            if state is None:
                state = _zero_state(name, x, layers, axis == 1, param.name)
            if param.kind in _POSITIONAL:
                args.append(state)
            else:
                kwargs[param.name] = state
        with torch.no_grad():
            return module(*args, **kwargs)

    return probe_lengths(name, call, x, found, axes, lengths_as, time_axis)


def _probe_default(module, x, lengths: LengthsFeed | None, name: str, param) -> tuple[Any, Any]:
    """Call ``module(x)`` (state defaulted); where it returns its state and the state (of several
    candidates the last one the module takes back: ``(y, h, attn)``), or ``(None, None)``."""
    out = _run(module, (x,), lengths, name)
    found = state_candidates(out)
    for i in found if len(found) > 1 else ():
        zeros = _zeros_like(out[i])
        try:
            back = _run(
                module,
                (x, zeros) if param.kind in _POSITIONAL else (x,),
                lengths,
                name,
                **({} if param.kind in _POSITIONAL else {param.name: zeros}),
            )
        except ExportError:
            continue
        if state_index(back, zeros) == i:
            return i, out[i]
    return (found[0], out[found[0]]) if found else (None, None)


def _stateful(module, x, state, param: str, positional: bool, lengths: LengthsFeed | None, time_major):
    """Check that ``module`` returns ``(y, state)`` shaped like ``state`` and read the layout."""
    name = _name(module)
    flat = _flat(state)
    kwargs_state = {} if positional else {param: state}
    out = _run(module, (x, state) if positional else (x,), lengths, name, **kwargs_state)
    index = state_index(out, state)
    if index is None:
        raise ExportError(
            f"{name}: expected forward(x, {param}) to return (y, state) with the state a tensor or a tuple "
            f"of tensors like the {param} it takes, got {_describe(out)}"
        )
    returned = _flat(out[index])
    returned = module.plan.kept(returned) if hasattr(module, "plan") else returned  # a Bound runner
    if [tuple(t.shape) for t in returned] != [tuple(t.shape) for t in flat]:
        raise ExportError(
            f"{name}: expected the returned state to have the shapes of the state it takes "
            f"{[list(t.shape) for t in flat]}, got {[list(t.shape) for t in returned]}"
        )
    batch = {t.shape[1] for t in flat}
    if len(batch) != 1:
        raise ExportError(f"{name}: expected every state tensor to share its batch dim (axis 1), got {batch}")
    major = time_major_by_state(x, batch.pop(), name) if time_major is None else time_major
    shapes = tuple((int(t.shape[0]), int(t.shape[2])) for t in flat)
    calling = Calling(
        param, positional, _structure(state), shapes, major, **_lengths_fields(lengths), state_index=index
    )
    return calling, flat


def _zero_state(name: str, x, layers: list[RecurrentLayer], time_major: bool, param: str):
    """Zeros for a module whose state parameter has no default and whose example gave none."""
    if len(layers) != 1:
        raise ExportError(
            f"{name}: forward takes {param!r} with no default and the example gave no state, and with "
            f"{len(layers)} recurrent layers its shape is ambiguous; pass example_inputs=(x, state)"
        )
    layer = layers[0]
    batch = x.shape[1] if time_major else x.shape[0]
    h = torch.zeros(layer.state_rows, batch, layer.hidden_size)
    return (h, torch.zeros_like(h)) if layer.cell == "lstm" else h


def _zeros_like(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return torch.zeros_like(state)
    return type(state)(_zeros_like(t) for t in state)


def _run(module, args, lengths: LengthsFeed | None, name: str, **kwargs) -> Any:
    """One call on the example; an exception becomes an ExportError naming the module, the call and
    the shapes passed."""
    if lengths:
        kwargs[lengths.param] = lengths.full(args[0])
    try:
        with torch.no_grad():
            return module(*args, **kwargs)
    except Exception as err:  # the user's forward may raise anything; say where and with what
        passed = ", ".join(
            [*(_describe(a) for a in args), *(f"{k}={_describe(v)}" for k, v in kwargs.items())]
        )
        raise ExportError(
            f"{name}: forward failed on the example input {list(args[0].shape)} (called with {passed}): "
            f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        ) from None


def _name(module: Any) -> str:
    """The user's class name, also through a :class:`~.further.Bound` runner."""
    return getattr(module, "edgernn_name", None) or type(module).__name__
