"""Training throughput of ``edgernn train`` in 1 and 2 data-parallel processes (torchrun, DDP).

Workload: the bundled text corpus (4,344 windows of 64 characters), LSTM 128, global batch 128,
dropout 0, one CPU thread per process. samples/s = training windows / median epoch wall time
(training + sharded validation) over the epochs after the first. Also shown: one process with
two threads (the other way to use the same two cores) and, when CUDA is available, one GPU with a
4x larger batch. Guard: with the same global batch, the 2-process run's first-epoch training loss
equals the 1-process one (rel 1e-4), or the script exits 1. Reports, with no speed target (this
machine is shared, so its numbers are noisy); prints the numbers last, in one line.
``--smoke``: 2 tiny sunspots epochs in 1 and 2 processes, for CI.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _results import add_json_option, metric, write  # noqa: E402

LOSS_RTOL = 1e-4
WORKLOAD = ["--dataset", "text", "--cell", "lstm", "--hidden", "128", "--dropout", "0", "--patience", "0"]
SMOKE = ["--dataset", "sunspots", "--cell", "lstm", "--hidden", "8", "--patience", "0"]


def train(out: Path, args: list[str]) -> list[dict]:
    """Run ``edgernn train ARGS --out OUT`` in a fresh process; its metrics records."""
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK")}
    proc = subprocess.run(
        [sys.executable, "-m", "edgernn.train", *args, "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"edgernn train {' '.join(args)} failed:\n{proc.stderr.strip()}")
    return [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]


def samples_per_s(records: list[dict], train_samples: int) -> float:
    """Training samples over the median epoch time, the first (warm-up) epoch left out when possible."""
    seconds = [r["seconds"] for r in records if r["epoch"] > 0]
    return train_samples / statistics.median(seconds[1:] or seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="2 tiny sunspots epochs (for CI)")
    parser.add_argument("--repeats", type=int, default=2, help="runs per setting, alternating order")
    add_json_option(parser)
    args = parser.parse_args(argv)
    workload, batch, epochs = (SMOKE, 16, 2) if args.smoke else (WORKLOAD, 128, 3)
    base = [*workload, "--batch-size", str(batch), "--epochs", str(epochs), "--device", "cpu"]
    settings = {
        "1 process": [*base, "--threads", "1"],
        "2 processes": [*base, "--threads", "1", "--nproc-per-node", "2"],
    }
    if not args.smoke:
        settings["1 process x 2 threads"] = [*base, "--threads", "2"]
    import torch

    gpu_batch = 4 * batch
    if torch.cuda.is_available():
        gpu_args = [*workload, "--batch-size", str(gpu_batch), "--epochs", str(epochs), "--device", "cuda"]
        settings[f"1 GPU batch {gpu_batch}"] = gpu_args
    rates: dict[str, list[float]] = {name: [] for name in settings}
    first_loss: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(1 if args.smoke else args.repeats):
            names = list(settings) if repeat % 2 == 0 else list(settings)[::-1]
            for name in names:
                out = Path(tmp) / f"{len(rates[name])}-{name.replace(' ', '_')}"
                log = train(out, settings[name])
                train_samples = json.loads((out / "config.json").read_text())["data"]["split_sizes"][0]
                rates[name].append(samples_per_s(log, train_samples))
                first_loss.setdefault(name, log[1]["train_loss"])
    for name, values in rates.items():
        print(
            f"{name:>24}: {statistics.median(values):8.0f} samples/s  ({', '.join(f'{v:.0f}' for v in values)})"
        )
    one, two = first_loss["1 process"], first_loss["2 processes"]
    same = abs(one - two) <= LOSS_RTOL * abs(one)
    print(
        f"first-epoch train loss: 1 process {one:.8f}, 2 processes {two:.8f} -> {'same' if same else 'DIFFERENT'}"
    )
    median = {name: statistics.median(values) for name, values in rates.items()}
    extra = [
        f"{name} {value:.0f}" for name, value in median.items() if name not in ("1 process", "2 processes")
    ]
    if not any("GPU" in name for name in median):
        extra.append(f"1 GPU batch {gpu_batch}: no CUDA")
    print(
        f"ddp_scaling{' (smoke)' if args.smoke else ''}, samples/s, global batch {batch}: "
        f"1 process {median['1 process']:.0f}, 2 processes {median['2 processes']:.0f} "
        f"({median['2 processes'] / median['1 process']:.2f}x), {', '.join(extra)}"
    )
    figures = [
        metric(f"{name}, samples/s", value, "samples/s", samples=rates[name])
        for name, value in median.items()
    ]
    scaling = median["2 processes"] / median["1 process"]
    figures.append(metric("2 processes / 1 process, samples/s", scaling, "x"))
    figures.append(
        metric(
            "first-epoch train loss, 2 processes vs 1, relative",
            abs(one - two) / abs(one),
            "",
            f"<= {LOSS_RTOL:g}",
            same,
        )
    )
    write(args.json, "ddp_scaling", figures, verdict="ok" if same else "DIFFERENT", smoke=args.smoke)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
