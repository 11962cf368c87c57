"""The frozen configs of the training stage and the data description that travels with a run.

``ModelConfig`` describes a model completely (``SequenceModel(config)`` rebuilds it),
``TrainConfig`` the optimisation, ``DataConfig`` where the data comes from and how it is cut (the three
together: ``RunConfig``), and ``DataInfo`` what the data turned out to be (sizes, normalisation, labels, vocabulary),
which export needs to fill the bundle manifest. CLI flags map one-to-one onto these fields.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, TypeVar

from edgernn.runtime.errors import BundleError, InputError
from edgernn.runtime.manifest import parse_dataclass
from edgernn.runtime.records import SeriesRecord
from edgernn.runtime.vocab import CELLS, INPUT_KINDS, TOPOLOGIES
from edgernn.runtime.vocab import TRAINED_OUTPUT_KINDS as OUTPUT_KINDS

from .errors import RunError

TASKS = ("classify", "regress", "forecast", "text")
OPTIMIZERS = ("adam", "adamw", "sgd")
SCHEDULES = ("cosine", "plateau", "none")
DEVICES = ("auto", "cpu", "cuda")
DATASETS = ("sunspots", "digits", "text")
DIFFERENCES = ("auto", "none", "1", "season")
POOLS = ("last", "mean", "max", "meanmax")
SEASONAL = ("season", "season+first")  # target differences that look back a season (the y_hist state)


def _choice(field: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"{field}: expected one of {', '.join(choices)}, got {value!r}")


MAX_WIDTH = 1 << 20  # a width beyond a million units is a corrupt config, not a model to allocate


def _at_most(field: str, value: float | int, high: float | int) -> None:
    if not value <= high or (isinstance(value, float) and not math.isfinite(value)):  # NaN fails both
        raise InputError(f"{field}: expected <= {high}, got {value}")


def _at_least(field: str, value: float | int, low: float | int) -> None:
    if not value >= low or (isinstance(value, float) and not math.isfinite(value)):
        raise InputError(f"{field}: expected >= {low}, got {value}")


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a :class:`~edgernn.train.model.SequenceModel`."""

    cell: str = "lstm"  # gated cells train reliably on every bundled task; rnn is the tanh baseline
    topology: str = "many_to_one"  # set from the data: how inputs line up with outputs
    input_kind: str = "features"  # "features": float [batch, time, features]; "tokens": int64 [batch, time]
    input_size: int = 1  # features per step (features input only)
    vocab_size: int | None = None  # embedding rows (tokens input only)
    embed_size: int = 32  # embedding width (tokens input only); enough for character vocabularies
    project_size: int | None = None  # optional Linear projection of the features before the RNN; None: direct
    hidden_size: int = 64  # big enough for the bundled tasks, small enough for microcontroller-class RAM
    num_layers: int = 1  # 1-4; stacking helps long-range text more than short series
    bidirectional: bool | None = None  # None: decided from the data (sequence classifiers: yes; else no)
    dropout: float = 0.0  # between layers and before the head; tiny datasets rarely need it
    output_kind: str = "regression"  # set from the data: "classes", "regression" or "tokens"
    output_size: int = 1  # classes, vocabulary, or regression values per output
    cond_size: int | None = None  # one_to_many: width of the conditioning vector
    start_token: int | None = None  # one_to_many token decoders: the first input token
    # Whole-sequence classifiers (many_to_one, bidirectional): see train/README.md "Sequence classifiers".
    # "auto"/None/0: decided from the data by train/recipe.py (sequence classifiers get the recipe).
    pool: str = "auto"  # what the head reads: last step | mean | max | meanmax over the valid steps
    znorm: bool | None = None  # z-normalise each series (and channel) over its valid steps in the graph
    downsample: int = 0  # a strided Conv1d front end (kernel = stride = this) before the recurrence
    front_layers: int = 0  # convolutions in that front end: 1 strided, 2 adds one of kernel 5; 0: decided
    members: int = 0  # a seed ensemble of this many classifiers in one graph (train/ensemble.py); 0: decided
    fcn_width: int | None = None  # a convolutional branch beside the recurrence (convbranch.py); 0: none
    fcn_stride: int = 0  # that branch averages windows of this many steps first; 0: decided

    def __post_init__(self) -> None:
        _choice("cell", self.cell, CELLS)
        _choice("pool", self.pool, ("auto", *POOLS))
        _at_least("downsample", self.downsample, 0)
        _at_least("members", self.members, 0)
        _at_least("front_layers", self.front_layers, 0)
        _at_most("front_layers", self.front_layers, 2)
        _at_most("members", self.members, 16)
        _at_least("fcn_width", self.fcn_width or 0, 0)
        _at_least("fcn_stride", self.fcn_stride, 0)
        whole = self.pool not in ("auto", "last") or self.znorm or self.downsample > 1 or bool(self.fcn_width)
        if whole and (self.topology != "many_to_one" or self.bidirectional is False):
            raise InputError(
                "pool/znorm/downsample/fcn-width read the whole sequence: expected a bidirectional many_to_one model "
                f"(add --bidirectional), got {'bidirectional ' if self.bidirectional else ''}{self.topology}"
            )
        _choice("topology", self.topology, TOPOLOGIES)
        _choice("input_kind", self.input_kind, INPUT_KINDS)
        _choice("output_kind", self.output_kind, OUTPUT_KINDS)
        if not 1 <= self.num_layers <= 4:
            raise InputError(f"num_layers: expected 1 to 4, got {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise InputError(f"dropout: expected 0 <= dropout < 1, got {self.dropout}")
        for name in ("input_size", "embed_size", "hidden_size", "output_size", "project_size", "vocab_size"):
            value = getattr(self, name)
            if value is not None:
                _at_least(name, value, 1)
                _at_most(name, value, MAX_WIDTH)
        if self.input_kind == "tokens" and (self.vocab_size is None or self.vocab_size < 1):
            raise InputError(f"vocab_size: token inputs need a vocabulary size >= 1, got {self.vocab_size}")
        if self.topology == "one_to_many":
            self._check_decoder()

    def _check_decoder(self) -> None:
        if self.cond_size is None or self.cond_size < 1:
            raise InputError(
                f"cond_size: one_to_many needs a conditioning vector width >= 1, got {self.cond_size}"
            )
        if self.bidirectional:
            raise InputError("bidirectional: one_to_many decodes step by step, so it cannot be bidirectional")
        if self.output_kind == "regression":
            if self.input_kind != "features" or self.input_size != self.output_size:
                raise InputError(
                    "one_to_many feeds each output back as the next input: expected features input of size "
                    f"{self.output_size}, got {self.input_kind} of size {self.input_size}"
                )
        elif (
            self.input_kind != "tokens"
            or self.start_token is None
            or (self.vocab_size or 0) <= self.start_token
        ):
            raise InputError(
                "one_to_many with class/token outputs feeds tokens back: expected token input with a start_token "
                f"below vocab_size, got {self.input_kind}, start_token={self.start_token}, vocab_size={self.vocab_size}"
            )

    @property
    def directions(self) -> int:
        """2 for bidirectional models, else 1."""
        return 2 if self.bidirectional else 1


PLAIN_LR = 3e-3  # Adam learning rate that trains all three cells without clipping storms
CLASSIFIER_LR = 1e-3  # a classifier with the convolutional branch (BatchNorm): FCN's and LSTM-FCN's rate


@dataclass(frozen=True)
class TrainConfig:
    """How to optimise; every default is what the bundled datasets were tuned with."""

    epochs: int = 0  # upper bound (0: 60, or for sequence classifiers enough for ~1500 updates, 60 to 400)
    batch_size: int = 0  # 0: 32, or for sequence classifiers an eighth of the training set (4 to 32)
    lr: float | None = None  # None: PLAIN_LR, or CLASSIFIER_LR for a classifier with a convolutional branch
    weight_decay: float = 0.0  # L2 penalty (decoupled for adamw)
    optimizer: str = "adam"  # adam | adamw | sgd (momentum 0.9)
    schedule: str = "cosine"  # cosine: anneal to 0 over `epochs`; plateau: halve on stalls; none
    clip_grad_norm: float = 1.0  # clip the global gradient norm (0 disables); guards against explosions
    tbptt: int = 0  # truncated BPTT chunk length in steps; 0 = full backpropagation through time
    patience: int | None = (
        None  # epochs without a better val metric before stopping (0: never; None: 15, or a quarter of a classifier's epochs)
    )
    seed: int = 0  # seeds weights, dropout and batch order; the same seed gives the same run
    label_smoothing: float = 0.0  # classifiers: share of each target spread over all classes while training
    select: str = "best"  # the checkpoint kept: best (validation metric) | last (the final, annealed epoch)
    augment: bool | None = None  # window slicing + jitter of training sequences (augment.py); None: decided
    device: str = "auto"  # auto picks CUDA when available, else CPU; asking for cuda without it fails
    threads: int | None = None  # CPU threads (0: torch's, every core); None: 1 (a small recurrence
    # gains nothing from more and spins on a busy CPU), or every core for a classifier's convolutions
    vanish_threshold: float = 1e-6  # recurrent-layer gradient norm below which a step counts as vanishing
    vanish_steps: int = 100  # consecutive vanishing steps before warning
    explode_factor: float = 100.0  # warn when the gradient norm jumps this many times over its running mean
    explode_norm: float = 1e3  # warn when the gradient norm is above this at all (inputs are normalised)

    def __post_init__(self) -> None:
        _at_least("epochs", self.epochs, 0)
        _at_least("batch_size", self.batch_size, 0)
        if self.lr is not None and not (self.lr > 0 and math.isfinite(self.lr)):
            raise InputError(f"lr: expected a finite number > 0, got {self.lr}")
        _at_least("weight_decay", self.weight_decay, 0.0)
        _choice("optimizer", self.optimizer, OPTIMIZERS)
        _choice("schedule", self.schedule, SCHEDULES)
        _choice("select", self.select, ("best", "last"))
        if not 0.0 <= self.label_smoothing < 1.0:
            raise InputError(f"label_smoothing: expected 0 <= value < 1, got {self.label_smoothing}")
        _at_least("clip_grad_norm", self.clip_grad_norm, 0.0)
        _at_least("tbptt", self.tbptt, 0)
        if self.patience is not None:
            _at_least("patience", self.patience, 0)
        _choice("device", self.device, DEVICES)
        _at_least("threads", self.threads or 0, 0)
        _at_least("vanish_steps", self.vanish_steps, 1)
        _at_least("explode_factor", self.explode_factor, 1.0)
        _at_least("vanish_threshold", self.vanish_threshold, 0.0)
        if not (self.explode_norm > 0 and math.isfinite(self.explode_norm)):
            raise InputError(f"explode_norm: expected a finite number > 0, got {self.explode_norm}")

    @property
    def learning_rate(self) -> float:
        """``lr``, or PLAIN_LR where nothing decided it (train/recipe.py decides it in a run)."""
        return PLAIN_LR if self.lr is None else self.lr


@dataclass(frozen=True)
class DataConfig:
    """Where the data comes from and how it is cut into samples and splits."""

    path: str | None = None  # CSV (time series), NPZ/NPY arrays, or plain text
    dataset: str | None = None  # a bundled dataset instead of a path: sunspots | digits | text
    task: str | None = None  # classify | regress | forecast | text; None infers it from the data
    topology: str | None = None  # many_to_one | many_to_many | one_to_many; None infers it
    columns: tuple[str, ...] | None = None  # CSV input columns; None: every column
    target: tuple[str, ...] | None = None  # CSV forecast targets; None: the last input column
    window: int = 32  # steps per sample for series and text (the conditioning window for one_to_many)
    horizon: int = 1  # forecast this many steps ahead (many_to_one / one_to_many: this many outputs)
    stride: int = 1  # steps between training windows; evaluation always scores every target once
    input_kind: str = "auto"  # NPZ: "tokens" for integer ids, "features" for numbers; auto decides by dtype
    val_fraction: float = 0.15  # share of samples (time for series and text) held out for early stopping
    test_fraction: float = 0.15  # share held back for the final test metric and eval.npz
    split_seed: int = 0  # shuffles non-temporal data before splitting; series and text are never shuffled
    time_column: str | None = None  # CSV time index; None: the first column not asked for that holds dates
    difference: str = "auto"  # CSV forecasts: auto (unit-root test) | none | 1 (first) | season
    calendar: bool = False  # CSV forecasts: sin/cos of the time index's seasons (opt-in: see docs/data.md)
    units: str | None = None  # CSV forecasts: units of the targets, recorded in the manifest
    test_data: str | None = None  # a fixed test split (same format as path); train/val then come from path

    def __post_init__(self) -> None:
        if (self.path is None) == (self.dataset is None):
            raise InputError("data: give exactly one of --data PATH or --dataset NAME")
        if self.dataset is not None:
            _choice("dataset", self.dataset, DATASETS)
        if self.task is not None:
            _choice("task", self.task, TASKS)
        if self.topology is not None:
            _choice("topology", self.topology, TOPOLOGIES)
        _choice("input_kind", self.input_kind, ("auto", *INPUT_KINDS))
        _choice("difference", self.difference, DIFFERENCES)
        for name in ("window", "horizon", "stride"):
            _at_least(name, getattr(self, name), 1)
        for name in ("val_fraction", "test_fraction"):
            if not 0.0 < getattr(self, name) < 0.5:
                raise InputError(f"{name}: expected 0 < fraction < 0.5, got {getattr(self, name)}")


@dataclass(frozen=True)
class DataInfo:
    """What the data turned out to be; stored as the ``"data"`` section of ``config.json``.

    Normalisation: the model sees ``(x - input_mean) / input_std``; regression outputs come out
    normalised and are de-normalised as ``y * output_std + output_mean``.
    """

    source: str  # the data file, or "bundled:NAME"
    sha256: str  # checksum of the data file, so --resume can refuse changed data
    task: str
    topology: str
    input_kind: str
    feature_names: tuple[str, ...]  # one per input feature; () for tokens
    output_kind: str
    output_names: tuple[str, ...]  # one per regression output; () for classes and tokens
    input_mean: tuple[float, ...] | None = None
    input_std: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None  # classes
    units: str | None = None  # regression outputs
    output_mean: tuple[float, ...] | None = None
    output_std: tuple[float, ...] | None = None
    vocab: tuple[str, ...] | None = None  # tokens: id -> text ("<unk>" at 0 for text corpora)
    cond_kind: str | None = None  # one_to_many: "classes" (one-hot) or "features"
    cond_names: tuple[str, ...] | None = None  # class labels or feature names of the condition
    cond_mean: tuple[float, ...] | None = None
    cond_std: tuple[float, ...] | None = None
    start_token: int | None = None  # one_to_many token decoders; regression decoders start at the mean
    window: int | None = None
    horizon: int | None = None
    variable_length: bool = False  # samples carry `lengths`
    metric: str = "rmse"  # "accuracy" (higher is better), "rmse" (raw units) or "nll" (nats per token)
    baseline: str = "mean"  # "persistence", "majority", "unigram" or "mean"
    split_sizes: tuple[int, ...] = (0, 0, 0)  # samples in train, val, test
    series: SeriesRecord | None = None  # CSV series: time index and differencing, for the manifest
    transform: Transform | None = None  # differencing forecasters: the constants of their graph
    notes: tuple[str, ...] = ()  # what reading the data decided, one line each (printed before training)


@dataclass(frozen=True)
class Transform:
    """What a differencing forecaster computes in its graph (see :mod:`edgernn.train.forecaster`).

    Inputs arrive normalised by ``DataInfo.input_mean/std`` (levels). The model sees, per column,
    the level or the change since the previous row (the target: since ``period`` rows back for a
    seasonal difference), standardised by ``feature_mean/std`` (raw units); it predicts the target's
    change over ``horizon`` steps, which the graph adds back to the level it is a change from.
    """

    difference: str  # "none", "first", "season" or "season+first": what the model predicts of its targets
    period: int  # rows back of a seasonal difference (1 otherwise)
    changed: tuple[bool, ...]  # per input column: the model sees its first change
    targets: tuple[int, ...]  # the input column of each target
    feature_mean: tuple[float, ...]  # per input column, raw units
    feature_std: tuple[float, ...]
    change_mean: tuple[float, ...]  # per target: mean predicted change (raw units)
    # calendar features: sin (or cos) of 2 pi (rate * row + offset), row counted from the CSV's first
    calendar_rate: tuple[float, ...] = ()  # cycles per row (harmonic / steps per cycle)
    calendar_offset: tuple[float, ...] = ()  # phase of row 0 (harmonic x the cycle's phase)
    calendar_sine: tuple[bool, ...] = ()  # True: sin, False: cos


@dataclass(frozen=True)
class RunConfig:
    """Everything a training run is told: where the data comes from, the model, the optimisation.

    The one argument of :func:`~edgernn.train.run_training`; ``edgernn train`` and ``edgernn pipeline``
    build it from their flags, and ``config.json`` stores it (with the :class:`DataInfo` it produced).
    """

    data: DataConfig
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """``{"data": ..., "model": ..., "train": ...}``, JSON-ready (``--resume`` starts from it)."""
        return {"data": to_dict(self.data), "model": to_dict(self.model), "train": to_dict(self.train)}


T = TypeVar("T")


def to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a config dataclass (tuples become lists)."""
    return dataclasses.asdict(config)


def from_dict(cls: type[T], data: Any, where: str) -> T:
    """Rebuild a config dataclass from parsed JSON; unknown, missing or invalid fields raise
    :class:`RunError` naming the field (the manifest's parser, so both read JSON the same way)."""
    try:
        return parse_dataclass(cls, data, what=where)
    except BundleError as err:
        raise RunError(str(err)) from None
