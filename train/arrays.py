"""Samples from NPZ/NPY arrays: classification or regression, any topology, padded with ``lengths``.

Shapes decide the topology unless ``--topology`` says otherwise: ``y`` ``[N]`` (or float
``[N, K]``) is many_to_one, ``y`` ``[N, T]`` integer or ``[N, T, K]`` float is many_to_many, and a
``cond`` array means one_to_many. one_to_many without ``cond`` on class-labelled data learns to
generate ``x`` from its class (``cond`` = one-hot ``y``). Samples are shuffled once with
``split_seed`` before splitting. Baselines: the majority class, or the training mean.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from edgernn.runtime.errors import InputError

from .config import DataConfig, DataInfo
from .padding import FROM_NAN
from .readers import NAN_PADDED
from .samples import describe, prepare_labels, read_samples, split_rows, with_test_file
from .splits import Dataset, Split, fit_stats


def load_arrays(config: DataConfig, path: Path, sha: str) -> Dataset:
    """Classification/regression data from the arrays at ``path``."""
    a, test_samples = with_test_file(config, read_samples(path), path)
    x, y, lengths, cond, labels = (a.get(k) for k in ("x", "y", "lengths", "cond", "labels"))
    y, labels, notes = prepare_labels(config, path, y, labels)
    notes = (FROM_NAN, *notes) if NAN_PADDED in a else notes
    tokens = _is_tokens(config, path, x)
    x = x.astype(np.int64) if tokens else (x if x.ndim == 3 else x[..., None]).astype(np.float32)
    topology = config.topology or _topology(x, y, cond)
    if topology == "one_to_many" and cond is None:
        if y.ndim != 1 or y.dtype.kind not in "iu":
            raise InputError(
                f"{path}: one_to_many needs an array 'cond', or integer class ids in 'y' to condition on"
            )
        cond, y, cond_labels, labels = y, x, labels, None
    else:
        cond_labels = None
    task = config.task or ("classify" if y.dtype.kind in "iu" else "regress")
    if task not in ("classify", "regress"):
        raise InputError(f"{path}: arrays train --task classify or regress, got --task {task}")
    if task == "classify" and y.dtype.kind not in "iu":
        raise InputError(f"{path}: --task classify needs integer class ids in 'y', got {y.dtype}")
    y = _check_y(path, topology, task, x, y)
    mask = None if lengths is None else np.arange(x.shape[1])[None, :] < lengths[:, None]
    lengths = None if lengths is None else lengths.astype(np.int64)
    parts = split_rows(len(x), test_samples, config)
    train_rows = parts[0]
    info: dict = dict(
        source=str(path),
        sha256=sha,
        task=task,
        topology=topology,
        input_kind="tokens" if tokens else "features",
        feature_names=() if tokens else tuple(f"x{i}" for i in range(x.shape[-1])),
        output_kind="classes" if task == "classify" else "regression",
        output_names=(),
        variable_length=lengths is not None,
        metric="accuracy" if task == "classify" else "rmse",
        baseline="majority" if task == "classify" else "mean",
        split_sizes=tuple(len(p) for p in parts),
    )
    if not tokens:
        valid = x[train_rows] if mask is None else x[train_rows][mask[train_rows]]
        info.update(zip(("input_mean", "input_std"), fit_stats(valid.reshape(-1, x.shape[-1])), strict=True))
    step_mask = None if topology == "many_to_one" else mask
    if task == "classify":
        info["labels"] = _labels(path, y, labels, "y")
        baseline = np.full_like(y, np.bincount(_valid(y, step_mask, train_rows)).argmax())
    else:
        flat = _valid(y, step_mask, train_rows).reshape(-1, y.shape[-1])
        info.update(output_names=tuple(f"y{i}" for i in range(y.shape[-1])))
        info.update(zip(("output_mean", "output_std"), fit_stats(flat), strict=True))
        mean = y[train_rows].mean(axis=0) if topology == "one_to_many" else np.array(info["output_mean"])
        baseline = np.broadcast_to(mean.astype(np.float32), y.shape).copy()
    if topology == "one_to_many":
        cond, x = _condition(path, cond, cond_labels, train_rows, info), _decoder_inputs(y, info)
    info["notes"] = (*describe(x, lengths, y, info.get("labels"), parts, config), *notes)
    whole = Split(x=x, y=y, lengths=lengths, mask=mask, cond=cond, baseline=baseline)
    splits = {name: whole.take(rows) for name, rows in zip(("train", "val", "test"), parts, strict=True)}
    return Dataset(info=DataInfo(**info), **splits)


def _is_tokens(config: DataConfig, path: Path, x: np.ndarray) -> bool:
    if config.input_kind == "features":
        return False
    is_ids = x.ndim == 2 and x.dtype.kind in "iu"
    if config.input_kind == "tokens" and not is_ids:
        raise InputError(
            f"{path}: --input-kind tokens needs integer ids 'x' [samples, time], got {x.dtype} {x.shape}"
        )
    if is_ids and x.min() < 0:
        raise InputError(f"{path}: token ids in 'x' must be >= 0, found {x.min()}")
    return is_ids


def _topology(x: np.ndarray, y: np.ndarray, cond: np.ndarray | None) -> str:
    if cond is not None:
        return "one_to_many"
    per_step = y.ndim >= 2 and y.shape[1] == x.shape[1]
    if per_step and ((y.dtype.kind in "iu" and y.ndim == 2) or y.ndim == 3):
        return "many_to_many"
    return "many_to_one"


def _check_y(path: Path, topology: str, task: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Reshape ``y`` to ``[N]``/``[N, K]`` (many_to_one) or ``[N, T]``/``[N, T, K]``, or explain the mismatch."""
    steps = x.shape[1]
    if task == "classify":
        ok = y.ndim == 1 if topology == "many_to_one" else y.ndim == 2 and y.shape[1] == steps
        want = "[samples]" if topology == "many_to_one" else f"[samples, {steps}]"
        out = y.astype(np.int64)
    else:
        if topology == "many_to_one":
            ok, want, out = y.ndim in (1, 2), "[samples] or [samples, outputs]", y.reshape(len(y), -1)
        else:
            ok = y.ndim in (2, 3) and y.shape[1] == steps
            want = f"[samples, {steps}] or [samples, {steps}, outputs]"
            out = y.reshape(*y.shape[:2], -1)
        out = out.astype(np.float32)
    if not ok:
        raise InputError(f"{path}: array 'y' has shape {y.shape}, {topology} {task} expects {want}")
    if task == "classify" and out.min() < 0:
        raise InputError(f"{path}: class ids in 'y' must be >= 0, found {out.min()}")
    return out


def _valid(values: np.ndarray, mask: np.ndarray | None, rows: np.ndarray) -> np.ndarray:
    """The training values at valid (unpadded) steps."""
    picked = values[rows]
    return picked if mask is None or picked.ndim < 2 else picked[mask[rows]]


def _labels(path: Path, ids: np.ndarray, labels: np.ndarray | None, key: str) -> tuple[str, ...]:
    count = int(ids.max()) + 1
    if labels is None:
        return tuple(str(i) for i in range(count))
    if len(labels) < count:
        raise InputError(
            f"{path}: array 'labels' names {len(labels)} classes, but {key!r} uses ids up to {count - 1}"
        )
    return tuple(str(v) for v in labels)


def _condition(
    path: Path, cond: np.ndarray, labels: np.ndarray | None, rows: np.ndarray, info: dict
) -> np.ndarray:
    """one_to_many: integer classes become one-hot; feature vectors get training statistics."""
    if cond.ndim == 1 and cond.dtype.kind in "iu":
        if cond.min() < 0:
            raise InputError(f"{path}: class ids used as the condition must be >= 0, found {cond.min()}")
        names = _labels(path, cond, labels, "cond")
        info.update(cond_kind="classes", cond_names=names)
        return np.eye(len(names), dtype=np.float32)[cond]
    if cond.ndim != 2:
        raise InputError(
            f"{path}: array 'cond' must be [samples] class ids or [samples, features], got {cond.shape}"
        )
    cond = cond.astype(np.float32)
    mean, std = fit_stats(cond[rows])
    info.update(
        cond_kind="features",
        cond_names=tuple(f"c{i}" for i in range(cond.shape[1])),
        cond_mean=mean,
        cond_std=std,
    )
    return cond


def _decoder_inputs(y: np.ndarray, info: dict) -> np.ndarray:
    """Teacher forcing: the previous output at every step, a start value first (mean or start token)."""
    if info["output_kind"] == "classes":
        start_token = len(info["labels"])
        info.update(
            input_kind="tokens", feature_names=(), input_mean=None, input_std=None, start_token=start_token
        )
        return np.concatenate([np.full((len(y), 1), start_token, dtype=np.int64), y[:, :-1]], axis=1)
    info.update(
        input_kind="features",
        feature_names=info["output_names"],
        input_mean=info["output_mean"],
        input_std=info["output_std"],
    )
    start = np.broadcast_to(np.array(info["output_mean"], dtype=np.float32), (len(y), 1, y.shape[-1]))
    return np.concatenate([start, y[:, :-1]], axis=1)
