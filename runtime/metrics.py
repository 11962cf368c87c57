"""The task metric of a model's outputs against held-back targets, in the units training reports.

One definition for the whole project: ``edgernn quantize`` scores variants with it, and a
:class:`~edgernn.runtime.batcher.StreamBatcher` scores a dynamically quantized variant batched.
"""

from __future__ import annotations

import numpy as np

from .manifest import Manifest
from .records import Metric


def target_mask(
    manifest: Manifest, shape: tuple[int, ...], lengths: np.ndarray | None, mask: np.ndarray | None
) -> np.ndarray:
    """Targets that count: every sample (many_to_one), else steps valid by ``lengths`` and ``mask``."""
    if manifest.topology == "many_to_one":
        return np.ones(shape[:1], bool)
    valid = np.ones(shape[:2], bool)
    if lengths is not None:
        valid &= np.arange(shape[1])[None, :] < lengths[:, None]
    if mask is not None:
        valid &= mask.astype(bool)
    return valid


def task_metric(
    manifest: Manifest,
    pred: np.ndarray,
    y: np.ndarray,
    lengths: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> Metric:
    """Accuracy (classes), RMSE in real units (regression) or nll in nats per token (tokens) of
    ``pred`` (the main output in real units) against targets ``y``."""
    valid = target_mask(manifest, pred.shape, lengths, mask)
    kind = manifest.output.kind
    if kind in ("classes", "tokens"):
        labels = y.astype(np.int64)
        if kind == "tokens":
            logits = pred - pred.max(axis=-1, keepdims=True)
            logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
            picked = np.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
            return Metric("nll", float(-picked[valid].mean()), False)
        return Metric("accuracy", float((pred.argmax(axis=-1) == labels)[valid].mean()), True)
    err = (pred - y.reshape(pred.shape))[valid]
    return Metric("rmse", float(np.sqrt(np.mean(err**2))), False)
