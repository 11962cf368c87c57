"""The verification gate for quantized variants: against the verified fp32 model, with the
variant's own tolerance, on real inputs at several lengths and batches, and streamed step by step.

Real inputs, not random ones: a statically quantized model is only defined on the ranges it was
calibrated on, and the deployed model only ever sees data like the training data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

from edgernn.runtime.manifest import Manifest

from .verify import Check

# Relative RMS error allowed per output tensor: ||variant - fp32|| / ||fp32||. Scale-free, so it
# judges logits over a 60-character vocabulary and a normalised forecast alike; the task metric
# (scored separately against its budget) decides what the error costs.
TOLERANCE = {"int8": 0.05, "int8-static": 0.05, "fp16": 0.01}


def compare_relative(name: str, got: list[np.ndarray], want: list[np.ndarray], tolerance: float) -> Check:
    """Pass when every output's relative RMS error is within ``tolerance``; report the max abs diff."""
    if len(got) != len(want) or any(g.shape != w.shape for g, w in zip(got, want, strict=False)):
        return Check(
            name, False, float("inf"), f"shape mismatch {[g.shape for g in got]} vs {[w.shape for w in want]}"
        )
    errors = [
        float(np.linalg.norm(g - w) / max(np.linalg.norm(w), 1e-12)) for g, w in zip(got, want, strict=True)
    ]
    diff = max(float(np.max(np.abs(g - w), initial=0.0)) for g, w in zip(got, want, strict=True))
    worst = max(errors)
    return Check(name, worst <= tolerance, diff, f"relative RMS error {worst:.2%} (<= {tolerance:.0%})")


def _session(path: Path) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 4
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _feeds(manifest: Manifest, session, x: np.ndarray) -> dict[str, np.ndarray]:
    feeds = {}
    for arg in session.get_inputs():
        if arg.name == manifest.input.name:
            feeds[arg.name] = x
        elif arg.name == manifest.input.lengths:
            feeds[arg.name] = np.full(x.shape[0], x.shape[1], np.int64)
        else:
            spec = next(s for s in manifest.state if s.input == arg.name)
            feeds[arg.name] = np.zeros([x.shape[0] if d == "batch" else d for d in spec.shape], np.float32)
    return feeds


def loads_in_isolation(path: Path) -> Check:
    """Create a CPU session in a child process: onnxruntime can crash (not raise) on some fp16 graphs."""
    code = "import onnxruntime as o, sys; o.InferenceSession(sys.argv[1], providers=['CPUExecutionProvider'])"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300
    )
    if proc.returncode == 0:
        return Check("loads on the CPU EP", True, 0.0)
    how = f"crashed (signal {-proc.returncode})" if proc.returncode < 0 else "failed"
    last = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    return Check(
        "loads on the CPU EP", False, float("inf"), f"onnxruntime {how} creating a CPU session {last}".strip()
    )


def gate(fp32: Path, variant: Path, name: str, manifest: Manifest, x: np.ndarray) -> list[Check]:
    """Compare ``variant`` with ``fp32`` on real inputs ``x`` (model space) at lengths 1, T/2 and T
    and batches 1 and 3; stream the variant step by step against its own full-sequence run."""
    loads = loads_in_isolation(variant)
    if not loads.passed:
        return [loads]
    tolerance = TOLERANCE[name]
    ref, var = _session(fp32), _session(variant)
    checks = []
    full_time = x.shape[1]
    for time in sorted({1, max(1, full_time // 2), full_time}):
        for batch in (1, 3):
            feeds = _feeds(manifest, ref, x[:batch, :time])
            checks.append(_guard(f"{name} vs fp32 T={time} B={batch}", ref, var, feeds, tolerance))
    if manifest.streamable:
        feeds = _feeds(manifest, var, x[:2])
        full = var.run(None, feeds)
        state_names = [s.input for s in manifest.state]
        pieces, state = [], {n: feeds[n] for n in state_names}
        for t in range(full_time):
            step = {**feeds, **state, manifest.input.name: x[:2, t : t + 1]}
            if manifest.input.lengths:
                step[manifest.input.lengths] = np.ones(len(step[manifest.input.name]), np.int64)
            out = var.run(None, step)
            pieces.append(out[0])
            state = dict(zip(state_names, out[1:], strict=True))
        y = np.concatenate(pieces, axis=1) if manifest.topology != "many_to_one" else pieces[-1]
        check = compare_relative(
            f"{name} stream step-by-step T={full_time}", [y, *state.values()], full, tolerance
        )
        checks.append(check)
    return checks


def _guard(name, ref, var, feeds, tolerance) -> Check:
    try:
        return compare_relative(name, var.run(None, feeds), ref.run(None, feeds), tolerance)
    except Exception as err:  # a variant that fails to run at some shape fails its check
        return Check(name, False, float("inf"), f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")
