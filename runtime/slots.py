"""The preallocated buffers behind a :class:`~edgernn.runtime.batcher.StreamBatcher`.

Every open handle owns one slot: row ``slot`` along the batch axis of each state. The ``N`` open
handles' states sit contiguously in the prefix of flat buffers sized for ``max_batch``, viewed as the
graph's state shape for batch ``N`` (``[layers, N, hidden]``), so onnxruntime reads and writes them in
place through IO binding by address. Like a :class:`~edgernn.runtime.stream.Stream`, two buffer sets
swap roles each tick: a tick of every open handle copies no state at all. A tick of some handles
gathers their rows into scratch buffers and scatters the new state back (numpy fancy indexing, no
Python loop over rows); a join or a leave re-lays the prefix out for the new ``N`` once.

On the CPU the buffers are numpy arrays that onnxruntime reads and writes directly. On a GPU they are
device values with a host mirror: steps copy ``x`` in and the outputs out, and gathers, scatters and
re-layouts go through the host (only on partial ticks and membership changes).
"""

from __future__ import annotations

import math
from typing import Any, cast

import numpy as np

from ._ort import ort
from .bundle import ort_dtype
from .engine import Engine
from .errors import UnsupportedError
from .signature import BATCH_NAMES, TIME_NAMES, TensorSig

MAX_BINDINGS = 64  # cached IO bindings (one per tick size and buffer set); cleared when exceeded


class Buffer:
    """A flat buffer bound to onnxruntime by address with any shape that fits in it."""

    def __init__(self, size: int, dtype: np.dtype, device: tuple[str, int], device_io: bool) -> None:
        self.dtype = np.dtype(dtype)
        self.host = np.zeros(size, self.dtype)
        self.device = device if device_io else ("cpu", 0)
        self.value = None  # the device copy; None when onnxruntime works on ``host`` itself
        if device_io:
            self.value = ort.OrtValue.ortvalue_from_shape_and_type([size], self.dtype.type, *device)
            self.value.update_inplace(self.host)
        self.ptr = self.value.data_ptr() if self.value is not None else self.host.ctypes.data

    def view(self, shape: tuple[int, ...]) -> np.ndarray:
        """The host prefix as an array of ``shape``."""
        return self.host[: math.prod(shape)].reshape(shape)

    def pull(self) -> None:
        """Device -> host (after onnxruntime wrote the device copy)."""
        if self.value is not None:
            self.host[...] = self.value.numpy()

    def push(self) -> None:
        """Host -> device (after numpy wrote the host copy)."""
        if self.value is not None:
            self.value.update_inplace(self.host)

    def bind_input(self, binding: Any, name: str, shape: tuple[int, ...]) -> None:
        binding.bind_input(name, self.device[0], self.device[1], self.dtype.type, list(shape), self.ptr)

    def bind_output(self, binding: Any, name: str, shape: tuple[int, ...]) -> None:
        binding.bind_output(name, self.device[0], self.device[1], self.dtype.type, list(shape), self.ptr)


class OutputSig:
    """A data output's dims (``batch`` and ``time`` resolved per tick) and where its batch axis is."""

    def __init__(
        self, name: str, dims: tuple[int | str, ...], dtype: np.dtype, time_axis: int | None
    ) -> None:
        self.name, self.dims, self.dtype, self.time_axis = name, dims, dtype, time_axis
        self.batch_axis = next(i for i, d in enumerate(dims) if d == "batch")
        # the batch axis once the length-1 time axis is dropped
        self.row_axis = self.batch_axis - (time_axis is not None and time_axis < self.batch_axis)

    def shape(self, batch: int) -> tuple[int, ...]:
        # output_sigs let through only fixed dims besides "batch" and "time"
        return tuple(batch if d == "batch" else 1 if d == "time" else cast(int, d) for d in self.dims)


def output_sigs(engine: Engine) -> list[OutputSig]:
    """Each data output's layout; :class:`UnsupportedError` when one cannot be split into rows."""
    sigs = []
    for arg in engine.ort.get_outputs():
        if arg.name not in engine.output_names:
            continue
        dims = []
        for d in arg.shape:
            name = d.lower() if isinstance(d, str) else None
            dims.append(
                d
                if isinstance(d, int)
                else "batch"
                if name in BATCH_NAMES
                else "time"
                if name in TIME_NAMES
                else None
            )
        if "batch" not in dims or None in dims:
            raise UnsupportedError(
                f"output {arg.name!r} {list(arg.shape)}: expected fixed dims besides batch and time, so that "
                "each stream's row can be cut out of a batched step; step these streams one by one"
            )
        sigs.append(
            OutputSig(
                arg.name,
                tuple(d for d in dims if d is not None),
                np.dtype(ort_dtype(arg.type)),
                engine.sig.step_axes.get(arg.name),
            )
        )
    return sigs


def _index(axis: int | None, rows: Any) -> tuple[Any, ...]:
    assert axis is not None  # Slots refuses, when made, a state without a batch axis
    return (slice(None),) * axis + (rows,)


class Slots:
    """The state of up to ``capacity`` streams in slots, plus the step input and outputs of one tick."""

    def __init__(self, engine: Engine, capacity: int, *, device_io: bool | None = None) -> None:
        sig = engine.sig
        self._engine, self._sig = engine, sig
        self.capacity = capacity
        self.device_io = engine.device[0] != "cpu" if device_io is None else device_io
        for inp, _ in sig.states:
            if inp.batch_axis is None:
                raise UnsupportedError(
                    f"state {inp.name!r} {list(inp.dims)}: expected a batch axis to batch streams along"
                )
        if sig.x.batch_axis is None:
            raise UnsupportedError(
                f"input {sig.x.name!r} {list(sig.x.dims)}: expected a batch axis to batch streams along"
            )
        self.step_dims = _step_dims(sig.x)
        self.row_axis = sig.x.batch_axis - (
            sig.x.time_axis is not None and sig.x.time_axis < sig.x.batch_axis
        )
        self.outputs = output_sigs(engine)

        def make(shape: tuple[int, ...], dtype: np.dtype) -> Buffer:
            return Buffer(math.prod(shape), dtype, engine.device, self.device_io)

        self._x = make(sig.x.shape(capacity, 1), sig.x.dtype)
        # sets 0 and 1 swap roles every full tick; set 2 and 3 are the scratch of partial ticks
        self._state = [[make(inp.shape(capacity), inp.dtype) for inp, _ in sig.states] for _ in range(4)]
        self._out = [make(o.shape(capacity), o.dtype) for o in self.outputs]
        self._ones = np.ones(capacity, np.int64)  # lengths: one step per stream, read from host memory
        self._extra = {n: _host_value(v) for n, v in sig.constants.items()}
        self._bindings: dict[tuple[int, int, int], Any] = {}
        self._views: dict[int, tuple[np.ndarray, list[np.ndarray]]] = {}  # per tick size: x and outputs
        self.k = 0  # the set holding the current state
        self.n = 0  # slots in the current layout

    # -- state of one slot ------------------------------------------------------------------------
    def state_views(self, n: int | None = None, k: int | None = None) -> list[np.ndarray]:
        """Host views of buffer set ``k`` laid out for ``n`` slots (default: the current state)."""
        n = self.n if n is None else n
        k = self.k if k is None else k
        return [b.view(inp.shape(n)) for (inp, _), b in zip(self._sig.states, self._state[k], strict=True)]

    def read(self, slot: int) -> dict[str, np.ndarray]:
        """A copy of one slot's state, shaped as a one-stream state (batch 1)."""
        self._pull(self.k)
        return {
            inp.name: np.array(np.take(v, [slot], axis=inp.batch_axis))
            for (inp, _), v in zip(self._sig.states, self.state_views(), strict=True)
        }

    def write(self, slot: int, state: dict[str, np.ndarray] | None) -> None:
        """Set one slot's state (``None``: zeros)."""
        self._pull(self.k)
        for (inp, _), v in zip(self._sig.states, self.state_views(), strict=True):
            v[_index(inp.batch_axis, slot)] = (
                0 if state is None else np.take(state[inp.name], 0, axis=inp.batch_axis)
            )
        self._push(self.k)

    def relayout(self, source: np.ndarray) -> None:
        """Lay out ``len(source)`` slots: new slot ``i`` takes old slot ``source[i]``, or zeros where -1."""
        n, k = len(source), self.k
        self._pull(k)
        fresh = source < 0
        picked = np.where(fresh, 0, source) if self.n else None
        for (inp, _), old, new in zip(
            self._sig.states, self.state_views(), self.state_views(n, 1 - k), strict=True
        ):
            if picked is None:
                new[...] = 0
                continue
            np.take(old, picked, axis=inp.batch_axis, out=new)
            if fresh.any():
                new[_index(inp.batch_axis, fresh)] = 0
        self.k, self.n = 1 - k, n
        self._push(self.k)

    # -- ticks ------------------------------------------------------------------------------------
    def x_rows(self, m: int) -> np.ndarray:
        """The step input of a tick of ``m`` streams, without its time axis, to be written in place."""
        return self._tick_views(m)[0]

    def _tick_views(self, m: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Host views of a tick of ``m`` streams: the step input and each output, time axes dropped."""
        views = self._views.get(m)
        if views is None:
            if len(self._views) >= MAX_BINDINGS:
                self._views.clear()
            shape = self._sig.x.shape(m, 1)
            t = self._sig.x.time_axis
            x = self._x.view(shape)
            x = x if t is None else x.reshape(shape[:t] + shape[t + 1 :])
            outs = []
            for o, buffer in zip(self.outputs, self._out, strict=True):
                view = buffer.view(o.shape(m))
                outs.append(view if o.time_axis is None else view.squeeze(o.time_axis))
            views = self._views[m] = (x, outs)
        return views

    def run_all(self) -> list[np.ndarray]:
        """Step every slot (rows of :meth:`x_rows` in slot order): state in place, sets swapped."""
        n, k = self.n, self.k
        outputs = self._run(self._binding(n, k, 1 - k), n)
        self.k = 1 - k
        return outputs

    def run_rows(self, slots: np.ndarray) -> list[np.ndarray]:
        """Step the slots ``slots`` (rows of :meth:`x_rows` in that order): gather, run, scatter."""
        m = len(slots)
        self._pull(self.k)
        current = self.state_views()
        for (inp, _), v, scratch in zip(self._sig.states, current, self.state_views(m, 2), strict=True):
            np.take(v, slots, axis=inp.batch_axis, out=scratch)
        self._push(2)
        outputs = self._run(self._binding(m, 2, 3), m)
        self._pull(3)
        for (inp, _), v, new in zip(self._sig.states, current, self.state_views(m, 3), strict=True):
            v[_index(inp.batch_axis, slots)] = new
        self._push(self.k)
        return outputs

    def _run(self, binding: Any, m: int) -> list[np.ndarray]:
        """Run one bound tick; returns each output as ``m`` rows (time axis dropped), in fresh arrays."""
        self._x.push()
        self._engine.run_binding(binding, synchronize=self.device_io)
        for buffer in self._out:
            buffer.pull()
        return [np.array(view) for view in self._tick_views(m)[1]]

    def _binding(self, m: int, k_in: int, k_out: int) -> Any:
        key = (m, k_in, k_out)
        binding = self._bindings.get(key)
        if binding is not None:
            return binding
        if len(self._bindings) >= MAX_BINDINGS:
            self._bindings.clear()
        sig = self._sig
        binding = self._engine.io_binding()
        for name, value in self._extra.items():
            binding.bind_ortvalue_input(name, value)
        self._x.bind_input(binding, sig.x.name, sig.x.shape(m, 1))
        if sig.lengths is not None:
            binding.bind_input(sig.lengths, "cpu", 0, np.int64, [m], self._ones.ctypes.data)
        for (inp, out), src, dst in zip(sig.states, self._state[k_in], self._state[k_out], strict=True):
            src.bind_input(binding, inp.name, inp.shape(m))
            dst.bind_output(binding, out, inp.shape(m))
        for o, buffer in zip(self.outputs, self._out, strict=True):
            buffer.bind_output(binding, o.name, o.shape(m))
        self._bindings[key] = binding
        return binding

    def _pull(self, k: int) -> None:
        for b in self._state[k]:
            b.pull()

    def _push(self, k: int) -> None:
        for b in self._state[k]:
            b.push()


def _step_dims(x: TensorSig) -> tuple[int, ...]:
    """One stream's step input shape (batch 1, no time axis); every other dim must be fixed."""
    dims = []
    for i, d in enumerate(x.dims):
        if i == x.time_axis:
            continue
        if i == x.batch_axis:
            dims.append(1)
        elif isinstance(d, int):
            dims.append(d)
        else:
            raise UnsupportedError(
                f"input {x.name!r} {list(x.dims)}: dim {d!r} is free; a batched step needs every dim "
                "besides batch and time fixed"
            )
    return tuple(dims)


def _host_value(array: np.ndarray) -> Any:
    value = ort.OrtValue.ortvalue_from_shape_and_type(list(array.shape), array.dtype.type, "cpu", 0)
    value.update_inplace(np.ascontiguousarray(array))
    return value
