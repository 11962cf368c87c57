"""``report.md`` and ``summary.json`` for a pipeline run, rendered from its :class:`PipelineSummary`:
tables plus the loss, gradient-norm and latency charts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgernn.runtime.fileio import atomic_write_bytes, atomic_write_figure, atomic_write_text

from .advice import advice_lines, advise
from .summary import ModelDescription, PipelineSummary, Timing

if TYPE_CHECKING:
    from edgernn.train.records import TrainingSummary

SUMMARY_FILE = "summary.json"
VARIANT_HEADERS = [
    "variant",
    "metric",
    "size",
    "p50 seq",
    "p99 seq",
    "p50 stream step",
    "vs PyTorch seq",
    "vs PyTorch stream",
]


def ms(value: float | None) -> str:
    """A latency for a table: µs under a millisecond, ``-`` when not measured."""
    return "-" if value is None else (f"{value * 1000:.0f} µs" if value < 1 else f"{value:.2f} ms")


def variant_rows(summary: PipelineSummary) -> list[list[str]]:
    """One row per kept variant: metric, size, CPU latencies and speed against PyTorch eager."""
    rows = []
    for variant, info in summary.variants.items():
        seq, stream = (summary.timing_for(variant, mode) for mode in ("sequence", "stream"))
        speed = [f"{t.speedup_vs_torch:.1f}x" if t and t.speedup_vs_torch else "-" for t in (seq, stream)]
        rows.append(
            [
                variant,
                f"{info.metric.name} {info.metric.value:.4g}",
                f"{info.size_bytes / 1024:.1f} KiB",
                ms(seq.p50_ms if seq else None),
                ms(seq.p99_ms if seq else None),
                ms(stream.p50_ms if stream else None),
                *speed,
            ]
        )
    return rows


def quality_cells(summary: PipelineSummary) -> list[str]:
    """The test split's metric beside its naive baseline's, and their ratio."""
    t, ratio = summary.training, summary.ratio
    return [
        "test split",
        t.metric,
        f"{t.test_metric:.4g}",
        f"{t.baseline_metric:.4g} ({t.baseline})",
        f"{ratio:.2f}" if ratio is not None else "-",
    ]


def _plots(
    out: Path, run_dir: Path, history: Sequence[dict[str, Any]], timing: Sequence[Timing]
) -> list[tuple[str, str]]:
    """Write the charts beside report.md; returns (title, file) pairs. Needs matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return []
    charts = []
    if (run_dir / "loss.png").is_file():
        atomic_write_bytes(out / "loss.png", (run_dir / "loss.png").read_bytes())
        charts.append(("Loss and validation metric per epoch", "loss.png"))
    records = history
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
        atomic_write_figure(fig, out / "grad_norm.png", dpi=100)
        plt.close(fig)
        charts.append(("Gradient norm per layer", "grad_norm.png"))
    timed = [t for t in timing if t.p50_ms is not None]
    if timed:
        _latency_chart(plt, out / "latency.png", timed)
        charts.append(("Latency per variant and mode (bars p50, whiskers p99)", "latency.png"))
    return charts


def _latency_chart(plt: Any, path: Path, timed: list[Timing]) -> None:
    """p50 bars with p99 whiskers; the axis stops at 3x the slowest p50, so one outlier does not
    squash the bars (a clipped whisker ends in an arrow and says its value)."""
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(timed) + 1.2))
    names = [t.name for t in timed]
    p50 = [t.p50_ms or 0.0 for t in timed]
    p99 = [max(t.p99_ms or a, a) for t, a in zip(timed, p50, strict=True)]
    limit = min(max(p99), 3 * max(p50)) * 1.08
    whisker = [min(b, limit) - a for a, b in zip(p50, p99, strict=True)]
    ax.barh(names, p50, xerr=[[0] * len(p50), whisker], capsize=3, color="tab:blue", ecolor="black")
    for i, b in enumerate(p99):
        if b > limit:
            ax.annotate(f"p99 {b:.3g} ms →", (limit, i), xytext=(-4, 6), textcoords="offset points",
                        ha="right", fontsize=7)  # fmt: skip
    ax.set_xlim(0, limit)
    ax.invert_yaxis()
    ax.set(
        xlabel="latency (ms), CPU, 1 thread, batch 1", title="Latency per variant: p50 (bar), p99 (whisker)"
    )
    fig.tight_layout()
    atomic_write_figure(fig, path, dpi=100)
    plt.close(fig)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _model_and_data(m: ModelDescription) -> list[str]:
    """The model and data section as bullet lines."""
    layers = f"{m.layers} layer{'s' if m.layers > 1 else ''}"
    direction = ", bidirectional" if m.bidirectional else ""
    lines = [
        f"- model: {m.cell.upper()}, {layers} x {m.hidden} hidden units{direction}, {m.topology}"
        + (f", window {m.window}" if m.window else "")
        + (f", horizon {m.horizon}" if m.horizon else ""),
        f"- data: {m.source}; inputs {', '.join(m.inputs) or '(token ids)'}"
        + (f" -> {', '.join(m.outputs)}" if m.outputs else ""),
        "- splits ({:.0%} / {:.0%} / {:.0%}): {} / {} / {} samples (train / val / test)".format(
            *m.split_fractions, *m.split_sizes
        ),
    ]
    s = m.series
    if s is not None:
        if s.time_column:
            lines.append(
                f"- time column `{s.time_column}`: {s.step}, {s.first} .. {s.last}"
                + (f", season {s.period} steps" if s.period > 1 else "")
            )
        changes = f"; inputs seen as changes: {', '.join(s.changes)}" if s.changes else ""
        lines.append(f"- differencing: {s.difference} ({s.reason}){changes}")
        if s.calendar:
            lines.append(
                f"- calendar features {', '.join(s.calendar)}, from a row counter in the graph "
                f"(state `{s.counter}`: rows since {s.first})"
            )
    return lines


def _quantization_notes(summary: PipelineSummary) -> list[str]:
    lines = [f"- `{v}`: {n}" for v, i in summary.variants.items() for n in (i.note, i.stream_note) if n]
    lines += [f"- `{v}` (refused): {note}" for v, note in summary.refused.items()]
    return lines or ["- none"]


def _baselines(summary: PipelineSummary) -> list[str]:
    """Every simple forecast (series) or baseline (classifiers) the model was measured against, as a table."""
    t = summary.training
    rows = [
        [b.name, f"{b.metric:.4g}", f"{t.test_metric / b.metric:.2f}" if b.metric else "-"]
        for b in t.baselines
    ]
    return [_table([f"simple {t.simple}", f"test {t.metric}", f"model / {t.simple}"], rows)] if rows else []


def _headline(summary: PipelineSummary) -> str:
    t, ratio = summary.training, summary.ratio
    caveat = f"\n\nWarning: {t.caveat()}." if t.caveat() else ""
    if summary.verdict:
        return f"**Verdict: {summary.verdict}.**" + caveat
    how = f", {ratio:.2f}x {t.baseline})." if ratio is not None else ")."
    strongest = f", the strongest simple {t.simple}," if len(t.baselines) > 1 else ""
    return (
        f"**Verdict: better than {t.baseline}**{strongest} on the test split ({t.metric} {t.test_metric:.4g} "
        f"vs {t.baseline_metric:.4g}" + how + caveat
    )


def _notes_line(t: TrainingSummary) -> str:
    """How the baselines were computed (a subsampled 1-NN says so)."""
    return " ".join(f"Note: {n}." for n in t.notes)


def render_markdown(summary: PipelineSummary, charts: Sequence[tuple[str, str]] = ()) -> str:
    """report.md: the verdict and what to ship, then the model and data, quality, variants and their
    notes, the export checks, the charts and the training summary."""
    checks = summary.checks
    worst = max((c.max_abs_diff for c in checks if not c.warning), default=0.0)
    warned = "".join(
        f"\n- warning: {c.name}: max abs diff {c.max_abs_diff:.2e} {c.detail}"
        for c in checks
        if c.warning and not c.passed
    )
    metric = summary.training.metric
    streamed = [
        [v, f"{i.stream_metric.value:.4g}" if i.stream_metric else "-", "yes" if i.stream_ok else "no"]
        for v, i in summary.variants.items()
    ]
    advice = advise(summary.verdict, summary.variants, summary.timing)
    parts = [
        "# edgernn run report",
        _headline(summary),
        "\n".join(
            advice_lines(advice, summary.variants, strong=lambda s: f"**{s}**", code=lambda s: f"`{s}`")
        ),
        f"Machine: {summary.machine}.",
        "## Model and data",
        "\n".join(_model_and_data(summary.model)),
        "## Quality",
        _table(
            ["", "metric", "value", f"strongest simple {summary.training.simple}", "ratio"],
            [quality_cells(summary)],
        ),
        *_baselines(summary),
        _notes_line(summary.training),
        _table(["variant", f"streamed {metric} (batch 1, step by step)", "may stream"], streamed),
        "## Variants",
        _table(VARIANT_HEADERS, variant_rows(summary)),
        "## Quantization notes",
        "\n".join(_quantization_notes(summary)),
        "## Export verification",
        f"{len(checks)} checks (PyTorch vs onnxruntime on outputs and final states, lengths, batches, streaming); "
        f"{sum(c.refused for c in checks)} failed; max abs diff {worst:.2e}." + warned,
        *[f"## {title}\n![{title}]({file})" for title, file in charts],
        "## Training summary",
        "```json\n" + json.dumps(summary.training.to_dict(), indent=2) + "\n```",
    ]
    return "\n\n".join(p for p in parts if p) + "\n"


def write_reports(summary: PipelineSummary, run_dir: Path) -> None:
    """Write ``report.md`` (with its charts) and ``summary.json`` into ``summary.out``, atomically."""
    charts = _plots(summary.out, run_dir, summary.history, summary.timing)
    atomic_write_text(summary.report, render_markdown(summary, charts))
    atomic_write_text(summary.out / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2))
