"""``report.md`` for a pipeline run: tables plus the loss, gradient-norm and latency charts."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from edgernn.runtime.fileio import atomic_write_text


def _plots(out: Path, run_dir: Path, rows: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Write the charts beside report.md; returns (title, file) pairs. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    charts = []
    if (run_dir / "loss.png").is_file():
        shutil.copyfile(run_dir / "loss.png", out / "loss.png")
        charts.append(("Loss and validation metric per epoch", "loss.png"))
    records = [
        json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line.strip()
    ]
    layers = sorted({k for r in records for k in (r.get("grad_norm") or {})})
    if layers:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        for layer in layers:
            points = [
                (r["epoch"], r["grad_norm"][layer]) for r in records if layer in (r.get("grad_norm") or {})
            ]
            ax.plot(*zip(*points, strict=True), label=layer)
        ax.set(xlabel="epoch", ylabel="mean gradient norm", yscale="log", title="Gradient norm per layer")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "grad_norm.png", dpi=100)
        plt.close(fig)
        charts.append(("Gradient norm per layer", "grad_norm.png"))
    timed = [r for r in rows if r.get("p50_ms") is not None]
    if timed:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        names = [r["name"] for r in timed]
        ax.barh(names, [r["p50_ms"] for r in timed], label="p50")
        ax.barh(
            names,
            [r["p99_ms"] - r["p50_ms"] for r in timed],
            left=[r["p50_ms"] for r in timed],
            label="p99",
            alpha=0.5,
        )
        ax.set(xlabel="latency (ms), CPU, 1 thread, batch 1", title="Latency per variant")
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / "latency.png", dpi=100)
        plt.close(fig)
        charts.append(("Latency per variant and mode", "latency.png"))
    return charts


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def write_report(
    out: Path,
    run_dir: Path,
    summary: Any,
    quality: list[list[Any]],
    variants: list[list[Any]],
    variant_headers: list[str],
    checks: list[dict],
    machine: str,
    timing_rows: list[dict[str, Any]],
) -> Path:
    """Write ``out/report.md`` (atomically) with its charts; returns its path."""
    charts = _plots(out, run_dir, timing_rows)
    failed = [c for c in checks if not c["passed"]]
    worst = max((c["max_abs_diff"] for c in checks), default=0.0)
    parts = [
        "# edgernn run report",
        f"Machine: {machine}.",
        "## Quality",
        _table(["", "metric", "value", "naive baseline", "ratio"], quality),
        "## Variants",
        _table(variant_headers, variants),
        "## Export verification",
        f"{len(checks)} checks (PyTorch vs onnxruntime on outputs and final states, lengths, batches, streaming); "
        f"{len(failed)} failed; max abs diff {worst:.2e}.",
        *[f"## {title}\n![{title}]({file})" for title, file in charts],
        "## Training summary",
        "```json\n" + json.dumps(summary.to_dict(), indent=2) + "\n```",
    ]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(parts) + "\n")
    return path
