"""What a finished training run hands to the next stages: its summary, typed (``summary.json``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edgernn.runtime.records import Metric


@dataclass(frozen=True)
class TrainingSummary:
    """The test-split result of a run beside its naive baseline, and how the run went."""

    metric: str  # "accuracy" (higher is better), "rmse" (raw units) or "nll" (nats per token)
    best_val_metric: float
    best_epoch: int
    test_metric: float
    test_loss: float
    baseline: str  # "persistence", "majority", "unigram" or "mean"
    baseline_metric: float
    epochs_run: int
    stopped: str | None  # why training ended early ("early_stop", ...), None when it ran every epoch
    checkpoint: str
    processes: int
    seconds: float

    @property
    def test(self) -> Metric:
        """The test metric as a :class:`Metric` (what export records as the PyTorch model's metric)."""
        return Metric(self.metric, self.test_metric, self.metric == "accuracy")

    @property
    def baseline_ratio(self) -> float | None:
        """test / baseline for error metrics (< 1 beats the baseline); None when undefined."""
        if not self.baseline_metric:
            return None
        return self.test_metric / self.baseline_metric

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``summary.json`` stores it."""
        return dataclasses.asdict(self)
