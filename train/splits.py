"""The three splits of a dataset in raw units, and the helpers that cut and describe them.

Arrays stay in raw units here (``eval.npz`` stores them as they are); normalisation statistics
are fitted on the training split only and applied when batches are made. Series and text split
in time order, never shuffled across a boundary; other data is shuffled with ``split_seed``
first, so every split is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from edgernn.runtime.errors import InputError

from .config import DataConfig, DataInfo

_MIN_REL = 1e-9  # a spread under this fraction of a column's magnitude is rounding, not signal


@dataclass(frozen=True)
class Split:
    """One split in raw units; every array shares the sample axis."""

    x: np.ndarray  # float32 [N, T, F] or int64 [N, T] tokens
    y: np.ndarray  # int64 [N] / [N, T] classes and tokens; float32 [N, out] / [N, T, out] regression
    lengths: np.ndarray | None = None  # int64 [N]: valid steps of padded samples
    mask: np.ndarray | None = None  # bool [N, T]: the steps that are scored (past steps give context only)
    cond: np.ndarray | None = None  # float32 [N, C] one_to_many condition (one-hot classes or raw features)
    baseline: np.ndarray | None = (
        None  # the naive prediction: like y (raw units), or [V] log-probs for tokens
    )
    # series: more simple forecasts like y (seasonal naive, training mean), by name (see baselines.py)
    naive: dict[str, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: np.ndarray) -> Split:
        """The samples at ``index`` (a unigram ``baseline`` is shared, not indexed)."""
        pick = {
            name: None if value is None else value[index]
            for name, value in (("lengths", self.lengths), ("mask", self.mask), ("cond", self.cond))
        }
        baseline = self.baseline
        if baseline is not None and baseline.shape[:1] == self.x.shape[:1]:
            baseline = baseline[index]
        naive = {name: value[index] for name, value in self.naive.items()}
        return replace(self, x=self.x[index], y=self.y[index], baseline=baseline, naive=naive, **pick)


@dataclass(frozen=True)
class Dataset:
    """The train/val/test splits and what they hold."""

    train: Split
    val: Split
    test: Split
    info: DataInfo


def time_bounds(rows: int, config: DataConfig) -> tuple[int, int]:
    """Where val and test begin when ``rows`` time steps are split in order."""
    val_start = int(round(rows * (1.0 - config.val_fraction - config.test_fraction)))
    test_start = int(round(rows * (1.0 - config.test_fraction)))
    return val_start, test_start


def shuffled_split(samples: int, config: DataConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Index arrays of the train/val/test samples, shuffled once with ``split_seed``."""
    order = np.random.default_rng(config.split_seed).permutation(samples)
    n_test = int(round(samples * config.test_fraction))
    n_val = int(round(samples * config.val_fraction))
    n_train = samples - n_val - n_test
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    why = f"{samples} samples, --val-fraction {config.val_fraction}, --test-fraction {config.test_fraction}"
    for name, part in zip(("train", "val", "test"), parts, strict=True):
        require_samples(name, len(part), why)
    return parts


def require_samples(split: str, count: int, why: str) -> None:
    """Refuse an empty split with a message saying why it is empty."""
    if count < 1:
        raise InputError(f"0 samples in the {split} split ({why}); use more data or other fractions/window")


def fit_stats(values: np.ndarray) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-column mean and std of ``values`` ``[rows, columns]``. A constant column (a spread under
    :data:`_MIN_REL` of its magnitude, whatever the units) gets std 1, so it divides safely; any
    other column is standardised however small its scale (nanovolts as volts)."""
    mean = values.mean(axis=0, dtype=np.float64)
    std = values.std(axis=0, dtype=np.float64)
    magnitude = np.abs(values).max(axis=0) if len(values) else np.zeros_like(std)
    std = np.where((std <= _MIN_REL * magnitude) | (std == 0), 1.0, std)
    return tuple(float(v) for v in mean), tuple(float(v) for v in std)


def unigram_logprobs(ids: np.ndarray, vocab_size: int) -> np.ndarray:
    """Add-one smoothed unigram log-probabilities ``[vocab_size]`` from training token ids."""
    counts = np.bincount(ids.ravel(), minlength=vocab_size).astype(np.float64) + 1.0
    return np.log(counts / counts.sum()).astype(np.float32)
