"""Read a dataset: dispatch on the file (a CSV series, NPZ/NPY arrays, plain text) into
:class:`~edgernn.train.splits.Dataset` splits. Bad data raises :class:`InputError` before any write."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from edgernn.runtime.errors import InputError
from edgernn.runtime.fileio import sha256_file

from . import datasets
from .arrays import load_arrays
from .config import DataConfig, DataInfo
from .longcsv import is_long_format
from .readers import ARRAY_KEYS, read_text
from .series import load_series
from .splits import Dataset, Split, require_samples, time_bounds, unigram_logprobs

__all__ = ["Dataset", "Split", "load_dataset", "load_text"]


def load_dataset(config: DataConfig) -> Dataset:
    """Read and cut the data that ``config`` names; bad data raises :class:`InputError` before any write."""
    path, overrides = datasets.resolve(config)
    sha = _sha256(path)
    if path.suffix == ".csv" and is_long_format(path):  # labelled sequences, one row per step
        dataset = load_arrays(config, path, sha)
    elif path.suffix == ".csv":
        dataset = load_series(config, path, sha)
    elif path.suffix == ".txt" or config.task == "text":
        dataset = load_text(config, path, sha)
    else:
        dataset = load_arrays(config, path, sha)
    return replace(dataset, info=replace(dataset.info, **overrides)) if overrides else dataset


def load_text(config: DataConfig, path: Path, sha: str) -> Dataset:
    """Character-level next-token data: windows of ``window`` characters predict the next ones."""
    if config.task not in (None, "text"):
        raise InputError(f"{path}: text data trains --task text, got --task {config.task}")
    if config.topology not in (None, "many_to_many"):
        raise InputError(
            f"{path}: text data trains --topology many_to_many, got --topology {config.topology}"
        )
    text = read_text(path)
    val_start, test_start = time_bounds(len(text), config)
    vocab = ("<unk>", *sorted(set(text[:val_start])))
    index = {ch: i for i, ch in enumerate(vocab)}
    ids = np.array([index.get(ch, 0) for ch in text], dtype=np.int64)
    window = config.window
    bounds = {
        "train": (0, val_start, config.stride),
        "val": (val_start, test_start, window),
        "test": (test_start, len(text), window),
    }
    baseline = unigram_logprobs(ids[:val_start], len(vocab))
    splits = {}
    for name, (lo, hi, stride) in bounds.items():
        starts = np.arange(lo, hi - window, stride)
        require_samples(name, len(starts), f"{hi - lo} characters, --window {window} needs {window + 1}")
        steps = starts[:, None] + np.arange(window)
        splits[name] = Split(x=ids[steps], y=ids[steps + 1], baseline=baseline)
    info = DataInfo(
        source=str(path),
        sha256=sha,
        task="text",
        topology="many_to_many",
        input_kind="tokens",
        feature_names=(),
        output_kind="tokens",
        output_names=(),
        vocab=vocab,
        window=window,
        metric="nll",
        baseline="unigram",
        split_sizes=tuple(len(s) for s in splits.values()),
    )
    return Dataset(info=info, **splits)


def _sha256(path: Path) -> str:
    """The data's sha256; a folder of ``.npy`` files hashes the arrays it holds, by name."""
    if not path.is_dir():
        return sha256_file(path)
    digest = hashlib.sha256()
    for key in ARRAY_KEYS:
        if (path / f"{key}.npy").is_file():
            digest.update(f"{key}:{sha256_file(path / f'{key}.npy')};".encode())
    return digest.hexdigest()
