"""Soak: stream a model without pause for N minutes and watch the process's resident memory.

Claim (2-layer LSTM 40 -> 256, one Session, CPU, 1 thread): streaming holds RSS flat, growth after
warm-up <= 1 MiB over 10 minutes (``--minutes 10``). Each round steps 4 streams (batch 1, 1, 2, 4);
every 50 rounds one state is read and written back, a chunk is fed, a whole sequence is run, a
stream is reset, and a stream is replaced by a new one. RSS is sampled every few seconds in a
process that loads only the runtime (no torch); growth is the mean of the last three samples minus
the mean of the first three after warm-up. Prints one line per sample, then the growth last in one
line; exits 1 on a miss (``--smoke``: a few seconds, no target check, for CI).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MAX_GROWTH_MIB = 1.0
BATCHES = (1, 1, 2, 4)
EVERY = 50  # rounds between the less frequent calls


def rss_mib() -> float:
    """Current resident set size (Linux ``/proc``); elsewhere the peak, which can only grow."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except OSError:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def soak(bundle: Path, seconds: float, interval_s: float, warmup_s: float) -> list[tuple[float, float]]:
    """Stream for ``seconds``; return ``(elapsed s, RSS MiB)`` samples taken after warm-up."""
    import numpy as np

    from edgernn.runtime import Session

    session = Session.load(bundle, provider="cpu", variant="fp32", threads=1)
    features = session.signature.x.dims[-1]
    rng = np.random.default_rng(0)
    steps = [rng.standard_normal((64, b, features)).astype(np.float32) for b in BATCHES]
    chunk = rng.standard_normal((2, 8, features)).astype(np.float32)
    sequence = rng.standard_normal((2, 16, features)).astype(np.float32)
    streams = [session.stream(batch=b) for b in BATCHES]
    counts = dict.fromkeys(("steps", "feeds", "runs", "streams"), 0)
    samples: list[tuple[float, float]] = []
    start = time.perf_counter()
    next_sample, rounds = start + warmup_s, 0
    while True:
        for s, stream in enumerate(streams):
            stream.step(steps[s][rounds % 64])
        counts["steps"] += len(streams)
        rounds += 1
        if rounds % EVERY == 0:
            streams[1].state = streams[1].state
            streams[2].feed(chunk)
            session.run(sequence, return_state=True)
            streams[3].reset()
            streams[0] = session.stream(batch=BATCHES[0])
            counts["feeds"] += 1
            counts["runs"] += 1
            counts["streams"] += 1
            now = time.perf_counter()
            if now >= next_sample:
                samples.append((now - start, rss_mib()))
                print(
                    f"t {now - start:7.1f} s  rss {samples[-1][1]:8.3f} MiB  steps {counts['steps']:,}",
                    flush=True,
                )
                next_sample += interval_s
            if now - start >= seconds:
                break
    minutes = (time.perf_counter() - start) / 60
    print(
        f"streamed {minutes:.1f} min: {counts['steps']:,} steps on {len(BATCHES)} streams, {counts['feeds']:,} "
        f"chunks, {counts['runs']:,} whole runs, {counts['streams']:,} streams replaced"
    )
    return samples


def worker(args: argparse.Namespace) -> int:
    samples = soak(Path(args.worker), args.minutes * 60, args.interval, args.warmup)
    if len(samples) < 2:
        print(f"only {len(samples)} RSS sample(s) after warm-up; run longer")
        return 1
    rss = [m for _, m in samples]
    k = min(3, len(rss) // 2)
    growth = statistics.fmean(rss[-k:]) - statistics.fmean(rss[:k])
    print(
        f"rss samples after {args.warmup:g} s warm-up, every {args.interval:g} s: n {len(rss)}, "
        f"first {rss[0]:.3f}, min {min(rss):.3f}, max {max(rss):.3f}, last {rss[-1]:.3f} MiB"
    )
    ok = growth <= MAX_GROWTH_MIB
    verdict = "smoke" if args.smoke else ("ok" if ok else "MISS")
    print(
        f"soak {samples[-1][0] / 60:.1f} min: rss growth after warm-up {growth:+.3f} MiB "
        f"(<= {MAX_GROWTH_MIB} MiB) -> {verdict}"
    )
    if args.json:
        sys.path.insert(0, str(Path(__file__).parent))
        from _results import metric, write

        figures = [
            metric(
                "RSS growth after warm-up",
                growth,
                "MiB",
                f"<= {MAX_GROWTH_MIB:g}",
                ok,
            ),
            metric("RSS after warm-up, first sample", rss[0], "MiB"),
            metric("minutes streamed", samples[-1][0] / 60, "min"),
        ]
        write(Path(args.json), "soak", figures, verdict=verdict, smoke=args.smoke)
    return 0 if ok or args.smoke else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="how long to stream")
    parser.add_argument("--interval", type=float, default=5.0, help="seconds between RSS samples")
    parser.add_argument("--warmup", type=float, default=60.0, help="seconds before the first sample")
    parser.add_argument("--smoke", action="store_true", help="a few seconds, no target check (for CI)")
    parser.add_argument("--worker", metavar="BUNDLE", help=argparse.SUPPRESS)
    parser.add_argument("--json", metavar="PATH", help="also write this run's figures as JSON")
    args = parser.parse_args(argv)
    if args.smoke:
        args.minutes, args.interval, args.warmup = 5 / 60, 0.5, 1.0
    if args.worker:
        return worker(args)
    sys.path.insert(0, str(Path(__file__).parent))
    from _lstm import build_bundle

    with tempfile.TemporaryDirectory() as tmp:
        bundle = build_bundle(Path(tmp) / "bundle")
        flags = [
            "--minutes",
            str(args.minutes),
            "--interval",
            str(args.interval),
            "--warmup",
            str(args.warmup),
        ]
        flags += ["--smoke"] if args.smoke else []
        flags += ["--json", str(Path(args.json).resolve())] if args.json else []
        # A process of its own that imports only the runtime: torch's memory stays out of the samples.
        return subprocess.call([sys.executable, __file__, "--worker", str(bundle), *flags])


if __name__ == "__main__":
    sys.exit(main())
