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
        _latency_chart(plt, out / "latency.png", timed)
        charts.append(("Latency per variant and mode (bars p50, whiskers p99)", "latency.png"))
    return charts


def _latency_chart(plt: Any, path: Path, timed: list[dict[str, Any]]) -> None:
    """p50 bars with p99 whiskers; the axis stops at 3x the slowest p50, so one outlier does not
    squash the bars (a clipped whisker ends in an arrow and says its value)."""
    fig, ax = plt.subplots(figsize=(6.5, 0.5 * len(timed) + 1.2))
    names = [r["name"] for r in timed]
    p50 = [r["p50_ms"] for r in timed]
    p99 = [max(r["p99_ms"] or r["p50_ms"], r["p50_ms"]) for r in timed]
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
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _model_and_data(m: dict[str, Any]) -> list[str]:
    """The model and data section as bullet lines."""
    layers = f"{m['layers']} layer{'s' if m['layers'] > 1 else ''}"
    direction = ", bidirectional" if m["bidirectional"] else ""
    lines = [
        f"- model: {m['cell'].upper()}, {layers} x {m['hidden']} hidden units{direction}, {m['topology']}"
        + (f", window {m['window']}" if m["window"] else "")
        + (f", horizon {m['horizon']}" if m["horizon"] else ""),
        f"- data: {m['source']}; inputs {', '.join(m['inputs']) or '(token ids)'}"
        + (f" -> {', '.join(m['outputs'])}" if m["outputs"] else ""),
        "- splits ({:.0%} / {:.0%} / {:.0%}): {} / {} / {} samples (train / val / test)".format(
            *m["split_fractions"], *m["split_sizes"]
        ),
    ]
    series = m.get("series")
    if series:
        if series["time_column"]:
            lines.append(
                f"- time column `{series['time_column']}`: {series['step']}, {series['first']} .. {series['last']}"
                + (f", season {series['period']} steps" if series["period"] > 1 else "")
            )
        changes = f"; inputs seen as changes: {', '.join(series['changes'])}" if series["changes"] else ""
        lines.append(f"- differencing: {series['difference']} ({series['reason']}){changes}")
        if series.get("calendar"):
            lines.append(
                f"- calendar features {', '.join(series['calendar'])}, from a row counter in the graph "
                f"(state `{series['counter']}`: rows since {series['first']})"
            )
    return lines


def _quantization_notes(variants: dict[str, Any], refused: dict[str, str]) -> list[str]:
    lines = [f"- `{v}`: {n}" for v, i in variants.items() for n in (i.get("note"), i.get("stream_note")) if n]
    lines += [f"- `{v}` (refused): {note}" for v, note in refused.items()]
    return lines or ["- none"]


def _baselines(training: dict[str, Any]) -> list[str]:
    """Every simple forecast the model was measured against (series), as a table."""
    scores, model = training.get("baselines") or [], training["test_metric"]
    rows = [
        [b["name"], f"{b['metric']:.4g}", f"{model / b['metric']:.2f}" if b["metric"] else "-"]
        for b in scores
    ]
    return (
        [_table(["simple forecast", f"test {training['metric']}", "model / forecast"], rows)] if rows else []
    )


def write_report(out: Path, run_dir: Path, summary: dict[str, Any], checks: list[dict], machine: str) -> Path:
    """Write ``out/report.md`` (atomically) with its charts; returns its path. It opens with the verdict
    and what to ship, then the model and data, quality, variants and their notes, checks, charts."""
    from .pipeline import VARIANT_HEADERS, variant_rows

    charts = _plots(out, run_dir, summary["timing"])
    failed = [c for c in checks if not c["passed"]]
    worst = max((c["max_abs_diff"] for c in checks), default=0.0)
    q, t = summary["quality"], summary["training"]
    verdict = summary["verdict"]
    headline = (
        f"**Verdict: {verdict}.**"
        if verdict
        else f"**Verdict: better than {t['baseline']}**"
        + (", the strongest simple forecast," if len(t.get("baselines") or ()) > 1 else "")
        + f" on the test split ({t['metric']} {t['test_metric']:.4g} vs {t['baseline_metric']:.4g}"
        + (f", {q['ratio']}x {t['baseline']})." if q["ratio"] != "-" else ").")
    )
    streamed = [
        [
            v,
            f"{i['stream_metric']['value']:.4g}" if i.get("stream_metric") else "-",
            "yes" if i["stream_ok"] else "no",
        ]
        for v, i in summary["variants"].items()
    ]
    parts = [
        "# edgernn run report",
        headline,
        "\n".join(summary["recommendation"]),
        f"Machine: {machine}.",
        "## Model and data",
        "\n".join(_model_and_data(summary["model"])),
        "## Quality",
        _table(["", "metric", "value", "strongest simple forecast", "ratio"], [list(q.values())]),
        *_baselines(t),
        _table(["variant", f"streamed {q['metric']} (batch 1, step by step)", "may stream"], streamed),
        "## Variants",
        _table(VARIANT_HEADERS, variant_rows(summary)),
        "## Quantization notes",
        "\n".join(_quantization_notes(summary["variants"], summary["refused"])),
        "## Export verification",
        f"{len(checks)} checks (PyTorch vs onnxruntime on outputs and final states, lengths, batches, streaming); "
        f"{len(failed)} failed; max abs diff {worst:.2e}.",
        *[f"## {title}\n![{title}]({file})" for title, file in charts],
        "## Training summary",
        "```json\n" + json.dumps(summary["training"], indent=2) + "\n```",
    ]
    path = out / "report.md"
    atomic_write_text(path, "\n\n".join(parts) + "\n")
    return path
