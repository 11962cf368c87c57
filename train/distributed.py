"""Data-parallel training on PyTorch's own engine: torchrun's environment, gloo/NCCL, DDP.

:func:`join` turns the environment that ``torchrun`` (or ``edgernn train --nproc-per-node``)
sets up into a :class:`Cluster`: the process group (NCCL on CUDA, gloo on CPU), this process's
rank and device, and the few collectives training needs. A single process gets a Cluster whose
operations do nothing, so the training loop has one code path.

Every process runs the same program on its own shard of every global batch. The processes stop
together: read-only checks and rank 0's writes end in :meth:`Cluster.together`, which makes every
process raise when any one failed, and a non-finite loss is seen through the all-reduced loss.
"""

from __future__ import annotations

import gc
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from edgernn.runtime.errors import InputError

from .errors import TrainError


class StoppedTogether(TrainError):
    """This process stopped because training failed; rank 0 reports why, so the CLI stays quiet here."""


class _Replica(DistributedDataParallel):
    """DDP that also offers ``init_state``, so the objective drives it exactly like the bare model."""

    def init_state(self, cond: torch.Tensor) -> object:
        """one_to_many: the wrapped model's initial state for ``cond``."""
        return self.module.init_state(cond)


@dataclass(frozen=True)
class Cluster:
    """This process's place among the training processes; one process alone when ``world_size`` is 1."""

    rank: int = 0
    world_size: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    ddp_group: Any = None  # the process group DDP reduces gradients in; None: the default group

    @property
    def active(self) -> bool:
        """Whether there are other processes to talk to."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 writes the run directory and reports."""
        return self.rank == 0

    def local_batch(self, batch_size: int) -> int:
        """This process's share of the global ``batch_size``, which must split evenly."""
        if batch_size % self.world_size:
            raise InputError(
                f"--batch-size {batch_size}: the global batch must split evenly over {self.world_size} "
                f"processes; use a multiple of {self.world_size}"
            )
        return batch_size // self.world_size

    def shard(self, samples: int) -> np.ndarray:
        """The sample indices this process evaluates: every ``world_size``-th from ``rank``."""
        return np.arange(self.rank, samples, self.world_size)

    def sum(self, values: Sequence[float]) -> list[float]:
        """``values`` summed over every process (float64), in the same order everywhere."""
        if not self.active:
            return [float(v) for v in values]
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor.tolist()

    def wrap(self, model: nn.Module, find_unused_parameters: bool = False) -> nn.Module:
        """``model`` in DistributedDataParallel (gradients averaged over processes), or as it is."""
        if not self.active:
            return model
        ids = [self.device.index] if self.device.type == "cuda" else None
        return _Replica(
            model,
            device_ids=ids,
            process_group=self.ddp_group,
            find_unused_parameters=find_unused_parameters,
        )

    def broadcast_state(self, model: nn.Module) -> None:
        """Copy rank 0's weights into every other process's ``model``, in place."""
        if self.active:
            for tensor in model.state_dict().values():
                dist.broadcast(tensor, src=0)

    def seed_epoch(self, seed: int, epoch: int) -> None:
        """Give each process its own dropout stream for ``epoch``, fixed by (seed, epoch, rank).

        A single process keeps its one stream (saved in the resume checkpoint) instead.
        """
        if self.active:
            torch.manual_seed(((seed * 1_000_003 + epoch) * 10_007 + self.rank) % (1 << 63))

    def agree(self, error: Exception | None, what: str) -> None:
        """Stop every process when any one failed ``what``; return quietly when none did.

        A failing process raises its own ``error``. Rank 0 speaks for the others: they raise
        :class:`StoppedTogether`, unless rank 0 did not fail and they did.
        """
        if not self.active:
            if error is not None:
                raise error
            return
        flags = torch.zeros(self.world_size, dtype=torch.float64, device=self.device)
        flags[self.rank] = 0.0 if error is None else 1.0
        dist.all_reduce(flags, op=dist.ReduceOp.SUM)
        failed = [rank for rank, flag in enumerate(flags.tolist()) if flag]
        if not failed:
            return
        if error is not None and (self.is_main or 0 not in failed):
            raise error
        if error is not None:
            raise StoppedTogether(str(error)) from error
        names = ", ".join(map(str, failed))
        message = (
            f"process {names} of {self.world_size} failed while {what}; its message is above, "
            "so every process stopped"
        )
        raise (TrainError if self.is_main else StoppedTogether)(message)

    @contextmanager
    def together(self, what: str) -> Iterator[None]:
        """Run the block, then :meth:`agree` on whether it failed (errors pass straight through alone)."""
        if not self.active:
            yield
            return
        error = None
        try:
            yield
        except Exception as err:  # every failure, so the other processes never wait forever
            error = err
        self.agree(error, what)


def _env_int(name: str, world_size: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.isdigit():
        raise TrainError(
            f"WORLD_SIZE={world_size} but {name} is {value!r}; launch with torchrun or "
            "edgernn train --nproc-per-node N"
        )
    return int(value)


def _cuda_device(local_rank: int) -> torch.device:
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise TrainError(
            f"LOCAL_RANK {local_rank} needs CUDA device {local_rank}, but {count} are visible; "
            f"use --nproc-per-node {count} or fewer"
        )
    device = torch.device("cuda", local_rank)
    torch.cuda.set_device(device)
    return device


def _in_group(device: torch.device) -> Cluster:
    """This process in the initialised default group, with a gloo group of DDP's own.

    DDP keeps a reference to its process group after the wrapper is gone, so that group outlives
    ``destroy_process_group``; a gloo worker thread may then still be releasing the tensors of a
    last collective while the interpreter shuts down, which aborts the process. The collectives
    on Python tensors here therefore run in the default group, destroyed cleanly, and DDP reduces
    in a group that only ever holds its own buffers. (NCCL has no such worker threads.)
    """
    world_size = dist.get_world_size()
    gloo = dist.get_backend() == "gloo"
    ddp_group = dist.new_group(backend="gloo") if gloo and world_size > 1 else None
    return Cluster(rank=dist.get_rank(), world_size=world_size, device=device, ddp_group=ddp_group)


@contextmanager
def join(device: torch.device) -> Iterator[Cluster]:
    """The process group that torchrun described in the environment, joined for the block.

    ``WORLD_SIZE`` > 1: init the group (NCCL for CUDA, gloo for CPU; each process takes the CUDA
    device of its ``LOCAL_RANK``) and destroy it afterwards. A group the caller already set up is
    used as it is and left to the caller. Otherwise: this process alone.
    """
    if dist.is_available() and dist.is_initialized():
        if device.type == "cuda":
            device = torch.device("cuda", torch.cuda.current_device())
        cluster = _in_group(device)
        try:
            yield cluster
        finally:
            _release_cycles()
            if cluster.ddp_group is not None:
                dist.destroy_process_group(cluster.ddp_group)
        return
    world_size = int(os.environ.get("WORLD_SIZE", "1") or "1")
    if world_size <= 1:
        yield Cluster(device=device)
        return
    rank = _env_int("RANK", world_size)
    if device.type == "cuda":
        device = _cuda_device(_env_int("LOCAL_RANK", world_size))
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(
        backend, rank=rank, world_size=world_size, device_id=device if backend == "nccl" else None
    )
    try:
        yield _in_group(device)
    finally:
        _release_cycles()
        dist.destroy_process_group()


def _release_cycles() -> None:
    """Free reference cycles now, while the interpreter is whole.

    Exceptions caught inside libraries (matplotlib's text parser, while rank 0 plots) keep
    our frames, and through them the process groups, alive in cycles. Left to the collector at
    exit, a gloo group would be torn down during interpreter shutdown and abort the process.
    """
    gc.collect()
