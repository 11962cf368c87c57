"""``profile``: time a bundle's variants (or any ``.onnx``) over providers, threads, batch and sequence
length, in sequence or stream mode, beside optional baselines, and gather a :class:`ProfileReport`.

numpy and onnxruntime only. Baselines (PyTorch) are passed in as objects with a ``runner`` method,
so this module never imports torch; ``edgernn profile --torch`` builds them in ``edgernn.export``.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgernn.runtime.bundle import Bundle
from edgernn.runtime.errors import EdgernnError, InputError
from edgernn.runtime.session import Session

from .cells import (
    POOL,
    BatcherRunner,
    IndependentRunner,
    Runner,
    SessionRunner,
    ShapePlan,
    StreamRunner,
    first_call_ms,
    max_abs_diff,
    plan_shapes,
    random_inputs,
    split_steps,
    time_interleaved,
)
from .config import ProfileConfig, config_from_dict, config_to_dict
from .ops import trace_ops
from .plan import Loader, check_providers, probe_call, probe_variant, resolve_variants
from .result import BaselineResult, Cell, CellResult, ProfileReport
from .stats import LatencyStats, machine_info, peak_rss_mib

ORT = "onnxruntime"
INDEPENDENT = "independent"  # --streams: the same streams stepped one Stream.step at a time
PARITY_CALLS = 4  # calls compared between onnxruntime and each baseline (untimed)
OPS_RUNS = 20  # profiled calls per cell for the per-op breakdown


class Baseline(Protocol):
    """Something to time beside onnxruntime on the same model-space inputs."""

    name: str

    def runner(self, cell: Cell, pool: Sequence[Any]) -> Runner:
        """A runner over ``pool``: model-space sequences, or lists of steps in stream mode."""


def profile(
    target: str | Path | Bundle,
    config: ProfileConfig,
    *,
    baselines: Sequence[Baseline] = (),
    progress: Callable[[int, int, Cell], None] | None = None,
    loader: Loader | None = None,
) -> ProfileReport:
    """Measure every cell of ``config``'s sweep on ``target`` (a bundle folder, a loaded
    :class:`~edgernn.runtime.Bundle` or an ``.onnx``).

    ``loader`` shares sessions between sweeps of the same target (see :class:`Loader`)."""
    loader = loader or Loader(target if isinstance(target, Bundle) else Path(target), config)
    target = loader.target
    variants, notes, accuracy = resolve_variants(target, loader.bundle, config)
    check_providers(config.providers)
    probe, _ = loader.get(probe_variant(loader.bundle, variants), "cpu", 1)
    plan = _plan(probe, config)
    cells = [
        Cell(v, p, t, b, s, config.mode, n)
        for v, p, t, b, s, n in itertools.product(
            variants, config.providers, config.threads, plan.batches, plan.seqs, config.streams or (None,)
        )
    ]
    results = []
    for k, cell in enumerate(cells):
        if progress is not None:
            progress(k, len(cells), cell)
        if config.isolate:
            results.append(_isolated(target, cell, config, baselines))
        else:
            results.append(measure_cell(loader, cell, config, baselines))
    if progress is not None:
        progress(len(cells), len(cells), cells[-1])
    machine = machine_info()
    for b in baselines:
        machine.update(getattr(b, "versions", {}))
    return ProfileReport(
        target=str(target),
        kind="bundle" if target.is_dir() else "onnx",
        machine=machine,
        config=config_to_dict(config),
        inputs={
            "data": plan.describe(),
            "constants": config.constants(),
            "state": [f"{inp.name} -> {out}" for inp, out in probe.signature.states],
            "batch": list(plan.batches),
            "seq": list(plan.seqs),
        },
        accuracy=accuracy,
        notes=(*notes, *plan.notes),
        cells=tuple(results),
    )


def _plan(probe: Session, config: ProfileConfig) -> ShapePlan:
    """The sweep's shapes, checked against the model with one untimed call before any timing."""
    x = probe.signature.x
    for name in config.shape_pins():
        if name != x.name:
            raise InputError(
                f"--input {name}=SHAPE: {name!r} is not the data input ({x.name!r}); a SHAPE pins the data "
                "input, a VALUE pins a constant input"
            )
    plan = plan_shapes(x, config)
    if config.mode == "stream":
        probe.stream(1)  # refuses a model that cannot be streamed, with the reason
    probe_call(probe, config, plan.shape(plan.batches[0], plan.seqs[0]), plan.notes)
    return plan


def _pools(session: Session, cell: Cell, config: ProfileConfig) -> tuple[list, list]:
    """Raw and model-space input pools: sequences, or (stream mode) lists of steps."""
    sig = session.signature
    x = sig.x
    plan = plan_shapes(x, config)
    rng = np.random.default_rng([config.seed, cell.rows, cell.seq or 0])
    if cell.mode == "stream" and x.time_axis is None:  # a frame model: T frames per stream
        frames = random_inputs(session, (cell.seq, *plan.shape(cell.rows, None)), rng, POOL)
        raw = split_steps(frames, 0)
        return raw, [[sig.to_model(f) for f in seq] for seq in raw]
    seqs = random_inputs(session, plan.shape(cell.rows, cell.seq), rng, POOL)
    model = [sig.to_model(a) for a in seqs]
    if cell.mode == "stream":
        return split_steps(seqs, x.time_axis), split_steps(model, x.time_axis)
    return seqs, model


def _ort_runner(session: Session, cell: Cell, raw: list) -> Runner:
    if cell.streams:
        return BatcherRunner(session, raw, cell.streams)
    if cell.mode == "stream":
        return StreamRunner(session, raw, cell.batch)
    return SessionRunner(session, raw)


def measure_cell(
    loader: Loader, cell: Cell, config: ProfileConfig, baselines: Sequence[Baseline] = ()
) -> CellResult:
    """Load, first call, warm-up, timed calls (interleaved with ``baselines``), parity, op trace."""
    try:
        session, session_ms = loader.get(cell.variant, cell.provider, cell.threads)
    except EdgernnError as err:
        return CellResult(cell, error=str(err))
    raw, model = _pools(session, cell, config)
    try:
        ort_runner = _ort_runner(session, cell, raw)
    except EdgernnError as err:  # a StreamBatcher refusing a variant says why
        return CellResult(cell, error=str(err))
    first_ms = first_call_ms(ort_runner)
    runners: dict[str, Runner] = {ORT: ort_runner}
    extra, failed = _baseline_runners(baselines, cell, model)
    if cell.streams:  # the same streams stepped one by one: what batching is measured against
        alone = IndependentRunner(session, raw, cell.streams)
        extra = {INDEPENDENT: (alone, first_call_ms(alone)), **extra}
    runners.update({name: r for name, (r, _) in extra.items()})
    steps = cell.seq if cell.mode == "stream" else None
    samples = time_interleaved(
        runners, warmup=config.warmup, iters=config.timed_iters, duration_s=config.duration_s, steps=steps
    )
    latency = LatencyStats.from_ns(samples[ORT])
    results = [
        _baseline_result(
            name, samples[name], first, latency, max_abs_diff(ort_runner, r, PARITY_CALLS, steps)
        )
        for name, (r, first) in extra.items()
    ]
    ops = None
    if config.ops:
        ops = trace_ops(
            session, model, steps=steps, warmup=min(config.warmup, 5), runs=OPS_RUNS, top=config.ops_top
        )
    return _result(cell, session, latency, session_ms, first_ms, raw, ops, (*results, *failed))


def _baseline_runners(baselines: Sequence[Baseline], cell: Cell, model: list):
    """Build and first-call each baseline; one that fails is reported, not fatal."""
    ready, failed = {}, []
    for b in baselines:
        try:
            runner = b.runner(cell, model)
            ready[b.name] = (runner, first_call_ms(runner))
        except Exception as err:  # a baseline (torch.compile) may fail in any way; the report says how
            text = str(err).strip().splitlines()
            failed.append(
                BaselineResult(b.name, error=f"{type(err).__name__}: {text[0][:200] if text else ''}")
            )
    return ready, failed


def _baseline_result(name, samples, first_ms, ort_latency, diff, interleaved=True) -> BaselineResult:
    latency = LatencyStats.from_ns(samples)
    return BaselineResult(
        name, latency, first_ms, latency.p50_ms / ort_latency.p50_ms, diff, interleaved=interleaved
    )


def _result(cell, session, latency, session_ms, first_ms, raw, ops, baselines) -> CellResult:
    mean_s = latency.mean_ms / 1e3
    seq = cell.seq or 1
    per_call_steps = 1 if cell.mode == "stream" else seq
    first = raw[0][0] if cell.mode == "stream" else raw[0]
    return CellResult(
        cell=cell,
        latency=latency,
        sequences_per_s=cell.rows * per_call_steps / seq / mean_s,
        steps_per_s=cell.rows * per_call_steps / mean_s,
        session_ms=session_ms,
        first_ms=first_ms,
        model_bytes=session.model_path.stat().st_size,
        provider_ran=session.provider,
        input_shape=tuple(first.shape),
        ops=ops,
        baselines=tuple(baselines),
    )


def _isolated(target: Path, cell: Cell, config: ProfileConfig, baselines: Sequence[Baseline]) -> CellResult:
    """Run the onnxruntime side of ``cell`` in a fresh interpreter; baselines then run here, alone."""
    job = {"target": str(target), "config": config_to_dict(config), "cell": dataclasses.asdict(cell)}
    proc = subprocess.run(
        [sys.executable, "-m", "edgernn.profiling.engine"],
        input=json.dumps(job),
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return CellResult(cell, error=f"isolated worker exited {proc.returncode}: {tail}")
    result = CellResult.from_dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    if not baselines or result.latency is None:
        return result
    session, _ = Loader(target, config).get(cell.variant, cell.provider, cell.threads)
    raw, model = _pools(session, cell, config)
    extra, failed = _baseline_runners(baselines, cell, model)
    steps = cell.seq if cell.mode == "stream" else None
    samples = time_interleaved(
        {n: r for n, (r, _) in extra.items()},
        warmup=config.warmup,
        iters=config.timed_iters,
        duration_s=config.duration_s,
        steps=steps,
    )
    ort_runner = _ort_runner(session, cell, raw)
    done = [
        _baseline_result(
            n, samples[n], first, result.latency, max_abs_diff(ort_runner, r, PARITY_CALLS, steps), False
        )
        for n, (r, first) in extra.items()
    ]
    return dataclasses.replace(result, baselines=(*done, *failed))


def _worker() -> int:
    """``python -m edgernn.profiling.engine``: one cell from a JSON job on stdin, its result on stdout."""
    job = json.loads(sys.stdin.read())
    config = config_from_dict(job["config"])
    result = measure_cell(Loader(Path(job["target"]), config), Cell(**job["cell"]), config)
    result = dataclasses.replace(result, peak_rss_mib=peak_rss_mib())
    print(json.dumps(result.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(_worker())
