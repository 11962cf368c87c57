"""``edgernn export`` and ``edgernn quantize``. torch and onnx load inside the commands only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from edgernn.runtime.errors import InputError
from edgernn.runtime.flags import FiniteFloat, check_outputs
from edgernn.runtime.vocab import FP32, INT8, QUANTIZE_REPORT, QUANTIZED_VARIANTS


def _variants(text: str | None, flag: str) -> list[str]:
    """The comma-separated variant names of ``flag``, checked before any work."""
    names = [v.strip() for v in text.split(",") if v.strip()] if text is not None else []
    if text is not None and not names:
        raise InputError(f"{flag}: expected at least one of {', '.join(QUANTIZED_VARIANTS)}, got none")
    for name in names:
        if name not in QUANTIZED_VARIANTS:
            raise InputError(f"{flag}: expected one of {', '.join(QUANTIZED_VARIANTS)}, got {name!r}")
    return names


def gate_options(func: Any) -> Any:
    """--exporter, --opset, --atol and --rtol: how the export is made and how hard the gate holds it
    (shared by `edgernn export` and `edgernn pipeline`)."""
    func = click.option("--rtol", type=FiniteFloat(min=0), default=1e-4, show_default=True)(func)
    func = click.option(
        "--atol",
        type=FiniteFloat(min=0),
        default=None,
        help="Gate tolerance, PyTorch vs onnxruntime [default: 1e-5; 1e-4 on a classifier's logits].",
    )(func)
    func = click.option("--opset", type=click.IntRange(11, 23), default=17, show_default=True)(func)
    return click.option(
        "--exporter", type=click.Choice(["auto", "torchscript", "dynamo"]), default="auto", show_default=True
    )(func)


@click.command("export")
@click.argument("run_dir", type=click.Path(path_type=Path))
@click.option(
    "--out", "out_dir", type=click.Path(path_type=Path), required=True, help="Bundle folder to write."
)
@gate_options
@click.option(
    "--lengths/--no-lengths", default=None, help="Add a lengths input [default: when the data is ragged]."
)
@click.option(
    "--stream-atol",
    type=FiniteFloat(min=0),
    default=None,
    help="atol of the streaming checks [default: --atol].",
)
@click.option("--ort", "ort_format", is_flag=True, help="Also write model.ort + required-operators config.")
@click.option("--quantize", "variants", default=None, help="Then add variants, e.g. int8 or int8,fp16.")
def export_command(
    run_dir, out_dir, exporter, opset, lengths, atol, rtol, stream_atol, ort_format, variants
) -> None:
    """Export the best checkpoint of an `edgernn train` RUN_DIR to a verified bundle."""

    from .from_run import export_run

    names = _variants(variants, "--quantize")
    report = export_run(
        run_dir,
        out_dir,
        exporter=exporter,
        opset=opset,
        lengths=lengths,
        atol=atol,
        rtol=rtol,
        stream_atol=stream_atol,
        ort_format=ort_format,
    )
    console = _console()
    _print_checks(console, report)
    if names:
        _run_quantize(console, out_dir, names, {})


def _console():
    """A rich console; 120 columns when not on a terminal, so the tables keep their headers."""
    from rich.console import Console

    return Console(width=None if Console().is_terminal else 120)


def _print_checks(console, report) -> None:
    from rich.table import Table

    table = Table("check", "max abs diff", "result", title=f"Verification ({report.exporter} exporter)")
    for c in report.checks:
        table.add_row(
            c.name,
            f"{c.max_abs_diff:.2e}" if c.max_abs_diff else "-",
            "[green]pass[/]" if c.passed else ("[yellow]warn[/]" if c.warning else "[red]FAIL[/]"),
        )
    console.print(table)
    for c in report.warnings:
        console.print(f"warning: {c.name}: max abs diff {c.max_abs_diff:.2e} {c.detail}", highlight=False)
    nodes = ", ".join(f"{n}×{op}" for op, n in report.native_nodes.items())
    graph = next(c.detail for c in report.checks if c.name == "native recurrent ops")
    loops = graph.rsplit(", ", 1)[-1]  # "<n> Loop/Scan", as the gate counted them
    summary = f"bundle {report.bundle}: native {nodes}, {loops}, max abs diff {report.max_abs_diff:.2e}"
    console.print(summary, soft_wrap=True, highlight=False)


@click.command("quantize")
@click.argument("bundle", type=click.Path(path_type=Path))
@click.option(
    "--variant",
    "variants",
    default=INT8,
    show_default=True,
    help=f"{', '.join(QUANTIZED_VARIANTS)} (comma-separated).",
)
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Held-back data .npz (x, y[, lengths]).",
)
@click.option(
    "--calib",
    "calib_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Calibration .npz for int8-static.",
)
@click.option(
    "--calibration",
    type=click.Choice(["minmax", "entropy", "percentile"]),
    default="minmax",
    show_default=True,
)
@click.option("--weight-type", type=click.Choice(["auto", "s8", "u8"]), default="auto", show_default=True)
@click.option("--per-channel", is_flag=True, help="Per-channel int8 weight scales.")
@click.option("--fp16-target", type=click.Choice(["cuda", "cpu"]), default="cuda", show_default=True)
@click.option("--max-metric-drop", type=FiniteFloat(min=0), default=0.01, show_default=True, help="Relative.")
@click.option("--force", is_flag=True, help="Keep variants that break the metric budget.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 1 when any variant is refused (default: 0 when the rest were written).",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write the report here.",
)
def quantize_command(
    bundle,
    variants,
    eval_path,
    calib_path,
    calibration,
    weight_type,
    per_channel,
    fp16_target,
    max_metric_drop,
    force,
    strict,
    json_path,
) -> None:
    """Add int8/fp16 variants to BUNDLE, each gated, scored and timed against fp32."""

    options = {
        "calibration": calibration,
        "weight_type": weight_type,
        "per_channel": per_channel,
        "fp16_target": fp16_target,
        "max_metric_drop": max_metric_drop,
        "force": force,
    }
    names = _variants(variants, "--variant")
    _run_quantize(_console(), bundle, names, options, eval_path, calib_path, json_path, strict)


def _check_report_path(path: Path | None) -> None:
    """The report quantize writes into the bundle by default: a regular file or none (before the work)."""
    from edgernn.runtime.fileio import unwritable_file

    why = None if path is None else "a link" if path.is_symlink() else unwritable_file(path)
    if why is not None:
        raise InputError(f"{path}: is {why}; expected the report file quantize writes there, or pass --json")


def _run_quantize(
    console, bundle, variants, options, eval_path=None, calib_path=None, json_path=None, strict=False
) -> None:
    from rich.table import Table

    from edgernn.runtime.fileio import atomic_write_text

    from .quantization import QuantizeConfig, quantize

    check_outputs({"--json": json_path}, [bundle, eval_path, calib_path])
    _check_report_path(Path(bundle) / QUANTIZE_REPORT if json_path is None else None)
    config = QuantizeConfig(**options)
    report = quantize(bundle, variants, config=config, eval_path=eval_path, calib_path=calib_path)
    fp32, metric = report.fp32, report.fp32.metric.name
    columns = (
        "variant",
        "size",
        "ratio",
        metric,
        f"Δ {metric}",
        "stream Δ",
        "p50 ms",
        "speed-up",
        "kept",
    )
    table = Table(*columns, title="Variants (CPU, 1 thread, batch 1)")
    mb = f"{fp32.size_bytes / 1e6:.3f} MB"
    table.add_row(FP32, mb, "1.00", f"{fp32.metric.value:.4g}", "-", "-", f"{fp32.p50_ms:.3f}", "1.00", "yes")
    for r in report.results:
        table.add_row(
            r.variant,
            f"{r.size_bytes / 1e6:.3f} MB",
            f"{r.size_ratio:.2f}",
            _number(r.metric.value, "{:.4g}"),
            _number(r.metric_delta, "{:+.2%}"),
            _streamed(r, fp32),
            _number(r.p50_ms, "{:.3f}"),
            _number(r.speedup, "{:.2f}"),
            _kept(r),
        )
    console.print(table)
    for r in report.results:
        for note in (r.note, r.stream_note):
            if note:
                console.print(f"{r.variant}: {note}", highlight=False, soft_wrap=True)
    atomic_write_text(json_path or Path(bundle) / QUANTIZE_REPORT, json.dumps(report.to_dict(), indent=2))
    written = [r.variant for r in report.results if r.accepted]
    console.print(f"written: {', '.join(written) or 'none'}; refused: {', '.join(report.refused) or 'none'}")
    if report.refused and strict:
        raise InputError(
            f"refused variants: {', '.join(report.refused)} (--strict; see notes; --force keeps them)"
        )


def _number(value: float, spec: str) -> str:
    return "-" if value != value else spec.format(value)  # NaN: not measured


def _streamed(record, fp32) -> str:
    if record.stream_metric is None or fp32.stream_reference is None:
        return "-"
    return f"{record.stream_metric.relative_drop(fp32.stream_reference):+.2%}"


def _kept(record) -> str:
    if not record.accepted:
        return "[red]no[/]"
    return "yes" if record.stream_accepted else "yes, [red]not for streaming[/]"
