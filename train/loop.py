"""The BPTT training loop. It knows nothing about the model: an :class:`Objective` computes the
loss of each chunk, and hooks do the logging and checkpointing at the end of every epoch.

Full BPTT backpropagates through whole samples; with ``tbptt`` > 0 each batch is cut into chunks
of that many steps, the state is carried from chunk to chunk and detached in between, and the
optimiser steps once per chunk.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn

from .batches import Batch, shuffled
from .config import TrainConfig
from .data import Split
from .health import GradientHealth, check_loss
from .objective import Objective, State


@dataclass
class Progress:
    """Where training stands; saved in the resume checkpoint."""

    epoch: int = 0  # last finished epoch (0: only the initial evaluation)
    step: int = 0  # optimiser steps so far
    best_metric: float | None = None
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
        return torch.optim.SGD(params, lr=config.lr, momentum=0.9, weight_decay=config.weight_decay)
    cls = torch.optim.AdamW if config.optimizer == "adamw" else torch.optim.Adam
    return cls(params, lr=config.lr, weight_decay=config.weight_decay)


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
    """Optimises ``model`` on batches scored by ``objective``; early-stops on the validation metric."""

    def __init__(
        self,
        model: nn.Module,
        objective: Objective,
        config: TrainConfig,
        device: torch.device,
        hooks: Sequence[Hook] = (),
    ) -> None:
        self.model = model.to(device)
        self.objective = objective
        self.config = config
        self.device = device
        self.hooks = list(hooks)
        self.optimizer = build_optimizer(model, config)
        self.scheduler = build_scheduler(self.optimizer, config, objective.higher_is_better)
        self.health = GradientHealth(
            model, config.vanish_threshold, config.vanish_steps, config.explode_factor
        )
        self.progress = Progress()

    def fit(self, train: Batch, val_split: Split, val: Batch) -> Progress:
        """Train until ``epochs`` or early stopping; resumes from ``self.progress``."""
        progress = self.progress
        if progress.best_metric is None:
            scores = self.objective.evaluate(self.model, val_split, val)
            progress.best_metric = scores["metric"]
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
            scores = self.objective.evaluate(self.model, val_split, val)
            improved = self.objective.better(scores["metric"], progress.best_metric)
            progress.epoch = epoch
            if improved:
                progress.best_metric, progress.best_epoch, progress.bad_epochs = scores["metric"], epoch, 0
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

    def _notify(self, record: dict[str, Any], improved: bool) -> None:
        for hook in self.hooks:
            hook.on_epoch_end(self, record, improved)

    def _step_scheduler(self, metric: float) -> None:
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(metric)
        elif self.scheduler is not None:
            self.scheduler.step()

    def _train_epoch(self, train: Batch, epoch: int) -> float:
        self.model.train()
        total, count = 0.0, 0
        for batch in shuffled(train, self.config.batch_size, seed=self.config.seed * 100_003 + epoch):
            chunks = self.objective.chunks(batch, self.config.tbptt)
            state: State = None
            for i, chunk in enumerate(chunks):
                loss, state = self.objective.loss(self.model, chunk, state, last=i == len(chunks) - 1)
                if loss is not None:
                    total += self._step(loss, epoch) * len(chunk)
                    count += len(chunk)
                state = detach(state)
        return total / max(count, 1)

    def _step(self, loss: Tensor, epoch: int) -> float:
        self.progress.step += 1
        value = loss.item()
        check_loss(value, epoch, self.progress.step)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.health.after_backward(epoch, self.progress.step)
        if self.config.clip_grad_norm > 0:
            nn.utils.clip_grad_norm_(self.model.parameters(), self.config.clip_grad_norm)
        self.optimizer.step()
        return value
