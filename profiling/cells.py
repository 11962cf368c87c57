"""What one cell of a sweep feeds and times: input shapes, random inputs, runners, the interleaved timer.

Only ``Session.run`` / ``Stream.step`` sit between the two ``perf_counter_ns`` reads; inputs are drawn
before timing, fresh random values from the manifest's spec (never zeros), a pool of distinct
sequences rotated call by call. Several runners (onnxruntime and baselines) are interleaved in
blocks of about 10 ms, alternating which goes first, so machine noise hits them alike while each
still runs cache-warm as it would when deployed.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from edgernn.runtime.errors import InputError
from edgernn.runtime.limits import check_tensor_bytes
from edgernn.runtime.signature import TensorSig
from edgernn.runtime.validate import describe

from .config import DEFAULT_BATCH, DEFAULT_SEQ, FREE_DIM_DEFAULT, ProfileConfig

POOL = 8  # distinct random sequences per cell, rotated
BLOCK_S = 0.01  # interleaving block: long enough to keep each side cache-warm, short enough to share noise


class Runner(Protocol):
    """A timed callable: ``runner(i)`` runs input ``i`` of the pool and returns the main output."""

    def reset(self) -> None:
        """Start a new sequence (stream mode; untimed)."""

    def __call__(self, i: int) -> np.ndarray: ...


@dataclass(frozen=True)
class ShapePlan:
    """How a sweep fills the data input's dims: fixed, pinned or defaulted axes, and the swept ones."""

    x: TensorSig
    fixed: tuple[int | None, ...]  # per axis; None where batch or time is swept
    batches: tuple[int, ...]
    seqs: tuple[int | None, ...]  # None: the input has no time axis (one call is one frame)
    notes: tuple[str, ...]

    def shape(self, batch: int, seq: int | None) -> tuple[int, ...]:
        """The data input's shape for one call (time axis at ``seq``)."""
        sizes = {self.x.batch_axis: batch, self.x.time_axis: seq}
        return tuple(sizes[i] if d is None else d for i, d in enumerate(self.fixed))

    def describe(self) -> str:
        """``x [batch, time, 40] float32``: the data input as the graph declares it."""
        dims = [str(d) for d in self.x.dims]
        return f"{self.x.name} [{', '.join(dims)}] {self.x.dtype.name}"


def plan_shapes(x: TensorSig, config: ProfileConfig) -> ShapePlan:
    """Resolve batch/time sweeps and every other dim against the graph; free dims get a shown default."""
    pin = config.shape_pins().get(x.name)
    if pin is not None and len(pin) != len(x.dims):
        raise InputError(
            f"--input {x.name}: expected {len(x.dims)} dims like {describe(x.dims, x.dtype)}, got {len(pin)}"
        )
    fixed: list[int | None] = []
    notes = []
    for axis, d in enumerate(x.dims):
        p = pin[axis] if pin is not None else None
        if axis in (x.batch_axis, x.time_axis):
            fixed.append(None)
        elif isinstance(d, int):
            if p is not None and p != d:
                raise InputError(
                    f"--input {x.name}: axis {axis} is fixed at {d} by the model "
                    f"({describe(x.dims, x.dtype)}), got {p}"
                )
            fixed.append(d)
        else:
            fixed.append(p if p is not None else FREE_DIM_DEFAULT)
            if p is None:
                notes.append(
                    f"input {x.name!r} axis {axis} ({d!r}) is free: using {FREE_DIM_DEFAULT} "
                    f"(pin it with --input {x.name}=...)"
                )
    batches = _sweep(x, pin, x.batch_axis, config.batch_sizes, "--batch", "batch")
    if x.time_axis is None and config.mode == "sequence":
        if config.seq_lens is not None:
            raise InputError(
                f"--seq: input {x.name!r} {describe(x.dims, x.dtype)} has no time axis, so each call is one "
                "frame; time N-frame streams with --mode stream --seq N"
            )
        seqs: tuple[int | None, ...] = (None,)
    elif x.time_axis is None:
        seqs = config.seq_lens or (DEFAULT_SEQ,)  # stream mode: frames per stream before a reset
    else:
        seqs = _sweep(x, pin, x.time_axis, config.seq_lens, "--seq", "time")
    return ShapePlan(x, tuple(fixed), batches, seqs, tuple(notes))


def _sweep(x: TensorSig, pin, axis: int | None, asked, flag: str, what: str) -> tuple[int, ...]:
    default = DEFAULT_BATCH if what == "batch" else DEFAULT_SEQ
    if axis is None:
        if asked is not None and tuple(asked) != (1,):
            raise InputError(
                f"{flag}: input {x.name!r} {describe(x.dims, x.dtype)} has no free {what} axis, "
                f"so only 1 fits, got {','.join(map(str, asked))}"
            )
        return (1,)
    pinned = pin[axis] if pin is not None else None
    if pinned is None:
        return tuple(asked) if asked is not None else (default,)
    if asked is not None and set(asked) != {pinned}:
        raise InputError(
            f"--input {x.name}: pins the {what} axis to {pinned}, but {flag} asks for "
            f"{','.join(map(str, asked))}; write * for that axis to sweep it"
        )
    return (pinned,)


def random_inputs(session: Any, shape: tuple[int, ...], rng: np.random.Generator, count: int) -> list:
    """``count`` arrays in raw units: normal around the manifest's mean/std, or token ids below vocab."""
    x = session.signature.x
    check_tensor_bytes(f"--batch/--seq: {count} random inputs of shape {list(shape)}", (count, *shape), 8)
    out = []
    for _ in range(count):
        if x.dtype.kind in "iu":
            high = session.manifest.input.vocab_size or 16
            out.append(rng.integers(0, high, size=shape).astype(x.dtype))
            continue
        z = rng.standard_normal(shape).astype(np.float32)
        scale = session.signature.in_scale
        if scale is not None:
            z = z * scale[1] + scale[0]
        out.append(np.ascontiguousarray(z, dtype=x.dtype))
    return out


def split_steps(arrays: Sequence[np.ndarray], axis: int) -> list[list[np.ndarray]]:
    """Each sequence as a list of contiguous steps along ``axis``."""
    return [[np.ascontiguousarray(np.take(a, t, axis=axis)) for t in range(a.shape[axis])] for a in arrays]


class SessionRunner:
    """Whole sequences through :meth:`Session.run` (zero initial state each call)."""

    def __init__(self, session: Any, pool: Sequence[np.ndarray]) -> None:
        self._run, self._pool, self._main = session.run, list(pool), session.signature.main

    def reset(self) -> None:
        pass

    def __call__(self, i: int) -> np.ndarray:
        return self._run(self._pool[i % len(self._pool)]).outputs[self._main]


class StreamRunner:
    """Steps through :meth:`Stream.step`, state carried; ``reset`` starts the next sequence."""

    def __init__(self, session: Any, sequences: Sequence[Sequence[np.ndarray]], batch: int) -> None:
        self._stream = session.stream(batch)
        self._seqs, self._steps = list(sequences), len(sequences[0])
        self._main = session.signature.main

    def reset(self) -> None:
        self._stream.reset()

    def __call__(self, i: int) -> np.ndarray:
        seq = self._seqs[(i // self._steps) % len(self._seqs)]
        return self._stream.step(seq[i % self._steps]).outputs[self._main]


def stream_rows(session: Any, sequences: Sequence[Sequence[np.ndarray]]) -> list[list[list[np.ndarray]]]:
    """Each batched step of ``sequences`` cut into one-stream steps (row ``i``, kept at length 1)."""
    x = session.signature.x
    axis = x.batch_axis or 0
    axis -= x.time_axis is not None and x.time_axis < axis  # steps have no time axis
    if axis == 0:
        return [[list(step[:, None]) for step in seq] for seq in sequences]
    return [[[np.take(s, [i], axis=axis) for i in range(s.shape[axis])] for s in seq] for seq in sequences]


class BatcherRunner:
    """``streams`` one-sequence streams stepped together: one :class:`StreamBatcher` tick per call,
    state carried; ``reset`` starts the next sequences. Returns every stream's main output."""

    def __init__(self, session: Any, sequences: Sequence[Sequence[np.ndarray]], streams: int) -> None:
        self.batcher = session.batcher(max_batch=streams)
        self._handles = [self.batcher.open() for _ in range(streams)]
        rows = stream_rows(session, sequences)
        self._ticks = [[dict(zip(self._handles, r, strict=True)) for r in seq] for seq in rows]
        self._steps, self._main = len(sequences[0]), session.signature.main

    def reset(self) -> None:
        for h in self._handles:
            h.reset()

    def __call__(self, i: int) -> list[np.ndarray]:
        tick = self._ticks[(i // self._steps) % len(self._ticks)][i % self._steps]
        return [r.outputs[self._main] for r in self.batcher.step(tick).values()]


class IndependentRunner:
    """The same streams as :class:`BatcherRunner`, each a ``Stream`` of batch 1 stepped on its own."""

    def __init__(self, session: Any, sequences: Sequence[Sequence[np.ndarray]], streams: int) -> None:
        self._streams = [session.stream(1) for _ in range(streams)]
        rows = stream_rows(session, sequences)
        self._rows = [[list(zip(self._streams, r, strict=True)) for r in seq] for seq in rows]
        self._steps, self._main = len(sequences[0]), session.signature.main

    def reset(self) -> None:
        for s in self._streams:
            s.reset()

    def __call__(self, i: int) -> list[np.ndarray]:
        rows = self._rows[(i // self._steps) % len(self._rows)][i % self._steps]
        return [s.step(x).outputs[self._main] for s, x in rows]


def first_call_ms(runner: Runner) -> float:
    """Time the very first call (input 0) of a fresh runner."""
    runner.reset()
    t0 = time.perf_counter_ns()
    runner(0)
    return (time.perf_counter_ns() - t0) / 1e6


def block_calls(per_call_s: float) -> int:
    """Calls per interleaving block for a runner whose call takes ``per_call_s``: about ``BLOCK_S``."""
    return max(1, min(1000, round(BLOCK_S / max(per_call_s, 1e-7))))


def time_interleaved(
    runners: Mapping[str, Runner],
    *,
    warmup: int,
    iters: int | None,
    duration_s: float | None,
    steps: int | None,
) -> dict[str, list[int]]:
    """Warm each runner up, then time ``iters`` calls each (or until ``duration_s`` has passed).

    Runners take turns in blocks of about ``BLOCK_S`` each (their own call count, from the warm-up),
    and which goes first alternates. ``steps``: stream mode, reset before every ``steps``-th call.
    """
    blocks = {}
    for name, r in runners.items():
        t0 = time.perf_counter()
        for i in range(1, warmup + 1):
            r(i)
        blocks[name] = block_calls((time.perf_counter() - t0) / warmup) if warmup else 1
        r.reset()
    samples: dict[str, list[int]] = {name: [] for name in runners}
    items = list(runners.items())
    deadline = None if duration_s is None else time.perf_counter() + duration_s
    clock, k = time.perf_counter_ns, 0
    gc_was = gc.isenabled()
    gc.disable()
    try:
        while True:
            for name, r in items if k % 2 == 0 else items[::-1]:
                out = samples[name]
                start = len(out)
                stop = start + blocks[name] if iters is None else min(start + blocks[name], iters)
                for i in range(start, stop):
                    if steps and i % steps == 0:
                        r.reset()
                    t0 = clock()
                    r(i)
                    out.append(clock() - t0)
            k += 1
            if iters is not None and all(len(v) >= iters for v in samples.values()):
                break
            if deadline is not None and time.perf_counter() >= deadline:
                break
    finally:
        if gc_was:
            gc.enable()
    return samples


def max_abs_diff(a: Runner, b: Runner, count: int, steps: int | None) -> float:
    """Largest absolute difference between two runners' outputs on inputs ``0 .. count-1``."""
    a.reset()
    b.reset()
    worst = 0.0
    for i in range(count):
        if steps and i and i % steps == 0:
            a.reset()
            b.reset()
        ya, yb = np.asarray(a(i), np.float64), np.asarray(b(i), np.float64)
        if ya.shape != yb.shape:
            raise InputError(f"baseline output: expected shape {list(ya.shape)}, got {list(yb.shape)}")
        worst = max(worst, float(np.max(np.abs(ya - yb))))
    return worst
