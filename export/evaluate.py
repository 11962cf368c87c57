"""Score a bundle variant on held-back data, compare it with fp32, and time it (CPU, 1 thread)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgernn.runtime import Session
from edgernn.runtime.arrayfiles import check_arrays, read_npz
from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import InputError
from edgernn.runtime.manifest import Manifest
from edgernn.runtime.metrics import task_metric
from edgernn.runtime.records import Metric
from edgernn.runtime.vocab import ROLE_DATA


@dataclass(frozen=True)
class EvalData:
    """Held-back data in raw units: ``x`` ``[n, time(, features)]``, targets ``y``, optional lengths."""

    x: np.ndarray
    y: np.ndarray | None
    lengths: np.ndarray | None = None
    calib_x: np.ndarray | None = None
    mask: np.ndarray | None = None  # which targets count (e.g. forecast steps past the warm-up)
    cond: np.ndarray | None = None  # one_to_many: the conditioning vectors
    source: str = ""

    @classmethod
    def load(cls, path: str | Path) -> EvalData:
        """Read an ``.npz`` with arrays ``x``, ``y`` and optional ``lengths``/``calib_x`` (never pickles)."""
        path = Path(path)
        return cls.from_arrays(read_npz(path), path)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str | Path = "") -> EvalData:
        """The held-back data from named arrays already in memory (a :class:`TrainedRun`'s test
        split), checked as :meth:`load` checks a file's."""
        check_arrays(source, arrays)
        get = arrays.get
        return cls(
            arrays["x"], get("y"), get("lengths"), get("calib_x"), get("mask"), get("cond"), str(source)
        )


def score(session: Session, data: EvalData, batch: int = 256) -> tuple[Metric, np.ndarray]:
    """The task metric of ``session`` on ``data``: accuracy (classes), RMSE in real units (regression),
    nll in nats per token (tokens); the same names and units as training's summary. Returns the metric and the raw model outputs."""
    manifest = session.manifest
    outs = []
    for start in range(0, len(data.x), batch):
        lengths = data.lengths[start : start + batch] if data.lengths is not None else None
        state = _counter(manifest, data, slice(start, start + batch))
        result = session.run(
            data.x[start : start + batch], lengths=lengths if manifest.input.lengths else None, state=state
        )
        outs.append(result.output)
    pred = np.concatenate(outs)
    return metric_of(manifest, data, pred), pred


def score_stream(session: Session, data: EvalData, limit: int = 64) -> tuple[Metric, Metric] | None:
    """The metric of the first ``limit`` sequences streamed step by step (batch 1, state carried, as a
    device streams), and of the same sequences run whole; None for models that do not stream."""
    manifest = session.manifest
    if not manifest.streamable or manifest.topology == "one_to_many" or manifest.input.lengths:
        return None
    part = dataclasses.replace(
        data,
        **{
            k: getattr(data, k)[:limit] for k in ("x", "y", "lengths", "mask") if getattr(data, k) is not None
        },
    )
    whole, pred = score(session, part)
    streamed = np.zeros_like(pred)
    for i in range(len(part.x)):
        steps = int(part.lengths[i]) if part.lengths is not None else part.x.shape[1]
        stream = session.stream(1)
        counter = _counter(manifest, part, slice(i, i + 1))
        if counter:
            stream.state = {**stream.state, **counter}
        outs = [stream.step(part.x[i : i + 1, t]).output[0] for t in range(steps)]
        if manifest.topology == "many_to_one":
            streamed[i] = outs[-1]
        else:
            streamed[i, :steps] = np.stack(outs)
    return metric_of(manifest, part, streamed), whole


def _counter(manifest: Manifest, data: EvalData, rows: slice) -> dict[str, np.ndarray] | None:
    """A forecaster with calendar features counts rows: each eval sequence starts at its own row
    (``cond`` holds it), which the graph's counter state must be set to."""
    counter = manifest.series.counter if manifest.series is not None else None
    if counter is None or data.cond is None:
        return None
    dtype = next((np.dtype(s.dtype) for s in manifest.state if s.input == counter), np.dtype(np.float32))
    start = data.cond[rows].reshape(-1).astype(dtype)  # float64 counters count exactly past 2**24
    return {counter: start.reshape(1, -1, 1)}


def metric_of(manifest: Manifest, data: EvalData, pred: np.ndarray) -> Metric:
    """The task metric of raw model outputs ``pred`` against ``data``'s targets (see :func:`score`)."""
    if data.y is None:
        raise InputError(f"{data.source}: expected targets 'y' to score the model, found none")
    return task_metric(manifest, pred, data.y, data.lengths, data.mask)


def p50_latency_ms(session: Session, x: np.ndarray, *, warmup: int = 5, iters: int = 50) -> float:
    """Median wall time of ``session.run`` on ``x`` (batch 1 is what an edge device sees)."""
    for _ in range(warmup):
        session.run(x)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter_ns()
        session.run(x)
        times.append(time.perf_counter_ns() - t0)
    return float(np.median(times)) / 1e6


def bundle_eval_data(bundle: Bundle, eval_path: str | Path | None) -> EvalData:
    """The data to score variants on: ``eval_path`` when given, else the evaluation data the bundle ships."""
    if eval_path is not None:
        return EvalData.load(eval_path)
    data_files = [
        rel for rel, e in bundle.manifest.files.items() if e.role == ROLE_DATA and rel.endswith(".npz")
    ]
    if not data_files:
        raise InputError(
            f"{bundle.root}: the bundle ships no evaluation data; pass --eval FILE.npz (arrays x, y) "
            "to score the variants (and --calib FILE.npz for int8-static)"
        )
    return EvalData.load(bundle.file(data_files[0]))


def check_eval_shape(bundle: Bundle, x: np.ndarray, what: str) -> None:
    """Refuse ``what`` data (eval, calib) that does not fit the bundle's input, naming both shapes."""
    spec = bundle.manifest.input
    want = ("n", "time") if spec.kind == "tokens" else ("n", "time", spec.features)
    ok = x.ndim == len(want) and (spec.kind == "tokens" or x.shape[-1] == spec.features)
    ok = ok and (
        np.issubdtype(x.dtype, np.integer) if spec.kind == "tokens" else np.issubdtype(x.dtype, np.number)
    )
    if not ok or len(x) == 0:
        raise InputError(
            f"{what} data for input {spec.name!r}: expected shape [{', '.join(map(str, want))}] "
            f"({'int' if spec.kind == 'tokens' else 'float'}), got {list(x.shape)} {x.dtype}"
        )
