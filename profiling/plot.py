"""``edgernn profile --plot DIR``: latency against sequence length per variant, and per-op shares."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from edgernn.runtime.errors import MissingDependencyError
from edgernn.runtime.fileio import atomic_write_figure

MAX_OPS_PANELS = 6
LATENCY_PNG, OPS_PNG = "latency_vs_seq.png", "ops_share.png"
PLOT_FILES = (LATENCY_PNG, OPS_PNG)  # what --plot DIR may replace


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise MissingDependencyError(
            "--plot needs matplotlib, which is not installed: pip install 'edgernn[plot]'"
        ) from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_report(report: Any, out_dir: str | Path) -> list[Path]:
    """Write ``latency_vs_seq.png`` (p50, whiskers to p99) and, with ``--ops``, ``ops_share.png``."""
    plt = _pyplot()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = [_latency(plt, report, out / LATENCY_PNG)]
    with_ops = [c for c in report.cells if c.ops is not None]
    if with_ops:
        written.append(_ops(plt, with_ops[:MAX_OPS_PANELS], out / OPS_PNG))
    return written


def _latency(plt: Any, report: Any, path: Path) -> Path:
    lines: dict[str, list[tuple[int, float, float]]] = defaultdict(list)
    for c in report.measured:
        cell = c.cell
        key = f"{cell.variant} {cell.provider} {cell.threads}t b{cell.batch}"
        lines[key].append((cell.seq or 1, c.latency.p50_ms, c.latency.p99_ms))
        for b in c.baselines:
            if b.latency is not None:
                lines[f"{b.name} {cell.threads}t b{cell.batch}"].append(
                    (cell.seq or 1, b.latency.p50_ms, b.latency.p99_ms)
                )
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for key, points in sorted(lines.items()):
        points.sort()
        seq, p50, p99 = (list(v) for v in zip(*points, strict=True))
        style = "--" if key.startswith("torch") else "-"
        ax.errorbar(
            seq,
            p50,
            yerr=[[0] * len(p50), [b - a for a, b in zip(p50, p99, strict=True)]],
            fmt=style + "o",
            capsize=3,
            label=key,
        )
    mode = report.cells[0].cell.mode if report.cells else "sequence"
    ax.set_xlabel("sequence length T (steps)" if mode == "sequence" else "steps per stream")
    ax.set_ylabel("latency per call, ms (p50, bar to p99)" if mode == "sequence" else "latency per step, ms")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(f"{Path(report.target).name}: {report.machine.get('cpu_model', '')}")
    fig.tight_layout()
    atomic_write_figure(fig, path, dpi=120)
    plt.close(fig)
    return path


def _ops(plt: Any, cells: list, path: Path) -> Path:
    fig, axes = plt.subplots(
        len(cells), 1, figsize=(7, 1.2 + 0.35 * sum(len(c.ops.top) for c in cells)), squeeze=False
    )
    for ax, c in zip(axes[:, 0], cells, strict=True):
        ops = list(reversed(c.ops.top))
        colors = ["tab:red" if o.node in c.ops.recurrent_nodes else "tab:gray" for o in ops]
        ax.barh([f"{o.node} ({o.op_type})" for o in ops], [100 * o.share for o in ops], color=colors)
        ax.set_title(f"{c.cell.label}: recurrent {c.ops.recurrent_share:.1%}", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xlabel("share of node time, %")
    fig.tight_layout()
    atomic_write_figure(fig, path, dpi=120)
    plt.close(fig)
    return path
