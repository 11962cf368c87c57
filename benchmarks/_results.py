"""One benchmark run as JSON: what was measured, against which target, on which machine and versions.

Every script in benchmarks/ takes ``--json PATH`` and writes one such record per run; the docs'
benchmarks page (``python docs/gen_benchmarks.py``) reads the committed records in
``benchmarks/results/`` and states each figure once, as the median and range over the runs.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from importlib import metadata
from pathlib import Path

SCHEMA = 1
HIDDEN_OPTIONS = ("--json", "--worker")
PACKAGES = ("torch", "onnxruntime", "numpy", "edgernn", "openvino")


def add_json_option(parser: argparse.ArgumentParser) -> None:
    """``--json PATH``: also write this run's figures and context as JSON to PATH."""
    parser.add_argument("--json", metavar="PATH", type=Path, help="also write this run's figures as JSON")


def metric(
    name: str,
    value: float,
    unit: str,
    target: str | None = None,
    ok: bool | None = None,
    samples: list[float] | None = None,
) -> dict:
    """One figure: ``value`` in ``unit`` (``x`` for a ratio), with its target (``">= 4.5"``) if any,
    and the per-repeat values it is the median of when the script repeats within one run."""
    out = {"name": name, "value": float(value), "unit": unit, "target": target, "ok": ok}
    if samples is not None:
        out["samples"] = [float(v) for v in samples]
    return out


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions() -> dict[str, str | None]:
    """Python's and the measured packages' versions (``None``: not installed)."""
    found: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = None
    return found


def machine() -> dict:
    """CPU model, logical and usable cores, the 1-minute load average when the run ended, the OS."""
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "cpu_model": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "load_1min": load,
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
    }


def command() -> str:
    """How this run was started, ``--json PATH`` (and soak's internal ``--worker BUNDLE``) left out."""
    args, skip = [], False
    for arg in sys.argv[1:]:
        if skip or arg in HIDDEN_OPTIONS or arg.startswith("--json="):
            skip = arg in HIDDEN_OPTIONS
            continue
        args.append(arg)
    return " ".join(["python benchmarks/" + Path(sys.argv[0]).name, *args])


def write(path: Path | None, benchmark: str, metrics: list[dict], *, verdict: str, smoke: bool) -> None:
    """Write one run's record to ``path`` (nothing when ``path`` is None), via a temp file renamed
    into place so that a killed run leaves no half-written JSON."""
    if path is None:
        return
    record = {
        "schema": SCHEMA,
        "benchmark": benchmark,
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "command": command(),
        "smoke": smoke,
        "verdict": verdict,
        "machine": machine(),
        "versions": versions(),
        "metrics": metrics,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
