"""Training-time augmentation of whole labelled sequences (many_to_one classifiers).

Each training batch is drawn afresh every epoch: every sequence is **window-sliced** (a random
window covering at least ``1 - SLICE`` of its valid steps is stretched back to its own length by
linear interpolation, which shifts and warps it a little in time) and **jittered** (Gaussian noise
of ``JITTER`` standard deviations of the normalised input). Padding past each sequence's length
stays as it was. The draws come from a generator seeded by the run's seed and the epoch, so the
same seed gives the same run. Evaluation and export never see it.
"""

from __future__ import annotations

import dataclasses

import torch

from .batches import Batch

SLICE = 0.1  # the window drops up to this share of the valid steps (split between both ends)
JITTER = 0.03  # noise std in units of the (normalised) input


def augment(batch: Batch, seed: int, epoch: int, step: int) -> Batch:
    """``batch`` with window-sliced, jittered inputs (float features only; anything else unchanged)."""
    x = batch.x
    if not x.is_floating_point() or x.ndim != 3 or x.shape[1] < 2:
        return batch
    gen = torch.Generator().manual_seed((seed * 1_000_003 + epoch) * 10_007 + step)
    samples, steps = x.shape[0], x.shape[1]
    lengths = batch.lengths if batch.lengths is not None else torch.full((samples,), steps)
    last = (lengths.to(torch.float32) - 1.0).clamp(min=0.0)  # [B] last valid position
    width = last * (1.0 - SLICE * torch.rand(samples, generator=gen))
    start = (last - width) * torch.rand(samples, generator=gen)
    share = torch.arange(steps, dtype=torch.float32)[None, :] / last.clamp(min=1.0)[:, None]
    position = (start[:, None] + share * width[:, None]).clamp(max=last[:, None])  # [B, T]
    low = position.floor().long()
    high = torch.minimum(low + 1, last.long()[:, None])
    frac = (position - low.to(torch.float32)).unsqueeze(-1).to(x.device, x.dtype)
    gather = lambda index: x.gather(1, index.to(x.device)[..., None].expand(-1, -1, x.shape[2]))  # noqa: E731
    sliced = gather(low) * (1.0 - frac) + gather(high) * frac
    noise = torch.randn(x.shape, generator=gen).to(x.device, x.dtype) * JITTER
    valid = torch.arange(steps)[None, :] < lengths[:, None]
    valid = valid.unsqueeze(-1).to(x.device)
    return dataclasses.replace(batch, x=torch.where(valid, sliced + noise, x))
