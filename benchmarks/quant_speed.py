"""int8 against fp32 on the standard 2-layer LSTM 40 -> 256, T=100, batch 1, 1 thread.

Targets: the int8 variant runs >= 2.5x faster than fp32, measured side by side (interleaved) in
this run, and its file is <= 0.3x the fp32 size. Prints the ratios last; exits 1 on a miss.
``--smoke`` runs a few iterations and checks no target (what CI runs).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _results import add_json_option, metric, write  # noqa: E402

SPEEDUP_TARGET, SIZE_TARGET = 2.5, 0.3
FEATURES, HIDDEN, LAYERS, TIME = 40, 256, 2, 100


def build(root: Path) -> Path:
    """Export the model with edgernn and add the int8 variant through the public quantize API."""
    import torch
    from torch import nn

    from edgernn.export import export
    from edgernn.export.quantization import QuantizeConfig, quantize
    from edgernn.runtime import Session

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = nn.LSTM(FEATURES, HIDDEN, LAYERS, batch_first=True)
            self.head = nn.Linear(HIDDEN, 8)

        def forward(self, x, state=None):
            y, state = self.rnn(x, state)
            return self.head(y), state

    torch.manual_seed(0)
    bundle = root / "bundle"
    export(Net().eval(), torch.randn(1, 8, FEATURES), bundle)
    x = np.random.default_rng(0).standard_normal((16, TIME, FEATURES)).astype(np.float32)
    # Targets: fp32's own predictions plus noise, so RMSE measures how far int8 drifts from fp32.
    y = Session.load(bundle, provider="cpu").run(x).output + 0.1 * np.random.default_rng(2).standard_normal(
        (16, TIME, 8)
    )
    np.savez(root / "eval.npz", x=x, y=y)
    quantize(
        bundle,
        ["int8"],
        eval_path=root / "eval.npz",
        config=QuantizeConfig(latency_iters=20),
    )
    return bundle


def interleaved_p50_ms(sessions: dict, feed: dict, iters: int, warmup: int = 10) -> dict[str, float]:
    """Median latency per session, alternating sessions every iteration so noise hits both alike."""
    times: dict[str, list[int]] = {name: [] for name in sessions}
    for i in range(warmup + iters):
        for name, sess in sessions.items():
            t0 = time.perf_counter_ns()
            sess.run(None, feed)
            if i >= warmup:
                times[name].append(time.perf_counter_ns() - t0)
    return {name: float(np.median(t)) / 1e6 for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="few iterations, no target check")
    parser.add_argument("--iters", type=int, default=300)
    add_json_option(parser)
    args = parser.parse_args(argv)
    import onnxruntime as ort

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build(Path(tmp))
        options = ort.SessionOptions()
        options.intra_op_num_threads = options.inter_op_num_threads = 1
        paths = {"fp32": bundle / "model.onnx", "int8": bundle / "model.int8.onnx"}
        sessions = {
            k: ort.InferenceSession(str(p), options, providers=["CPUExecutionProvider"])
            for k, p in paths.items()
        }
        rng = np.random.default_rng(1)
        feed = {
            "x": rng.standard_normal((1, TIME, FEATURES)).astype(np.float32),
            "h0": np.zeros((LAYERS, 1, HIDDEN), np.float32),
            "c0": np.zeros((LAYERS, 1, HIDDEN), np.float32),
        }
        p50 = interleaved_p50_ms(sessions, feed, 10 if args.smoke else args.iters)
        size = {k: p.stat().st_size for k, p in paths.items()}
    speedup, size_ratio = p50["fp32"] / p50["int8"], size["int8"] / size["fp32"]
    print(
        f"fp32 p50 {p50['fp32']:.3f} ms, {size['fp32'] / 1e6:.2f} MB; int8 p50 {p50['int8']:.3f} ms, {size['int8'] / 1e6:.2f} MB"
    )
    ok = speedup >= SPEEDUP_TARGET and size_ratio <= SIZE_TARGET
    verdict = "smoke (no target check)" if args.smoke else ("PASS" if ok else "MISS")
    print(
        f"int8 speed-up {speedup:.2f}x (target >= {SPEEDUP_TARGET}), size ratio {size_ratio:.3f} (target <= {SIZE_TARGET}): {verdict}"
    )
    figures = [
        metric(
            "int8 speed-up over fp32, b1 T=100",
            speedup,
            "x",
            f">= {SPEEDUP_TARGET}",
            speedup >= SPEEDUP_TARGET,
        ),
        metric("int8 size / fp32 size", size_ratio, "x", f"<= {SIZE_TARGET}", size_ratio <= SIZE_TARGET),
        metric("fp32 p50, b1 T=100", p50["fp32"], "ms"),
        metric("int8 p50, b1 T=100", p50["int8"], "ms"),
    ]
    write(args.json, "quant_speed", figures, verdict=verdict.split()[0], smoke=args.smoke)
    return 0 if args.smoke or ok else 1


if __name__ == "__main__":
    sys.exit(main())
