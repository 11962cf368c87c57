"""Many streams, one session: StreamBatcher ticks against independent streams on the 2-layer LSTM
40 -> 256, 1 thread, in one run.

Targets (the variant ``auto`` picks on the CPU, int8; fp32 is shown beside it):
- 64 streams batched run >= 4x the steps/s of 64 independent ``Stream.step`` calls, 256 streams >= 8x;
- the p99 tick at 64 streams is <= 2 ms;
- 64 producer threads each calling ``h.step`` keep >= 0.7x the steps/s of one producer's ticks.
Both sides of each ratio run in this process in alternating rounds (which goes first alternates),
each round consuming every stream's output; a ratio is the median over rounds, shown with its
spread (min-max). Outputs are checked first: fp32 batched equals independent streams to 1e-5; int8's
deviation is the batcher's own measurement. Prints the ratios last; exits 1 on a miss
(``--smoke``: few rounds, no target check).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _lstm import FEATURES, export_with_int8  # noqa: E402
from _results import add_json_option, metric, write  # noqa: E402

STREAMS = (64, 256)
TARGETS = {64: 4.0, 256: 8.0}
MAX_P99_MS = 2.0
MIN_THREADED = 0.7
STEPS = 20  # steps per round and side
FP32_ATOL = 1e-5


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"


class Pair:
    """``n`` handles of one batcher and ``n`` independent streams of the same session, same inputs."""

    def __init__(self, session, n: int, rng: np.random.Generator) -> None:
        self.n = n
        self.batcher = session.batcher(max_batch=n)
        self.handles = [self.batcher.open() for _ in range(n)]
        self.streams = [session.stream(1) for _ in range(n)]
        x = rng.standard_normal((STEPS, n, 1, FEATURES)).astype(np.float32)
        self.x = x
        self.ticks = [dict(zip(self.handles, x[t], strict=True)) for t in range(STEPS)]
        self.rows = [list(zip(self.streams, x[t], strict=True)) for t in range(STEPS)]

    def batched(self, times: list[float]) -> list[np.ndarray]:
        outs = []
        for tick in self.ticks:
            t0 = time.perf_counter()
            out = self.batcher.step(tick)
            outs.append([r.output for r in out.values()])
            times.append(time.perf_counter() - t0)
        return outs

    def independent(self, times: list[float]) -> list[np.ndarray]:
        outs = []
        for row in self.rows:
            t0 = time.perf_counter()
            outs.append([s.step(x).output for s, x in row])
            times.append(time.perf_counter() - t0)
        return outs

    def reset(self) -> None:
        for h, s in zip(self.handles, self.streams, strict=True):
            h.reset()
            s.reset()


def compare(session, n: int, rounds: int, rng) -> dict:
    """Rounds of STEPS ticks against STEPS rounds of n stream steps, alternating which goes first."""
    pair = Pair(session, n, rng)
    diff = float(np.max(np.abs(np.array(pair.batched([])) - np.array(pair.independent([])))))
    pair.reset()
    ticks: list[float] = []
    ratios = []
    for r in range(rounds):
        tb: list[float] = []
        ti: list[float] = []
        for side in ("b", "i") if r % 2 == 0 else ("i", "b"):
            if side == "b":
                pair.batched(tb)
            else:
                pair.independent(ti)
        ratios.append(sum(ti) / sum(tb))
        ticks += tb
    pair.batcher.close()
    return {
        "ratios": ratios,
        "diff": diff,
        "p50_ms": float(np.percentile(ticks, 50)) * 1e3,
        "p99_ms": float(np.percentile(ticks, 99)) * 1e3,
        "deviation": pair.batcher.deviation,
    }


def threaded(session, n: int, rounds: int, rng) -> list[float]:
    """Rounds of ``n`` threads each stepping its handle STEPS times, against STEPS ticks of one producer."""
    pair = Pair(session, n, rng)
    go = [threading.Event() for _ in range(rounds)]
    done = threading.Barrier(n + 1)

    def work(i: int) -> None:
        h, x = pair.handles[i], pair.x[:, i]
        for event in go:
            event.wait()
            for t in range(STEPS):
                h.step(x[t]).output  # noqa: B018  (read, as a producer would)
            done.wait()

    workers = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for w in workers:
        w.start()
    ratios = []
    for event in go:
        t0 = time.perf_counter()
        pair.batched([])
        single = time.perf_counter() - t0
        t0 = time.perf_counter()
        event.set()
        done.wait()
        ratios.append(single / (time.perf_counter() - t0))
    pair.batcher.close()
    return ratios


def handoff_floor_us(n: int, steps: int = 200) -> float:
    """Per step, what ``n`` Python threads cost when each must run once per tick and then wait for the
    others: a lock per thread and nothing else (no model). The GIL lets one thread run at a time, so a
    tick of ``n`` threaded producers costs about ``n`` of these on top of the batched call."""
    locks = [threading.Lock() for _ in range(n)]
    for lock in locks:
        lock.acquire()
    waiting: list[int] = []
    guard = threading.Lock()

    def step(i: int) -> None:
        with guard:
            waiting.append(i)
            ready = len(waiting) == n
            wake = [j for j in waiting if j != i] if ready else []
            if ready:
                waiting.clear()
        for j in wake:
            locks[j].release()
        if not ready:
            locks[i].acquire()

    start = threading.Barrier(n + 1)

    def work(i: int) -> None:
        start.wait()
        for _ in range(steps):
            step(i)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for w in workers:
        w.start()
    t0 = time.perf_counter()
    start.wait()
    for w in workers:
        w.join()
    return (time.perf_counter() - t0) / (n * steps) * 1e6


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="few rounds, no target check (for CI)")
    parser.add_argument("--rounds", type=int, default=15, help="alternating rounds per comparison")
    add_json_option(parser)
    args = parser.parse_args(argv)
    rounds = 2 if args.smoke else args.rounds
    from edgernn.runtime import Session

    rng = np.random.default_rng(0)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        bundle, _ = export_with_int8(Path(tmp), "lstm")
        gc.disable()
        try:
            for variant in ("fp32", "int8"):
                session = Session.load(bundle, provider="cpu", variant=variant, threads=1, fallback="error")
                results[variant] = {n: compare(session, n, rounds, rng) for n in STREAMS}
                results[variant]["threaded"] = threaded(session, 64, rounds, rng)
        finally:
            gc.enable()
    results["floor_us"] = handoff_floor_us(64, 20 if args.smoke else 200)
    return report(results, args.smoke, args.json)


def figures(results: dict) -> list[dict]:
    """The run's figures for ``--json``: per variant the batched/independent ratio per stream count
    (median over rounds), the tick at 64 streams, threaded producers; int8's batching deviation."""
    out = []
    for variant, res in results.items():
        for n in STREAMS:
            x = statistics.median(res[n]["ratios"])
            out.append(
                metric(
                    f"{variant}: {n} streams batched / independent, steps/s",
                    x,
                    "x",
                    f">= {TARGETS[n]:g}",
                    x >= TARGETS[n],
                )
            )
        p99 = res[64]["p99_ms"]
        out.append(metric(f"{variant}: tick at 64 streams p50", res[64]["p50_ms"], "ms"))
        out.append(
            metric(f"{variant}: tick at 64 streams p99", p99, "ms", f"<= {MAX_P99_MS:g}", p99 <= MAX_P99_MS)
        )
        thr = statistics.median(res["threaded"])
        out.append(
            metric(
                f"{variant}: 64 producer threads / one producer, steps/s",
                thr,
                "x",
                f">= {MIN_THREADED}",
                thr >= MIN_THREADED,
            )
        )
    dev = results["int8"][64]["deviation"]
    if dev is not None:
        out.append(
            metric("int8: batched vs independent int8 streams, relative RMS", 100 * dev.vs_independent, "%")
        )
    return out


def report(results: dict, smoke: bool, json_path=None) -> int:
    floor = results.pop("floor_us")
    for variant, res in results.items():
        for n in STREAMS:
            r = res[n]
            print(
                f"{variant} {n:3d} streams: batched/independent steps/s {spread(r['ratios'])}; tick p50 "
                f"{r['p50_ms']:.3f} ms, p99 {r['p99_ms']:.3f} ms; max|batched - independent| {r['diff']:.1e}"
            )
        print(f"{variant}  64 threads calling h.step / one producer: {spread(res['threaded'])}")
    tick_ms = results["int8"][64]["p50_ms"]
    print(
        f"64 bare Python threads passing a lock-per-thread barrier (no model): {floor:.1f} us per "
        f"thread-step, so 64 threaded producers add ~{64 * floor / 1e3:.2f} ms to the int8 tick "
        f"({tick_ms:.2f} ms): ~{tick_ms / (tick_ms + 64 * floor / 1e3):.2f}x of one producer expected"
    )
    dev = results["int8"][64]["deviation"]
    print(f"int8 deviation: {dev.summary() if dev is not None else 'none (exact)'}")
    head = results["int8"]
    got = {n: statistics.median(head[n]["ratios"]) for n in STREAMS}
    p99 = head[64]["p99_ms"]
    thr = statistics.median(head["threaded"])
    exact = results["fp32"][64]["diff"] <= FP32_ATOL and results["fp32"][256]["diff"] <= FP32_ATOL
    ok = exact and (
        smoke or (all(got[n] >= TARGETS[n] for n in STREAMS) and p99 <= MAX_P99_MS and thr >= MIN_THREADED)
    )
    verdict = "smoke" if smoke else ("ok" if ok else "MISS")
    print(
        f"stream batcher (int8, 1 thread): 64 streams {got[64]:.2f}x (>= {TARGETS[64]:g}), 256 streams "
        f"{got[256]:.2f}x (>= {TARGETS[256]:g}), p99 tick at 64 {p99:.2f} ms (<= {MAX_P99_MS:g}), "
        f"64 threads {thr:.2f}x of one producer (>= {MIN_THREADED}) -> {verdict}"
    )
    write(json_path, "stream_batcher", figures(results), verdict=verdict, smoke=smoke)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
