"""A :class:`Stream` owns the recurrent state of ``batch`` sequences; many streams share one Session.

State stays in onnxruntime values between steps (IO binding): two buffer sets swap roles each step,
one read as ``h0``/``c0`` while the other is written as ``hn``/``cn``, so no state crosses to numpy
unless :attr:`Stream.state` is read. A step binds everything once and copies only ``x`` in and ``y``
out. A stream is not itself thread-safe: use one stream per thread at a time.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ._ort import ort
from .engine import Engine
from .errors import InputError
from .result import Result
from .validate import as_input, check_tokens


def _ortvalue(array: np.ndarray, device: tuple[str, int]) -> Any:
    value = ort.OrtValue.ortvalue_from_shape_and_type(list(array.shape), array.dtype.type, *device)
    value.update_inplace(np.ascontiguousarray(array))
    return value


class Stream:
    """Carried state for ``batch`` sequences fed step by step (``step``) or chunk by chunk (``feed``)."""

    def __init__(self, engine: Engine, batch: int = 1) -> None:
        """Made by :meth:`Session.stream`; ``engine`` is the session's loaded graph."""
        engine.require_streamable()
        if not isinstance(batch, int) or isinstance(batch, bool) or batch < 1:
            raise InputError(f"batch: expected a positive int, got {batch!r}")
        self._engine = engine
        self._sig = sig = engine.sig
        self._tokens = engine.tokens
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
        if sig.lengths is not None:
            self._extra[sig.lengths] = _ortvalue(np.ones(batch, np.int64), ("cpu", 0))
        names = x.axis_names
        self._step_names = names if x.time_axis is None else names[: x.time_axis] + names[x.time_axis + 1 :]
        self._feed = self._new_binding()
        self._step_shape: tuple[int, ...] | None = None
        if all(isinstance(d, int) for d in self._step_dims):
            self._bind_step(self._step_dims)

    def reset(self) -> None:
        """Clear all state: zero every state buffer and the step count."""
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
        for (inp, _), buffer in zip(self._sig.states, self._buffers[self._k], strict=True):
            buffer.update_inplace(np.ascontiguousarray(checked[inp.name]))

    def step(self, x_t: Any) -> Result:
        """Feed one time step (``[batch, features]``, raw values); returns that step's outputs.

        For a many_to_one model the output is the running prediction after this step.
        """
        sig = self._sig
        fast = type(x_t) is np.ndarray and x_t.shape == self._step_shape and x_t.dtype == sig.x.dtype
        if not (fast and not self._tokens and np.isfinite(x_t).all()):
            x_t = as_input(sig.x.name, x_t, self._step_dims, sig.x.dtype, names=self._step_names)
            if self._tokens:
                check_tokens(sig.x.name, x_t, self._engine.manifest.input.vocab_size, self._step_dims)
        self.write_step(x_t, scale=True)
        return self._engine.result(self.run_step())

    def feed(self, chunk: Any) -> Result:
        """Feed ``[batch, time, features]`` raw values in one call; returns their outputs, carrying state."""
        sig = self._sig
        if sig.x.time_axis is None:
            return self.step(chunk)
        x = self._engine.prepare_input(chunk, dims=self._chunk_dims, fixed=None)
        binding, k = self._feed, self._k
        binding.bind_cpu_input(sig.x.name, x)
        if sig.lengths is not None:
            binding.bind_cpu_input(sig.lengths, np.full(self.batch, x.shape[sig.x.time_axis], np.int64))
        for name in sig.outputs:
            binding.bind_output(name, "cpu")
        self._bind_state(binding, k)
        self._engine.run_binding(binding)
        values = binding.copy_outputs_to_cpu()[: len(sig.outputs)]
        self._k = 1 - k
        self.steps += x.shape[sig.x.time_axis]
        return self._engine.result(values)

    # Used by generate too, which feeds model-space values back.
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

    def run_step(self) -> list[np.ndarray]:
        """Run one bound step; returns copies of the data outputs with the time axis dropped."""
        k = self._k
        binding = self._bindings[k]
        self._engine.run_binding(binding)
        views = self._views[k]
        if views is None:
            views = self._grab_outputs(k)
        self._k = 1 - k
        self.steps += 1
        return [v.copy() for v in views]

    def _new_binding(self) -> Any:
        binding = self._engine.io_binding()
        for name, value in self._extra.items():
            binding.bind_ortvalue_input(name, value)
        return binding

    def _bind_state(self, binding: Any, k: int) -> None:
        for (inp, out), cur, nxt in zip(
            self._sig.states, self._buffers[k], self._buffers[1 - k], strict=True
        ):
            binding.bind_ortvalue_input(inp.name, cur)
            binding.bind_ortvalue_output(out, nxt)

    def _bind_step(self, step_shape: tuple[int, ...]) -> None:
        """(Re)build the two step bindings around one input buffer of ``step_shape`` (plus time axis)."""
        sig = self._sig
        t = sig.x.time_axis
        shape = step_shape if t is None else step_shape[:t] + (1,) + step_shape[t:]
        value = ort.OrtValue.ortvalue_from_shape_and_type(list(shape), sig.x.dtype.type, "cpu", 0)
        buffer = value.numpy()
        self._x_value, self._step_shape = value, tuple(step_shape)
        self._x_view = buffer if t is None else buffer.reshape(step_shape)
        self._bindings, self._views, self._out_values = [], [None, None], [None, None]
        for k in (0, 1):
            binding = self._new_binding()
            binding.bind_ortvalue_input(sig.x.name, value)
            for name in sig.outputs:
                binding.bind_output(name, "cpu")
            self._bind_state(binding, k)
            self._bindings.append(binding)

    def _grab_outputs(self, k: int) -> list[np.ndarray]:
        """After a binding's first run, pin the outputs onnxruntime allocated and keep numpy views."""
        binding = self._bindings[k]
        values = binding.get_outputs()[: len(self._sig.outputs)]
        views = []
        for name, value in zip(self._sig.outputs, values, strict=True):
            binding.bind_ortvalue_output(name, value)
            view = value.numpy()
            axis = self._sig.step_axes.get(name)
            views.append(view if axis is None else _drop(view, axis))
        self._out_values[k], self._views[k] = values, views
        return views


def _drop(view: np.ndarray, axis: int) -> np.ndarray:
    """A view of ``view`` without its length-1 ``axis`` (``squeeze`` keeps it a view)."""
    return view.squeeze(axis) if view.shape[axis] == 1 else view
