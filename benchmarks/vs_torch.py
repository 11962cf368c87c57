"""edgernn bundle variants against PyTorch eager on the standard 2-layer LSTM 40 -> 256, in one run.

Targets (1 thread, batch 1, T=100; each variant timed beside PyTorch eager in the same cell,
interleaved in ~10 ms blocks, on the same random inputs):
- the best variant runs whole sequences >= 4.5x faster than PyTorch eager;
- in stream mode its step is >= 8x faster than PyTorch eager stepping the same module, state carried.
Also shown, without a target: T in {1, 100} x batch in {1, 32}. Everything goes through
``edgernn.profiling.engine`` (what ``edgernn profile --torch`` runs), so edgernn's wrapper is timed too.
Prints its ratios last, in one line; exits 1 on a miss (``--smoke``: few iterations, no target check).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import export_with_int8  # noqa: E402
from _results import add_json_option, metric, write  # noqa: E402

SEQ_TARGET, STEP_TARGET = 4.5, 8.0
FP32_ATOL = (
    1e-5  # fp32 must match PyTorch; int8's error is quantize's business (its gate, its manifest entry)
)


def build(root: Path):
    """Export the model with edgernn, add int8 through the public quantize API; return (bundle, module)."""
    return export_with_int8(root, "lstm")


def best(report, batch: int, seq: int):
    """The variant with the largest speed-up over PyTorch eager at (batch, seq): each speed-up is
    measured side by side within its cell, so it does not depend on when the cell ran."""
    cells = [c for c in report.measured if (c.cell.batch, c.cell.seq) == (batch, seq)]
    cell = max(cells, key=lambda c: c.baseline("torch-eager").speedup)
    return cell, cell.baseline("torch-eager").speedup


def show(report, unit: str) -> None:
    for c in report.measured:
        b = c.baseline("torch-eager")
        print(
            f"  {c.cell.mode:8s} b{c.cell.batch:<3d} T{c.cell.seq:<4d} {c.cell.variant:5s} "
            f"p50 {c.latency.p50_ms * unit:9.3f}, p99 {c.latency.p99_ms * unit:9.3f}; torch eager p50 "
            f"{b.latency.p50_ms * unit:9.3f} -> {b.speedup:5.2f}x (max|diff| {b.max_abs_diff:.1e})"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few iterations, no target check (for CI)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per cell")
    add_json_option(parser)
    args = parser.parse_args(argv)
    import torch

    from edgernn.profiling.config import ProfileConfig
    from edgernn.profiling.engine import profile
    from edgernn.profiling.torch_baseline import TorchBaseline

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    timing = {"iters": 5, "warmup": 2} if args.smoke else {"duration_s": args.duration, "warmup": 20}
    with tempfile.TemporaryDirectory() as tmp:
        bundle, net = build(Path(tmp))
        baselines = [TorchBaseline("torch-eager", net)]
        common = {"variants": ("fp32", "int8"), "threads": (1,), **timing}
        seq = profile(
            bundle, ProfileConfig(batch_sizes=(1, 32), seq_lens=(1, 100), **common), baselines=baselines
        )
        stream = profile(bundle, ProfileConfig(mode="stream", seq_lens=(100,), **common), baselines=baselines)
    print(f"machine: {seq.machine['cpu_model']}, {seq.machine['usable_cores']} usable cores, 1 thread")
    print("whole sequences, ms per call:")
    show(seq, 1.0)
    print("stream, µs per step:")
    show(stream, 1e3)
    seq_cell, seq_x = best(seq, 1, 100)
    step_cell, step_x = best(stream, 1, 100)
    fp32_parity = max(
        c.baseline("torch-eager").max_abs_diff
        for r in (seq, stream)
        for c in r.measured
        if c.cell.variant == "fp32"
    )
    print(f"parity: fp32 max|diff| against PyTorch {fp32_parity:.1e} (<= {FP32_ATOL:g}); int8 as listed")
    ok = fp32_parity <= FP32_ATOL and (args.smoke or (seq_x >= SEQ_TARGET and step_x >= STEP_TARGET))
    verdict = "smoke" if args.smoke else ("ok" if ok else "MISS")
    print(
        f"vs PyTorch eager (1 thread, batch 1, T=100): sequence {seq_cell.cell.variant} {seq_x:.2f}x "
        f"(>= {SEQ_TARGET}), stream step {step_cell.cell.variant} {step_x:.2f}x (>= {STEP_TARGET}) -> {verdict}"
    )
    write(
        args.json,
        "vs_torch",
        figures(seq_cell, seq_x, step_cell, step_x, fp32_parity),
        verdict=verdict,
        smoke=args.smoke,
    )
    return 0 if ok else 1


def figures(seq_cell, seq_x: float, step_cell, step_x: float, fp32_parity: float) -> list[dict]:
    """The run's figures for ``--json``: the two targets, the latencies behind them, fp32 parity."""
    seq_torch, step_torch = seq_cell.baseline("torch-eager"), step_cell.baseline("torch-eager")
    return [
        metric(
            f"best variant ({seq_cell.cell.variant}) vs PyTorch eager, b1 T=100 sequence",
            seq_x,
            "x",
            f">= {SEQ_TARGET}",
            seq_x >= SEQ_TARGET,
        ),
        metric(
            f"best variant ({step_cell.cell.variant}) vs PyTorch eager, b1 stream step",
            step_x,
            "x",
            f">= {STEP_TARGET}",
            step_x >= STEP_TARGET,
        ),
        metric(f"edgernn {seq_cell.cell.variant} b1 T=100 sequence p50", seq_cell.latency.p50_ms, "ms"),
        metric("PyTorch eager b1 T=100 sequence p50", seq_torch.latency.p50_ms, "ms"),
        metric(f"edgernn {step_cell.cell.variant} stream step p50", step_cell.latency.p50_ms * 1e3, "µs"),
        metric("PyTorch eager stream step p50", step_torch.latency.p50_ms * 1e3, "µs"),
        metric(
            "fp32 max abs diff vs PyTorch", fp32_parity, "", f"<= {FP32_ATOL:g}", fp32_parity <= FP32_ATOL
        ),
    ]


if __name__ == "__main__":
    sys.exit(main())
