"""A :class:`Stream` owns the recurrent state of ``batch`` sequences; many streams share one Session.

State stays in onnxruntime values between steps (IO binding): two buffer sets swap roles each step,
one read as ``h0``/``c0`` while the other is written as ``hn``/``cn``, so no state crosses to numpy
unless :attr:`Stream.state` is read. A step binds everything once and copies only ``x`` in and ``y``
out.

On the CPU the step input and outputs are onnxruntime buffers that numpy reads and writes in place.
On a GPU every bound value lives on the device at a fixed address (``x`` and ``y`` are copied in
and out explicitly, and the binding is synchronised around each run), which is also what a CUDA
graph needs: with ``RuntimeConfig.cuda_graphs`` each of the two bindings is captured once and then
replayed, and a model the capture refuses falls back to plain runs (:attr:`Stream.cuda_graph` says
which). A stream is not thread-safe; using one from two threads at once raises instead of losing
steps.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import numpy as np

from ._ort import ort
from .engine import Engine
from .errors import InputError, UnsupportedError
from .named import check_named, given_inputs, require_all
from .result import Result
from .signature import fixed_dims
from .validate import as_input, check_min_length, check_tokens


def _ortvalue(array: np.ndarray, device: tuple[str, int]) -> Any:
    """A new onnxruntime-owned value on ``device`` holding a copy of ``array``."""
    if device[0] == "cpu":  # ortvalue_from_numpy would share the array's memory on the CPU
        value = ort.OrtValue.ortvalue_from_shape_and_type(list(array.shape), array.dtype.type, "cpu", 0)
        value.update_inplace(np.ascontiguousarray(array))
        return value
    return ort.OrtValue.ortvalue_from_numpy(np.ascontiguousarray(array), *device)


class Stream:
    """Carried state for ``batch`` sequences fed step by step (``step``) or chunk by chunk (``feed``)."""

    def __init__(
        self,
        engine: Engine,
        batch: int = 1,
        *,
        inputs: Mapping[str, Any] | None = None,
        device_io: bool | None = None,
    ) -> None:
        """Made by :meth:`Session.stream`; ``engine`` is the session's loaded graph. ``inputs``: further
        inputs without x's time axis, held for every push (see :meth:`step`). ``device_io`` forces the
        device-style path (fixed buffers, explicit copies) on the CPU, for tests."""
        engine.require_streamable()
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise InputError(f"batch: expected a positive int, got {batch!r}")
        engine.sig.check_batch(batch, f"stream(batch={batch})")
        self._engine = engine
        self._sig = sig = engine.sig
        self._tokens = engine.tokens
        self._device_io = engine.device[0] != "cpu" if device_io is None else device_io
        # A lengths input is copied host->device from a per-run buffer that a replay would reuse
        # after onnxruntime freed it, so models with one step without graphs.
        # Further inputs are bound per push, so models with some step without graphs too.
        self._graph = engine.graph_runner() if sig.lengths is None and not sig.named else None
        self._replay = False  # True while this stream's bindings live on the capturing session
        self._lock = threading.Lock()
        self.batch = batch
        self.steps = 0  # time steps consumed since creation or the last reset
        zeros = engine.initial_state(batch)
        self._buffers = [[_ortvalue(zeros[inp.name], engine.device) for inp, _ in sig.states] for _ in (0, 1)]
        self._k = 0  # index of the buffer set that holds the current state
        x = sig.x
        dims = tuple(batch if i == x.batch_axis else d for i, d in enumerate(x.dims))
        self._chunk_dims = dims
        self._step_dims = tuple(d for i, d in enumerate(dims) if i != x.time_axis)
        self._extra = {name: _ortvalue(v, ("cpu", 0)) for name, v in sig.constants.items()}
        if sig.lengths is not None:  # the recurrent kernels read sequence_lens from host memory
            self._extra[sig.lengths] = _ortvalue(np.ones(batch, sig.lengths_dtype), ("cpu", 0))
        names = x.axis_names
        self._step_names = names if x.time_axis is None else names[: x.time_axis] + names[x.time_axis + 1 :]
        self._step_shape: tuple[int, ...] | None = None
        self._named_values: dict[str, Any] = {}  # further inputs bound into the step bindings
        self._named_arrays: dict[str, np.ndarray] = {}  # what each of them holds now
        self._held: dict[str, np.ndarray] = {}  # further inputs without a time axis, fed at every push
        if sig.named or inputs is not None:
            self._held = self._open_named(inputs)
        if fixed_dims(self._step_dims):
            self._bind_step(self._step_dims)

    @property
    def cuda_graph(self) -> bool:
        """True while steps replay a captured CUDA graph (a GPU stream whose model allows capture);
        when False on a GPU, ``session``'s CUDA-graph runner says why."""
        return self._replay

    def reset(self) -> None:
        """Clear all state: zero every state buffer and the step count (held further inputs stay)."""
        with self._exclusive("reset"):
            zeros = self._engine.initial_state(self.batch)
            for buffers in self._buffers:
                for (inp, _), value in zip(self._sig.states, buffers, strict=True):
                    value.update_inplace(np.ascontiguousarray(zeros[inp.name]))
            self.steps = 0

    @property
    def state(self) -> dict[str, np.ndarray]:
        """A copy of the current state, keyed by state input name (``h0``, ``c0``, ...)."""
        return {
            inp.name: np.array(v.numpy())
            for (inp, _), v in zip(self._sig.states, self._buffers[self._k], strict=True)
        }

    @state.setter
    def state(self, value: Mapping[str, Any]) -> None:
        checked = self._engine.check_state(value, self.batch)
        with self._exclusive("set the state of"):
            for (inp, _), buffer in zip(self._sig.states, self._buffers[self._k], strict=True):
                buffer.update_inplace(np.ascontiguousarray(checked[inp.name]))

    def step(self, x_t: Any, *, inputs: Mapping[str, Any] | None = None) -> Result:
        """Feed one time step (``[batch, features]``, raw values); returns that step's outputs.

        For a many_to_one model the output is the running prediction after this step. A model with
        further inputs takes them in ``inputs``: one with x's time axis as this step's slice (that
        axis dropped, as ``x_t`` drops it), with every push; one without it given here or when the
        stream opened, and held for the pushes after. Further outputs drop their time axis too.
        """
        sig = self._sig
        if sig.min_length > 1:
            check_min_length(sig.x.name, 1, sig.min_length, "; stream.feed(chunk) takes chunks that long")
        fast = type(x_t) is np.ndarray and x_t.shape == self._step_shape and x_t.dtype == sig.x.dtype
        if not (fast and not self._tokens and np.isfinite(x_t).all()):
            x_t = as_input(sig.x.name, x_t, self._step_dims, sig.x.dtype, names=self._step_names)
            if self._tokens:
                check_tokens(sig.x.name, x_t, self._engine.manifest.input.vocab_size, self._step_dims)
        with self._exclusive("step"):
            named = self._push_named(inputs, None) if sig.named or inputs is not None else None
            self.write_step(x_t, scale=True)
            if named:
                self._set_named(named)
            values = self.run_step()
        return self._engine.result(values)

    def feed(self, chunk: Any, *, inputs: Mapping[str, Any] | None = None) -> Result:
        """Feed ``[batch, time, features]`` raw values in one call; returns their outputs, carrying state.
        ``inputs`` as for :meth:`step`, those with x's time axis as chunks as long as this one."""
        sig = self._sig
        if sig.x.time_axis is None:
            return self.step(chunk, inputs=inputs)
        x = self._engine.prepare_input(chunk, dims=self._chunk_dims, fixed=None)
        if sig.min_length > 1:
            check_min_length(sig.x.name, x.shape[sig.x.time_axis], sig.min_length)
        with self._exclusive("feed"):
            named = (
                self._push_named(inputs, x.shape[sig.x.time_axis]) if sig.named or inputs is not None else {}
            )
            binding, k = self._engine.io_binding(), self._k
            for name, value in self._extra.items():
                binding.bind_ortvalue_input(name, value)
            for name, array in named.items():
                binding.bind_cpu_input(name, array)
            binding.bind_cpu_input(sig.x.name, x)
            if sig.lengths is not None:
                time = x.shape[sig.x.time_axis]
                binding.bind_cpu_input(sig.lengths, np.full(self.batch, time, sig.lengths_dtype))
            for name in sig.outputs:
                binding.bind_output(name, "cpu")
            self._bind_state(binding, k)
            self._engine.run_binding(binding, synchronize=self._device_io)
            values = binding.copy_outputs_to_cpu()[: len(sig.outputs)]
            self._k = 1 - k
            self.steps += x.shape[sig.x.time_axis]
        return self._engine.result(values)

    # Used by generate too, which feeds model-space values back (under the caller's own exclusivity).
    def write_step(self, x_t: np.ndarray, *, scale: bool) -> None:
        """Copy one validated step into the bound input buffer, normalising it when ``scale``."""
        shape = x_t.shape
        if shape != self._step_shape:
            self._bind_step(shape)
        view = self._x_view
        norm = self._sig.in_scale if scale else None
        if norm is None:
            view[...] = x_t
        else:
            np.subtract(x_t, norm[0], out=view)
            np.divide(view, norm[1], out=view)
        if self._device_io:
            self._x_value.update_inplace(self._x_host)

    def run_step(self) -> list[np.ndarray]:
        """Run one bound step; returns copies of the data outputs with the time axis dropped."""
        k = self._k
        binding = self._bindings[k]
        if self._replay:
            self._replay_step(k)
        else:
            self._engine.run_binding(binding, synchronize=self._device_io)
        views = self._views[k]
        if views is None:
            views = self._grab_outputs(k)
        self._k = 1 - k
        self.steps += 1
        if self._device_io:
            return [
                _read(v, self._sig.step_axes.get(n)) for n, v in zip(self._sig.outputs, views, strict=True)
            ]
        return [v.copy() for v in views]

    def _open_named(self, inputs: Any) -> dict[str, np.ndarray]:
        """The further inputs given at open: only those without x's time axis, which are held."""
        sig = self._sig
        for named in sig.named:
            if len(named.time_axes) > 1:
                raise UnsupportedError(
                    f"input {named.name!r} ({named.describe()}) has x's time axis more than once, so a "
                    "stream cannot take it step by step; use session.run on whole sequences"
                )
        given = given_inputs(sig.named, inputs, self._engine.manifest.name, self._reserved())
        timed = next((n for n in sig.named if n.name in given and n.time_axes), None)
        if timed is not None:
            raise InputError(
                f"input {timed.name!r}: runs step for step with x ({timed.describe()}); give it with each "
                "step or feed (inputs=...), not when the stream opens"
            )
        return {k: v.copy() for k, v in check_named(sig.named, given, self.batch, None).items()}

    def _push_named(self, inputs: Any, time: int | None) -> dict[str, np.ndarray]:
        """The further inputs of one push (``time`` None: a step): the given ones checked, the held ones
        for the rest. One without x's time axis given here is held from now on."""
        sig = self._sig
        given = given_inputs(sig.named, inputs, self._engine.manifest.name, self._reserved())
        checked = check_named(sig.named, given, self.batch, time, step=time is None)
        have = {**self._held, **checked}
        require_all(
            sig.named,
            have,
            step=time is None,
            hint="give it with each step or feed (inputs=...); one without x's time axis may be given "
            "once, at session.stream(batch, inputs=...)",
        )
        for n in sig.named:
            if n.name not in checked:
                continue
            if not n.time_axes:  # a copy: the caller may change its array before the next push
                self._held[n.name] = have[n.name] = checked[n.name].copy()
            elif time is None:  # the graph takes a step as a chunk of one
                have[n.name] = np.expand_dims(checked[n.name], n.time_axes[0])
        return have

    def _reserved(self) -> list[str]:
        sig = self._sig
        return [sig.x.name, sig.lengths or "", *(inp.name for inp, _ in sig.states)]

    def _set_named(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Write this step's further inputs into their bound values; a new shape gets a new value, and
        the bindings are made again (an output's shape may follow it)."""
        device = self._engine.device if self._device_io else ("cpu", 0)
        rebind = False
        for name, array in arrays.items():
            if self._named_arrays.get(name) is array:  # a held input, already there
                continue
            value = self._named_values.get(name)
            if value is not None and tuple(value.shape()) == array.shape:
                value.update_inplace(array)
            else:
                self._named_values[name] = _ortvalue(array, device)
                rebind = True
            self._named_arrays[name] = array
        if rebind:
            self._make_bindings()

    def _exclusive(self, what: str) -> _Exclusive:
        return _Exclusive(self._lock, what)

    def _replay_step(self, k: int) -> None:
        """Replay binding ``k``'s CUDA graph; a capture onnxruntime refuses turns replay off (for the
        whole session) and this step runs again as a plain device step."""
        graph = self._graph
        assert graph is not None  # steps replay only on a stream that has CUDA graphs
        try:
            graph.run(self._bindings[k], self._graph_ids[k])
        except Exception as err:  # onnxruntime raises its own types when a capture fails
            graph.disable(f"capture failed: {' '.join(str(err).split())[:300]}")
            self._make_bindings()
            self._engine.run_binding(self._bindings[k], synchronize=True)

    def _bind_state(self, binding: Any, k: int) -> None:
        for (inp, out), cur, nxt in zip(
            self._sig.states, self._buffers[k], self._buffers[1 - k], strict=True
        ):
            binding.bind_ortvalue_input(inp.name, cur)
            binding.bind_ortvalue_output(out, nxt)

    def _bind_step(self, step_shape: tuple[int, ...]) -> None:
        """Make the step input buffer for ``step_shape`` (plus time axis), the output buffers where
        their shapes are known, and the two bindings around them."""
        sig = self._sig
        t = sig.x.time_axis
        shape = step_shape if t is None else step_shape[:t] + (1,) + step_shape[t:]
        device = self._engine.device if self._device_io else ("cpu", 0)
        value = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), sig.x.dtype.type, *device)
        host = np.zeros(shape, sig.x.dtype) if self._device_io else value.numpy()
        if self._device_io:
            value.update_inplace(host)
        self._x_value, self._x_host, self._step_shape = value, host, tuple(step_shape)
        self._x_view = host if t is None else host.reshape(step_shape)
        batch = step_shape[sig.x.batch_axis] if sig.x.batch_axis is not None else 1
        outputs = self._engine.step_outputs(batch) if self._device_io else None
        self._out_values = None
        if outputs is not None:
            self._out_values = [
                [ort.OrtValue.ortvalue_from_shape_and_type(list(s), d.type, *device) for s, d in outputs]
                for _ in (0, 1)
            ]
        self._make_bindings()

    def _make_bindings(self) -> None:
        """The two step bindings (state set k in, set 1-k out), on the capturing session when this
        stream replays CUDA graphs."""
        sig, graph = self._sig, self._graph
        self._replay = bool(graph is not None and graph.active and self._out_values and graph.session)
        session = None
        if self._replay and graph is not None:
            self._graph_ids = graph.new_ids(2)  # one captured graph per binding: the state sets swap
            session = graph.session
        self._bindings = []
        self._views: list[list[Any] | None] = [None, None]
        for k in (0, 1):
            binding = self._engine.io_binding(session)
            for name, value in (*self._extra.items(), *self._named_values.items()):
                binding.bind_ortvalue_input(name, value)
            binding.bind_ortvalue_input(sig.x.name, self._x_value)
            for i, name in enumerate(sig.outputs):
                if self._out_values is not None:
                    binding.bind_ortvalue_output(name, self._out_values[k][i])
                else:
                    binding.bind_output(name, *(self._engine.device if self._device_io else ("cpu", 0)))
            self._bind_state(binding, k)
            self._bindings.append(binding)

    def _grab_outputs(self, k: int) -> list[Any]:
        """After a binding's first run, pin the outputs at fixed addresses: on the CPU numpy views of
        them, on a device the values themselves (read by copying)."""
        binding = self._bindings[k]
        values = self._out_values[k] if self._out_values is not None else None
        if values is None:
            values = binding.get_outputs()[: len(self._sig.outputs)]
            for name, value in zip(self._sig.outputs, values, strict=True):
                binding.bind_ortvalue_output(name, value)
        views: list[Any]
        if self._device_io:
            views = list(values)
        else:
            axes = [self._sig.step_axes.get(n) for n in self._sig.outputs]
            views = [
                v.numpy() if a is None else _drop(v.numpy(), a) for v, a in zip(values, axes, strict=True)
            ]
        self._views[k] = views
        return views


class _Exclusive:
    """Take a stream's lock without waiting: a second thread in the same stream is a usage error."""

    __slots__ = ("_lock", "_what")

    def __init__(self, lock: threading.Lock, what: str) -> None:
        self._lock, self._what = lock, what

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            raise UnsupportedError(
                f"cannot {self._what} this stream: another thread is using it right now; a stream "
                "carries one sequence's state, so give each thread its own session.stream()"
            )

    def __exit__(self, *exc: object) -> None:
        self._lock.release()


def _read(value: Any, axis: int | None) -> np.ndarray:
    """Copy a device output to host memory, dropping its length-1 time ``axis``."""
    array = np.array(value.numpy(), copy=True)  # on the CPU numpy() is a view of the bound buffer
    return array if axis is None else _drop(array, axis)


def _drop(view: np.ndarray, axis: int) -> np.ndarray:
    """A view of ``view`` without its length-1 ``axis`` (``squeeze`` keeps it a view)."""
    return view.squeeze(axis) if view.shape[axis] == 1 else view
