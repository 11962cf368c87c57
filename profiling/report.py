"""A :class:`ProfileReport` as rows, and as JSON, CSV and Markdown files."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from edgernn.runtime.fileio import atomic_write_text

from .result import CellResult, ProfileReport

LATENCY_KEYS = ("p50_ms", "p90_ms", "p95_ms", "p99_ms", "max_ms", "mean_ms", "std_ms")


def accuracy_text(accuracy: dict[str, Any]) -> str:
    """One short phrase: a variant's task metric change against fp32, or fp32's export parity."""
    if "metric" in accuracy:
        m = accuracy["metric"]
        delta = accuracy.get("metric_delta_vs_fp32")
        change = f" ({delta:+.2%} vs fp32)" if delta is not None else ""
        return f"{m['name']} {m['value']:.4g}{change}"
    if "max_abs_diff_vs_fp32" in accuracy:
        return f"max|Δ| {accuracy['max_abs_diff_vs_fp32']:.2g} vs fp32"
    if "max_abs_diff_vs_torch" in accuracy:
        return f"max|Δ| {accuracy['max_abs_diff_vs_torch']:.2g} vs torch"
    return ""


def baseline_names(report: ProfileReport) -> list[str]:
    """Baselines in the order they first appear."""
    names: list[str] = []
    for c in report.cells:
        names += [b.name for b in c.baselines if b.name not in names]
    return names


def row(report: ProfileReport, c: CellResult) -> dict[str, Any]:
    """One cell as a flat dict of plain values (None where not measured)."""
    cell, lat = c.cell, c.latency
    out: dict[str, Any] = {
        "variant": cell.variant,
        "provider": cell.provider,
        "provider_ran": c.provider_ran,
        "threads": cell.threads,
        "batch": cell.batch,
        "streams": cell.streams,
        "seq": cell.seq,
        "mode": cell.mode,
        **{k: getattr(lat, k) if lat else None for k in LATENCY_KEYS},
        "iters": lat.n if lat else None,
        "sequences_per_s": c.sequences_per_s,
        "steps_per_s": c.steps_per_s,
        "session_ms": c.session_ms,
        "first_ms": c.first_ms,
        "peak_rss_mib": c.peak_rss_mib,
        "model_mb": c.model_bytes / 1e6 if c.model_bytes is not None else None,
        "accuracy": accuracy_text(report.accuracy.get(cell.variant, {})),
        "recurrent_share": c.ops.recurrent_share if c.ops else None,
    }
    for name in baseline_names(report):
        b = c.baseline(name)
        out[f"{name}_p50_ms"] = b.latency.p50_ms if b and b.latency else None
        out[f"{name}_speedup"] = b.speedup if b else None
        out[f"{name}_max_abs_diff"] = b.max_abs_diff if b else None
        out[f"{name}_error"] = b.error if b else None
        if cell.streams:  # each call advances every stream one step, on both sides
            lat = b.latency if b else None
            out[f"{name}_p99_ms"] = lat.p99_ms if lat else None
            out[f"{name}_steps_per_s"] = cell.rows / (lat.mean_ms / 1e3) if lat else None
    out["error"] = c.error
    return out


def recommendations(report: ProfileReport) -> list[str]:
    """One line per call pattern (mode, batch, sequence length): the fastest measured cell by p50, e.g.
    ``stream batch 1: cpu int8 (1 thread), 42 µs per step``. Every variant in a bundle already
    passed its metric budget, so the fastest one is the one to ship for that pattern."""
    best: dict[tuple, CellResult] = {}
    for c in report.measured:
        key = (c.cell.mode, c.cell.streams or 0, c.cell.batch, c.cell.seq or 0)
        if key not in best or c.latency.p50_ms < best[key].latency.p50_ms:
            best[key] = c
    lines = []
    for (mode, streams, batch, _), c in sorted(best.items(), key=lambda kv: kv[0]):
        length = "" if c.cell.seq is None else f" T={c.cell.seq}"
        threads = f"{c.cell.threads} thread{'s' if c.cell.threads > 1 else ''}"
        what = f"{c.cell.provider} {c.cell.variant} ({threads})"
        if streams:
            alone = c.baseline("independent")
            gain = (
                f", {alone.speedup:.1f}x the steps/s of independent streams"
                if alone and alone.speedup
                else ""
            )
            lines.append(
                f"{mode} {streams} streams{length}: {what} batched, {_duration(c.latency.p50_ms)} per tick "
                f"(p99 {_duration(c.latency.p99_ms)}){gain}"
            )
            continue
        unit = "step" if mode == "stream" else "sequence"
        lines.append(f"{mode} batch {batch}{length}: {what}, {_duration(c.latency.p50_ms)} per {unit}")
    return lines


def _duration(ms: float) -> str:
    return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.2f} ms"


def rows(report: ProfileReport) -> list[dict[str, Any]]:
    """Every cell as a flat row (see :func:`row`)."""
    return [row(report, c) for c in report.cells]


def fmt(value: Any) -> str:
    """A number as a reader wants it in a table: 4 significant digits, blanks for missing values."""
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) < 1e3 else f"{value:.0f}"
    return str(value)


def machine_line(report: ProfileReport) -> str:
    """CPU model, cores, OS and library versions in one line."""
    m = report.machine
    return (
        f"{m['cpu_model']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), "
        f"{m['os']}; onnxruntime {m['onnxruntime']}, numpy {m['numpy']}, python {m['python']}"
        + (f", torch {m['torch']}" if "torch" in m else "")
    )


def to_csv(report: ProfileReport) -> str:
    """One header line, then one line per cell with every number unrounded."""
    table = rows(report)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(table[0]) if table else ["variant"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)
    return buffer.getvalue()


def to_markdown(report: ProfileReport) -> str:
    """Machine, inputs and notes, the cell table, then one section per cell with a per-op breakdown."""
    table = rows(report)
    keys = [k for k in (table[0] if table else {}) if any(r[k] not in (None, "") for r in table)]
    lines = [
        f"# edgernn profile: {report.target}",
        "",
        f"- machine: {machine_line(report)}",
        f"- input: {report.inputs['data']}; constants {report.inputs['constants'] or 'none'}; "
        f"state {', '.join(report.inputs['state']) or 'none'}",
        *(f"- note: {n}" for n in report.notes),
        *(f"- recommendation: {line}" for line in recommendations(report)),
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(fmt(r[k]).replace("|", "\\|") for k in keys) + " |" for r in table),
    ]
    for c in report.cells:
        if c.ops is None:
            continue
        lines += [
            "",
            f"## Ops: {c.cell.label}",
            "",
            f"recurrent nodes ({', '.join(c.ops.recurrent_nodes) or 'none'}): "
            f"{c.ops.recurrent_share:.1%} of node time over {c.ops.runs} runs",
            "",
            "| node | op | EP | total µs | calls | share |",
            "|---|---|---|---|---|---|",
            *(
                f"| {o.node} | {o.op_type} | {o.provider} | {o.total_us:.0f} | {o.calls} | {o.share:.1%} |"
                for o in c.ops.top
            ),
        ]
    return "\n".join(lines) + "\n"


def write_outputs(report: ProfileReport, *, json_path=None, csv_path=None, markdown_path=None) -> list[Path]:
    """Write whichever of the three files are asked for; returns their paths."""
    written = []
    for path, text in (
        (json_path, lambda: json.dumps(report.to_dict(), indent=2) + "\n"),
        (csv_path, lambda: to_csv(report)),
        (markdown_path, lambda: to_markdown(report)),
    ):
        if path is not None:
            atomic_write_text(Path(path), text())
            written.append(Path(path))
    return written
