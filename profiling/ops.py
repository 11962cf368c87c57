"""Per-op breakdown of one cell: the same graph, provider and threads under onnxruntime's profiler.

A separate session with ``enable_profiling`` runs the cell's inputs (model space, state carried in
stream mode) outside the timed loop, since profiling itself costs time; warm-up runs are dropped
from the trace before the totals are taken.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .stats import OpBreakdown, parse_trace


def trace_ops(
    session: Any,
    pool: Sequence[Any],
    *,
    steps: int | None,
    warmup: int,
    runs: int,
    top: int,
) -> OpBreakdown:
    """Profile ``warmup + runs`` calls on ``pool`` (model-space sequences, or per-step lists when
    ``steps`` is set: stream mode) and aggregate the trace of the last ``runs``."""
    sig = session.signature
    names = list(sig.outputs) + [out for _, out in sig.states]
    state_names = [inp.name for inp, _ in sig.states]
    with tempfile.TemporaryDirectory(prefix="edgernn-ops-") as tmp:
        sess = session.profiling_session(str(Path(tmp) / "ops"))  # the same checked bytes
        state: dict[str, np.ndarray] = {}
        for i in range(warmup + runs):
            if steps is None:
                x = pool[i % len(pool)]
            else:
                x = pool[(i // steps) % len(pool)][i % steps]
                if sig.x.time_axis is not None:
                    x = np.expand_dims(x, sig.x.time_axis)
            batch = x.shape[sig.x.batch_axis] if sig.x.batch_axis is not None else 1
            if steps is None or i % steps == 0:
                state = sig.zero_state(batch)
            feed = {sig.x.name: x, **sig.constants, **state}
            if sig.lengths is not None:
                feed[sig.lengths] = np.full(batch, x.shape[sig.x.time_axis], np.int64)
            values = sess.run(names, feed)
            if steps is not None:
                state = dict(zip(state_names, values[len(sig.outputs) :], strict=True))
        trace = Path(sess.end_profiling())
        events = json.loads(trace.read_text(encoding="utf-8"))
    return parse_trace(events, skip_runs=warmup, top=top)
