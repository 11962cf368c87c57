"""``edgernn pipeline`` and ``edgernn demo``. torch and onnx load inside the commands only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgernn.train.cli import train_options


def _pipeline_options(func: Any) -> Any:
    func = click.option("--no-torch-baseline", is_flag=True, help="Skip timing PyTorch eager.")(func)
    func = click.option("--profile-iters", type=click.IntRange(1), default=100, show_default=True)(func)
    return click.option(
        "--out",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="Folder for run/, bundle/, report.md and charts.",
    )(func)


@click.command("pipeline")
@train_options
@_pipeline_options
def pipeline_command(out: Path, profile_iters: int, no_torch_baseline: bool, **flags: Any) -> None:
    """Train, export with verification, quantize, evaluate, profile and report, in one go.

    Takes every `edgernn train` flag (--dataset NAME or --data FILE, --cell, --hidden, ...).
    """
    from edgernn.train.cli import build_configs

    data_config, model_config, train_config = build_configs(
        {k: v for k, v in flags.items() if v is not None}, None
    )
    _run(data_config, model_config, train_config, out, profile_iters, not no_torch_baseline)


@click.command("demo")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/demo"), show_default=True
)
def demo_command(out: Path) -> None:
    """The whole pipeline on the bundled yearly sunspot numbers (about a minute on 2 cores)."""
    from .pipeline import demo_configs

    _run(*demo_configs(), out, 100, True)


def _run(data_config, model_config, train_config, out: Path, iters: int, torch_baseline: bool) -> None:
    from rich.console import Console

    from .pipeline import PipelineConfig, run_pipeline

    console = Console(width=None if Console().is_terminal else 120)
    config = PipelineConfig(out=out, profile_iters=iters, torch_baseline=torch_baseline)
    run_pipeline(data_config, model_config, train_config, config, console)
