"""Score a bundle variant on held-back data, compare it with fp32, and time it (CPU, 1 thread)."""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgernn.runtime import Session
from edgernn.runtime.errors import InputError
from edgernn.runtime.limits import check_total_bytes, regular_file
from edgernn.runtime.manifest import Manifest
from edgernn.runtime.metrics import task_metric
from edgernn.runtime.records import Metric


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
        regular_file(path)  # before any open: a FIFO would wait for a writer forever
        try:
            with np.load(path, allow_pickle=False) as data:
                if not isinstance(data, np.lib.npyio.NpzFile):
                    raise ValueError(
                        f"it holds one array, not named arrays ({data.dtype} {list(data.shape)})"
                    )
                check_total_bytes(str(path), sum(i.file_size for i in data.zip.infolist()))
                arrays = {k: data[k] for k in data.files}
                foreign = [k for k, v in arrays.items() if not isinstance(v, np.ndarray)]
                if foreign:
                    raise ValueError(f"member {foreign[0]!r} is not an .npy array")
        except InputError:
            raise
        except Exception as err:  # a damaged or foreign file fails in numpy or zipfile in many ways
            raise InputError(
                f"{path}: expected an .npz file with arrays x and y, could not read it "
                f"({type(err).__name__}: {' '.join(str(err).split())[:200]})"
            ) from None
        return cls.from_arrays(arrays, path)

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray], source: str | Path = "") -> EvalData:
        """The held-back data from named arrays already in memory (a :class:`TrainedRun`'s test
        split), checked as :meth:`load` checks a file's."""
        if "x" not in arrays:
            raise InputError(f"{source}: expected an array named 'x', found {sorted(arrays) or 'none'}")
        _check_arrays(Path(source), arrays)
        get = arrays.get
        return cls(
            arrays["x"], get("y"), get("lengths"), get("calib_x"), get("mask"), get("cond"), str(source)
        )


def _check_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Numbers, a batch of sequences in ``x``, and per-sequence ``y``/``lengths`` that fit it."""
    x = arrays["x"]
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise InputError(f"{path}: array {name!r}: expected numbers, got dtype {array.dtype}")
    if x.ndim not in (2, 3) or 0 in x.shape:
        raise InputError(f"{path}: array 'x': expected [sequences, time(, features)], got {list(x.shape)}")
    for name in ("y", "lengths", "mask", "cond"):
        if name in arrays and (arrays[name].ndim == 0 or len(arrays[name]) != len(x)):
            got = list(arrays[name].shape)
            raise InputError(f"{path}: array {name!r}: expected one entry per sequence ({len(x)}), got {got}")
    lengths = arrays.get("lengths")
    if lengths is not None and (
        lengths.ndim != 1 or lengths.dtype.kind not in "iu" or lengths.min() < 1 or lengths.max() > x.shape[1]
    ):
        raise InputError(
            f"{path}: array 'lengths': expected [{len(x)}] integers in [1, {x.shape[1]}] (the time axis of x), "
            f"got {list(lengths.shape)} {lengths.dtype} in [{lengths.min()}, {lengths.max()}]"
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
