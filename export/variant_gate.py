"""The verification gate for quantized variants: against the verified fp32 model, with the
variant's own tolerance, on real inputs at several lengths and batches, and streamed step by step,
through the same runtime Session a device uses.

Real inputs, not random ones: a statically quantized model is only defined on the ranges it was
calibrated on, and the deployed model only ever sees data like the training data."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np

from edgernn.runtime.records import Check
from edgernn.runtime.session import Session
from edgernn.runtime.vocab import CPU, FP16, INT8, INT8_STATIC

# Relative RMS error allowed per output tensor: ||variant - fp32|| / ||fp32||. Scale-free, so it
# judges logits over a 60-character vocabulary and a normalised forecast alike; the task metric
# (scored separately against its budget) decides what the error costs.
TOLERANCE = {INT8: 0.05, INT8_STATIC: 0.05, FP16: 0.01}


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


def loads_in_isolation(path: Path) -> Check:
    """Create a CPU session in a child process: onnxruntime can crash (not raise) on some fp16 graphs."""
    code = "import onnxruntime as o, sys; o.InferenceSession(sys.argv[1], providers=[sys.argv[2]])"
    proc = subprocess.run(
        [sys.executable, "-c", code, str(path), CPU], capture_output=True, text=True, timeout=300
    )
    if proc.returncode == 0:
        return Check("loads on the CPU EP", True, 0.0)
    how = f"crashed (signal {-proc.returncode})" if proc.returncode < 0 else "failed"
    last = (proc.stderr.strip().splitlines() or [""])[-1][:200]
    return Check(
        "loads on the CPU EP", False, float("inf"), f"onnxruntime {how} creating a CPU session {last}".strip()
    )


def gate(reference: Session, variant: Session, name: str, x: np.ndarray) -> list[Check]:
    """Compare ``variant`` with the fp32 ``reference`` on real raw inputs ``x`` at lengths 1, T/2 and
    T and batches 1 and 3, outputs and final states; stream the variant step by step against its own
    full-sequence run. Both sessions run on the CPU EP."""
    tolerance = TOLERANCE[name]
    checks = []
    full_time = x.shape[1]
    for time in sorted({1, max(1, full_time // 2), full_time}):
        for batch in (1, 3):
            label = f"{name} vs fp32 T={time} B={batch}"
            checks.append(_guard(label, reference, variant, x[:batch, :time], tolerance))
    if variant.manifest.streamable:
        checks.append(_guard_stream(f"{name} stream step-by-step T={full_time}", variant, x[:2], tolerance))
    return checks


def _values(session: Session, x: np.ndarray) -> list[np.ndarray]:
    result = session.run(x, return_state=True)
    return [*result.outputs.values(), *(result.state or {}).values()]


def _guard(label: str, reference: Session, variant: Session, x: np.ndarray, tolerance: float) -> Check:
    try:
        return compare_relative(label, _values(variant, x), _values(reference, x), tolerance)
    except Exception as err:  # a variant that fails to run at some shape fails its check
        return Check(label, False, float("inf"), f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")


def _guard_stream(label: str, variant: Session, x: np.ndarray, tolerance: float) -> Check:
    try:
        full = _values(variant, x)
        stream = variant.stream(x.shape[0])
        pieces = [stream.step(x[:, t]).outputs for t in range(x.shape[1])]
        time_axes = variant.signature.step_axes
        outputs = [
            np.stack([p[n] for p in pieces], axis=time_axes[n]) if n in time_axes else pieces[-1][n]
            for n in pieces[0]
        ]
        return compare_relative(label, [*outputs, *stream.state.values()], full, tolerance)
    except Exception as err:  # as in _guard
        return Check(label, False, float("inf"), f"{type(err).__name__}: {str(err).splitlines()[0][:200]}")
