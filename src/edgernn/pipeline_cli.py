"""``edgernn pipeline`` and ``edgernn demo``. torch and onnx load inside the commands only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgernn.export.cli import gate_options
from edgernn.runtime.flags import FiniteFloat, count_range
from edgernn.train.cli import train_options


def _pipeline_options(func: Any) -> Any:
    func = gate_options(func)  # --exporter, --opset, --atol, --rtol, as `edgernn export` takes them
    func = click.option(
        "--stream-atol",
        type=FiniteFloat(min=0),
        default=1e-4,
        show_default=True,
        help="Export gate: atol of the streaming checks (state chained through many calls).",
    )(func)
    func = click.option(
        "--require-baseline",
        is_flag=True,
        help="Exit 1 when the model does not beat its naive baseline on the test split (for CI).",
    )(func)
    func = click.option(
        "--resume",
        is_flag=True,
        help="Continue the pipeline output in --out: its training, then every stage.",
    )(func)
    func = click.option(
        "--overwrite", is_flag=True, help="Replace a previous pipeline output in --out (nothing else)."
    )(func)
    func = click.option("--no-torch-baseline", is_flag=True, help="Skip timing PyTorch eager.")(func)
    func = click.option("--profile-iters", type=count_range(), default=100, show_default=True)(func)
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="Folder for run/, bundle/, report.md and charts.",
    )(func)


@click.command("pipeline")
@train_options
@_pipeline_options
def pipeline_command(
    out: Path,
    profile_iters: int,
    no_torch_baseline: bool,
    overwrite: bool,
    resume: bool,
    require_baseline: bool,
    exporter: str,
    opset: int,
    atol: float | None,
    rtol: float,
    stream_atol: float,
    **flags: Any,
) -> None:
    """Train, export with verification, quantize, evaluate, profile and report, in one go.

    Takes every `edgernn train` flag (--dataset NAME or --data FILE, --cell, --hidden, ...).
    report.md opens with the verdict against the naive baseline and the variant to ship.

    \b
    Examples:
      edgernn pipeline --data co2_weekly.csv --out runs/co2
      edgernn pipeline --data macro.csv --target realgdp --out runs/gdp --require-baseline
      edgernn pipeline --data macro.csv --target realgdp --out runs/gdp --resume
    """
    from edgernn.train.cli import build_configs

    from .pipeline import PipelineConfig

    given = {k: v for k, v in flags.items() if v is not None}
    config = PipelineConfig(
        run=build_configs(given, _stored(out) if resume else None),
        out=out,
        profile_iters=profile_iters,
        torch_baseline=not no_torch_baseline,
        overwrite=overwrite,
        resume=resume,
        exporter=exporter,
        opset=opset,
        atol=atol,
        rtol=rtol,
        stream_atol=stream_atol,
    )
    _run(config, require_baseline=require_baseline)


def _stored(out: Path) -> dict[str, dict[str, Any]] | None:
    """The configs of the run a --resume continues (flags given again still win), if it got that far."""
    from edgernn.train.run import CONFIG_FILE, read_run_info

    run = out / "run"
    if not (run / CONFIG_FILE).is_file():
        return None
    return read_run_info(run).config.to_dict()


@click.command("demo")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True
)
def demo_command(out: Path) -> None:
    """The whole pipeline on the bundled yearly sunspot numbers (under a minute on 2 cores).

    Run again, it replaces its own previous output in --out (never a folder it did not write).
    """
    from .outdir import is_pipeline_output
    from .pipeline import PipelineConfig, demo_config

    _run(PipelineConfig(run=demo_config(), out=out, overwrite=is_pipeline_output(out)))


def _run(config: Any, *, require_baseline: bool = False) -> None:
    from rich.console import Console

    from .pipeline import run_pipeline

    console = Console(width=None if Console().is_terminal else 120)
    summary = run_pipeline(config, console)
    if require_baseline and summary.verdict:
        click.echo(f"error: {summary.verdict} (--require-baseline)", err=True)
        raise click.exceptions.Exit(1)
