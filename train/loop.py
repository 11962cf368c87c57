"""The BPTT training loop. It knows nothing about the model: an :class:`Objective` computes the
loss of each chunk, and hooks do the logging and checkpointing at the end of every epoch.

Full BPTT backpropagates through whole samples; with ``tbptt`` > 0 each batch is cut into chunks
of that many steps, the state is carried from chunk to chunk and detached in between, and the
optimiser steps once per chunk.

Under data parallelism (a :class:`Cluster` of several processes) each process takes its shard of
every global batch of ``batch_size``, carries its own state for its own samples, and steps a
DistributedDataParallel replica. Each process's loss is weighted by its share of the global batch's
loss terms, so the averaged gradient is the gradient of the global batch's mean loss, and the loss
that is logged and checked for NaN is that global mean.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from .augment import augment
from .batches import Batch, shuffled
from .config import TrainConfig
from .distributed import Cluster
from .health import GradientHealth, check_loss
from .objective import Objective, State
from .splits import Split


@dataclass
class Progress:
    """Where training stands; saved in the resume checkpoint."""

    epoch: int = 0  # last finished epoch (0: only the initial evaluation)
    step: int = 0  # optimiser steps so far
    best_metric: float | None = None
    best_loss: float | None = None  # the val loss at best_metric: breaks ties of a coarse metric (accuracy)
    best_epoch: int = 0
    bad_epochs: int = 0  # epochs since the validation metric last improved
    stopped: str | None = None  # "early_stop" or "max_epochs" once finished


class Hook(Protocol):
    """Called after every epoch (and once before training, as epoch 0)."""

    def on_epoch_end(self, trainer: Trainer, record: dict[str, Any], improved: bool) -> None:
        """``record`` is the epoch's metrics line; ``improved``: the val metric is the best so far."""


def detach(state: State) -> State:
    """Cut the graph behind a recurrent state (truncated BPTT)."""
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD with momentum 0.9, as ``config.optimizer`` says."""
    params = [p for p in model.parameters() if p.requires_grad]
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.learning_rate, momentum=0.9, weight_decay=config.weight_decay
        )
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.learning_rate, weight_decay=config.weight_decay)


def build_scheduler(optimizer: torch.optim.Optimizer, config: TrainConfig, maximize: bool) -> Any:
    """Cosine annealing over ``epochs``, halving on plateaus of the validation metric, or None."""
    if config.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    if config.schedule == "plateau":
        patience = max(2, config.patience // 3)
        mode = "max" if maximize else "min"
        return torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.5, patience=patience)
    return None


class Trainer:
    """Optimises ``model`` on batches scored by ``objective``; early-stops on the validation metric.

    ``cluster``: the processes of a data-parallel run, this process alone by default. ``model``
    stays the bare module (checkpoints, evaluation, gradient health see no ``module.`` prefix).
    """

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        config: TrainConfig,
        device: torch.device,
        hooks: Sequence[Hook] = (),
        cluster: Cluster | None = None,
    ) -> None:
        self.model = model.to(device)
        self.objective = objective
        self.config = config
        self.device = device
        self.hooks = list(hooks)
        self.cluster = cluster or Cluster(device=device)
        self.local_batch = self.cluster.local_batch(config.batch_size)
        self.replica: nn.Module = self.model  # what trains: the DDP replica while fit() runs
        self.optimizer = build_optimizer(model, config)
        self.scheduler = build_scheduler(self.optimizer, config, objective.higher_is_better)
        self.health = GradientHealth(
            model,
            config.vanish_threshold,
            config.vanish_steps,
            config.explode_factor,
            config.explode_norm,
            f"lower --lr (now {config.learning_rate:g}) and keep --clip-grad-norm on (now {config.clip_grad_norm:g})",
        )
        self.progress = Progress()

    def fit(self, train: Batch, val_split: Split, val: Batch) -> Progress:
        """Train until ``epochs`` or early stopping; resumes from ``self.progress``.

        Under data parallelism the model trains wrapped in DistributedDataParallel, and the wrapper
        is dropped when fit() ends, however it ends, so the process group can close cleanly after.
        """
        unused = self.config.tbptt > 0 and self.objective.state_from_parameters
        self.replica = self.cluster.wrap(self.model, find_unused_parameters=unused)
        try:
            return self._fit(train, val_split, val)
        finally:
            self.replica = self.model

    def _tie_with_lower_loss(self, scores: dict[str, float]) -> bool:
        """Accuracy on a small validation split ties often (10 samples: 11 values); a tie with a lower
        validation loss is an improvement, so the checkpoint is not stuck at the first epoch to reach it."""
        best, loss = self.progress.best_loss, scores["loss"]
        tie = self.objective.info.metric == "accuracy" and scores["metric"] == self.progress.best_metric
        return tie and best is not None and loss < best

    def _fit(self, train: Batch, val_split: Split, val: Batch) -> Progress:
        progress = self.progress
        if progress.best_metric is None:
            scores = self.evaluate(val_split, val)
            progress.best_metric, progress.best_loss = scores["metric"], scores["loss"]
            record = {
                "epoch": 0,
                "train_loss": None,
                "val_loss": scores["loss"],
                "val_metric": scores["metric"],
            }
            self._notify(record, improved=True)
        for epoch in range(progress.epoch + 1, self.config.epochs + 1):
            started = time.perf_counter()
            lr = self.optimizer.param_groups[0]["lr"]
            train_loss = self._train_epoch(train, epoch)
            scores = self.evaluate(val_split, val)
            higher = self.objective.higher_is_better
            self.health.check_validation(epoch, scores["metric"], progress.best_metric, higher)
            improved = self.objective.better(
                scores["metric"], progress.best_metric
            ) or self._tie_with_lower_loss(scores)
            improved = improved or self.config.select == "last"  # every epoch replaces the checkpoint
            progress.epoch = epoch
            if improved:
                progress.best_metric, progress.best_epoch, progress.bad_epochs = scores["metric"], epoch, 0
                progress.best_loss = scores["loss"]
            else:
                progress.bad_epochs += 1
            self._step_scheduler(scores["metric"])
            if self.config.patience and progress.bad_epochs >= self.config.patience:
                progress.stopped = "early_stop"
            elif epoch == self.config.epochs:
                progress.stopped = "max_epochs"
            record = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": scores["loss"],
                "val_metric": scores["metric"],
                "lr": lr,
                **self.health.epoch_summary(),
                "seconds": round(time.perf_counter() - started, 3),
            }
            self._notify(record, improved)
            if progress.stopped:
                break
        return progress

    def evaluate(self, split: Split, batch: Batch | None = None) -> dict[str, float]:
        """The objective's scores of the bare model over ``split``; each process scores its shard."""
        if not self.cluster.active:
            return self.objective.evaluate(self.model, split, batch)
        index = self.cluster.shard(len(split))
        part = None if batch is None else batch.take(torch.as_tensor(index))
        terms = self.objective.evaluate_terms(self.model, split.take(index), part)
        return self.objective.from_terms(self.cluster.sum(terms))

    def _notify(self, record: dict[str, Any], improved: bool) -> None:
        with self.cluster.together(f"ending epoch {record['epoch']}"):
            for hook in self.hooks:
                hook.on_epoch_end(self, record, improved)

    def _step_scheduler(self, metric: float) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(metric)
        elif self.scheduler is not None:
            self.scheduler.step()

    def _train_epoch(self, train: Batch, epoch: int) -> float:
        self.model.train()
        cluster = self.cluster
        cluster.seed_epoch(self.config.seed, epoch)
        batches = shuffled(
            train, self.local_batch, self.config.seed * 100_003, epoch, cluster.rank, cluster.world_size
        )
        total, count = 0.0, 0
        for number, batch in enumerate(batches):
            if self.config.augment and not self.config.tbptt:
                batch = augment(batch, self.config.seed * 1009 + cluster.rank, epoch, number)
            chunks = self.objective.chunks(batch, self.config.tbptt)
            state: State = None
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                loss, state = self.objective.loss(self.replica, chunk, state, last, keep_empty=cluster.active)
                if loss is not None:
                    loss, value, samples = self._global(loss, chunk)
                    if samples:
                        total += self._step(loss, value, epoch) * samples
                        count += samples
                state = detach(state)
        return total / max(count, 1)

    def _global(self, loss: Tensor, chunk: Batch) -> tuple[Tensor, float, int]:
        """The loss to backpropagate, the global batch's mean loss, and the global batch's samples.

        With ``C`` loss terms over all processes and ``c`` here, the weight ``c * world / C`` makes
        DDP's average of the weighted means the gradient of the global mean. 0 samples: no process
        has a target in this chunk, so nobody steps.
        """
        if not self.cluster.active:
            return loss, loss.item(), len(chunk)
        terms = self.objective.loss_terms(chunk)
        value = loss.item()
        total, all_terms, samples = self.cluster.sum([value * terms, terms, len(chunk)])
        if all_terms == 0:
            return loss, 0.0, 0
        return loss * (terms * self.cluster.world_size / all_terms), total / all_terms, int(samples)

    def _step(self, loss: Tensor, value: float, epoch: int) -> float:
        self.progress.step += 1
        check_loss(value, epoch, self.progress.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.health.after_backward(epoch, self.progress.step)
        if self.config.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        self.optimizer.step()
        return value
