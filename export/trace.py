"""What one forward pass on the example tells about a module: its graph I/O, dims and manifest."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import onnx
import onnxruntime
import torch

from edgernn._version import __version__
from edgernn.runtime.manifest import InputSpec, Manifest, OutputSpec, StateSpec

from .calling import Y_FRAMES, Calling, read_calling
from .config import ExportConfig
from .errors import ExportError
from .example_split import split_example
from .further_axes import cut_further, further_inputs, named_apart, tensor_spec
from .further_outputs import further_outputs
from .input_layout import choose_layout
from .output_layout import flattened_order, own_length
from .state_output import StateOnly, state_only
from .verify import GraphIO
from .wrapper import ExportWrapper, RecurrentLayer, state_names


@dataclass(frozen=True)
class Traced:
    """The graph to export: example arguments, I/O names and dims, and the manifest it implies."""

    wrapper: ExportWrapper  # the module behind the graph's fixed signature
    calling: Calling
    topology: str  # as given, or read from the output's rank and time dim
    min_length: int  # the fewest steps the module runs on
    args: tuple[torch.Tensor, ...]  # x (batch-first), zero states[, lengths]
    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    state_in: tuple[str, ...]
    shapes: tuple[tuple[int, int], ...]  # (layers*directions, hidden) per state tensor
    io_dims: dict[str, list[int | str]]  # every graph input/output -> declared dims
    dynamic: dict[str, dict[int, str]]  # symbolic axes per name, as the exporters take them
    io: GraphIO
    manifest: Manifest


def trace_module(
    module: torch.nn.Module,
    example_inputs: Any,
    config: ExportConfig,
    meta: Any,
    layers: list[RecurrentLayer],
    example_kwargs: dict[str, Any] | None = None,
) -> Traced:
    """Call ``module`` on the example and describe the graph an export must produce. x of rank 4 and
    up, or x with declared ``dims``, is read through its layout (:mod:`.input_layout`); a rank-3 x
    that fails as ``[batch, time, features]`` is tried once more with its time axis probed. Tensors
    besides x, the state and the lengths become further inputs (:mod:`.example_split`)."""
    split = split_example(module, example_inputs, example_kwargs, config)
    split = dataclasses.replace(  # the graph's floats are float32
        split,
        x=_as_float32(split.x),
        state=_as_float32(split.state),
        further=tuple(_graph_dtype(f) for f in split.further),
    )
    name = type(module).__name__
    found = choose_layout(name, split.runner(module), split.x, config)
    try:
        return _trace(module, split, config, meta, layers, found)
    except ExportError as err:
        x = split.x
        if found is not None or x.dim() != 3 or config.time_major is not None or isinstance(err, StateOnly):
            raise
        try:
            retry = choose_layout(name, split.runner(module), x, config, probe=True)
        except ExportError:  # an ambiguous probe says less than the first refusal
            raise err from None
        if retry is None or retry[0].time_axis == 1:
            raise
        return _trace(module, split, config, meta, layers, retry)


def _graph_dtype(t: torch.Tensor) -> torch.Tensor:
    """A further input as the graph takes it: float32, or int64 for integer types other than int32."""
    if t.is_floating_point():
        return t.float()
    return t if t.dtype in (torch.int64, torch.int32, torch.bool) else t.long()


def _trace(module, split, config, meta, layers, found) -> Traced:
    x, example_state = split.x, split.state
    layout, y_axis = found if found is not None else (None, None)
    calling, state = read_calling(
        module,
        x,
        example_state,
        state=config.state,
        lengths=config.lengths,
        time_major=False if layout or split.x_step else config.time_major,  # a step's x: never
        layers=layers,
        lengths_as=config.lengths_as,
        time_axis=layout.time_axis if layout else None,
        split=split,
    )
    calling = dataclasses.replace(calling, main_output=config.main_output)
    if layout is not None:
        x = layout.to_graph(x).contiguous()
        calling = dataclasses.replace(calling, layout=layout, y_time_axis=y_axis)
    x = x.transpose(0, 1).contiguous() if calling.time_major else x
    if x.dim() == 2 and x.is_floating_point():  # one value per step: the graph gives it a feature axis
        x, calling = x.unsqueeze(-1), dataclasses.replace(calling, scalar_steps=True)
    batch, time = x.shape[0], x.shape[1]
    args = (x, *(torch.zeros_like(s) for s in state))
    if config.lengths:
        args += (torch.full((batch,), time, dtype=torch.int64),)
    wrapper = ExportWrapper(module, calling).eval()
    name = type(module).__name__
    specs, one_step = further_inputs(name, wrapper, args, split, calling, config)
    args += split.further
    if one_step:
        calling = wrapper.calling = dataclasses.replace(calling, one_step=True)
    out = guarded_call(name, wrapper, args, calling)
    y = out[0] if calling.n_state else out
    if y.dim() == 1 and y.shape[0] == batch:  # y [batch]: one value per sequence
        wrapper.calling = calling = dataclasses.replace(calling, flat_output=True)
        out = guarded_call(name, wrapper, args, calling)
        y = out[0] if calling.n_state else out
    if y.dim() >= 4 and y.shape[0] == batch and y.shape[1] == time and calling.y_time_axis is None:
        wrapper.calling = calling = dataclasses.replace(calling, y_time_axis=1, y_rank=y.dim())
        y = _first(guarded_call(name, wrapper, args, calling))  # [batch, time, rest flattened]
    calling, y = state_only(name, wrapper, args, calling, y, guarded_call)
    calling, y = _unflattened(name, wrapper, args, calling, y, config.topology)
    calling = own_length(name, wrapper, args, calling, y, config, specs)
    topology = (
        "many_to_many"
        if calling.y_own_time
        else resolve_topology(
            name, config.topology, y, batch, time, calling.time_major, layout, list(split.x.shape)
        )
    )
    per_step = topology != "many_to_one"
    min_length = find_min_length(name, wrapper, args, per_step, config.min_length, specs, calling.y_own_time)
    calling, outs = further_outputs(wrapper, args, calling, specs)
    return _traced(config, meta, layers, wrapper, calling, topology, min_length, args, y, specs, outs)


def _traced(
    config, meta, layers, wrapper, calling, topology, min_length, args, y, specs=(), outs=()
) -> Traced:
    x = args[0]
    shapes = calling.shapes
    lstm = [layer.cell for layer in layers] == ["lstm"]
    state_in, state_out = state_names(calling.n_state, lstm, getattr(wrapper.module, "state_names", None))
    per_step = topology != "many_to_one"
    specs = named_apart(specs, {"x", "y", "lengths", *state_in, *state_out})
    outs = named_apart(outs, {"x", "y", "lengths", *state_in, *state_out, *(f.name for f in specs)})
    time_dim: int | str = 1 if calling.one_step else "time"
    io_dims: dict[str, list[int | str]] = {
        "x": ["batch", time_dim, x.shape[2]] if x.dim() == 3 else ["batch", time_dim],
        "y": ["batch", Y_FRAMES if calling.y_own_time else "time", y.shape[-1]]
        if per_step
        else ["batch", y.shape[-1]],
        "lengths": ["batch"],
        **{n: [r, "batch", h] for n, (r, h) in zip(state_in + state_out, shapes + shapes, strict=True)},
        **{f.name: list(f.dims) for f in (*specs, *outs)},
    }
    input_names = ("x", *state_in, *(("lengths",) if config.lengths else ()), *(f.name for f in specs))
    io = GraphIO(
        state_shapes=shapes,
        state_dtypes=_dtypes(args, calling),
        features=x.shape[2] if x.dim() == 3 else None,
        vocab_size=_vocab(wrapper.module, meta),
        lengths=config.lengths,
        per_step=per_step,
        streamable=bool(shapes)
        and not any(layer.bidirectional for layer in layers)
        and not calling.y_own_time,
        example_time=x.shape[1],
        input_names=input_names,
        min_length=min_length,
        further=specs,
        one_step=calling.one_step,
        outputs=outs,
    )
    resolved = dataclasses.replace(config, topology=topology, min_length=min_length)
    return Traced(
        wrapper=wrapper,
        calling=calling,
        topology=topology,
        min_length=min_length,
        args=args,
        input_names=input_names,
        output_names=("y", *state_out, *(f.name for f in outs)),
        state_in=tuple(state_in),
        shapes=shapes,
        io_dims=io_dims,
        dynamic={n: {i: d for i, d in enumerate(dims) if isinstance(d, str)} for n, dims in io_dims.items()},
        io=io,
        manifest=dataclasses.replace(
            _manifest(resolved, meta, layers, x, y, state_in, state_out, shapes, _dtypes(args, calling)),
            inputs=tuple(tensor_spec(f) for f in specs),
            outputs=tuple(tensor_spec(f) for f in outs),
        ),
    )


def _unflattened(name, wrapper: ExportWrapper, args: tuple, calling: Calling, y, topology):
    """A ``view(-1, out)`` output ``[batch * time, out]`` whose row order the probe finds becomes
    ``[batch, time, out]`` in the graph (see :mod:`.output_layout`)."""
    batch, time = args[0].shape[0], args[0].shape[1]
    if topology == "many_to_one" or y.dim() != 2 or y.shape[0] != batch * time or min(batch, time) < 2:
        return calling, y
    order = flattened_order(lambda x: _first(wrapper(x, *args[1:])), args[0])
    if order is None:
        return calling, y
    wrapper.calling = calling = dataclasses.replace(calling, unflatten=order)
    return calling, _first(guarded_call(name, wrapper, args, calling))


def _first(out):
    return out[0] if isinstance(out, tuple) else out


def guarded_call(name: str, wrapper: ExportWrapper, args: tuple, calling: Calling):
    """The wrapper on ``args``; whatever the user's module raises becomes one ExportError naming the
    call and the shapes it was given."""
    try:
        with torch.no_grad():
            return wrapper(*args)
    except ExportError:
        raise
    except Exception as err:  # the user's forward may raise anything; say where and with what
        raise ExportError(
            f"{name}: forward failed when called as {calling.describe(args)}: "
            f"{type(err).__name__}: {' '.join(str(err).split())[:300]}"
        ) from None


def resolve_topology(
    name: str,
    requested: str | None,
    y: torch.Tensor,
    batch: int,
    time: int,
    time_major: bool = False,
    layout=None,
    x_shape: list[int] | None = None,
) -> str:
    """The topology as given, or read from ``y``: ``[batch, out]`` is many_to_one, ``[batch, time, out]``
    many_to_many. A given topology that the output contradicts is an error that says how x was read."""
    inferred = None
    if y.dim() in (2, 3) and y.shape[0] == batch:
        inferred = "many_to_one" if y.dim() == 2 else "many_to_many" if y.shape[1] == time else None
    if requested is None:
        if inferred is None:
            raise ExportError(
                f"{name}: expected y of shape [batch={batch}, out] (many_to_one) or [batch={batch}, "
                f"time={time}, out] (many_to_many), got {list(y.shape)}{_flattened_hint(y, batch, time, time_major)}"
                f"; {layout_note(batch, time, time_major, layout, x_shape)}"
            )
        return inferred
    per_step = requested != "many_to_one"
    if inferred != ("many_to_many" if per_step else "many_to_one"):
        want = f"[batch, time={time}, out]" if per_step else "[batch, out]"
        hint = f"; the output looks {inferred}: leave topology unset to infer it" if inferred else ""
        raise ExportError(
            f"{name}: topology {requested}: expected y of shape {want}, got {list(y.shape)}{hint}; "
            f"{layout_note(batch, time, time_major, layout, x_shape)}"
        )
    return requested


def _flattened_hint(y: torch.Tensor, batch: int, time: int, time_major: bool) -> str:
    """A ``view(-1, out)`` output, named in the order the module flattened it; or a sequence output
    whose length is not x's."""
    if y.dim() == 3 and y.shape[0] == batch and y.shape[1] != time:
        return (
            f"; y's axis 1 has {y.shape[1]} steps where x has {time}: the module gives another number of "
            "steps than it reads (a decoding loop of fixed length?), which no per-step graph can stream"
        )
    if y.dim() == 2 and y.shape[0] == batch * time and batch > 1:
        axes = f"time x batch ({time} x {batch})" if time_major else f"batch x time ({batch} x {time})"
        want = "[time, batch, out]" if time_major else "[batch, time, out]"
        return f"; its axis 0 is {axes}: return y as {want} (no view(-1, ...))"
    return ""


def layout_note(
    batch: int, time: int, time_major: bool, layout=None, x_shape: list[int] | None = None
) -> str:
    """How x was read: its shape and rank (when known), which axis was taken for time, which for batch."""
    x = f"x {x_shape} (rank {len(x_shape)})" if x_shape is not None else "x"
    if layout is not None:
        return f"{x} was read as {layout.describe()}: axis {layout.batch_axis} batch={batch}, axis {layout.time_axis} time={time}"
    if time_major:
        return f"{x} was read time-major: axis 0 time={time}, axis 1 batch={batch}"
    return f"{x} was read batch-first: axis 0 batch={batch}, axis 1 time={time}"


def _as_float32(value: Any) -> Any:
    """Float tensors (and tuples/lists of them) as float32; anything else as it is."""
    if isinstance(value, torch.Tensor):
        return value.float() if value.is_floating_point() and value.dtype != torch.float32 else value
    if isinstance(value, tuple | list):
        return type(value)(_as_float32(v) for v in value)
    return value


def find_min_length(
    name: str, wrapper, args: tuple, per_step: bool, given: int | None, specs=(), own_time: bool = False
) -> int:
    """The fewest time steps the module runs on: ``given``, or the shortest length at which PyTorch
    runs one sequence and returns an output of the right shape (probed from 1 up to the example's)."""
    time = args[0].shape[1]
    if given is not None:
        if not 1 <= given <= time:
            raise ExportError(f"{name}: min_length: expected 1..{time} (the example's length), got {given}")
        return given
    for length in range(1, time):
        probe = _cut(args, length, specs)
        try:
            with torch.no_grad():
                out = wrapper(*probe)
        except Exception:  # what PyTorch refuses is exactly what we look for
            continue
        y = out[0] if isinstance(out, tuple) else out
        if y.dim() == (3 if per_step else 2) and (not per_step or y.shape[1] == length or own_time):
            return length
    return time


def _cut(args: tuple, length: int, specs=()) -> tuple:
    """One sequence of ``length`` steps from the example arguments (x, states[, lengths], further
    inputs: their batch axis cut to one row, their time axis to ``length``)."""
    x, *rest = args
    n = len(rest) - len(specs)
    cut = [x[:1, :length]]
    for t in rest[:n]:
        cut.append(t[:1].clone().fill_(length) if t.dim() == 1 else t[:, :1])
    return (*cut, *(cut_further(t, spec, 0, 1, length) for t, spec in zip(rest[n:], specs, strict=True)))


def _vocab(module: torch.nn.Module, meta: Any) -> int | None:
    if meta.input is not None and meta.input.vocab_size:
        return meta.input.vocab_size
    emb = next((m for m in module.modules() if isinstance(m, torch.nn.Embedding)), None)
    return emb.num_embeddings if emb is not None else None


def _dtypes(args: tuple, calling: Any) -> tuple[str, ...]:
    """The numpy name of each state's dtype ("float32"; "float64" for a forecaster's row counter)."""
    states = args[1 : 1 + calling.n_state]
    return tuple(str(s.dtype).removeprefix("torch.") for s in states)


def _manifest(config, meta, layers, x, y, state_in, state_out, shapes, dtypes) -> Manifest:
    first = layers[0] if layers else None
    tokens = x.dim() == 2
    input_spec = meta.input or InputSpec(
        name="x",
        features=None if tokens else int(x.shape[2]),
        dtype="int64" if tokens else "float32",
        kind="tokens" if tokens else "features",
    )
    input_spec = dataclasses.replace(
        input_spec, name="x", lengths="lengths" if config.lengths else None, min_length=config.min_length
    )
    output_spec = dataclasses.replace(meta.output or OutputSpec(kind="raw"), name="y", size=int(y.shape[-1]))
    return Manifest(
        name=meta.name,
        input=input_spec,
        output=output_spec,
        state=tuple(
            StateSpec(i, o, (r, "batch", h), d)
            for i, o, (r, h), d in zip(state_in, state_out, shapes, dtypes, strict=True)
        ),
        condition=meta.condition,
        series=meta.series,
        topology=config.topology,
        cell=first.cell if first else None,
        layers=first.layers if first else None,
        hidden_size=shapes[0][1] if shapes else first.hidden_size if first else None,  # the state's own
        bidirectional=any(layer.bidirectional for layer in layers),
        opset=config.opset,
        recipe=dict(meta.recipe),
        producer={
            "edgernn": __version__,
            "torch": torch.__version__,
            "onnx": onnx.__version__,
            "onnxruntime": onnxruntime.__version__,
        },
    )
