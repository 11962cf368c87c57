"""Tiny data files and configs shared by the test_train_* modules (no tests here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console

QUIET = Console(quiet=True)


def write_series_csv(path: Path, rows: int = 120, seed: int = 0) -> Path:
    """A CSV with a date column (text), two numeric columns, and a noisy sine target ``load``."""
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    temp = 10 + 5 * np.sin(t / 6) + rng.normal(0, 0.3, rows)
    load = 50 + 20 * np.sin(t / 4) + rng.normal(0, 1, rows)
    lines = ["date,temp,load"] + [
        f"2020-01-{i:04d},{a:.4f},{b:.4f}" for i, a, b in zip(t, temp, load, strict=True)
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_classes_npz(
    path: Path, samples: int = 96, steps: int = 6, features: int = 3, lengths: bool = True
) -> Path:
    """Classify which feature has the largest sum over the valid steps; padded with zeros."""
    rng = np.random.default_rng(1)
    x = rng.normal(size=(samples, steps, features)).astype(np.float32)
    n = rng.integers(2, steps + 1, size=samples) if lengths else np.full(samples, steps)
    x[np.arange(steps)[None, :] >= n[:, None]] = 0.0
    y = x.sum(axis=1).argmax(axis=1).astype(np.int64)
    arrays = {"x": x, "y": y, "labels": np.array([f"f{i}" for i in range(features)])}
    if lengths:
        arrays["lengths"] = n.astype(np.int64)
    np.savez(path, **arrays)
    return path


def write_tagging_npz(path: Path, samples: int = 64, steps: int = 7) -> Path:
    """Token ids in, per-step tags out (tag = id parity), with lengths."""
    rng = np.random.default_rng(2)
    x = rng.integers(1, 9, size=(samples, steps)).astype(np.int64)
    n = rng.integers(3, steps + 1, size=samples).astype(np.int64)
    np.savez(path, x=x, y=(x % 2).astype(np.int64), lengths=n)
    return path


def write_cond_npz(path: Path, samples: int = 80, steps: int = 5) -> Path:
    """one_to_many regression: a 2-feature condition decodes a 5-step ramp."""
    rng = np.random.default_rng(3)
    cond = rng.normal(size=(samples, 2)).astype(np.float32)
    ramp = np.linspace(0, 1, steps, dtype=np.float32)
    y = (cond[:, :1, None] * ramp[None, :, None] + cond[:, 1:, None]).reshape(samples, steps, 1)
    np.savez(path, x=np.zeros((samples, steps, 1), np.float32), y=y, cond=cond)
    return path


def tiny(**overrides):
    """Tiny ModelConfig/TrainConfig kwargs split by section: ``tiny(hidden_size=4, epochs=1)``."""
    from edgernn.train.config import ModelConfig, TrainConfig

    model = {"hidden_size": 8}
    train = {"epochs": 2, "batch_size": 16, "threads": 1, "patience": 0}
    model_fields = set(ModelConfig.__dataclass_fields__)
    for key, value in overrides.items():
        (model if key in model_fields else train)[key] = value
    return ModelConfig(**model), TrainConfig(**train)
