"""edgernn's per-call overhead against bare onnxruntime on the same graph, measured side by side.

Claims (2-layer LSTM 40 -> 256, 1 thread, batch 1):
- ``stream.step`` costs <= 1.10x a bare ``InferenceSession.run`` at T=1 that feeds its state back;
- ``session.run`` costs <= 1.03x a bare ``InferenceSession.run`` at T=100.

Both sides run in this process, interleaved call by call (steps in blocks of 20), so machine noise and
cache state hit them alike, and each side rotates through four identical sessions, since two sessions
of one model differ by up to ~2% with where their weights land in memory. Each ratio is the median
time of edgernn over that of bare onnxruntime. Outputs are checked equal first.
Prints the ratios last, in one line; exits 1 on a miss (``--smoke``: few iterations, no target check).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import FEATURES, HIDDEN, LAYERS, build_bundle  # noqa: E402
from _results import add_json_option, metric, write  # noqa: E402

MAX_STEP_RATIO = 1.10
MAX_RUN_RATIO = 1.03
PARITY_ATOL = 1e-5
SESSIONS = 4  # per side: identical sessions differ by up to ~2% from where their weights land in memory


def side_by_side(
    bare: list[Callable[[], object]], edge: list[Callable[[], object]], rounds: int
) -> tuple[float, float]:
    """Median seconds of ``bare`` and ``edge`` calls, alternating sides (and which goes first) every
    round and rotating through each side's copies, one per session."""
    times: dict[str, list[float]] = {"bare": [], "edge": []}
    for r in range(rounds):
        pair = (("bare", bare[r % len(bare)]), ("edge", edge[r % len(edge)]))
        for name, call in pair if r % 2 == 0 else pair[::-1]:
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return statistics.median(times["bare"]), statistics.median(times["edge"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few iterations, no target check (for CI)")
    add_json_option(parser)
    args = parser.parse_args(argv)
    steps, rounds_step, rounds_run = (20, 4, 4) if args.smoke else (20, 400, 600)

    import onnxruntime as ort

    from edgernn.runtime import Session

    with tempfile.TemporaryDirectory() as tmp:
        root = build_bundle(Path(tmp) / "bundle")
        so = ort.SessionOptions()
        so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
        bares = [ort.InferenceSession(str(root / "model.onnx"), so, providers=["CPUExecutionProvider"])]
        sessions = [Session.load(root, provider="cpu", variant="fp32", threads=1, fallback="error")]
        for _ in range(SESSIONS - 1):
            bares.append(
                ort.InferenceSession(str(root / "model.onnx"), so, providers=["CPUExecutionProvider"])
            )
            sessions.append(Session.load(root, provider="cpu", variant="fp32", threads=1, fallback="error"))
    rng = np.random.default_rng(0)
    xs = rng.standard_normal((steps, 1, 1, FEATURES)).astype(np.float32)
    x_steps = [x[:, 0] for x in xs]  # [1, features] per step, as a caller would pass them
    x100 = rng.standard_normal((1, 100, FEATURES)).astype(np.float32)
    zeros = np.zeros((LAYERS, 1, HIDDEN), np.float32)

    def bare_steps(bare) -> Callable[[], list[np.ndarray]]:
        def block() -> list[np.ndarray]:
            h, c, ys = zeros, zeros, []
            for x in xs:
                y, h, c = bare.run(None, {"x": x, "h0": h, "c0": c})
                ys.append(y)
            return ys

        return block

    def edge_steps(session) -> Callable[[], list[np.ndarray]]:
        stream = session.stream()

        def block() -> list[np.ndarray]:
            stream.reset()
            return [stream.step(x).output for x in x_steps]

        return block

    step_b, step_e = [bare_steps(b) for b in bares], [edge_steps(s) for s in sessions]
    run_b = [lambda b=b: b.run(None, {"x": x100, "h0": zeros, "c0": zeros}) for b in bares]
    run_e = [lambda s=s: s.run(x100) for s in sessions]
    step_err = max(float(np.abs(np.concatenate(step_b[0](), 1) - np.stack(f(), 1)).max()) for f in step_e)
    run_err = max(float(np.abs(run_b[0]()[0] - f().output).max()) for f in run_e)
    print(f"parity: step max|diff| {step_err:.2e}, run max|diff| {run_err:.2e} (atol {PARITY_ATOL:g})")
    gc.disable()
    try:
        side_by_side(step_b, step_e, 2 * SESSIONS)  # warm-up
        bare_s, edge_s = side_by_side(step_b, step_e, rounds_step)
        bare_r, edge_r = side_by_side(run_b, run_e, rounds_run)
    finally:
        gc.enable()
    step_us = (bare_s / steps * 1e6, edge_s / steps * 1e6)
    print(f"stream.step T=1:   bare {step_us[0]:.1f} us, edgernn {step_us[1]:.1f} us per step")
    print(f"session.run T=100: bare {bare_r * 1e3:.3f} ms, edgernn {edge_r * 1e3:.3f} ms per call")
    step_ratio, run_ratio = edge_s / bare_s, edge_r / bare_r
    ok = step_err <= PARITY_ATOL and run_err <= PARITY_ATOL
    if not args.smoke:
        ok = ok and step_ratio <= MAX_STEP_RATIO and run_ratio <= MAX_RUN_RATIO
    verdict = "smoke" if args.smoke else ("ok" if ok else "MISS")
    print(
        f"overhead ratios: step {step_ratio:.3f} (<= {MAX_STEP_RATIO}), "
        f"run T=100 {run_ratio:.3f} (<= {MAX_RUN_RATIO}) -> {verdict}"
    )
    figures = [
        metric(
            "stream.step / bare onnxruntime, T=1",
            step_ratio,
            "x",
            f"<= {MAX_STEP_RATIO}",
            step_ratio <= MAX_STEP_RATIO,
        ),
        metric(
            "session.run / bare onnxruntime, T=100",
            run_ratio,
            "x",
            f"<= {MAX_RUN_RATIO}",
            run_ratio <= MAX_RUN_RATIO,
        ),
        metric("bare onnxruntime step", step_us[0], "µs"),
        metric("edgernn stream.step", step_us[1], "µs"),
        metric("bare onnxruntime run T=100", bare_r * 1e3, "ms"),
        metric("edgernn session.run T=100", edge_r * 1e3, "ms"),
    ]
    write(args.json, "overhead", figures, verdict=verdict, smoke=args.smoke)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
