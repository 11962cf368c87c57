"""Further named inputs and outputs beside ``x`` (the general contract): resolved against the loaded
graph once, and checked on every call before onnxruntime sees them.

A manifest lists them in ``Manifest.inputs`` / ``Manifest.outputs`` (:class:`TensorSpec`) with dims
that are ints (fixed), ``"batch"`` (x's batch), ``"time"`` (x's time axis: the tensor runs step for
step with x, and a stream takes it step by step with x) or a name of their own (``"memory_time"``:
any size, the same in every input that names it in one call).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .bundle import ort_dtype
from .errors import BundleError, InputError, UnsupportedError
from .manifest import Dim, TensorSpec
from .validate import as_input, check_lengths, describe

if TYPE_CHECKING:
    from .signature import Signature

BATCH, TIME = "batch", "time"


@dataclass(frozen=True)
class NamedSig:
    """One further input or output of the loaded graph, as the manifest declares it."""

    spec: TensorSpec
    dtype: np.dtype

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def time_axes(self) -> tuple[int, ...]:
        """The axes that are x's time axis (a stream steps along them)."""
        return tuple(i for i, d in enumerate(self.spec.shape) if d == TIME)

    def describe(self) -> str:
        """``[batch, time, 4] float32`` plus where the module takes or gives it, for messages."""
        where = f" ({self.spec.module})" if self.spec.module else ""
        return describe(self.spec.shape, self.dtype) + where

    def call_dims(self, batch: int, time: int | None, step: bool) -> tuple[list[Dim], list[str]]:
        """The dims one call must match (x's batch and time filled in; a step drops the time axes),
        and what each axis is, for messages."""
        dims: list[Dim] = []
        names: list[str] = []
        for d in self.spec.shape:
            if d == TIME and step:
                continue
            if d == BATCH:
                dims.append(batch)
            elif d == TIME:
                dims.append(time if time is not None else TIME)
            else:
                dims.append(d)
            names.append(d if isinstance(d, str) else "")
        return dims, names


def _graph_dims(arg: Any) -> tuple[Dim, ...]:
    return tuple(d if isinstance(d, int) else str(d or "?") for d in (arg.shape or ()))


def resolve_named(
    where: str,
    specs: Sequence[TensorSpec],
    graph: Mapping[str, Any],
    role: str,
    x_axes: Mapping[str, str],
) -> tuple[NamedSig, ...]:
    """Check each manifest ``specs`` entry against graph NodeArg ``graph[name]``: it exists, and rank,
    fixed dims, x's batch/time axes (``x_axes``: x's graph dim name -> ``"batch"``/``"time"``) and
    dtype agree; :class:`BundleError` naming the first disagreement."""
    sigs = []
    for spec in specs:
        arg = graph.get(spec.name)
        if arg is None:
            raise BundleError(
                f"{where}: manifest {role} {spec.name!r} is not a graph {role} ({', '.join(graph)})"
            )
        dims = _graph_dims(arg)
        said = f"{where}: manifest {role} {spec.name!r} has dims {list(spec.shape)}"
        if len(dims) != len(spec.shape):
            raise BundleError(f"{said}, the graph's has {list(dims)} (rank {len(dims)})")
        for axis, (g, m) in enumerate(zip(dims, spec.shape, strict=True)):
            if isinstance(g, int) and g != m:
                raise BundleError(f"{said}, the graph fixes axis {axis} to {g}")
            if isinstance(g, str) and g in x_axes and x_axes[g] != m:
                raise BundleError(f"{said}, the graph's axis {axis} is x's {x_axes[g]} ({g!r})")
        dtype = np.dtype(ort_dtype(arg.type))
        if dtype != np.dtype(spec.dtype):
            raise BundleError(
                f"{where}: manifest {role} {spec.name!r} is {spec.dtype}, the graph's is {dtype}"
            )
        sigs.append(NamedSig(spec, dtype))
    return tuple(sigs)


def given_inputs(
    sigs: Sequence[NamedSig], inputs: Any, model: str, reserved: Sequence[str] = ()
) -> Mapping[str, Any]:
    """``inputs`` as a mapping of further input names (None: empty); unknown names are refused."""
    if inputs is None:
        return {}
    if not isinstance(inputs, Mapping) or not all(isinstance(k, str) for k in inputs):
        raise InputError(f"inputs: expected a dict of arrays by input name, got {type(inputs).__name__}")
    known = [s.name for s in sigs]
    unknown = [k for k in inputs if k not in known]
    if unknown:
        takes = ", ".join(known) if known else "none beside x"
        own = " (x, lengths and state have their own arguments)" if unknown[0] in reserved else ""
        raise InputError(f"inputs: {unknown[0]!r} is not a further input of {model}{own}; it takes: {takes}")
    return inputs


def check_named(
    sigs: Sequence[NamedSig], given: Mapping[str, Any], batch: int, time: int | None, *, step: bool = False
) -> dict[str, np.ndarray]:
    """Check the given further inputs (rank, fixed dims, x's batch and time, dtype, value range) and
    return them as C-contiguous arrays of the graph's dtypes. ``step``: one time step (the time axes
    dropped, as ``x_t`` drops x's)."""
    checked = {}
    for sig in sigs:
        if sig.name not in given:
            continue
        dims, names = sig.call_dims(batch, time, step)
        array = as_input(sig.name, given[sig.name], dims, sig.dtype, names=names)
        _check_range(sig, array, dims)
        checked[sig.name] = array
    return checked


def _check_range(sig: NamedSig, array: np.ndarray, dims: Sequence[Dim]) -> None:
    low, high = sig.spec.low, sig.spec.high
    if array.dtype.kind not in "iu" or (low is None and high is None):
        return
    lo, hi = int(array.min()), int(array.max())
    if (low is not None and lo < low) or (high is not None and hi > high):
        want = f"[{'-inf' if low is None else f'{low:g}'}, {'inf' if high is None else f'{high:g}'}]"
        raise InputError(
            f"input {sig.name!r}: expected {describe(dims, sig.dtype)} with values in {want}, "
            f"got values in [{lo}, {hi}]"
        )


def require_all(sigs: Sequence[NamedSig], have: Mapping[str, np.ndarray], *, step: bool, hint: str) -> None:
    """Every further input is there, and a dim of its own (``memory_time``) has one size across them."""
    sizes: dict[str, tuple[int, str]] = {}
    for sig in sigs:
        array = have.get(sig.name)
        if array is None:
            raise InputError(f"input {sig.name!r}: expected {sig.describe()}, got nothing; {hint}")
        shape = [d for d in sig.spec.shape if not (step and d == TIME)]
        for d, size in zip(shape, array.shape, strict=True):
            if not isinstance(d, str) or d in (BATCH, TIME):
                continue
            first = sizes.setdefault(d, (size, sig.name))
            if first[0] != size:
                raise InputError(
                    f"input {sig.name!r}: dim {d!r} is {size}, but {first[0]} in input {first[1]!r} of the "
                    "same call; inputs that share a dim name share its size"
                )


def check_call(
    sigs: Sequence[NamedSig],
    inputs: Any,
    batch: int,
    time: int | None,
    *,
    model: str,
    reserved: Sequence[str] = (),
) -> dict[str, np.ndarray]:
    """A whole-sequence call's further inputs, every one checked and present."""
    given = given_inputs(sigs, inputs, model, reserved)
    checked = check_named(sigs, given, batch, time)
    require_all(sigs, checked, step=False, hint="pass it in run(x, inputs=...)")
    return checked


def refuse_named(sigs: Sequence[NamedSig], what: str) -> None:
    """Paths that feed x alone (the batcher, generate) refuse a model with further inputs, naming them,
    instead of leaving them out."""
    if sigs:
        names = ", ".join(s.name for s in sigs)
        raise UnsupportedError(
            f"{what}: this model takes further inputs ({names}) beside x, which {what} does not feed; "
            "use session.run(x, inputs=...) or session.stream(batch, inputs=...)"
        )


def call_feeds(sig: Signature, xs: np.ndarray, lengths: Any, inputs: Any, model: str) -> dict[str, Any]:
    """What a whole-sequence call feeds the graph beside the state: ``xs`` (checked and normalised),
    the constants, the lengths (every step valid unless given) and the further inputs."""
    batch = xs.shape[sig.x.batch_axis] if sig.x.batch_axis is not None else 1
    time = xs.shape[sig.x.time_axis] if sig.x.time_axis is not None else None
    feeds = {sig.x.name: xs, **sig.constants}
    if sig.lengths is not None:
        feeds[sig.lengths] = (
            np.full(batch, time, sig.lengths_dtype)
            if lengths is None
            else check_lengths(sig.lengths, lengths, batch, time or 1, sig.min_length).astype(
                sig.lengths_dtype, copy=False
            )
        )
    elif lengths is not None:
        raise InputError("lengths: this model has no lengths input, so every sequence runs to its end")
    if sig.named or inputs is not None:
        reserved = [sig.x.name, sig.lengths or "", *(inp.name for inp, _ in sig.states)]
        feeds.update(check_call(sig.named, inputs, batch, time, model=model, reserved=reserved))
    return feeds
