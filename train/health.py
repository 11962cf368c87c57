"""Gradient health: per-layer norms, vanishing/exploding warnings, and a hard stop on NaN/Inf.

Parameters are grouped by name: torch recurrent weights (``weight_hh_l1_reverse`` ...) group
per layer as ``rnn.l1``; everything else groups by its top-level module (``front``, ``head``,
``init``). The *recurrent* norm is the norm over the per-layer groups.
"""

from __future__ import annotations

import math
import re
import warnings
from collections import defaultdict
from typing import Any

import torch
from torch import nn

from .errors import TrainError

_LAYER = re.compile(r"^(?P<module>.*)\.(weight|bias)_(ih|hh)_l(?P<layer>\d+)(_reverse)?$")
_EMA_DECAY = 0.9  # the running mean follows roughly the last 10 steps
_WARMUP_STEPS = 10  # no exploding verdicts until the running mean has settled


class VanishingGradientWarning(UserWarning):
    """The recurrent layers' gradient norm stayed below the threshold for many steps."""


class ExplodingGradientWarning(UserWarning):
    """The gradient norm jumped far above its running mean."""


class DivergenceWarning(ExplodingGradientWarning):
    """The validation metric got many times worse than its best: training is diverging."""


DIVERGE_FACTOR = 10.0  # a validation error this many times its best means the run is diverging


class NonFiniteError(TrainError):
    """A loss or gradient became NaN or infinite; training cannot continue from this step."""


def group_name(param_name: str) -> tuple[str, bool]:
    """The group a parameter belongs to, and whether that group is a recurrent layer."""
    match = _LAYER.match(param_name)
    if match:
        return f"{match['module']}.l{match['layer']}", True
    return param_name.split(".", 1)[0], False


def check_loss(loss: float, epoch: int, step: int) -> None:
    """Raise :class:`NonFiniteError` when the loss is NaN or infinite."""
    if not math.isfinite(loss):
        raise NonFiniteError(f"the loss became {loss} at epoch {epoch}, step {step}")


class GradientHealth:
    """Watches gradients after each backward pass; see the module docstring for the groups."""

    def __init__(
        self,
        model: nn.Module,
        vanish_threshold: float,
        vanish_steps: int,
        explode_factor: float,
        explode_norm: float = 1e3,
        remedy: str = "lower --lr and keep --clip-grad-norm on",
    ) -> None:
        self.vanish_threshold = vanish_threshold
        self.vanish_steps = vanish_steps
        self.explode_factor = explode_factor
        self.explode_norm = explode_norm
        self.remedy = remedy
        self._exploded_in: int | None = None  # the epoch that already warned (one warning per epoch)
        self.groups: dict[str, list[nn.Parameter]] = defaultdict(list)
        self.recurrent: set[str] = set()
        for name, param in model.named_parameters():
            if param.requires_grad:
                group, is_layer = group_name(name)
                self.groups[group].append(param)
                if is_layer:
                    self.recurrent.add(group)
        self.running_norm: float | None = None
        self.steps_seen = 0
        self.low_streak = 0
        self._reset_epoch()

    def _reset_epoch(self) -> None:
        self.sums: dict[str, float] = defaultdict(float)
        self.epoch_steps = 0
        self.max_norm = 0.0
        self.events: list[str] = []

    def norms(self) -> dict[str, float]:
        """The current gradient norm of every group (0 for groups without gradients)."""
        result = {}
        for group, params in self.groups.items():
            grads = [p.grad.detach().float().norm() for p in params if p.grad is not None]
            result[group] = float(torch.stack(grads).norm()) if grads else 0.0
        return result

    def after_backward(self, epoch: int, step: int) -> float:
        """Record this step's norms, warn on vanishing/exploding, stop on NaN/Inf; returns the total norm."""
        norms = self.norms()
        total = math.sqrt(sum(v * v for v in norms.values()))
        if not math.isfinite(total):
            bad = sorted(g for g, v in norms.items() if not math.isfinite(v))
            raise NonFiniteError(
                f"the gradient became NaN/Inf in {', '.join(bad)} at epoch {epoch}, step {step}"
            )
        for group, value in norms.items():
            self.sums[group] += value
        self.epoch_steps += 1
        self.max_norm = max(self.max_norm, total)
        self._check_vanishing(norms, epoch, step)
        self._check_exploding(total, epoch, step)
        return total

    def _check_vanishing(self, norms: dict[str, float], epoch: int, step: int) -> None:
        if not self.recurrent:
            return
        recurrent = math.sqrt(sum(norms[g] ** 2 for g in self.recurrent))
        self.low_streak = self.low_streak + 1 if recurrent < self.vanish_threshold else 0
        if self.low_streak == self.vanish_steps:
            self._warn(
                VanishingGradientWarning,
                f"vanishing gradients: the recurrent layers' gradient norm stayed below {self.vanish_threshold:g} "
                f"for {self.vanish_steps} steps (now {recurrent:.3g}) at epoch {epoch}, step {step}; "
                "try a gated cell (lstm/gru), fewer layers or a larger --lr",
            )

    def _check_exploding(self, total: float, epoch: int, step: int) -> None:
        """Warn (once per epoch) on a jump over the running norm, or on a norm that is simply huge: a
        running norm that is already huge hides every further jump."""
        reference = self.running_norm
        self.steps_seen += 1
        jump = (
            reference is not None
            and self.steps_seen > _WARMUP_STEPS
            and total > self.explode_factor * reference
        )
        if (jump or total > self.explode_norm) and self._exploded_in != epoch:
            self._exploded_in = epoch
            why = f"is {total / reference:.0f}x its running mean {reference:.3g}" if jump else ""
            why = why or f"is above {self.explode_norm:g}"
            self._warn(
                ExplodingGradientWarning,
                f"exploding gradients: norm {total:.3g} {why} at epoch {epoch}, step {step}; {self.remedy}",
            )
        self.running_norm = total if reference is None else _EMA_DECAY * reference + (1 - _EMA_DECAY) * total

    def check_validation(self, epoch: int, metric: float, best: float | None, higher_is_better: bool) -> None:
        """Warn when the validation error has grown to many times its best (an error metric only)."""
        if higher_is_better or best is None or not best > 0 or not metric > DIVERGE_FACTOR * best:
            return
        self._warn(
            DivergenceWarning,
            f"diverging: the validation metric {metric:.4g} at epoch {epoch} is {metric / best:.0f}x its best "
            f"({best:.4g}); {self.remedy}",
        )

    def _warn(self, category: type[Warning], message: str) -> None:
        self.events.append(message)
        warnings.warn(message, category, stacklevel=3)

    def epoch_summary(self) -> dict[str, Any]:
        """Mean norm per group, the largest total norm and the warnings since the last call."""
        steps = max(self.epoch_steps, 1)
        summary = {
            "grad_norm": {g: self.sums[g] / steps for g in sorted(self.groups)},
            "grad_norm_max": self.max_norm,
            "warnings": list(self.events),
        }
        self._reset_epoch()
        return summary

    def state_dict(self) -> dict[str, Any]:
        """The running statistics a resumed run needs to warn exactly as an uninterrupted one."""
        return {
            "running_norm": self.running_norm,
            "steps_seen": self.steps_seen,
            "low_streak": self.low_streak,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`."""
        self.running_norm = state["running_norm"]
        self.steps_seen = state["steps_seen"]
        self.low_streak = state["low_streak"]
