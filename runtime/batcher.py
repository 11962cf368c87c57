"""Many streams, one session: a :class:`StreamBatcher` steps every live stream in one onnxruntime call.

Each :class:`StreamHandle` is one sequence with its own state, like a ``Stream`` of batch 1. A
*tick* gathers the steps given for it (``batcher.step({h1: x1, h2: x2})`` from one producer, or
``h.step(x)`` from many threads), runs them as one batched call, and hands every stream its own
output row; its state stays in a slot of preallocated, IO-bound buffers (:mod:`.slots`). With fp32
(and any variant without dynamic quantization) every handle's outputs equal an independent
``Stream`` fed the same inputs; dynamic int8 is checked first (:mod:`.coupling`).

Threads: ``h.step(x)`` (:mod:`.handle`) blocks until its tick has run. A tick runs once every open handle has a step
waiting, or, with ``max_wait_ms``, once the first waiting step is that old (then with the steps
that are there); the thread whose step completes the tick runs it and wakes the others.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, overload

import numpy as np

from .errors import InputError, UnsupportedError
from .handle import StreamHandle, Tick, failed, refuse_repeats, take
from .named import refuse_named
from .result import Result
from .slots import Slots
from .validate import as_input, check_tokens

_HAND_OUT_S = 5.0  # an interrupted wait whose tick has run waits at most this long for its result

if TYPE_CHECKING:
    from .coupling import Deviation
    from .session import Session


class StreamBatcher:
    """Steps up to ``max_batch`` streams of one session together (see the module docstring).

    ``max_wait_ms``: how long a step from ``h.step`` waits for the other open handles before its tick
    runs without them (None: until every open handle has a step). ``max_metric_drop``: the task-metric
    budget a dynamically quantized variant must keep when batched (relative, 1 % like
    ``edgernn quantize``); over it the batcher is refused (:attr:`deviation` holds what was measured).
    """

    def __init__(
        self,
        session: Session,
        max_batch: int = 64,
        *,
        max_wait_ms: float | None = None,
        max_metric_drop: float = 0.01,
        device_io: bool | None = None,
    ) -> None:
        if not isinstance(max_batch, int) or isinstance(max_batch, bool) or max_batch < 1:
            raise InputError(f"max_batch: expected a positive int, got {max_batch!r}")
        if max_wait_ms is not None and not max_wait_ms >= 0:
            raise InputError(f"max_wait_ms: expected a number >= 0 or None, got {max_wait_ms!r}")
        from .coupling import check_batching

        engine = session._engine
        engine.require_streamable()
        refuse_named(engine.sig.named, "StreamBatcher")
        engine.sig.check_batch(max_batch, f"batcher(max_batch={max_batch})")
        self.deviation: Deviation | None = check_batching(session, max_batch, max_metric_drop)
        self._engine, self._sig = engine, engine.sig
        self._slots = Slots(engine, max_batch, device_io=device_io)
        self.max_batch = max_batch
        self.max_wait_ms = max_wait_ms
        self._lock = threading.Lock()
        self._order: list[StreamHandle] = []  # open handles in slot order
        self._slot_of: dict[StreamHandle, int] = {}
        self._pending: dict[StreamHandle, np.ndarray] = {}  # h.step calls waiting for their tick
        self._deadline = 0.0  # when the oldest waiting step's tick runs anyway (max_wait_ms)
        self._numbers = itertools.count(1)
        self._arange = np.arange(max_batch)
        sig = self._sig
        self._step_dims = self._slots.step_dims
        self._names = tuple(n for i, n in enumerate(sig.x.axis_names) if i != sig.x.time_axis)
        self._main = engine.output_names.index(sig.main)
        out = engine.manifest.output
        self._result_kw: dict[str, Any] = {"kind": out.kind, "main": sig.main, "label_names": out.labels}

    # -- membership -------------------------------------------------------------------------------
    def open(self) -> StreamHandle:
        """A new stream with zero state; it takes part in the next tick it has a step for."""
        with self._lock:
            if len(self._order) >= self.max_batch:
                raise UnsupportedError(
                    f"open: this batcher already has max_batch={self.max_batch} open streams; close one, "
                    "or make a StreamBatcher with a larger max_batch"
                )
            handle = StreamHandle(self, next(self._numbers))
            source = np.append(self._arange[: len(self._order)], -1)
            self._slots.relayout(source)
            self._order.append(handle)
            self._slot_of[handle] = len(self._order) - 1
            return handle

    def _close(self, handle: StreamHandle) -> None:
        with self._lock:
            slot = self._slot_of.get(handle)
            if slot is None:
                return
            if handle in self._pending:
                raise UnsupportedError(f"cannot close {handle!r}: a step of it is waiting for its tick")
            keep = np.delete(self._arange[: len(self._order)], slot)
            self._slots.relayout(keep)
            del self._order[slot]
            del self._slot_of[handle]
            for i, h in enumerate(self._order[slot:], slot):
                self._slot_of[h] = i
            tick = None
            if self._pending and len(self._pending) >= len(self._order):  # the rest were waiting on it
                tick = self._run_pending()
        if tick is not None:
            tick.hand_out(None)

    def close(self) -> None:
        """Close every open handle."""
        for handle in list(self._order):
            handle.close()

    @property
    def handles(self) -> tuple[StreamHandle, ...]:
        """The open handles, in slot order."""
        return tuple(self._order)

    def __len__(self) -> int:
        return len(self._order)

    def __iter__(self) -> Iterator[StreamHandle]:
        return iter(self.handles)

    # -- one producer -----------------------------------------------------------------------------
    def step(self, steps: Mapping[StreamHandle, Any]) -> dict[StreamHandle, Result]:
        """One tick: step each handle of ``steps`` (handle -> ``[1, features]`` raw values) in one call;
        returns each handle's :class:`Result`. Steps waiting from ``h.step`` in other threads join it."""
        if type(steps) is not dict and not isinstance(steps, Mapping):
            raise InputError(f"steps: expected a dict of handle -> step input, got {type(steps).__name__}")
        handles, xs = list(steps), list(steps.values())
        own = len(handles)
        with self._lock:
            if handles == self._order and not self._pending:  # every open stream, in slot order
                return dict(zip(handles, self._tick(handles, xs, None), strict=True))
            try:
                slots = list(map(self._slot_of.__getitem__, handles))
            except (KeyError, TypeError):
                self._refuse_handles(handles)
            if len(set(slots)) != own or len(xs) != own:
                refuse_repeats(handles, len(xs))
            if self._pending:
                self._refuse_pending(handles)
                waiting = list(self._pending)
                handles += waiting
                xs += [self._pending[h] for h in waiting]
                slots += [self._slot_of[h] for h in waiting]
                self._pending.clear()
            try:
                results = self._tick(handles, xs, slots)
            except InputError:  # one of our steps is bad; the waiting ones wait for the next tick
                self._pending.update(zip(handles[own:], xs[own:], strict=True))
                raise
            except BaseException as err:  # an interrupt too: the waiting threads must not wait forever
                Tick(handles[own:], [failed(err)] * (len(handles) - own)).hand_out(None)
                raise
        if len(handles) > own:
            Tick(handles[own:], results[own:]).hand_out(None)
        return dict(zip(handles[:own], results[:own], strict=True))

    # -- the tick ---------------------------------------------------------------------------------
    def _tick(self, handles: list[StreamHandle], xs: list[Any], slots: list[int] | None) -> list[Result]:
        """Run one batched step of ``handles`` (under the lock; ``slots`` None: they are every open
        handle in slot order); returns their results in order."""
        m = len(handles)
        if not m:
            return []
        view = self._slots.x_rows(m)
        self._fill(view, handles, xs)
        order = None
        if slots is None:
            outputs = self._slots.run_all()
        elif m == len(self._order):  # every open stream steps: state stays in place
            order = np.fromiter(slots, np.intp, m)
            view[(slice(None),) * self._slots.row_axis + (order,)] = view.copy()  # into slot order
            outputs = self._slots.run_all()
        else:
            outputs = self._slots.run_rows(np.fromiter(slots, np.intp, m))
        for h in handles:
            h.steps += 1
        return self._results(outputs, order)

    def _fill(self, view: np.ndarray, handles: list[StreamHandle], xs: list[Any]) -> None:
        """Write the steps into the bound input (in ``handles`` order) and normalise them there.

        The common case costs one ``concatenate``: it refuses a step of another rank or feature count,
        and one row per step (the row count matches and none is empty) leaves only the batch size to
        check; anything else is checked step by step, naming the handle."""
        sig, axis = self._sig, self._slots.row_axis
        try:  # casting="no": a step of another dtype (bool, float64) goes through the full check
            np.concatenate(xs, axis=axis, out=view, casting="no")
            fast = axis == 0 and min(map(len, xs)) == 1
        except (ValueError, TypeError):
            fast = False
        if not fast:
            xs = [self._check(h, x) for h, x in zip(handles, xs, strict=True)]
            np.concatenate(xs, axis=axis, out=view)
        if sig.x.dtype.kind == "f" and not np.isfinite(view).all():
            bad = np.flatnonzero(~np.isfinite(view).reshape(len(handles), -1).all(axis=1))
            names = ", ".join(repr(handles[i]) for i in bad[:3])
            raise InputError(f"input {sig.x.name!r}: NaN or Inf in the step of {names}")
        if self._engine.tokens:
            check_tokens(sig.x.name, view, self._engine.manifest.input.vocab_size, view.shape)
        if sig.in_scale is not None:
            np.subtract(view, sig.in_scale[0], out=view)
            np.divide(view, sig.in_scale[1], out=view)

    def _check(self, handle: StreamHandle, x: Any) -> np.ndarray:
        try:
            return as_input(self._sig.x.name, x, self._step_dims, self._sig.x.dtype, names=self._names)
        except InputError as err:
            raise InputError(f"{handle!r}: {err}") from None

    def _results(self, outputs: list[np.ndarray], order: np.ndarray | None) -> list[Result]:
        """One :class:`Result` per row; ``order[i]`` is the row of the ``i``-th handle (None: row ``i``)."""
        rows = [_rows(arr, o.row_axis) for arr, o in zip(outputs, self._slots.outputs, strict=True)]
        main = outputs[self._main]
        scale = self._sig.out_scale
        if scale is None:
            main_rows = rows[self._main]
        else:
            main_rows = _rows(main * scale[1] + scale[0], self._slots.outputs[self._main].row_axis)
        names = self._engine.output_names
        if order is not None:
            rows = [[r[i] for i in order] for r in rows]
            main_rows = [main_rows[i] for i in order]
        return Result.per_row(main_rows, rows, names, **self._result_kw)

    # -- many producers ---------------------------------------------------------------------------
    def _submit(self, handle: StreamHandle, x_t: Any) -> Result:
        """``h.step``: queue one step; run the tick if it completes one, else wait for it."""
        dims, dtype = self._step_dims, self._sig.x.dtype
        x = (
            x_t
            if type(x_t) is np.ndarray and x_t.shape == dims and x_t.dtype == dtype
            else self._check(handle, x_t)
        )
        if dtype.kind == "f" and not np.isfinite(x).all():
            raise InputError(f"{handle!r}: input {self._sig.x.name!r}: NaN or Inf in the step")
        if self._engine.tokens:  # checked here, so that a bad step fails its own thread only
            try:
                check_tokens(self._sig.x.name, x, self._engine.manifest.input.vocab_size, dims)
            except InputError as err:
                raise InputError(f"{handle!r}: {err}") from None
        with self._lock:
            self._slot(handle, "step")
            pending = self._pending
            if handle in pending:
                raise UnsupportedError(
                    f"{handle!r} already has a step waiting for its tick; a handle steps once per tick, "
                    "so give each thread its own handle"
                )
            pending[handle] = x
            if len(pending) >= len(self._order):
                tick = self._run_pending()
            else:
                tick = None
                if len(pending) == 1 and self.max_wait_ms is not None:
                    self._deadline = time.monotonic() + self.max_wait_ms / 1000
                deadline = self._deadline
        if tick is not None:
            return tick.hand_out(handle)
        return self._wait(handle, deadline)

    def _wait(self, handle: StreamHandle, deadline: float) -> Result:
        done, woken = handle._done, False
        try:
            if self.max_wait_ms is None:
                woken = done.acquire()
            else:
                woken = done.acquire(timeout=max(deadline - time.monotonic(), 0))
            if not woken:
                with self._lock:  # nobody ran our tick in time: run it with the steps that are here
                    tick = self._run_pending() if handle in self._pending else None
                if tick is not None:
                    woken = True
                    return tick.hand_out(handle)
                woken = done.acquire()  # our tick ran meanwhile and is handing its results out
        except BaseException:
            if not woken:
                self._withdraw(handle)
            raise
        return take(handle)

    def _withdraw(self, handle: StreamHandle) -> None:
        """An interrupted wait (a signal, Ctrl-C): take the step back if its tick has not run (the
        stream is as it was), else take the result the tick is handing out and drop it (the step ran).
        Either way the handle's next step waits for, and gets, its own result."""
        with self._lock:
            if self._pending.pop(handle, None) is not None:
                return
        handle._done.acquire(timeout=_HAND_OUT_S)  # the tick has run: its hand-out is under way
        handle._result = None

    def _run_pending(self) -> Tick:
        """Run the waiting steps as one tick (under the lock); its results are handed out after."""
        handles = list(self._pending)
        xs = list(self._pending.values())
        self._pending.clear()
        slots = None if handles == self._order else [self._slot_of[h] for h in handles]
        try:
            results = self._tick(handles, xs, slots)
        except BaseException as err:  # every waiting thread learns why its step did not run
            return Tick(handles, [failed(err)] * len(handles))
        return Tick(handles, results)

    # -- per-handle state -------------------------------------------------------------------------
    @overload
    def _slot(self, handle: StreamHandle, what: str) -> int: ...
    @overload
    def _slot(self, handle: StreamHandle, what: None) -> int | None: ...
    def _slot(self, handle: StreamHandle, what: str | None) -> int | None:
        slot = self._slot_of.get(handle)
        if slot is None and what is not None:
            raise UnsupportedError(f"cannot {what} {handle!r}: it is closed; open a new handle")
        return slot

    def _reset(self, handle: StreamHandle) -> None:
        self._write_state(handle, None)

    def _read_state(self, handle: StreamHandle) -> dict[str, np.ndarray]:
        with self._lock:
            return self._slots.read(self._slot(handle, "read the state of"))

    def _write_state(self, handle: StreamHandle, value: Mapping[str, Any] | None) -> None:
        checked = None if value is None else self._engine.check_state(value, 1)
        what = "reset" if value is None else "set the state of"
        with self._lock:
            slot = self._slot(handle, what)
            if handle in self._pending:
                raise UnsupportedError(f"cannot {what} {handle!r}: a step of it is waiting for its tick")
            self._slots.write(slot, checked)
            if value is None:
                handle.steps = 0

    def _refuse_handles(self, handles: list[Any]) -> None:
        for h in handles:
            if not isinstance(h, StreamHandle) or h._batcher is not self:
                raise InputError(f"steps: expected handles opened by this batcher, got {h!r}")
            self._slot(h, "step")

    def _refuse_pending(self, handles: list[StreamHandle]) -> None:
        for h in handles:
            if h in self._pending:
                raise UnsupportedError(
                    f"{h!r} already has a step waiting for its tick (h.step in another thread); a tick "
                    "steps each handle once"
                )


def _rows(array: np.ndarray, axis: int) -> list[np.ndarray]:
    """``array``'s rows along ``axis`` as views, each keeping that axis at length 1."""
    if axis == 0:
        return list(array[:, None])
    return [np.moveaxis(r, 0, axis) for r in np.moveaxis(array, axis, 0)[:, None]]
