"""One training run end to end: data -> model -> BPTT loop -> best checkpoint -> test summary.

Every check on data and flags happens before the run directory is touched, so a bad input
leaves nothing behind. A new run's directory appears in one rename with ``config.json`` and
``eval.npz``; checkpoints and metrics are then replaced atomically epoch by epoch.

Under torchrun every process runs :func:`run_training`: all of them check the inputs and train,
rank 0 alone writes the run directory, and a failure in any process stops them all together.
"""

from __future__ import annotations

import dataclasses
import io
import json
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console

from edgernn.runtime.errors import InputError
from edgernn.runtime.fileio import atomic_write_text, staged_dir
from edgernn.runtime.flags import check_output_folder
from edgernn.runtime.vocab import EVAL_FILE

from . import baselines
from .batches import to_batch
from .checkpoint import RESUME_FILE, WEIGHTS_FILE, load_weights, read_resume, restore
from .config import DataConfig, DataInfo, ModelConfig, RunConfig, TrainConfig
from .data import load_dataset
from .distributed import Cluster, StoppedTogether, join
from .errors import TrainError
from .footprint import check_fits
from .forecaster import build_model
from .health import ExplodingGradientWarning, NonFiniteError, VanishingGradientWarning
from .loop import Hook, Trainer
from .objective import Objective
from .recipe import plain_defaults, resolve, scaled_not_centred
from .records import TrainingSummary
from .report import ProgressHook, RunWriter, plot_losses, read_metrics
from .run import CONFIG_FILE, SUMMARY_FILE, RunInfo, TrainedRun, config_dict, read_run_info
from .splits import Dataset, Split

_CALIB_SAMPLES = 64
_RESUMABLE_CHANGES = ("epochs", "device", "threads")


def derive_model_config(config: ModelConfig, dataset: Dataset) -> ModelConfig:
    """Fill the fields that the data decides (sizes, kinds, topology) into ``config``."""
    info = dataset.info
    derived: dict[str, Any] = {
        **plain_defaults(config),  # fields train/recipe.py left open (callers that skip it)
        "topology": info.topology,
        "input_kind": info.input_kind,
        "output_kind": info.output_kind,
        "start_token": info.start_token,
        "cond_size": len(info.cond_names) if info.topology == "one_to_many" else None,
    }
    if info.input_kind == "tokens":
        top = max(int(s.x.max()) for s in (dataset.train, dataset.val, dataset.test)) + 1
        derived["vocab_size"] = len(info.vocab) if info.vocab else max(top, (info.start_token or 0) + 1)
        derived["project_size"] = None
    else:  # a forecaster's core also reads the calendar features its graph computes
        calendar = len(info.transform.calendar_rate) if info.transform is not None else 0
        derived["input_size"] = len(info.feature_names) + calendar
    sizes = {
        "classes": len(info.labels or ()),
        "tokens": len(info.vocab or ()),
        "regression": len(info.output_names),
    }
    derived["output_size"] = sizes[info.output_kind]
    return dataclasses.replace(config, **derived)


def check_combination(model: ModelConfig, train: TrainConfig, dataset: Dataset) -> None:
    """Refuse flag combinations that would train something wrong."""
    info = dataset.info
    if model.bidirectional and info.task in ("forecast", "text"):
        raise InputError(f"--bidirectional: a {info.task} model must not see the future; drop the flag")
    classifier = info.topology == "many_to_one" and info.output_kind == "classes"
    for flag, asked in ((f"--members {model.members}", model.members > 1), ("--augment", train.augment)):
        if asked and not classifier:
            raise InputError(
                f"{flag}: is for many_to_one classifiers of whole sequences, got {info.topology} "
                f"{info.output_kind}; drop the flag"
            )
    if train.tbptt and info.variable_length and info.topology == "many_to_one":
        raise InputError(
            "--tbptt with variable-length many_to_one data: each target sits at its own last step; use --tbptt 0"
        )


def pick_device(name: str) -> torch.device:
    """``auto``: CUDA when available, else CPU. Asking for ``cuda`` without it is an error, not a fallback."""
    if name == "cuda" and not torch.cuda.is_available():
        raise InputError(
            f"--device cuda: CUDA is not available to torch {torch.__version__}; use --device cpu"
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def _check_resumable(
    out: Path, model: ModelConfig, train: TrainConfig, data_config: DataConfig, dataset_info: DataInfo
) -> None:
    info = read_run_info(out)
    if not (out / RESUME_FILE).is_file():
        raise InputError(f"cannot --resume {out}: no {RESUME_FILE} (the run never finished an evaluation)")
    pairs = [
        ("model", info.model, model),
        ("train", info.train, train),
        ("data", info.data_config, data_config),
    ]
    for section, old, new in pairs:
        for f in dataclasses.fields(old):
            before, now = getattr(old, f.name), getattr(new, f.name)
            if before != now and not (section == "train" and f.name in _RESUMABLE_CHANGES):
                raise InputError(
                    f"cannot --resume {out}: {section}.{f.name} is {before!r} in the run, {now!r} now"
                )
    if info.data.sha256 != dataset_info.sha256:
        raise InputError(
            f"cannot --resume {out}: the data file {info.data.source} changed since the run started"
        )
    if (info.data.series, info.data.transform) != (dataset_info.series, dataset_info.transform):
        raise InputError(
            f"cannot --resume {out}: this edgernn reads the data differently from the run's (time column or "
            "differencing); start a new run"
        )


def eval_arrays(dataset: Dataset, seed: int) -> dict[str, np.ndarray]:
    """What ``eval.npz`` holds: the test split in raw units and a calibration sample of training inputs."""
    test = dataset.test
    arrays = {"x": test.x, "y": test.y}
    for name in ("lengths", "cond", "mask"):
        if getattr(test, name) is not None:
            arrays[name] = getattr(test, name)
    rows = np.random.default_rng(seed).permutation(len(dataset.train))[:_CALIB_SAMPLES]
    arrays["calib_x"] = dataset.train.x[np.sort(rows)]
    if dataset.train.cond is not None:
        arrays["calib_cond"] = dataset.train.cond[np.sort(rows)]
    return {k: np.ascontiguousarray(v) for k, v in arrays.items()}


def _start_run(out: Path, doc: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    with staged_dir(out) as tmp:
        (tmp / CONFIG_FILE).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        (tmp / EVAL_FILE).write_bytes(buffer.getvalue())


def check_run(
    model_config: ModelConfig,
    train_config: TrainConfig,
    data_config: DataConfig,
    out: Path,
    resume: bool,
    world_size: int = 1,
) -> tuple[Dataset, ModelConfig, TrainConfig, str | None]:
    """Every check on data, flags and ``out`` that writes nothing; the dataset, the model and training
    configs with what the data decides filled in, and the ``model:`` line saying so (or None)."""
    dataset = load_dataset(data_config)
    model_config, train_config, line = resolve(model_config, train_config, dataset, world_size)
    model_config = derive_model_config(model_config, dataset)
    dataset = scaled_not_centred(dataset, model_config)
    check_combination(model_config, train_config, dataset)
    check_fits(model_config, min(train_config.batch_size, len(dataset.train)), int(dataset.train.x.shape[1]))
    Cluster(world_size=world_size).local_batch(train_config.batch_size)
    if resume:
        _check_resumable(out, model_config, train_config, data_config, dataset.info)
    else:
        check_output_folder("--out", out)
        if out.exists() and any(out.iterdir()):
            hint = "pass --resume to continue it" if (out / CONFIG_FILE).exists() else "choose another --out"
            raise InputError(f"{out} already exists and is not empty; {hint}")
    return dataset, model_config, train_config, line


def run_training(
    config: RunConfig,
    out: str | Path,
    *,
    resume: bool = False,
    hooks: Sequence[Hook] = (),
    console: Console | None = None,
) -> TrainedRun:
    """Train a model and write the run directory ``out``; see the module docstring. Returns the
    :class:`TrainedRun` (the best model in memory, configs, summary, test split) for later stages.

    Under torchrun (``WORLD_SIZE`` > 1 in the environment) every process calls this and trains its
    shard of each global batch; ``hooks`` run in every process, but only rank 0 writes ``out`` and
    shows progress, and every process returns the same summary.
    """
    out, console = Path(out), console or Console(stderr=True)
    model_config, train_config, data_config = config.model, config.train, config.data
    started = time.perf_counter()
    with join(pick_device(train_config.device)) as cluster:
        with cluster.together("checking the data and flags"):
            dataset, model_config, train_config, line = check_run(
                model_config, train_config, data_config, out, resume, cluster.world_size
            )
        if cluster.is_main:
            for note in dataset.info.notes:
                console.print(f"data: {note}", highlight=False, soft_wrap=True)
            if line:
                console.print(f"model: {line}", highlight=False, soft_wrap=True)
        if train_config.threads:
            torch.set_num_threads(train_config.threads)
        torch.manual_seed(train_config.seed)
        model = build_model(model_config, dataset.info)
        objective = Objective(dataset.info, train_config.label_smoothing)
        writer = RunWriter(out)
        trainer = Trainer(
            model, objective, train_config, cluster.device, [writer] if cluster.is_main else [], cluster
        )
        arrays = eval_arrays(dataset, train_config.seed)
        doc = config_dict(model_config, train_config, data_config, dataset.info)
        _open_run(cluster, out, resume, trainer, writer, doc, arrays)
        train_batch = to_batch(dataset.train, dataset.info, cluster.device)
        val_batch = to_batch(dataset.val, dataset.info, cluster.device)
        with _reporting(cluster, console, train_config.epochs, dataset.info.metric, trainer) as shown:
            trainer.hooks += [*shown, *hooks]
            try:
                progress = trainer.fit(train_batch, dataset.val, val_batch)
            except NonFiniteError as err:
                message = (
                    f"{err}; training stopped. The last good checkpoint is intact: {out / WEIGHTS_FILE} "
                    f"(epoch {trainer.progress.best_epoch}). Lower --lr or keep --clip-grad-norm above 0"
                )
                raise (TrainError if cluster.is_main else StoppedTogether)(message) from None
        seconds = time.perf_counter() - started
        summary = _finish(out, trainer, dataset, progress, seconds, writer.records)
    info = RunInfo(out, model_config, train_config, data_config, dataset.info, summary)
    model = trainer.model.cpu().eval()
    return TrainedRun(info, model, arrays, tuple(writer.records), cluster.rank)


def _scored(test: Split, topology: str) -> int:
    """What the test metric averages over: the samples, or for a sequence of outputs (a CSV series
    is one long test sequence) its scored steps."""
    if test.mask is not None:
        return int(test.mask.sum())
    if topology == "many_to_many":
        return int(test.y.shape[0] * test.y.shape[1]) if test.y.ndim >= 2 else len(test)
    return len(test)


def _open_run(
    cluster: Cluster,
    out: Path,
    resume: bool,
    trainer: Trainer,
    writer: RunWriter,
    doc: dict[str, Any],
    arrays: dict[str, np.ndarray],
) -> None:
    """Rank 0 writes a new run directory, or restores a resumed one (every rank restores its trainer)."""
    with cluster.together("opening the run directory"):
        if resume:
            _restore(trainer, out, trainer.config, writer)
        if cluster.is_main and resume:
            atomic_write_text(out / CONFIG_FILE, json.dumps(doc, indent=2) + "\n")  # a new --epochs
        elif cluster.is_main:
            _start_run(out, doc, arrays)


@contextmanager
def _reporting(
    cluster: Cluster, console: Console, epochs: int, metric: str, trainer: Trainer
) -> Iterator[list[Hook]]:
    """Rank 0 shows progress and gradient warnings; the others train quietly (they see the same numbers)."""
    if cluster.is_main:
        with ProgressHook(console, epochs, metric, trainer.progress.epoch) as bar:
            yield [bar]
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", VanishingGradientWarning)
        warnings.simplefilter("ignore", ExplodingGradientWarning)
        yield []


def _restore(trainer: Trainer, out: Path, train_config: TrainConfig, writer: RunWriter) -> None:
    tensors, meta = read_resume(out / RESUME_FILE)
    restore(trainer, tensors, meta)
    progress = trainer.progress
    if progress.stopped == "early_stop":
        raise InputError(
            f"cannot --resume {out}: it stopped early at epoch {progress.epoch}; nothing to continue"
        )
    if progress.epoch >= train_config.epochs:
        raise InputError(
            f"cannot --resume {out}: it already ran {progress.epoch} epochs; pass --epochs above {progress.epoch}"
        )
    progress.stopped = None
    writer.records = read_metrics(out, up_to_epoch=progress.epoch)


def _finish(
    out: Path,
    trainer: Trainer,
    dataset: Dataset,
    progress: Any,
    seconds: float,
    records: list[dict[str, Any]],
) -> TrainingSummary:
    model, objective, cluster = trainer.model, trainer.objective, trainer.cluster
    test = dataset.test
    with cluster.together("loading the best checkpoint"):
        if cluster.is_main:
            model.load_state_dict(load_weights(out / WEIGHTS_FILE))
    cluster.broadcast_state(model)  # no process but rank 0 needs to see the run directory
    test_scores = trainer.evaluate(test)
    info = objective.info
    scores, notes = objective.baselines(test), []
    if baselines.is_sequence_classes(info):  # 1-NN on the samples the model learned from
        nn, notes = baselines.nearest_neighbour_score(baselines.join_splits(dataset.train, dataset.val), test)
        scores = (*scores, nn)
    best = baselines.strongest(scores, info.metric == "accuracy")
    summary = TrainingSummary(
        metric=info.metric,
        best_val_metric=float(progress.best_metric),
        best_epoch=int(progress.best_epoch),
        test_metric=float(test_scores["metric"]),
        test_loss=float(test_scores["loss"]),
        baseline=best.name,
        baseline_metric=float(best.metric),
        epochs_run=int(progress.epoch),
        stopped=progress.stopped,
        checkpoint=str(out / WEIGHTS_FILE),
        processes=cluster.world_size,
        seconds=round(seconds, 2),
        test_samples=_scored(test, info.topology),
        baselines=scores if len(scores) > 1 else (),
        notes=tuple(notes),
    )
    with cluster.together("writing the summary"):
        if cluster.is_main:
            atomic_write_text(out / SUMMARY_FILE, json.dumps(summary.to_dict(), indent=2) + "\n")
            plot_losses(out, records, info.metric)
    return summary
