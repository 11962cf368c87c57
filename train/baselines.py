"""The simple forecasts a series model must beat: persistence, seasonal naive and the training mean.

Each is a prediction shaped like a split's ``y`` (raw units), cut in the train stage from the same
rows as the targets, so every baseline is scored on exactly the rows the model is scored on. The
verdict is against the strongest of them (the lowest test RMSE), named, e.g. ``seasonal naive (12)``.

* persistence: the last observed value ``y[t]`` for every lead (the split's ``baseline`` array).
* seasonal naive (P): the value one season before the forecast row, ``y[t+h-kP]`` with the
  smallest ``k`` that reaches a known row (``k = ceil(h / P)``).
* training mean: the mean of the target over the training rows.

Sequence classifiers (many_to_one classes from feature sequences) are also held to 1-nearest-neighbour
with Euclidean distance on z-normalised series, the field's simple strong baseline.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from .config import DataInfo
    from .splits import Split

PERSISTENCE = "persistence"
MEAN = "training mean"


def seasonal_name(period: int) -> str:
    """The display name of a seasonal naive forecast of ``period`` rows."""
    return f"seasonal naive ({period})"


@dataclass(frozen=True)
class BaselineScore:
    """One simple forecast's metric on the test split."""

    name: str  # "persistence", "seasonal naive (12)", "training mean", "mean", "majority", ...
    metric: float


def predictions(
    targets: np.ndarray, rows: np.ndarray, lead: np.ndarray | int, periods: tuple[int, ...], mean: np.ndarray
) -> dict[str, np.ndarray]:
    """Seasonal naive (per period) and training-mean forecasts of the target rows ``rows``.

    ``targets`` ``[series rows, targets]``; ``rows`` (any shape) the row each forecast is for;
    ``lead`` its steps ahead of the last known row (broadcast with ``rows``). Returns arrays
    ``rows.shape + [targets]``, float32. A seasonal source before row 0 reads row 0 (such rows are
    context, never scored: the splits start more than a season in)."""
    rows = np.asarray(rows, dtype=np.int64)
    lead = np.broadcast_to(np.asarray(lead, dtype=np.int64), rows.shape)
    out: dict[str, np.ndarray] = {}
    for period in periods:
        back = period * -(-lead // period)  # k * P with k = ceil(lead / P)
        out[seasonal_name(period)] = targets[np.clip(rows - back, 0, None)].astype(np.float32)
    out[MEAN] = np.broadcast_to(mean.astype(np.float32), (*rows.shape, targets.shape[1])).copy()
    return out


def strongest(scores: tuple[BaselineScore, ...], higher_is_better: bool) -> BaselineScore:
    """The baseline hardest to beat (ties keep the earlier, simpler one)."""
    best = scores[0]
    for s in scores[1:]:
        if (s.metric > best.metric) if higher_is_better else (s.metric < best.metric):
            best = s
    return best


def describe(scores: tuple[BaselineScore, ...], metric: str, model: float) -> str:
    """One line: the model's ratio to each baseline, e.g. ``0.94x seasonal naive (12), 0.51x persistence``."""
    parts = [f"{model / s.metric:.2f}x {s.name} ({s.metric:.4g})" for s in scores if s.metric]
    return f"test {metric} {model:.4g}: " + ", ".join(parts)


# -- sequence classifiers: 1-nearest-neighbour, Euclidean, on z-normalised series --------------------
NN_NAME = "1-NN Euclidean"
NN_BUDGET = 2e8  # multiply-adds the 1-NN baseline may spend (~1 s in numpy); beyond: subsample training
NN_CHUNK = 256  # test rows per distance block (bounds memory)


def is_sequence_classes(info: DataInfo) -> bool:
    """many_to_one class labels from feature sequences: where 1-NN is the baseline to beat."""
    return info.metric == "accuracy" and info.topology == "many_to_one" and info.input_kind == "features"


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


def nearest_neighbour_score(reference: Split, test: Split) -> tuple[BaselineScore, list[str]]:
    """1-NN Euclidean's accuracy on ``test`` from ``reference`` (training + validation), and its note."""
    pred, note = nearest_neighbour(reference, test)
    return BaselineScore(NN_NAME, float((pred == test.y).mean())), [note] if note else []


def join_splits(a: Split, b: Split) -> Split:
    """Two splits of the same data as one (train + validation: what a baseline may learn from)."""
    from .splits import Split

    lengths = None if a.lengths is None else np.concatenate([a.lengths, b.lengths])
    return Split(x=np.concatenate([a.x, b.x]), y=np.concatenate([a.y, b.y]), lengths=lengths)
