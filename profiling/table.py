"""The terminal view of a profile: machine and inputs, one row per cell, and the per-op tables."""

from __future__ import annotations

import functools
from typing import Any

from rich.markup import escape

from edgernn.profiling.report import accuracy_text, baseline_names, fmt, machine_line, recommendations, row

IDENTITY = (
    ("variant", "variant"),
    ("provider_ran", "EP"),
    ("threads", "thr"),
    ("batch", "batch"),
    ("seq", "T"),
)
LATENCY = (
    ("p50_ms", "p50"),
    ("p90_ms", "p90"),
    ("p95_ms", "p95"),
    ("p99_ms", "p99"),
    ("max_ms", "max"),
    ("mean_ms", "mean"),
    ("std_ms", "std"),
    ("iters", "n"),
)
STREAMS = (
    ("steps_per_s", "batched steps/s"),
    ("independent_steps_per_s", "independent steps/s"),
    ("independent_speedup", "speed-up"),
    ("p50_ms", "tick p50"),
    ("p99_ms", "tick p99"),
    ("independent_p50_ms", "round p50"),
    ("independent_p99_ms", "round p99"),
    ("independent_max_abs_diff", "max|Δ|"),
)
COST = (
    ("sequences_per_s", "seq/s"),
    ("steps_per_s", "steps/s"),
    ("session_ms", "load ms"),
    ("first_ms", "1st ms"),
    ("peak_rss_mib", "RSS MiB"),
    ("model_mb", "MB"),
)


def print_report(console: Any, report: Any) -> None:
    """Print ``report`` as rich tables: latency, throughput and cost, baselines, per-op breakdowns."""
    mode = report.cells[0].cell.mode if report.cells else "sequence"
    unit = "per step, state carried" if mode == "stream" else "per sequence"
    say = functools.partial(console.print, markup=False, highlight=False)
    say(f"{report.target} ({report.kind}), {mode} mode: latency {unit}")
    say(f"machine: {machine_line(report)}")
    inputs = report.inputs
    say(
        f"input: {inputs['data']}; batch {inputs['batch']}, T {inputs['seq']}; "
        f"constants {inputs['constants'] or 'none'}; state {', '.join(inputs['state']) or 'none'}"
    )
    for variant, acc in report.accuracy.items():
        if accuracy_text(acc):
            say(f"accuracy {variant}: {accuracy_text(acc)}")
    for note in report.notes:
        say(f"note: {note}")
    rows = [row(report, c) for c in report.cells]
    for r in rows:
        r["provider_ran"] = (r["provider_ran"] or "").replace("ExecutionProvider", "")
    _table(console, f"latency, ms {unit}", rows, LATENCY)
    measured = [r for r, c in zip(rows, report.cells, strict=True) if c.error is None]
    if measured:
        _table(console, "throughput, start-up and footprint", measured, COST)
    streamed = [r for r in measured if r["streams"]]
    if streamed:
        for r in streamed:
            r["independent_speedup"] = _speedup(r["independent_speedup"])
        _table(console, "batched streams (one StreamBatcher tick) vs independent streams", streamed, STREAMS)
    names = [n for n in baseline_names(report) if n != "independent"]
    if names and measured:
        extra = [("p50_ms", "edgernn p50")]
        for name in names:
            extra += [
                (f"{name}_p50_ms", f"{name} p50"),
                (f"{name}_speedup", "speed-up"),
                (f"{name}_max_abs_diff", "max|Δ|"),
            ]
        for r in measured:
            for name in names:
                if r[f"{name}_error"]:
                    r[f"{name}_p50_ms"] = r[f"{name}_error"]
                r[f"{name}_speedup"] = _speedup(r[f"{name}_speedup"])
        together = all(b.interleaved for c in report.measured for b in c.baselines)
        how = "interleaved" if together else "timed after each isolated cell"
        _table(console, f"edgernn against baselines (same inputs, {how})", measured, tuple(extra))
    for c in report.failed:
        say(f"failed {c.cell.label}: {c.error}")
    for line in recommendations(report):
        say(f"recommendation: {line}")
    for c in report.cells:
        if c.ops is not None:
            _print_ops(console, c)


def _table(console: Any, title: str, rows: list[dict], columns: tuple) -> None:
    from rich import box
    from rich.table import Table

    keys = [(k, h) for k, h in columns if any(r.get(k) not in (None, "") for r in rows)]
    identity = (
        IDENTITY
        if not any(r["streams"] for r in rows)
        else (*IDENTITY[:4], ("streams", "streams"), IDENTITY[4])
    )
    table = Table(*(h for _, h in identity + tuple(keys)), title=title, box=box.SIMPLE_HEAD, pad_edge=False)
    for r in rows:
        values = [fmt(r[k]) for k, _ in identity] + [fmt(r[k]) for k, _ in keys]
        if r["error"] is not None:
            values = values[: len(identity)] + ["failed"] + [""] * (len(keys) - 1)
        table.add_row(*(escape(v) for v in values))
    console.print(table)


def _speedup(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}×"


def _print_ops(console: Any, c: Any) -> None:
    from rich import box
    from rich.table import Table

    ops = c.ops
    recurrent = ", ".join(ops.recurrent_nodes) or "none"
    title = f"ops {c.cell.label}: recurrent nodes {ops.recurrent_share:.1%} of node time ({recurrent})"
    table = Table(
        "node",
        "op",
        "EP",
        "total µs",
        "calls",
        "share",
        title=escape(title),
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for o in ops.top:
        style = "bold" if o.node in ops.recurrent_nodes else ""
        ep = o.provider.replace("ExecutionProvider", "")
        values = (o.node, o.op_type, ep, f"{o.total_us:.0f}", str(o.calls), f"{o.share:.1%}")
        table.add_row(*(escape(v) for v in values), style=style)
    console.print(table)
