"""Loss, predictions and metrics for each topology and output kind.

The training loop calls :meth:`Objective.loss` and knows nothing else about the model. Metrics
are computed in raw units against the raw split, with the same :func:`score` that scores the
naive baseline, so the two numbers are directly comparable.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .baselines import BaselineScore
from .batches import Batch, in_order, scored_mask, time_chunks, to_batch
from .config import DataInfo
from .splits import Split

State = Tensor | tuple[Tensor, Tensor] | None
_EVAL_BATCH = 256


def score(metric: str, pred: np.ndarray, y: np.ndarray, mask: np.ndarray | None) -> float:
    """``metric`` of predictions in raw units.

    accuracy: ``pred`` holds class ids shaped like ``y``. rmse: ``pred`` is shaped like ``y``.
    nll: ``pred`` holds log-probabilities ``[..., vocab]`` (broadcast against ``y``); nats per token.
    ``mask`` ``[N, T]`` picks the scored steps of per-step targets.
    """
    result = float(_score_values(metric, pred, y, mask).mean())
    return float(np.sqrt(result)) if metric == "rmse" else result


def score_terms(metric: str, pred: np.ndarray, y: np.ndarray, mask: np.ndarray | None) -> tuple[float, int]:
    """The float64 sum and the count of the terms that :func:`score` averages, so shards can be added."""
    values = _score_values(metric, pred, y, mask)
    return float(values.sum(dtype=np.float64)), int(values.size)


def score_from_terms(metric: str, total: float, count: int) -> float:
    """:func:`score` from the summed :func:`score_terms` of every shard."""
    if count == 0:
        return float("nan")
    result = total / count
    return float(np.sqrt(result)) if metric == "rmse" else result


def _score_values(metric: str, pred: np.ndarray, y: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    if metric == "nll":
        logp = np.broadcast_to(pred, (*y.shape, pred.shape[-1]))
        values = -np.take_along_axis(logp, y[..., None], axis=-1)[..., 0]
    elif metric == "accuracy":
        values = (pred == y).astype(np.float64)
    else:
        values = (pred.astype(np.float64) - y) ** 2
        if values.ndim == 3:
            values = values.mean(axis=-1)
    return values if mask is None else values[mask]


class Objective:
    """What to minimise and how to score, for one dataset description."""

    def __init__(self, info: DataInfo, label_smoothing: float = 0.0) -> None:
        self.info = info
        self.label_smoothing = label_smoothing  # class targets while training only (validation: plain)
        self.per_step = info.topology != "many_to_one"
        self.higher_is_better = info.metric == "accuracy"
        calendar = info.transform is not None and bool(info.transform.calendar_rate)
        # the condition sets the initial state: one_to_many decoders, and forecasters' row counters
        self.cond_state = info.topology == "one_to_many" or calendar

    def better(self, value: float, best: float | None) -> bool:
        """Whether ``value`` improves on ``best`` (None: nothing yet)."""
        if best is None:
            return True
        return value > best if self.higher_is_better else value < best

    def chunks(self, batch: Batch, tbptt_steps: int) -> list[Batch]:
        """The batch cut for truncated BPTT (one chunk when ``tbptt_steps`` is 0)."""
        return time_chunks(batch, tbptt_steps, self.per_step)

    @property
    def state_from_parameters(self) -> bool:
        """one_to_many computes the initial state with parameters that later TBPTT chunks never reach."""
        return self.info.topology == "one_to_many"

    def loss(
        self, model: nn.Module, chunk: Batch, state: State, last: bool, keep_empty: bool = False
    ) -> tuple[Tensor | None, State]:
        """Mean loss of one chunk and the state after it; None when the chunk carries no target.

        ``keep_empty``: a chunk whose every step is masked out gives a zero that still depends on the
        model's output (a distributed process must join the gradient all-reduce all the same).
        """
        if state is None and self.cond_state:
            state = model.init_state(chunk.cond)
        if not self.per_step and not last:
            with torch.no_grad():
                _, state = model(chunk.x, state, lengths=chunk.lengths)
            return None, state
        out, state = model(chunk.x, state, lengths=chunk.lengths)
        return self._masked_loss(out, chunk.y, chunk.mask, keep_empty, self.label_smoothing), state

    def loss_terms(self, chunk: Batch) -> int:
        """How many terms the chunk's mean loss averages: scored steps, or samples for many_to_one."""
        if chunk.mask is not None:
            return int(chunk.mask.sum())
        return len(chunk) * (int(chunk.y.shape[1]) if self.per_step else 1)

    def _masked_loss(
        self, out: Tensor, y: Tensor, mask: Tensor | None, keep_empty: bool = False, smoothing: float = 0.0
    ) -> Tensor | None:
        if self.info.output_kind == "regression":
            per = (out - y).pow(2).mean(dim=-1)
        elif self.per_step:
            per = F.cross_entropy(out.transpose(1, 2), y, reduction="none")
        elif out.ndim == 3:  # a training seed ensemble's [batch, members, classes]: each member learns alone
            members = y[:, None].expand(-1, out.shape[1])
            per = F.cross_entropy(out.transpose(1, 2), members, reduction="none", label_smoothing=smoothing)
            per = per.mean(dim=1)
        else:
            per = F.cross_entropy(out, y, reduction="none", label_smoothing=smoothing)
        if mask is None:
            return per.mean()
        count = mask.sum()
        if count == 0:
            return (per * mask).sum() if keep_empty else None
        return (per * mask).sum() / count

    def evaluate(self, model: nn.Module, split: Split, batch: Batch | None = None) -> dict[str, float]:
        """``{"loss": teacher-forced loss, "metric": raw-unit metric}`` over a whole split (eval mode)."""
        total, count, pred = self._predict(model, split, batch)
        metric = score(self.info.metric, pred, split.y, scored_mask(split, self.info))
        return {"loss": total / max(count, 1), "metric": metric}

    def evaluate_terms(self, model: nn.Module, split: Split, batch: Batch | None = None) -> list[float]:
        """``[loss sum, loss count, metric sum, metric count]`` of one shard of a split (may be empty).

        Summed over the shards of all processes, :meth:`from_terms` gives :meth:`evaluate`'s scores.
        """
        if len(split) == 0:
            return [0.0, 0.0, 0.0, 0.0]
        total, count, pred = self._predict(model, split, batch)
        metric_total, metric_count = score_terms(
            self.info.metric, pred, split.y, scored_mask(split, self.info)
        )
        return [total, float(count), metric_total, float(metric_count)]

    def from_terms(self, terms: list[float]) -> dict[str, float]:
        """The scores of :meth:`evaluate` from summed :meth:`evaluate_terms`."""
        loss_total, loss_count, metric_total, metric_count = terms
        metric = score_from_terms(self.info.metric, metric_total, int(metric_count))
        return {"loss": loss_total / max(loss_count, 1.0), "metric": metric}

    @torch.no_grad()
    def _predict(self, model: nn.Module, split: Split, batch: Batch | None) -> tuple[float, int, np.ndarray]:
        """The summed loss, its weight, and the predictions in metric space over a split (eval mode)."""
        was_training = model.training
        model.eval()
        batch = batch if batch is not None else to_batch(split, self.info, next(model.parameters()).device)
        total, count, preds = 0.0, 0, []
        for part in in_order(batch, _EVAL_BATCH):
            state = model.init_state(part.cond) if self.cond_state else None
            out, _ = model(part.x, state, lengths=part.lengths)
            weight = len(part) if part.mask is None else int(part.mask.sum())
            loss = self._masked_loss(out, part.y, part.mask)
            if loss is not None:
                total, count = total + float(loss) * weight, count + weight
            preds.append(self._prediction(model, part, out))
        model.train(was_training)
        return total, count, np.concatenate(preds)

    def _prediction(self, model: nn.Module, part: Batch, out: Tensor) -> np.ndarray:
        """Predictions in metric space: raw values, class ids, or log-probabilities."""
        info = self.info
        if info.topology == "one_to_many" and info.output_kind != "tokens":
            out = model.generate(part.cond, part.y.shape[1])  # free-running, as deployed
            if info.output_kind == "classes":
                return out.cpu().numpy()
        if info.output_kind == "tokens":
            return torch.log_softmax(out, dim=-1).cpu().numpy()
        if info.output_kind == "classes":
            return out.argmax(dim=-1).cpu().numpy()
        mean = np.asarray(info.output_mean, dtype=np.float32)
        std = np.asarray(info.output_std, dtype=np.float32)
        return out.cpu().numpy() * std + mean

    def baseline(self, split: Split) -> float:
        """The naive baseline's metric on ``split`` (persistence, majority class, unigram or mean)."""
        return score(self.info.metric, split.baseline, split.y, scored_mask(split, self.info))

    def baselines(self, split: Split) -> tuple[BaselineScore, ...]:
        """Every simple forecast's metric on ``split``: the naive baseline, then (series) seasonal
        naive for each season and the training mean."""
        mask = scored_mask(split, self.info)
        scores = [BaselineScore(self.info.baseline, float(self.baseline(split)))]
        scores += [
            BaselineScore(k, float(score(self.info.metric, v, split.y, mask))) for k, v in split.naive.items()
        ]
        return tuple(scores)
