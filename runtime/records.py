"""What export and quantize record in the manifest about a model's accuracy: typed, frozen, and
parsed as strictly as the rest of the manifest (:func:`~edgernn.runtime.manifest.parse_dataclass`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Metric:
    """A task metric (accuracy, rmse in real units, nll in nats per token)."""

    name: str
    value: float
    higher_is_better: bool | None = None  # None where only the value was recorded

    def relative_drop(self, reference: Metric) -> float:
        """How much worse than ``reference``, relative to it (negative when better)."""
        if reference.value == 0:
            return 0.0 if self.value == reference.value else float("inf")
        change = (self.value - reference.value) / abs(reference.value)
        higher = self.higher_is_better if self.higher_is_better is not None else reference.higher_is_better
        return -change if higher else change


@dataclass(frozen=True)
class Check:
    """One comparison of a verification gate; ``max_abs_diff`` is over every output compared."""

    name: str
    passed: bool
    max_abs_diff: float
    detail: str = ""
    # A failure is recorded as a warning, not a refusal: random inputs past the length the model was
    # trained on, when the gate also proved the model on its own data (a trained net may amplify noise
    # it never sees; what it will see is held to the tolerance by the real-data checks).
    warning: bool = False

    @property
    def refused(self) -> bool:
        """Whether this check stops the export (failed, and not a recorded warning)."""
        return not self.passed and not self.warning

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class Validation:
    """What export's verification gate proved about the fp32 model against PyTorch."""

    exporter: str  # the exporter whose graph passed: torchscript | dynamo
    attempts: dict[str, str]  # exporter -> "passed" or why it failed
    atol: float
    rtol: float
    max_abs_diff: float  # over every check
    native_nodes: dict[str, int]  # LSTM/GRU/RNN -> count in the main graph
    streamable: bool
    checks: tuple[Check, ...]
    torch_metric: Metric | None = None  # the PyTorch model's test metric, for quantize to compare


@dataclass(frozen=True)
class VariantRecord:
    """One quantized variant: what changed, what it costs in accuracy, what it gains in size and speed."""

    variant: str
    file: str
    size_bytes: int
    size_ratio: float
    metric: Metric
    metric_delta: float  # relative drop against fp32 (positive = worse)
    max_abs_diff: float
    p50_ms: float
    speedup: float
    quantized_ops: dict[str, int]
    float_recurrent: tuple[str, ...]
    settings: dict[str, Any]
    accepted: bool
    note: str = ""
    checks: tuple[Check, ...] = ()
    candidates: tuple[dict[str, Any], ...] = ()  # int8: every weight setting measured
    sha256: str = ""  # of the file, once it is in the bundle
    stream_metric: Metric | None = None  # the metric streamed step by step (batch 1), as a device streams
    stream_accepted: bool = True  # False: refused for streaming (see stream_note); whole sequences only
    stream_note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class SeriesRecord:
    """A forecasting model's series: its time index, and what its graph differences.

    A differencing graph takes the rows as they are (levels), computes the changes it was trained on
    inside the graph, and adds the predicted change back to the level it is a change from, so outputs
    are levels. The previous row (and for a seasonal difference the last ``period`` target values)
    travel as extra state pairs; with zero state the first row counts as its own predecessor, so
    outputs are exact from row ``warmup`` on. Calendar features are computed in the graph from a row
    counter (state ``counter``): set it to the rows between ``first`` and the first row fed."""

    time_column: str | None = None  # the CSV's time index (never an input)
    first: str | None = None  # ISO time of the first and last row of the training CSV
    last: str | None = None
    step: str | None = None  # "weekly", "quarterly", ...
    step_seconds: float = 0.0  # the median spacing of the training rows (0: unknown)
    business_days: bool = False  # daily rows without weekends: Friday -> Monday is one step
    horizon: int = 1  # steps ahead of its input row that each output forecasts
    window: int = 0  # rows of context each scored output had in training (its first outputs: warm-up)
    period: int = 1  # season in steps (1: none): the seasonal difference's, else the shortest found
    seasons: tuple[int, ...] = ()  # every season found (rows), for the seasonal naive baselines
    season_reasons: tuple[str, ...] = ()  # why each was found ("monthly rows: a year is 12 rows")
    difference: str = "none"  # what the model predicts of its targets: none (levels), first, season
    reason: str = ""  # why that difference was chosen
    changes: tuple[str, ...] = ()  # input columns the model sees as their change since the previous row
    warmup: int = 0  # rows a cold-started stream needs before its differences are real (0, 1 or period)
    calendar: tuple[str, ...] = ()  # calendar features the graph computes, e.g. "sin1_year"
    counter: str | None = None  # with calendar features: the state input counting rows since `first`
