"""Numbers a profile reports: latency statistics, the machine, peak memory, and per-op trace totals.

numpy and the standard library only; the op breakdown reads the Chrome-trace JSON that onnxruntime
writes with ``SessionOptions.enable_profiling`` (node events ``<node>_kernel_time``, ``dur`` in µs).
"""

from __future__ import annotations

import os
import platform
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgernn.runtime.errors import InputError

PERCENTILES = (50, 90, 95, 99)
RECURRENT_OPS = ("LSTM", "GRU", "RNN", "DynamicQuantizeLSTM")  # DynamicQuantizeLSTM: int8 dynamic LSTM
KERNEL_SUFFIX = "_kernel_time"


@dataclass(frozen=True)
class LatencyStats:
    """Latency of ``n`` timed calls in milliseconds (percentiles by numpy's linear interpolation)."""

    n: int
    p50_ms: float
    p90_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    min_ms: float
    mean_ms: float
    std_ms: float

    @classmethod
    def from_ns(cls, samples_ns: Sequence[int]) -> LatencyStats:
        """Statistics of ``perf_counter_ns`` deltas."""
        if len(samples_ns) == 0:
            raise InputError("latency samples: expected at least one timed call, got none")
        ms = np.asarray(samples_ns, dtype=np.float64) / 1e6
        p50, p90, p95, p99 = (float(v) for v in np.percentile(ms, PERCENTILES))
        return cls(
            n=int(ms.size),
            p50_ms=p50,
            p90_ms=p90,
            p95_ms=p95,
            p99_ms=p99,
            max_ms=float(ms.max()),
            min_ms=float(ms.min()),
            mean_ms=float(ms.mean()),
            std_ms=float(ms.std()),
        )


@dataclass(frozen=True)
class OpStat:
    """One graph node's kernel time over the profiled runs."""

    node: str
    op_type: str
    provider: str
    total_us: float
    calls: int
    share: float  # of all node kernel time


@dataclass(frozen=True)
class OpBreakdown:
    """Per-node totals from an onnxruntime trace, warm-up runs dropped; ``top`` is sorted by time."""

    runs: int
    run_total_us: float  # sum of ``model_run`` events: the whole call as onnxruntime saw it
    node_total_us: float  # sum of every node's kernel time
    recurrent_share: float  # of node time spent in LSTM/GRU/RNN (and quantized LSTM) nodes
    recurrent_nodes: tuple[str, ...]
    top: tuple[OpStat, ...]

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OpBreakdown:
        """Rebuild from :func:`dataclasses.asdict` output (JSON from an isolated worker)."""
        return cls(
            runs=data["runs"],
            run_total_us=data["run_total_us"],
            node_total_us=data["node_total_us"],
            recurrent_share=data["recurrent_share"],
            recurrent_nodes=tuple(data["recurrent_nodes"]),
            top=tuple(OpStat(**t) for t in data["top"]),
        )


def parse_trace(events: Iterable[Mapping[str, Any]], *, skip_runs: int = 0, top: int = 10) -> OpBreakdown:
    """Aggregate node kernel times of an onnxruntime trace, ignoring the first ``skip_runs`` runs."""
    events = list(events)
    runs = sorted((e for e in events if e.get("name") == "model_run"), key=lambda e: e["ts"])
    if len(runs) <= skip_runs:
        raise InputError(f"trace: expected more than {skip_runs} model_run events, got {len(runs)}")
    start = runs[skip_runs - 1]["ts"] + runs[skip_runs - 1]["dur"] if skip_runs else float("-inf")
    totals: dict[str, list[Any]] = {}
    for e in events:
        name = e.get("name", "")
        if e.get("cat") != "Node" or not name.endswith(KERNEL_SUFFIX) or e["ts"] < start:
            continue
        args = e.get("args", {})
        entry = totals.setdefault(
            name[: -len(KERNEL_SUFFIX)], [args.get("op_name", "?"), args.get("provider", "?"), 0.0, 0]
        )
        entry[2] += float(e["dur"])
        entry[3] += 1
    node_total = sum(v[2] for v in totals.values())
    recurrent = {k: v for k, v in totals.items() if v[0] in RECURRENT_OPS}
    ranked = sorted(totals.items(), key=lambda kv: -kv[1][2])
    return OpBreakdown(
        runs=len(runs) - skip_runs,
        run_total_us=float(sum(r["dur"] for r in runs[skip_runs:])),
        node_total_us=node_total,
        recurrent_share=sum(v[2] for v in recurrent.values()) / node_total if node_total else 0.0,
        recurrent_nodes=tuple(recurrent),
        top=tuple(
            OpStat(k, op, ep, total, calls, total / node_total if node_total else 0.0)
            for k, (op, ep, total, calls) in ranked[:top]
        ),
    )


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else what ``platform`` knows)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU model, cores, OS and library versions."""
    import onnxruntime

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "machine": platform.machine(),
        "os": platform.platform(),
        "python": sys.version.split()[0],
        "numpy": np.__version__,
        "onnxruntime": onnxruntime.__version__,
        "available_providers": list(onnxruntime.get_available_providers()),
    }


def peak_rss_mib() -> float | None:
    """This process image's peak resident set size in MiB.

    Linux: ``VmHWM`` of ``/proc/self/status``, which belongs to the image after ``exec``;
    ``ru_maxrss`` is not used there, since it carries over the parent's peak across ``exec``.
    """
    try:
        with open("/proc/self/status", encoding="utf-8") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024  # bytes on macOS, KiB else
