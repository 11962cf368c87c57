"""What a loaded graph takes and gives, resolved once at load: axes, state pairs, constants, scaling.

Built from the manifest (edgernn bundles: ``x`` is ``[batch, time, features]``) checked against the
graph onnxruntime actually loaded; third-party graphs are read from their dims and dim names.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

import numpy as np

from .bundle import ort_dtype
from .errors import BundleError, InputError
from .limits import check_total_bytes
from .manifest import Manifest
from .named import NamedSig, resolve_named
from .vocab import STEP_TOPOLOGIES

BATCH_NAMES = ("batch", "batch_size", "n", "b", "bs")
TIME_NAMES = ("time", "seq", "seq_len", "seq_length", "sequence", "sequence_length", "t", "steps")


@dataclass(frozen=True)
class TensorSig:
    """One graph input: dims as ints (fixed) or names (``batch``, ``time``, or the graph's own)."""

    name: str
    dims: tuple[int | str, ...]
    dtype: np.dtype
    batch_axis: int | None = None
    time_axis: int | None = None

    @property
    def axis_names(self) -> tuple[str, ...]:
        """What each axis means, for error messages."""
        last = len(self.dims) - 1
        return tuple(
            "batch"
            if i == self.batch_axis
            else "time"
            if i == self.time_axis
            else "features"
            if i == last
            else ""
            for i in range(len(self.dims))
        )

    def shape(self, batch: int, time: int | None = None) -> tuple[int, ...]:
        """Concrete shape for ``batch`` (and ``time``); :class:`InputError` if a dim stays unknown."""
        out = []
        for i, d in enumerate(self.dims):
            if i == self.batch_axis:
                d = batch
            elif i == self.time_axis and time is not None:
                d = time
            if not isinstance(d, int):
                raise InputError(
                    f"input {self.name!r}: dim {d!r} of {list(self.dims)} is unknown, so its zeros cannot be "
                    "built; pass this input's value explicitly"
                )
            out.append(d)
        return tuple(out)


@dataclass(frozen=True)
class Signature:
    """Everything the runtime resolves once per loaded graph."""

    x: TensorSig
    lengths: str | None
    states: tuple[tuple[TensorSig, str], ...]  # (state input, the output that feeds it back)
    constants: Mapping[str, np.ndarray]
    outputs: tuple[str, ...]  # non-state outputs, graph order
    main: str
    step_axes: Mapping[str, int]  # output -> time axis dropped after a one-step call
    in_scale: tuple[np.ndarray, np.ndarray] | None  # (mean, std): model input = (x - mean) / std
    out_scale: tuple[np.ndarray, np.ndarray] | None  # (mean, std): real units = y * std + mean
    min_length: int = 1  # fewest time steps one call may carry (manifest input.min_length)
    lengths_dtype: np.dtype = np.dtype(np.int64)  # ONNX's own sequence_lens is int32
    named: tuple[NamedSig, ...] = ()  # further named inputs (manifest ``inputs``), graph order
    named_outputs: tuple[NamedSig, ...] = ()  # further named outputs (manifest ``outputs``)

    def to_model(self, x: np.ndarray) -> np.ndarray:
        """Raw input values (already of the input's dtype) as the graph takes them: normalised."""
        if self.in_scale is None:
            return x
        scaled: np.ndarray = ((x - self.in_scale[0]) / self.in_scale[1]).astype(self.x.dtype, copy=False)
        return scaled

    def check_batch(self, batch: int, what: str) -> None:
        """Refuse a stream batch whose state (two sets: the step reads one, writes the other) and
        step buffers could not fit in memory, before anything allocates them."""

        def size(spec: Any) -> int:  # dims the model leaves open (other than batch) count as 1
            dims = [batch if i == spec.batch_axis else d for i, d in enumerate(spec.dims)]
            count = np.prod([d if isinstance(d, int) else 1 for d in dims], dtype=object)
            size_bytes: int = int(count) * np.dtype(spec.dtype).itemsize
            return size_bytes

        check_total_bytes(what, 2 * sum(size(inp) for inp, _ in self.states) + size(self.x))

    def zero_state(self, batch: int) -> dict[str, np.ndarray]:
        """Fresh zero state for ``batch`` sequences, keyed by state input name."""
        return {inp.name: np.zeros(inp.shape(batch), inp.dtype) for inp, _ in self.states}


def _dims(arg: Any) -> tuple[int | str, ...]:
    return tuple(d if isinstance(d, int) else str(d or "?") for d in arg.shape)


def _find(dims: tuple[int | str, ...], names: tuple[str, ...]) -> int | None:
    return next((i for i, d in enumerate(dims) if isinstance(d, str) and d.lower() in names), None)


def _x_sig(manifest: Manifest, arg: Any, outputs: list[Any]) -> TensorSig:
    graph = _dims(arg)
    dtype = np.dtype(ort_dtype(arg.type))
    if manifest.topology is None:
        return _bare_x_sig(arg.name, graph, dtype, outputs)
    spec = manifest.input
    tokens = spec.kind == "tokens"
    if len(graph) != (2 if tokens else 3):
        want = "[batch, time]" if tokens else "[batch, time, features]"
        raise BundleError(f"graph input {arg.name!r}: expected {want}, the graph has {list(graph)}")
    features = spec.features if spec.features is not None else graph[-1] if not tokens else None
    if not tokens and isinstance(graph[-1], int) and features != graph[-1]:
        raise BundleError(f"input {arg.name!r}: manifest says {features} features, the graph has {graph[-1]}")
    dims = (
        ("batch", "time") if tokens else ("batch", "time", features if features is not None else "features")
    )
    return TensorSig(arg.name, dims, dtype, 0, 1)


def _bare_x_sig(name: str, graph: tuple[int | str, ...], dtype: np.dtype, outputs: list[Any]) -> TensorSig:
    """A third-party input's axes from its dim names. A time axis (``seq``, ``time``, ...) counts only
    when an output carries it on (the dim's name, or a free size at the same axis): silero's
    ``[batch, sequence] -> [batch, 1]`` is the samples of one frame, so that model takes one chunk
    per call (a frame model, with no time axis)."""
    batch = _find(graph, BATCH_NAMES)
    time = _find(graph, TIME_NAMES)
    if time is not None and not any(_carries(_dims(out), graph[time], time) for out in outputs):
        time = None
    if batch is None and graph and not isinstance(graph[0], int) and time != 0:
        batch = 0
    dims = tuple("batch" if i == batch else "time" if i == time else d for i, d in enumerate(graph))
    return TensorSig(name, dims, dtype, batch, time)


def fixed_dims(dims: tuple[int | str, ...]) -> TypeGuard[tuple[int, ...]]:
    """Whether every dim is a fixed size (no named, open dim left)."""
    return all(isinstance(d, int) for d in dims)


def _carries(dims: tuple[int | str, ...], name: int | str, axis: int) -> bool:
    return name in dims or (axis < len(dims) and not isinstance(dims[axis], int))


def _state_sig(arg: Any, manifest_shape: tuple[int | str, ...], dtype: str) -> TensorSig:
    graph = _dims(arg)
    if len(manifest_shape) not in (0, len(graph)):
        raise BundleError(f"state {arg.name!r}: manifest shape {list(manifest_shape)} vs graph {list(graph)}")
    merged = tuple(zip(graph, manifest_shape or graph, strict=True))
    for g, m in merged:
        if isinstance(g, int) and isinstance(m, int) and g != m:
            raise BundleError(
                f"state {arg.name!r}: manifest shape {list(manifest_shape)} vs graph {list(graph)}"
            )
    dims = tuple(m if isinstance(m, int) else g for g, m in merged)
    names = tuple(m if isinstance(m, str) else g for g, m in merged)
    batch = _find(names, BATCH_NAMES)
    if batch is None and len(dims) == 3 and not isinstance(dims[1], int):
        batch = 1  # [layers*directions, batch, hidden]
    elif batch is None and dims and not isinstance(dims[0], int):
        batch = 0  # Keras converters: [batch, hidden]
    dims = tuple("batch" if i == batch else d for i, d in enumerate(dims))
    return TensorSig(arg.name, dims, np.dtype(ort_dtype(arg.type) or dtype), batch)


def scale_arrays(
    what: str, mean: Any, std: Any, size: int | str | None
) -> tuple[np.ndarray, np.ndarray] | None:
    if mean is None and std is None:
        return None
    m = np.asarray(mean if mean is not None else 0.0, dtype=np.float32)
    s = np.asarray(std if std is not None else 1.0, dtype=np.float32)
    for name, v in (("mean", m), ("std", s)):
        if v.ndim > 1 or v.size == 0:
            raise BundleError(
                f"manifest field '{what}.{name}': expected a number or a list of {size or 'some'} values, "
                f"got {v.tolist()}"
            )
        if v.ndim == 1 and isinstance(size, int) and v.shape[0] not in (1, size):
            raise BundleError(f"manifest field '{what}.{name}': expected {size} values, got {v.shape[0]}")
    if not (np.all(s > 0) and np.isfinite(s).all() and np.isfinite(m).all()):
        raise BundleError(f"manifest field '{what}.std': expected finite positive values, got {s.tolist()}")
    return m, s


def _last_dim(outputs: list[Any], name: str) -> int | None:
    """The fixed last dim of graph output ``name``, when the graph declares one."""
    arg = next((a for a in outputs if a.name == name), None)
    last = _dims(arg)[-1] if arg is not None and arg.shape else None
    return last if isinstance(last, int) else None


def build_signature(
    manifest: Manifest, inputs: list[Any], outputs: list[Any], constants: Mapping[str, Any] | None
) -> Signature:
    """Resolve ``manifest`` against the graph's NodeArgs; :class:`BundleError` when they disagree."""
    graph_in = {a.name: a for a in inputs}
    graph_out = [a.name for a in outputs]
    where = manifest.name
    for role, name in (("input", manifest.input.name), ("lengths input", manifest.input.lengths)):
        if name is not None and name not in graph_in:
            raise BundleError(
                f"{where}: manifest {role} {name!r} is not a graph input ({', '.join(graph_in)})"
            )
    if manifest.output.name not in graph_out:
        raise BundleError(
            f"{where}: manifest output {manifest.output.name!r} is not a graph output ({graph_out})"
        )
    states = []
    for spec in manifest.state:
        if spec.input not in graph_in or spec.output not in graph_out:
            raise BundleError(
                f"{where}: state pair {spec.input!r} -> {spec.output!r} is not graph input/output"
            )
        states.append((_state_sig(graph_in[spec.input], tuple(spec.shape), spec.dtype), spec.output))
    if manifest.topology is not None:
        _check_outputs(manifest, outputs)
    used = {manifest.input.name, manifest.input.lengths, *(s.input for s in manifest.state)}
    used |= {spec.name for spec in manifest.inputs if spec.name not in (constants or {})}  # pinnable too
    pinned = _constants(where, graph_in, used, dict(constants or {}))
    state_outputs = {spec.output for spec in manifest.state}
    x = _x_sig(manifest, graph_in[manifest.input.name], [a for a in outputs if a.name not in state_outputs])
    named, named_outputs = _named(manifest, x, graph_in, outputs)
    named = tuple(n for n in named if n.name not in pinned)  # fed as constants on every call
    data_out = tuple(n for n in graph_out if n not in {s.output for s in manifest.state})
    step_axes = _step_axes(manifest, x, graph_in[x.name], outputs, data_out, named_outputs)
    features = x.dims[-1] if manifest.input.kind == "features" else None
    out = manifest.output
    return Signature(
        x=x,
        lengths=manifest.input.lengths,
        states=tuple(states),
        constants=pinned,
        outputs=data_out,
        main=out.name,
        step_axes=step_axes,
        in_scale=scale_arrays("input", manifest.input.mean, manifest.input.std, features),
        out_scale=scale_arrays("output", out.mean, out.std, out.size or _last_dim(outputs, out.name)),
        min_length=manifest.input.min_length,
        lengths_dtype=np.dtype(ort_dtype(graph_in[manifest.input.lengths].type))
        if manifest.input.lengths
        else np.dtype(np.int64),
        named=named,
        named_outputs=named_outputs,
    )


def _step_axes(
    manifest: Manifest,
    x: TensorSig,
    x_arg: Any,
    outputs: list[Any],
    data_out: tuple[str, ...],
    named_outputs: tuple[NamedSig, ...],
) -> dict[str, int]:
    """Each data output's time axis, dropped after a one-step call: axis 1 of an edgernn model's
    3-D outputs, the axis that carries x's time dim name in a third-party graph, and where the
    manifest puts ``time`` for a further output (none: it has no time axis)."""
    step_axes: dict[str, int] = {}
    if manifest.topology in STEP_TOPOLOGIES:
        step_axes = {a.name: 1 for a in outputs if a.name in data_out and len(a.shape) == 3}
    elif manifest.topology is None and x.time_axis is not None:
        time_name = _dims(x_arg)[x.time_axis]
        step_axes = {a.name: _dims(a).index(time_name) for a in outputs if time_name in _dims(a)}
    for sig in named_outputs:
        step_axes.pop(sig.name, None)
        if sig.time_axes:
            step_axes[sig.name] = sig.time_axes[0]
    return step_axes


def _named(
    manifest: Manifest, x: TensorSig, graph_in: dict[str, Any], outputs: list[Any]
) -> tuple[tuple[NamedSig, ...], tuple[NamedSig, ...]]:
    """The further inputs and outputs, checked against the graph (x's graph dim names say which
    of their axes are x's batch and time)."""
    x_graph = _dims(graph_in[x.name])
    x_axes: dict[str, str] = {}
    for axis, role in ((x.batch_axis, "batch"), (x.time_axis, "time")):
        name = x_graph[axis] if axis is not None else None
        if isinstance(name, str) and name != "?":
            x_axes[name] = role
    named = resolve_named(manifest.name, manifest.inputs, graph_in, "input", x_axes)
    graph_out = {a.name: a for a in outputs}
    return named, resolve_named(manifest.name, manifest.outputs, graph_out, "output", x_axes)


def _check_outputs(manifest: Manifest, outputs: list[Any]) -> None:
    """An edgernn model's graph outputs are exactly its main output and its state outputs, the main
    output's fixed last dim is ``output.size``, and the first state's fixed last dim is
    ``hidden_size``."""
    want = [manifest.output.name, *(t.name for t in manifest.outputs), *(s.output for s in manifest.state)]
    have = [a.name for a in outputs]
    if sorted(want) != sorted(have):
        raise BundleError(f"{manifest.name}: the manifest describes outputs {want}, the graph has {have}")
    main = next(a for a in outputs if a.name == manifest.output.name)
    last = _dims(main)[-1] if main.shape else None
    size = manifest.output.size
    if isinstance(last, int) and size is not None and last != size:
        raise BundleError(
            f"{manifest.name}: manifest output.size is {size}, the graph's output {main.name!r} has {last}"
        )
    # hidden_size is the first recurrent layer's: later modules of a stack (GRU -> ReLU RNN) and a
    # forecaster's previous rows are state of other widths
    for state in manifest.state[:1]:
        hidden = state.shape[-1] if state.shape else None
        if isinstance(hidden, int) and manifest.hidden_size is not None and hidden != manifest.hidden_size:
            raise BundleError(
                f"{manifest.name}: manifest hidden_size is {manifest.hidden_size}, state {state.input!r} "
                f"has {hidden}"
            )


def _constants(
    where: str, graph_in: dict[str, Any], used: set[str | None], given: dict[str, Any]
) -> dict[str, np.ndarray]:
    for name in given:
        if name not in graph_in or name in used:
            free = [n for n in graph_in if n not in used] or ["none"]
            raise InputError(
                f"constants: {name!r} is not a pinnable input of {where}; pinnable: {', '.join(free)}"
            )
    pinned = {}
    for name, arg in graph_in.items():
        if name in used:
            continue
        if name not in given:
            raise BundleError(
                f"{where}: graph input {name!r} ({list(_dims(arg))} {ort_dtype(arg.type)}) is neither data nor "
                f"state; pin it with constants={{{name!r}: value}} or name it in state_map"
            )
        dims = _dims(arg)
        value = _exact_constant(name, given[name], np.dtype(ort_dtype(arg.type)))
        if value.ndim != len(dims) and value.size == 1:
            value = value.reshape((1,) * len(dims))
        if value.ndim != len(dims) or any(
            isinstance(d, int) and d != v for d, v in zip(dims, value.shape, strict=True)
        ):
            raise InputError(f"constants[{name!r}]: expected shape {list(dims)}, got {list(value.shape)}")
        pinned[name] = np.ascontiguousarray(value)
    return pinned


def _exact_constant(name: str, given: Any, dtype: np.dtype) -> np.ndarray:
    """``given`` as ``dtype``; an integer input refuses what it cannot hold exactly (16000.5, 2**40 as int32)."""
    try:
        raw = np.asarray(given)
        with np.errstate(invalid="ignore", over="ignore"):
            value = raw.astype(dtype)
    except (TypeError, ValueError, OverflowError) as err:
        raise InputError(f"constants[{name!r}]: expected {dtype}, got {given!r} ({err})") from None
    if dtype.kind in "iu" and raw.dtype.kind in "biuf" and not np.array_equal(value, raw):
        raise InputError(
            f"constants[{name!r}]: expected {dtype} values, got {given!r}, which {dtype} cannot hold"
        )
    return value
