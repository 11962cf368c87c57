"""Normalised tensors for a split, shuffled mini-batches, and time chunks for truncated BPTT."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

from .config import DataInfo
from .splits import Split


@dataclass(frozen=True)
class Batch:
    """Model-ready tensors: normalised inputs/targets, ``lengths`` on the CPU, scored-step ``mask``."""

    x: Tensor
    y: Tensor
    lengths: Tensor | None = None  # int64 [B], always on the CPU (pack_padded_sequence wants it there)
    mask: Tensor | None = None  # bool [B, T]: steps that count in the loss; None: every step
    cond: Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def take(self, index: Tensor) -> Batch:
        """The samples at ``index``."""
        picked = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                picked[f.name] = value[index.to(value.device)]
        return Batch(**picked)


def scored_mask(split: Split, info: DataInfo) -> np.ndarray | None:
    """The steps that count for per-step topologies (valid by ``lengths`` and in ``mask``)."""
    if info.topology == "many_to_one" or (split.lengths is None and split.mask is None):
        return None
    steps = split.y.shape[1]
    valid = np.ones((len(split), steps), dtype=bool)
    if split.lengths is not None:
        valid &= np.arange(steps)[None, :] < split.lengths[:, None]
    if split.mask is not None:
        valid &= split.mask
    return valid


def _normalise(
    values: np.ndarray, mean: tuple[float, ...] | None, std: tuple[float, ...] | None
) -> np.ndarray:
    if mean is None or std is None:
        return values
    return ((values - np.asarray(mean, dtype=np.float32)) / np.asarray(std, dtype=np.float32)).astype(
        np.float32
    )


def to_batch(split: Split, info: DataInfo, device: torch.device | str = "cpu") -> Batch:
    """The whole split as one normalised :class:`Batch` on ``device``."""
    if info.input_kind == "tokens":
        x = torch.as_tensor(split.x, dtype=torch.long)
    else:
        x = torch.as_tensor(_normalise(split.x, info.input_mean, info.input_std))
    if info.output_kind == "regression":
        y = torch.as_tensor(_normalise(split.y, info.output_mean, info.output_std))
    else:
        y = torch.as_tensor(split.y, dtype=torch.long)
    valid = scored_mask(split, info)
    mask = None if valid is None or valid.all() else torch.as_tensor(valid, device=device)
    cond = None
    if split.cond is not None:
        cond_norm = _normalise(split.cond, info.cond_mean, info.cond_std)
        cond = torch.as_tensor(cond_norm, dtype=torch.float32, device=device)
    lengths = None if split.lengths is None else torch.as_tensor(split.lengths, dtype=torch.long)
    return Batch(x=x.to(device), y=y.to(device), lengths=lengths, mask=mask, cond=cond)


def shuffled(
    batch: Batch, batch_size: int, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> Iterator[Batch]:
    """This process's mini-batches of ``batch_size``, in an order fixed by ``seed`` and ``epoch``.

    A :class:`DistributedSampler` reseeded every epoch deals one permutation of the samples out
    round-robin, so the k-th mini-batches of all ``world_size`` processes together hold exactly
    the samples of the k-th global batch of ``batch_size * world_size`` in a single process (which
    sees the plain permutation); when the sample count does not split evenly, the sampler repeats
    the first few samples of the permutation to even the shards out. A resumed epoch sees the
    same order.
    """
    sampler = DistributedSampler(range(len(batch)), num_replicas=world_size, rank=rank, seed=seed)
    sampler.set_epoch(epoch)
    order = torch.tensor(list(sampler), dtype=torch.long)
    for start in range(0, len(order), batch_size):
        yield batch.take(order[start : start + batch_size])


def in_order(batch: Batch, batch_size: int) -> Iterator[Batch]:
    """Mini-batches in sample order (evaluation)."""
    for start in range(0, len(batch), batch_size):
        yield batch.take(torch.arange(start, min(start + batch_size, len(batch))))


def time_chunks(batch: Batch, chunk_steps: int, per_step_targets: bool) -> list[Batch]:
    """Cut a batch into consecutive chunks of ``chunk_steps`` steps (truncated BPTT).

    Per-step targets and masks are cut with the inputs; ``lengths`` become each chunk's valid
    steps (at least 1, with the padding masked out of the loss).
    """
    steps = batch.x.shape[1]
    if chunk_steps <= 0 or steps <= chunk_steps:
        return [batch]
    chunks = []
    for start in range(0, steps, chunk_steps):
        stop = min(start + chunk_steps, steps)
        part = {"x": batch.x[:, start:stop]}
        if per_step_targets:
            part["y"] = batch.y[:, start:stop]
            if batch.mask is not None:
                part["mask"] = batch.mask[:, start:stop]
        if batch.lengths is not None:
            remaining = batch.lengths - start
            part["lengths"] = remaining.clamp(1, stop - start)
            valid = torch.arange(stop - start)[None, :] < remaining[:, None]
            old = part.get("mask")
            part["mask"] = valid.to(batch.x.device) if old is None else old & valid.to(old.device)
        chunks.append(replace(batch, **part))
    return chunks
