"""Baselines a classifier must beat on the test split: the majority class, and 1-nearest-neighbour
with Euclidean distance on z-normalised series (the field's simple strong baseline for labelled
sequences). The strongest one is what the verdict, report.md and ``--require-baseline`` compare to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .config import DataInfo
from .splits import Split

NN_NAME = "1-NN Euclidean"
NN_BUDGET = 2e8  # multiply-adds the 1-NN baseline may spend (~1 s in numpy); beyond: subsample training
NN_CHUNK = 256  # test rows per distance block (bounds memory)


@dataclass(frozen=True)
class BaselineScore:
    """One baseline's metric on the test split, and what to know about how it was computed."""

    name: str
    value: float
    note: str = ""


def znormalise(x: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
    """Each series (and channel) to zero mean, unit std over its valid steps; padding becomes 0.
    ``x`` is ``[N, T, F]``; constant series become all zeros."""
    x = x.astype(np.float64)
    steps = np.arange(x.shape[1])[None, :, None]
    valid = (
        np.ones_like(x, bool) if lengths is None else np.broadcast_to(steps < lengths[:, None, None], x.shape)
    )
    count = np.maximum(valid.sum(axis=1, keepdims=True), 1)
    mean = np.where(valid, x, 0).sum(axis=1, keepdims=True) / count
    var = np.where(valid, (x - mean) ** 2, 0).sum(axis=1, keepdims=True) / count
    std = np.sqrt(var)
    z = np.where(std > 1e-8, (x - mean) / np.where(std > 1e-8, std, 1), 0.0)
    return np.where(valid, z, 0.0)


def nearest_neighbour(
    train: Split, test: Split, seed: int = 0, budget: float = NN_BUDGET
) -> tuple[np.ndarray, str]:
    """1-NN Euclidean predictions for ``test`` from ``train`` (z-normalised series); a note says when
    the training set was subsampled to keep the cost under ``budget`` multiply-adds."""
    ref, query = znormalise(train.x, train.lengths), znormalise(test.x, test.lengths)
    steps = max(ref.shape[1], query.shape[1])  # pad the shorter set: padding compares as zeros
    ref, query = (
        np.pad(z, ((0, 0), (0, steps - z.shape[1]), (0, 0))).reshape(len(z), -1) for z in (ref, query)
    )
    labels, note = train.y, ""
    keep = int(budget // max(1, len(test) * ref.shape[1]))
    if keep < len(ref):
        keep = max(keep, 1)
        rows = np.sort(np.random.default_rng(seed).choice(len(ref), keep, replace=False))
        ref, labels = ref[rows], labels[rows]
        note = f"{NN_NAME} compared each test series with {keep} of {len(train)} training series (subsampled)"
    squares = (ref**2).sum(axis=1)
    pred = np.empty(len(query), dtype=labels.dtype)
    for lo in range(0, len(query), NN_CHUNK):
        block = query[lo : lo + NN_CHUNK]
        dist = squares[None, :] - 2.0 * block @ ref.T  # + |q|^2, the same for every reference row
        pred[lo : lo + NN_CHUNK] = labels[np.argmin(dist, axis=1)]
    return pred, note


def classification_baselines(info: DataInfo, reference: Split, test: Split) -> list[BaselineScore]:
    """Majority class and, for many_to_one feature sequences, 1-NN Euclidean from ``reference`` (the
    samples the model learned from: training and validation) on ``test``."""
    majority = test.baseline
    scores = [BaselineScore(info.baseline, float((majority == test.y).mean()))]
    if info.topology == "many_to_one" and info.input_kind == "features" and test.y.ndim == 1:
        pred, note = nearest_neighbour(reference, test)
        scores.append(BaselineScore(NN_NAME, float((pred == test.y).mean()), note))
    return scores


def join_splits(a: Split, b: Split) -> Split:
    """Two splits of the same data as one (train + validation: what a baseline may learn from)."""
    lengths = None if a.lengths is None else np.concatenate([a.lengths, b.lengths])
    return Split(x=np.concatenate([a.x, b.x]), y=np.concatenate([a.y, b.y]), lengths=lengths)
