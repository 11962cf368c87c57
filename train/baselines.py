"""The simple forecasts a series model must beat: persistence, seasonal naive and the training mean.

Each is a prediction shaped like a split's ``y`` (raw units), cut in the train stage from the same
rows as the targets, so every baseline is scored on exactly the rows the model is scored on. The
verdict is against the strongest of them (the lowest test RMSE), named, e.g. ``seasonal naive (12)``.

* persistence: the last observed value ``y[t]`` for every lead (the split's ``baseline`` array).
* seasonal naive (P): the value one season before the forecast row, ``y[t+h-kP]`` with the
  smallest ``k`` that reaches a known row (``k = ceil(h / P)``).
* training mean: the mean of the target over the training rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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
