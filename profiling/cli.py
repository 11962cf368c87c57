"""``edgernn profile``: latency of every variant x provider x threads x batch x sequence length.

Top-level imports are click and the runtime's flag checks: ``--help`` loads no torch, onnx or
matplotlib. The command loads the profiler; ``--torch`` the PyTorch baselines, ``--plot`` matplotlib.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from edgernn.runtime.flags import (
    MAX_SECONDS,
    FiniteFloat,
    check_output_folder,
    check_outputs,
    count_range,
    seed_range,
)


def _ints(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter(f"expected comma-separated ints like 1,8,32, got {text!r}") from None
    if any(v < 1 for v in values):
        raise click.BadParameter(f"expected ints >= 1, got {text!r}")
    return values


def _names(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(v.strip() for v in text.split(",") if v.strip())
    if not names:
        raise click.BadParameter(f"expected comma-separated names, got {text!r}")
    return names


@click.command("profile")
@click.argument("target", type=click.Path(exists=True, path_type=Path))
@click.option(
    "--variant", "variants", callback=_names, help="e.g. fp32,int8,fp16 [default: all the bundle has]."
)
@click.option(
    "--provider",
    "providers",
    callback=_names,
    default="cpu",
    show_default=True,
    help="cpu,cuda,tensorrt,openvino",
)
@click.option("--threads", callback=_ints, default="1", show_default=True, help="Intra-op threads, e.g. 1,2.")
@click.option("--batch", "batch_sizes", callback=_ints, help="Batch sizes, e.g. 1,8,32 [default: 1].")
@click.option("--seq", "seq_lens", callback=_ints, help="Steps per sequence, e.g. 1,100,400 [default: 100].")
@click.option("--mode", type=click.Choice(["sequence", "stream"]), default="sequence", show_default=True)
@click.option(
    "--streams",
    callback=_ints,
    help="Stream mode: N streams stepped together by a StreamBatcher vs N independent streams, e.g. 1,16,64.",
)
@click.option("--warmup", type=count_range(0), default=10, show_default=True)
@click.option("--iters", type=count_range(), help="Timed calls per cell [default: 100].")
@click.option(
    "--duration",
    "duration_s",
    type=FiniteFloat(0, MAX_SECONDS, min_open=True),
    help="Seconds per cell (at most a day).",
)
@click.option(
    "--input", "inputs", multiple=True, metavar="NAME=SHAPE|NAME=VALUE", help="e.g. x=1x*x40, sr=16000."
)
@click.option("--state-map", multiple=True, metavar="IN=OUT", help="State pair of a bare .onnx (repeatable).")
@click.option("--seed", type=seed_range(), default=0, show_default=True, help="Seed of the random inputs.")
@click.option("--ops", is_flag=True, help="Per-op breakdown from onnxruntime's profiler.")
@click.option("--ops-top", type=count_range(), default=10, show_default=True)
@click.option("--torch", "torch_", is_flag=True, help="Time the bundle's PyTorch source beside each cell.")
@click.option("--torch-compile", is_flag=True, help="Also torch.compile (slow to compile; with --torch).")
@click.option("--isolate", is_flag=True, help="Each cell in a fresh process: cold start and peak RSS.")
@click.option("--max-p50-ms", type=FiniteFloat(0, min_open=True), help="Budget: exit 1 above it.")
@click.option("--max-p99-ms", type=FiniteFloat(0, min_open=True), help="Budget: exit 1 above it.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Write the report."
)
@click.option("--csv", "csv_path", type=click.Path(dir_okay=False, path_type=Path), help="One row per cell.")
@click.option("--markdown", "markdown_path", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--plot", "plot_dir", type=click.Path(file_okay=False, path_type=Path), help="PNG plots (matplotlib)."
)
def profile_command(target: Path, torch_: bool, **options: Any) -> None:
    """Time TARGET (a bundle folder or any .onnx) over a sweep and report latency per cell.

    Per cell: p50/p90/p95/p99/max/mean/std, sequences/s and steps/s, session creation and first
    inference, model size and the EP that ran; --isolate adds peak RSS, --ops the per-op breakdown,
    --torch the PyTorch model on the same inputs with the speed-up; --mode stream --streams N times
    one StreamBatcher tick of N streams against N independent stream steps. --max-p99-ms /
    --max-p50-ms exit 1 naming the cells over budget.
    """
    from rich.console import Console

    from edgernn.profiling.config import ProfileConfig
    from edgernn.profiling.engine import profile
    from edgernn.profiling.report import write_outputs
    from edgernn.profiling.result import over_budget

    config = ProfileConfig(torch=torch_, **options)
    _check_outputs(config, target)
    baselines = []
    if config.torch:
        from .torch_baseline import bundle_baselines

        baselines = bundle_baselines(target, compile=config.torch_compile)
    console, err = Console(), Console(stderr=True)
    if not console.is_terminal:  # logs and pipes: wide enough for every column
        console = Console(width=160)
    report = _run(profile, target, config, baselines, err)
    from .table import print_report

    print_report(console, report)
    for path in write_outputs(
        report, json_path=config.json_path, csv_path=config.csv_path, markdown_path=config.markdown_path
    ):
        console.print(f"wrote {path}")
    if config.plot_dir is not None:
        from .plot import plot_report

        for path in plot_report(report, config.plot_dir):
            console.print(f"wrote {path}")
    problems = [f"{c.cell.label}: {c.error}" for c in report.failed]
    over = over_budget(report, config.budgets)
    if over:
        limits = ", ".join(f"{k.split('_')[0]} <= {v:g} ms" for k, v in config.budgets.items())
        problems.append(f"{len(over)} cell(s) over budget ({limits}): " + "; ".join(over))
    elif config.budgets:
        console.print(f"budget met by all {len(report.measured)} cells")
    if problems:
        for line in problems:
            click.echo(f"error: {line}", err=True)
        raise click.exceptions.Exit(1)


def _check_outputs(config: Any, target: Path) -> None:
    """Every output path, before the sweep: writable, and never the model or inside the bundle."""
    from edgernn.runtime.bundle import check_outside

    from .plot import PLOT_FILES

    files = {"--json": config.json_path, "--csv": config.csv_path, "--markdown": config.markdown_path}
    if config.plot_dir is not None:
        plots = Path(config.plot_dir)
        check_outside("--plot", plots, target)
        check_output_folder("--plot", plots)
        files.update({f"--plot {name}": plots / name for name in PLOT_FILES} if plots.is_dir() else {})
    check_outputs(files, [target])


def _run(profile: Any, target: Path, config: Any, baselines: list, err: Any) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=True, disable=not err.is_terminal) as bar:
        task = bar.add_task("profiling", total=None)

        def step(done: int, total: int, cell: Any) -> None:
            bar.update(task, completed=done, total=total, description=cell.label)

        from edgernn.profiling.plan import Loader
        from edgernn.runtime.interrupt import interruptible

        loader = Loader(target, config)  # held here, so Ctrl-C can stop the sessions it loaded
        work = lambda: profile(target, config, baselines=baselines, progress=step, loader=loader)  # noqa: E731
        return interruptible(work, loader.interrupt)
