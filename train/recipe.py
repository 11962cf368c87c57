"""The defaults a sequence classifier gets from its data (what ``"auto"``, ``None`` and ``0`` in
:class:`ModelConfig`/:class:`TrainConfig` resolve to), said in one ``model:`` line.

Sequence classification (many_to_one classes from feature sequences, the UCR/UEA kind of data:
tens to hundreds of labelled series, tens to thousands of steps) trains a bidirectional recurrence
on per-series z-normalised inputs (univariate series only: across channels the levels carry the
class, e.g. which sensor reads highest), behind a strided Conv1d front end when the series are
long, and pools its outputs over time (mean and max) instead of reading the last step. Beside the
front end of long series runs a convolutional branch (LSTM-FCN, convbranch.py), trained at
learning rate 1e-3 on every core. Batches are an eighth of the training set (4 to 32), and epochs
enough for about 1500 updates (60 to 400, patience a quarter of them), so a tiny set still trains
long enough; accuracy ties on a small validation split go to the lower validation loss (loop.py).
Measured in docs/classification.md. Everything else keeps the plain defaults: last step, no front
end, batch 32.
A flag given by the user (or a bundled preset) always wins, as everywhere.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .config import CLASSIFIER_LR, PLAIN_LR, DataInfo, ModelConfig, TrainConfig
from .convbranch import FCN_STEPS
from .splits import Dataset

STEPS_AFTER_FRONT = 64  # the front end's stride brings long series down to about this many steps
BATCH_SHARE = 8  # batch = training samples / this, clamped to 4..32
PLAIN_BATCH = 32
PLAIN_EPOCHS, PLAIN_PATIENCE = 60, 15
FRONT_LAYERS = 2  # convolutions in the front end of long series (2: a kernel-5 one after the strided one)
AUGMENT = False  # window slicing + jitter (train/augment.py): measured, helps some sets, hurts more
MEMBERS = 3  # a seed ensemble in one graph (train/ensemble.py)
FCN_WIDTH = 128  # the convolutional branch beside the recurrence (LSTM-FCN, train/convbranch.py)
FCN_WORK = 2048  # batch x steps the branch reads per update: batches over 16 read fewer than FCN_STEPS
UPDATES, MAX_EPOCHS = 1500, 400  # a classifier trains for about this many steps (early stopping aside)


def is_sequence_classifier(dataset: Dataset) -> bool:
    """many_to_one class labels from float feature sequences."""
    info = dataset.info
    return info.topology == "many_to_one" and info.output_kind == "classes" and info.input_kind == "features"


def resolve(
    model: ModelConfig, train: TrainConfig, dataset: Dataset, world_size: int = 1
) -> tuple[ModelConfig, TrainConfig, str | None]:
    """Fill the fields left to the data; the ``model:`` line describing a classifier recipe (or None)."""
    steps = int(dataset.train.x.shape[1])
    recipe = is_sequence_classifier(dataset)
    model = dataclasses.replace(model, **_model_choices(model, dataset, recipe))
    train = _train_choices(model, train, len(dataset.train), recipe, world_size)
    if model.fcn_stride == 0:  # the branch reads about FCN_STEPS steps, fewer for big batches
        read = max(1, min(FCN_STEPS, FCN_WORK // train.batch_size))
        model = dataclasses.replace(model, fcn_stride=max(1, math.ceil(steps / read)))
    return model, train, describe(model, train, steps) if recipe else None


def _model_choices(model: ModelConfig, dataset: Dataset, recipe: bool) -> dict[str, object]:
    steps = int(dataset.train.x.shape[1])
    chosen: dict[str, object] = {
        "bidirectional": recipe if model.bidirectional is None else model.bidirectional,
    }
    whole = recipe and bool(chosen["bidirectional"])  # pooling etc. read the whole sequence
    chosen["pool"] = ("meanmax" if whole else "last") if model.pool == "auto" else model.pool
    univariate = dataset.train.x.ndim == 3 and dataset.train.x.shape[2] == 1
    chosen["znorm"] = bool(whole and univariate) if model.znorm is None else model.znorm
    downsample = model.downsample
    if downsample == 0:
        downsample = chosen["downsample"] = max(1, math.ceil(steps / STEPS_AFTER_FRONT)) if whole else 1
    if model.front_layers == 0:
        chosen["front_layers"] = FRONT_LAYERS if downsample > 1 else 1
    if model.members == 0:
        chosen["members"] = MEMBERS if recipe else 1
    if model.fcn_width is None:  # beside the front end: series the recurrence reads downsampled
        chosen["fcn_width"] = FCN_WIDTH if whole and downsample > 1 else 0
    return chosen


def _train_choices(
    model: ModelConfig, train: TrainConfig, samples: int, recipe: bool, world_size: int
) -> TrainConfig:
    batch = train.batch_size
    if batch == 0:
        batch = min(PLAIN_BATCH, max(4, samples // BATCH_SHARE)) if recipe else PLAIN_BATCH
        batch = -(-batch // world_size) * world_size  # a multiple of the processes
    epochs = train.epochs or (_classifier_epochs(samples, batch) if recipe else PLAIN_EPOCHS)
    patience = train.patience
    if patience is None:
        patience = max(PLAIN_PATIENCE, epochs // 4) if recipe else PLAIN_PATIENCE
    augment = (recipe and AUGMENT) if train.augment is None else train.augment
    lr = train.lr if train.lr is not None else CLASSIFIER_LR if model.fcn_width else PLAIN_LR
    threads = train.threads
    if threads is None:  # convolutions use every core; one small recurrence gains nothing from more
        threads = 0 if model.fcn_width and world_size == 1 else 1
    return dataclasses.replace(
        train, batch_size=batch, epochs=epochs, patience=patience, augment=augment, lr=lr, threads=threads
    )


def scaled_not_centred(dataset: Dataset, model: ModelConfig) -> Dataset:
    """A model that z-normalises each series in its graph gets its inputs scaled by the training
    std, not centred: z-normalising ignores the centring, and centring in float32 first would round
    away the variation of a series that sits far from the training mean (PLAID: 1e-4 around 0.3)."""
    info = dataset.info
    if not model.znorm or info.input_mean is None:
        return dataset
    zeros = tuple(0.0 for _ in info.input_mean)
    return dataclasses.replace(dataset, info=dataclasses.replace(info, input_mean=zeros))


def _classifier_epochs(samples: int, batch: int) -> int:
    """Enough epochs for about UPDATES optimiser steps (a tiny set has few steps per epoch)."""
    per_epoch = max(1, math.ceil(samples / batch))
    return min(MAX_EPOCHS, max(PLAIN_EPOCHS, math.ceil(UPDATES / per_epoch)))


def plain_defaults(model: ModelConfig) -> dict[str, object]:
    """The plain values of the fields still left to the data: one direction, last step, no front end."""
    plain = {
        "bidirectional": False,
        "pool": "last",
        "znorm": False,
        "downsample": 1,
        "members": 1,
        "front_layers": 1,
        "fcn_width": 0,
    }
    unset = {
        "bidirectional": None,
        "pool": "auto",
        "znorm": None,
        "downsample": 0,
        "members": 0,
        "front_layers": 0,
        "fcn_width": None,
    }
    return {
        k: v for k, v in plain.items() if getattr(model, k) == unset[k] and getattr(model, k) is not False
    }


def describe(model: ModelConfig, train: TrainConfig, steps: int) -> str:
    """One line: what the classifier reads and how."""
    parts = [f"{'bidirectional ' if model.bidirectional else ''}{model.cell.upper()} {model.hidden_size}"]
    if model.members > 1:
        parts.append(f"a seed ensemble of {model.members} in one graph (logits averaged)")
    if model.znorm:
        parts.append("each series z-normalised")
    if model.downsample > 1:
        parts.append(
            f"strided Conv1d front end x{model.downsample} ({steps} -> {math.ceil(steps / model.downsample)} steps)"
            + (" and a second Conv1d (kernel 5)" if model.front_layers > 1 else "")
        )
    parts.append(
        {"last": "reads the last step", "mean": "mean over time", "max": "max over time"}.get(
            model.pool, "mean and max over time"
        )
    )
    if model.fcn_width:
        stride = f", windows of {model.fcn_stride} steps averaged" if model.fcn_stride > 1 else ""
        parts.append(
            f"a convolutional branch beside the recurrence (LSTM-FCN: Conv1d {model.fcn_width}-{2 * model.fcn_width}-"
            f"{model.fcn_width}, BatchNorm, mean over time{stride})"
        )
    if train.augment:
        parts.append("training sequences window-sliced and jittered")
    parts.append(
        f"batch {train.batch_size}, learning rate {train.learning_rate:g}, "
        f"up to {train.epochs} epochs (patience {train.patience})"
    )
    return "sequence classifier: " + ", ".join(parts)


def recipe_record(
    model: ModelConfig, train: TrainConfig, info: DataInfo, arrays: dict[str, np.ndarray]
) -> dict[str, str]:
    """The manifest's ``recipe``: the ``model:`` line and each choice, for a sequence classifier
    (empty otherwise). ``arrays``: the run's eval arrays (``calib_x`` holds training inputs)."""
    classifier = info.topology == "many_to_one" and info.output_kind == "classes"
    if not classifier or info.input_kind != "features" or "calib_x" not in arrays:
        return {}
    steps = int(arrays["calib_x"].shape[1])
    chosen = {
        "summary": describe(model, train, steps),
        "members": model.members or 1,
        "bidirectional": bool(model.bidirectional),
        "pool": model.pool,
        "znorm": bool(model.znorm),
        "downsample": model.downsample or 1,
        "front_layers": model.front_layers or 1,
        "fcn_width": model.fcn_width or 0,
        "fcn_stride": model.fcn_stride or 1,
        "augment": bool(train.augment),
        "batch_size": train.batch_size,
        "lr": f"{train.learning_rate:g}",
        "epochs": train.epochs,
        "patience": train.patience,
    }
    return {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in chosen.items()}
