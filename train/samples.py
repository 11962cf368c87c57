"""Sample arrays (NPZ/NPY) before they are split: class labels as ids, a fixed test file appended,
and the ``data:`` lines that say what was read. Kept apart from the readers so a shared reader can
call them unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgernn.runtime.errors import InputError

from .config import DataConfig
from .readers import read_arrays
from .splits import require_samples, shuffled_split

MAX_CLASSES_ASKED = 20


def read_samples(path: Path) -> dict[str, np.ndarray]:
    """NPZ/NPY arrays, or the same arrays from a long-format CSV."""
    from .longcsv import is_long_format, read_long_csv

    return (
        read_long_csv(path) if path.suffix == ".csv" and is_long_format(path) else read_arrays(path)
    )  # a float y with at most this many distinct integers may be class ids


def class_ids(
    path: Path, y: np.ndarray, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, str]:
    """``y`` as int64 ids ``0..K-1`` and the labels they stand for, with a note when mapped.

    String labels become ids in sorted order; integer ids that are not ``0..K-1`` (1-based, gaps) are
    mapped to ``0..K-1`` and keep their values as labels, so no class exists that never occurs. With
    a ``labels`` array, ids index it as given."""
    if y.dtype.kind in "US":
        values, ids = np.unique(y, return_inverse=True)
        return (
            ids.reshape(y.shape).astype(np.int64),
            values.astype(str),
            f"{len(values)} string labels mapped to ids",
        )
    if y.dtype.kind == "f":  # --task classify on float y (a float y without --task was asked about)
        if not np.all(y == np.round(y)):
            raise InputError(f"{path}: --task classify needs integer class ids in 'y', got fractional values")
        y = y.astype(np.int64)
    if labels is not None:
        return y.astype(np.int64), labels, ""
    values, ids = np.unique(y, return_inverse=True)
    if np.array_equal(values, np.arange(len(values))):
        return y.astype(np.int64), None, ""
    shown = ", ".join(str(v) for v in values[:6]) + (", ..." if len(values) > 6 else "")
    note = f"class ids {shown} mapped to 0..{len(values) - 1}; the labels keep the values as given"
    return ids.reshape(y.shape).astype(np.int64), np.array([str(v) for v in values]), note


def prepare_labels(
    config: DataConfig, path: Path, y: np.ndarray, labels: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Class labels as ids (strings, 1-based or gapped ids) after asking about a float ``y``; notes."""
    ask_task(path, y, config.task)
    integer_classes = y.dtype.kind in "iu" and config.task in (None, "classify")
    if y.dtype.kind in "US" or (y.ndim == 1 and (integer_classes or config.task == "classify")):
        y, labels, note = class_ids(path, y, labels)
        return y, labels, [note] if note else []
    return y, labels, []


def split_rows(samples: int, test_samples: int, config: DataConfig) -> tuple[np.ndarray, ...]:
    """Train/val/test rows: the appended --test-data samples as the test split, else shuffled."""
    if test_samples:
        return fixed_test_split(samples - test_samples, test_samples, config)
    return shuffled_split(samples, config)


def ask_task(path: Path, y: np.ndarray, task: str | None) -> None:
    """A float ``y`` that only holds a few integer values may be class ids: ask instead of guessing."""
    if task is not None or y.dtype.kind != "f":
        return
    values = np.unique(y)
    if len(values) <= MAX_CLASSES_ASKED and np.all(values == np.round(values)):
        shown = ", ".join(f"{v:g}" for v in values[:6]) + (", ..." if len(values) > 6 else "")
        raise InputError(
            f"{path}: 'y' is float but holds only {len(values)} integer values ({shown}); are they classes? "
            "pass --task classify (class ids) or --task regress (numbers)"
        )


def with_test_file(config: DataConfig, arrays: dict[str, np.ndarray], path: Path) -> tuple[dict, int]:
    """``arrays`` with the samples of ``config.test_data`` appended (padded to the longer time axis,
    with ``lengths`` when the two differ); returns them and how many test samples came last."""
    if not config.test_data:
        return arrays, 0
    test_path = Path(config.test_data)
    test = read_samples(test_path)
    for key in ("y", "lengths", "cond"):
        if (key in arrays) != (key in test):
            has, lacks = (path, test_path) if key in arrays else (test_path, path)
            raise InputError(f"--test-data {test_path}: {has} has an array {key!r} and {lacks} has none")
    x, tx = arrays["x"], test["x"]
    if x.shape[2:] != tx.shape[2:] or x.ndim != tx.ndim:
        raise InputError(
            f"--test-data {test_path}: 'x' is {tx.shape}, expected [samples, time{_tail(x)}] like {path}"
        )
    steps = max(x.shape[1], tx.shape[1])
    if x.shape[1] != tx.shape[1] and "lengths" not in arrays:
        arrays = {**arrays, "lengths": np.full(len(x), x.shape[1], np.int64)}
        test = {**test, "lengths": np.full(len(tx), tx.shape[1], np.int64)}
    joined = {k: v for k, v in arrays.items() if k == "labels"}
    for key in ("x", "y", "lengths", "cond"):
        if key in arrays:
            a, b = _pad(arrays[key], steps, x.shape[1], key), _pad(test[key], steps, tx.shape[1], key)
            if a.shape[1:] != b.shape[1:]:
                raise InputError(
                    f"--test-data {test_path}: array {key!r} is {b.shape}, expected {a.shape[1:]} per sample"
                )
            joined[key] = np.concatenate([a, b])
    return joined, len(tx)


def _tail(x: np.ndarray) -> str:
    return "".join(f", {d}" for d in x.shape[2:])


def _pad(a: np.ndarray, steps: int, own_steps: int, key: str) -> np.ndarray:
    """Zero-pad the time axis of ``x`` and of per-step ``y`` (second axis = the file's steps) to ``steps``."""
    if key not in ("x", "y") or a.ndim < 2 or a.shape[1] != own_steps or own_steps >= steps:
        return a
    width = [(0, 0)] * a.ndim
    width[1] = (0, steps - a.shape[1])
    return np.pad(a, width)


def fixed_test_split(samples: int, test_samples: int, config: DataConfig) -> tuple[np.ndarray, ...]:
    """Train/val shuffled from the first ``samples`` (``--data``); the last ``test_samples`` are the test."""
    order = np.random.default_rng(config.split_seed).permutation(samples)
    n_val = max(1, int(round(samples * config.val_fraction)))
    parts = order[: samples - n_val], order[samples - n_val :], np.arange(samples, samples + test_samples)
    why = f"{samples} samples in --data, --val-fraction {config.val_fraction}"
    for name, part in zip(("train", "val", "test"), parts, strict=True):
        require_samples(name, len(part), why)
    return parts


def describe(x: np.ndarray, lengths: np.ndarray | None, y: np.ndarray, labels, parts, config) -> list[str]:
    """The ``data:`` lines for sample arrays: shapes, classes and their counts, splits."""
    kind = "token ids" if x.ndim == 2 else f"{x.shape[2]} feature{'s' if x.shape[2] > 1 else ''}"
    steps = (
        f"{x.shape[1]} steps"
        if lengths is None
        else f"{lengths.min()}..{lengths.max()} steps (ragged, padded to {x.shape[1]})"
    )
    lines = [f"{len(x)} samples x {steps} x {kind}"]
    if labels is not None and y.ndim == 1:
        counts = np.bincount(y[parts[0]], minlength=len(labels))
        shown = ", ".join(f"{n} {c}" for n, c in zip(labels[:8], counts[:8], strict=False))
        lines.append(
            f"{len(labels)} classes; training counts: {shown}" + (", ..." if len(labels) > 8 else "")
        )
    sizes = " / ".join(str(len(p)) for p in parts)
    how = (
        f"test from --test-data {config.test_data}"
        if config.test_data
        else f"shuffled with --split-seed {config.split_seed}"
    )
    lines.append(f"splits train / val / test: {sizes} ({how})")
    return lines
