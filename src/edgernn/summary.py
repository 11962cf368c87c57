"""The pipeline's one frozen summary: what report.md, the console and summary.json all render.

Every stage's typed result is folded in here once (:func:`edgernn.pipeline.run_pipeline`); the
renderers read attributes, never string keys.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgernn.runtime.records import Check, Metric, SeriesRecord
from edgernn.runtime.vocab import CPU
from edgernn.train.records import TrainingSummary


@dataclass(frozen=True)
class Timing:
    """One profiled cell: a variant in one call pattern on one provider (batch 1, 1 thread)."""

    variant: str
    mode: str  # "sequence" (a whole sequence per call) or "stream" (one step per call)
    seq: int  # time steps per sequence (the stream's steps per sequence)
    provider: str  # the provider that ran, as onnxruntime names it
    error: str | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    torch_p50_ms: float | None = None  # PyTorch eager on the same inputs
    speedup_vs_torch: float | None = None

    @property
    def name(self) -> str:
        """``"int8 stream (CPUExecutionProvider)"``: how tables and charts label the cell."""
        return f"{self.variant} {self.mode} ({self.provider})"


@dataclass(frozen=True)
class VariantSummary:
    """One kept variant: its test metric whole and streamed, its size, and quantize's notes."""

    metric: Metric
    size_bytes: int
    stream_metric: Metric | None = None
    stream_ok: bool = True  # may stream: streamed within the metric budget
    note: str = ""
    stream_note: str = ""


@dataclass(frozen=True)
class ModelDescription:
    """The model and the data, as the report describes them."""

    cell: str
    layers: int
    hidden: int
    bidirectional: bool
    topology: str
    window: int | None
    horizon: int | None
    source: str
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    split_sizes: tuple[int, ...]
    split_fractions: tuple[float, float, float]
    series: SeriesRecord | None = None  # CSV series: time column, season, differencing
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class PipelineSummary:
    """Everything one pipeline run found, from which every report is rendered."""

    out: Path
    bundle: Path
    report: Path  # report.md
    machine: str
    model: ModelDescription
    training: TrainingSummary
    verdict: str | None  # None: the model beats its baseline
    variants: dict[str, VariantSummary]
    refused: dict[str, str]  # variant -> why quantize refused it
    timing: tuple[Timing, ...]
    checks: tuple[Check, ...]  # the export gate's checks, all passed
    history: tuple[dict[str, Any], ...] = ()  # per-epoch training records (for the charts)

    @property
    def ratio(self) -> float | None:
        """Test metric over the baseline's (lower is better for rmse/nll, higher for accuracy)."""
        return self.training.baseline_ratio

    def timing_for(self, variant: str, mode: str, provider: str = CPU) -> Timing | None:
        """The profiled cell of ``variant`` in ``mode`` on ``provider``, if one was timed."""
        found = [t for t in self.timing if (t.variant, t.mode, t.provider) == (variant, mode, provider)]
        return found[0] if found else None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: what ``summary.json`` holds."""
        return {
            "verdict": self.verdict,
            "ratio": self.ratio,
            "training": self.training.to_dict(),
            "model": dataclasses.asdict(self.model),
            "variants": {v: dataclasses.asdict(s) for v, s in self.variants.items()},
            "refused": self.refused,
            "timing": [{**dataclasses.asdict(t), "name": t.name} for t in self.timing],
            "checks": [c.to_dict() for c in self.checks],
            "machine": self.machine,
            "out": str(self.out),
            "bundle": str(self.bundle),
            "report": str(self.report),
        }
