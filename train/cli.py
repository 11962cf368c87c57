"""``edgernn train``: every flag maps onto one field of DataConfig, ModelConfig or TrainConfig.

torch loads inside the command body, so ``edgernn train --help`` stays fast. Precedence: a
flag given on the command line, else the bundled dataset's preset, else the field default.
With ``--resume`` the stored configs take the place of presets and defaults.
``--nproc-per-node N`` relaunches the same flags in N processes through torchrun.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import click

from edgernn.runtime.flags import FiniteFloat, count_range, seed_range
from edgernn.runtime.limits import max_threads

from .config import (
    CELLS,
    DATASETS,
    DEVICES,
    DIFFERENCES,
    INPUT_KINDS,
    MAX_WIDTH,
    OPTIMIZERS,
    POOLS,
    SCHEDULES,
    TASKS,
    TOPOLOGIES,
    DataConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)

FRACTION = FiniteFloat(0, 0.5, min_open=True, max_open=True)  # a share held out: val and test

_SECTIONS = {"data": DataConfig, "model": ModelConfig, "train": TrainConfig}

# flag -> (section, field, click type, help)
FLAGS: dict[str, tuple[str, str, Any, str]] = {
    "--data": (
        "data",
        "path",
        click.Path(dir_okay=True, path_type=str),
        "CSV series, NPZ/NPY arrays or a text file.",
    ),
    "--test-data": (
        "data",
        "test_data",
        click.Path(dir_okay=True, path_type=str),
        "A fixed test split (same format as --data); train and validation then come from --data only.",
    ),
    "--dataset": ("data", "dataset", click.Choice(DATASETS), "A bundled dataset instead of --data."),
    "--task": ("data", "task", click.Choice(TASKS), "What to learn; inferred from the data when left out."),
    "--topology": ("data", "topology", click.Choice(TOPOLOGIES), "How inputs and outputs line up; inferred."),
    "--columns": ("data", "columns", str, "CSV input columns, comma-separated (default: all)."),
    "--target": (
        "data",
        "target",
        str,
        "CSV forecast target columns, comma-separated (default: last input).",
    ),
    "--time-column": (
        "data",
        "time_column",
        str,
        "CSV time index, left out of the features (default: the first column of dates).",
    ),
    "--difference": (
        "data",
        "difference",
        click.Choice(DIFFERENCES),
        "CSV forecasts: learn changes and add them back in the graph "
        "(auto: by a unit-root test; 1: first; season; none).",
    ),
    "--calendar/--no-calendar": (
        "data",
        "calendar",
        bool,
        "CSV forecasts: add sin/cos of the seasons the time column implies (the graph counts rows; "
        "set its counter when the input does not start at the CSV's first row).",
    ),
    "--units": ("data", "units", str, "CSV targets' units, recorded in the bundle (e.g. ppm)."),
    "--window": (
        "data",
        "window",
        count_range(),
        "Steps per sample (series, text; the one_to_many condition).",
    ),
    "--horizon": ("data", "horizon", count_range(), "Forecast this many steps ahead."),
    "--stride": ("data", "stride", count_range(), "Steps between training windows."),
    "--input-kind": (
        "data",
        "input_kind",
        click.Choice(("auto", *INPUT_KINDS)),
        "NPZ x: features or token ids.",
    ),
    "--val-fraction": ("data", "val_fraction", FRACTION, "Share held out for early stopping."),
    "--test-fraction": ("data", "test_fraction", FRACTION, "Share held back for the test metric."),
    "--split-seed": ("data", "split_seed", seed_range(), "Shuffle seed of non-temporal splits."),
    "--cell": ("model", "cell", click.Choice(CELLS), "Recurrent cell."),
    "--layers": ("model", "num_layers", click.IntRange(1, 4), "Stacked recurrent layers."),
    "--hidden": (
        "model",
        "hidden_size",
        click.IntRange(1, MAX_WIDTH),
        "Hidden units per layer and direction.",
    ),
    "--bidirectional/--unidirectional": ("model", "bidirectional", bool, "Read sequences both ways."),
    "--pool": (
        "model",
        "pool",
        click.Choice(POOLS),
        "Classifiers: the head reads the last step or pools all.",
    ),
    "--znorm/--no-znorm": ("model", "znorm", bool, "Classifiers: z-normalise each series in the graph."),
    "--downsample": (
        "model",
        "downsample",
        count_range(),
        "Classifiers: strided Conv1d front end, stride N.",
    ),
    "--front-layers": (
        "model",
        "front_layers",
        click.IntRange(1, 2),
        "Classifiers: convolutions in the --downsample front end (2 adds a kernel-5 one).",
    ),
    "--members": (
        "model",
        "members",
        click.IntRange(1, 16),
        "Classifiers: a seed ensemble of N members in one graph.",
    ),
    "--fcn-width": (
        "model",
        "fcn_width",
        click.IntRange(0, 1024),
        "Classifiers: channels of the convolutional branch beside the recurrence (LSTM-FCN); 0: none.",
    ),
    "--dropout": (
        "model",
        "dropout",
        FiniteFloat(0, 1, max_open=True),
        "Dropout between layers and before the head.",
    ),
    "--project": (
        "model",
        "project_size",
        click.IntRange(1, MAX_WIDTH),
        "Linear projection of the features first.",
    ),
    "--embed": ("model", "embed_size", click.IntRange(1, MAX_WIDTH), "Embedding width for token inputs."),
    "--epochs": ("train", "epochs", count_range(), "Maximum epochs."),
    "--batch-size": ("train", "batch_size", count_range(), "Samples per batch."),
    "--lr": ("train", "lr", FiniteFloat(0, min_open=True), "Learning rate."),
    "--weight-decay": ("train", "weight_decay", FiniteFloat(0), "L2 penalty."),
    "--optimizer": ("train", "optimizer", click.Choice(OPTIMIZERS), "Optimiser."),
    "--schedule": ("train", "schedule", click.Choice(SCHEDULES), "Learning-rate schedule."),
    "--clip-grad-norm": (
        "train",
        "clip_grad_norm",
        FiniteFloat(0),
        "Clip the global gradient norm; 0 disables.",
    ),
    "--tbptt": ("train", "tbptt", count_range(0), "Truncated BPTT chunk in steps; 0 is full BPTT."),
    "--patience": (
        "train",
        "patience",
        count_range(0),
        "Early-stopping patience in epochs; 0 never stops.",
    ),
    "--label-smoothing": (
        "train",
        "label_smoothing",
        FiniteFloat(0, 1, max_open=True),
        "Classifiers: share of each target spread over all classes while training.",
    ),
    "--select": (
        "train",
        "select",
        click.Choice(("best", "last")),
        "The checkpoint kept: best validation metric, or the last epoch.",
    ),
    "--augment/--no-augment": (
        "train",
        "augment",
        bool,
        "Classifiers: window slicing and jitter of training sequences.",
    ),
    "--seed": ("train", "seed", seed_range(), "Seed for weights, dropout and batch order."),
    "--device": ("train", "device", click.Choice(DEVICES), "auto picks CUDA when available."),
    "--threads": (
        "train",
        "threads",
        click.IntRange(0, max_threads()),
        "CPU threads for torch; 0 lets torch decide.",
    ),
    "--vanish-threshold": (
        "train",
        "vanish_threshold",
        FiniteFloat(0),
        "Recurrent gradient norm counted as vanishing.",
    ),
    "--vanish-steps": (
        "train",
        "vanish_steps",
        count_range(),
        "Vanishing steps in a row before warning.",
    ),
    "--explode-factor": (
        "train",
        "explode_factor",
        FiniteFloat(1),
        "Jump over the running norm counted as exploding.",
    ),
    "--explode-norm": (
        "train",
        "explode_norm",
        FiniteFloat(0, min_open=True),
        "Gradient norm counted as exploding whatever came before.",
    ),
}


def _param_name(flag: str) -> str:
    return flag.split("/")[0].lstrip("-").replace("-", "_")


def _default(section: str, field: str) -> Any:
    return next(f.default for f in dataclasses.fields(_SECTIONS[section]) if f.name == field)


def train_options(func: Any) -> Any:
    """Add every training flag (one per config field) to a click command: `train` and `pipeline`."""
    for flag, (section, field, kind, text) in reversed(FLAGS.items()):
        shown = _default(section, field)
        suffix = "" if shown is None else f" [default: {shown}]"
        kwargs: dict[str, Any] = {"default": None, "help": text + suffix}
        if kind is not bool:
            kwargs["type"] = kind
        func = click.option(flag, _param_name(flag), **kwargs)(func)
    return func


def build_configs(given: dict[str, Any], stored: dict[str, dict[str, Any]] | None = None) -> RunConfig:
    """The run's configs from flags over presets (or a stored run's ``RunConfig.to_dict()``) over defaults."""
    from .datasets import presets

    if stored is None:
        sections = presets(given.get("dataset"), given.get("topology"))
        base = dict(zip(("data", "model", "train"), sections, strict=True))
    else:
        base = {k: dict(v) for k, v in stored.items()}
    if "path" in given or "dataset" in given:
        base["data"].update(path=None, dataset=None)
    for name, value in given.items():
        section, field = next((s, f) for flag, (s, f, _, _) in FLAGS.items() if _param_name(flag) == name)
        if field in ("columns", "target"):
            value = tuple(c.strip() for c in value.split(",") if c.strip())
        base[section][field] = value
    return RunConfig(
        data=DataConfig(**base["data"]),
        model=ModelConfig(**base["model"]),
        train=TrainConfig(**base["train"]),
    )


@click.command("train")
@train_options
@click.option(
    "--out",
    "out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Run directory [default: runs/NAME].",
)
@click.option("--resume", is_flag=True, help="Continue the run in --out exactly where it stopped.")
@click.option(
    "--nproc-per-node",
    "nproc_per_node",
    type=click.IntRange(1, max_threads()),
    default=None,
    help="Train data-parallel in N processes on this machine, launched through torchrun "
    "(DDP; NCCL on CUDA, gloo on CPU). --batch-size is the global batch.",
)
def train_command(out: Path | None, resume: bool, nproc_per_node: int | None, **flags: Any) -> None:
    """Train an RNN/LSTM/GRU sequence model with (truncated) BPTT and write a run directory.

    A bundled --dataset replaces some defaults with its tuned presets; flags always win.

    \b
    Examples:
      edgernn train --dataset sunspots
      edgernn train --data series.csv --columns temp,load --target load --window 48 --out runs/load
      edgernn train --data digits.npz --cell gru --layers 2 --hidden 128 --out runs/digits
      edgernn train --dataset text --nproc-per-node 2 --out runs/text
    """
    from edgernn.runtime.errors import InputError

    given = {k: v for k, v in flags.items() if v is not None}
    stored = None
    if resume:
        if out is None:
            raise InputError("--resume needs --out RUN_DIR, the run to continue")
        from .run import read_run_info

        stored = read_run_info(out).config.to_dict()
    config = build_configs(given, stored)
    if out is None:
        out = Path("runs") / (config.data.dataset or Path(config.data.path).stem)
    if nproc_per_node is not None and nproc_per_node > 1:
        from .distributed import Cluster
        from .launch import check_devices, launch

        Cluster(world_size=nproc_per_node).local_batch(config.train.batch_size)
        check_devices(nproc_per_node, config.train.device)
        try:
            launch(nproc_per_node, worker_args(given, out, resume), config.train.threads or 0)
        except KeyboardInterrupt:
            raise click.exceptions.Exit(130) from None  # rank 0 printed how to resume
        return
    _run(config, out, resume)


def worker_args(given: dict[str, Any], out: Path, resume: bool) -> list[str]:
    """The ``edgernn train`` arguments that repeat ``given`` flags for each launched process."""
    args = []
    for flag, (_, _, kind, _) in FLAGS.items():
        name = _param_name(flag)
        if name not in given:
            continue
        if kind is bool:
            on, off = flag.split("/")
            args.append(on if given[name] else off)
        else:
            args += [flag.split("/")[0], str(given[name])]
    return [*args, "--out", str(out), *(["--resume"] if resume else [])]


def _run(config: RunConfig, out: Path, resume: bool) -> None:
    from .distributed import StoppedTogether
    from .health import ExplodingGradientWarning, VanishingGradientWarning
    from .report import summary_lines
    from .training import run_training

    with warnings.catch_warnings():
        warnings.simplefilter("always", VanishingGradientWarning)
        warnings.simplefilter("always", ExplodingGradientWarning)
        warnings.showwarning = _show_warning
        try:
            result = run_training(config, out, resume=resume)
        except StoppedTogether:
            raise click.exceptions.Exit(1) from None  # rank 0 prints the reason once
        except KeyboardInterrupt:
            if os.environ.get("RANK", "0") == "0":
                click.echo(_interrupted(out), err=True)
            raise click.exceptions.Exit(130) from None
    if result.rank == 0:
        for line in summary_lines(result.summary):
            click.echo(line)
        for line in (result.summary.verdict(), result.summary.caveat()):
            if line:
                click.echo(f"warning: {line}", err=True)


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    click.echo(f"warning: {message}", err=True)


def _interrupted(out: Path) -> str:
    """What to do after Ctrl-C: resume from the last finished epoch, or start again if there is none."""
    from .checkpoint import RESUME_FILE

    if (out / RESUME_FILE).is_file():
        return f"interrupted; continue from the last finished epoch with: edgernn train --out {out} --resume"
    return f"interrupted before the first epoch finished; nothing to resume: remove {out} and start again"
