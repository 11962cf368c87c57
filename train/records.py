"""What a finished training run hands to the next stages: its summary, typed (``summary.json``)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from edgernn.runtime.records import Metric

from .baselines import BaselineScore

MIN_TEST_SAMPLES = 30  # below this a test accuracy moves by > 3 points per sample


@dataclass(frozen=True)
class TrainingSummary:
    """The test-split result of a run beside its naive baseline, and how the run went."""

    metric: str  # "accuracy" (higher is better), "rmse" (raw units) or "nll" (nats per token)
    best_val_metric: float
    best_epoch: int
    test_metric: float
    test_loss: float
    baseline: str  # the strongest simple forecast: "persistence", "seasonal naive (12)", "majority", ...
    baseline_metric: float
    epochs_run: int
    stopped: str | None  # why training ended early ("early_stop", ...), None when it ran every epoch
    checkpoint: str
    processes: int
    seconds: float
    baselines: tuple[BaselineScore, ...] = ()  # every simple forecast scored (series: persistence, ...)
    test_samples: int = 0  # what the test metric averages over: samples, or a series' scored steps
    notes: tuple[str, ...] = ()  # how the baselines were computed (subsampling), one line each

    def caveat(self) -> str | None:
        """One line when the test split is too small for its verdict to mean much, else None."""
        if 0 < self.test_samples < MIN_TEST_SAMPLES:
            return (
                f"the test split holds {self.test_samples} samples (< {MIN_TEST_SAMPLES}): the verdict rests "
                "on too little data; give a larger fixed split with --test-data FILE"
            )
        return None

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

    @property
    def beats_baseline(self) -> bool:
        """Whether the test metric is strictly better than the naive baseline's."""
        if self.metric == "accuracy":
            return self.test_metric > self.baseline_metric
        return self.test_metric < self.baseline_metric

    def verdict(self) -> str | None:
        """One line when the model does not beat its strongest baseline on the test split, or when
        validation never beat the initial weights (best epoch 0), else None."""
        if self.best_epoch == 0:
            return (
                f"validation never beat the initial weights (best epoch 0 of {self.epochs_run}): "
                "the checkpoint is untrained; do not ship this model"
            )
        if self.beats_baseline:
            return None
        ratio = self.baseline_ratio
        how = f", {ratio:.2f}x {self.baseline}" if ratio is not None and self.metric != "accuracy" else ""
        named = (
            f"the strongest simple {self.simple}, {self.baseline},"
            if len(self.baselines) > 1
            else self.baseline
        )
        return (
            f"not better than {named} on the test split ({self.metric} "
            f"{self.test_metric:.4g} vs {self.baseline_metric:.4g}{how}): do not ship this model"
        )

    @property
    def simple(self) -> str:
        """What a simple baseline is called: a "forecast" of a series, a "baseline" of a classifier."""
        return "baseline" if self.metric == "accuracy" else "forecast"

    def headline(self) -> str:
        """The comparison in a few words: ``0.94x seasonal naive (12)`` (error metrics) or the metrics."""
        ratio = self.baseline_ratio
        if ratio is None or self.metric == "accuracy":
            return f"{self.metric} {self.test_metric:.4g} vs {self.baseline} {self.baseline_metric:.4g}"
        return f"{ratio:.2f}x {self.baseline}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``summary.json`` stores it."""
        return dataclasses.asdict(self)
