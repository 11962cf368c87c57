"""A finished run directory, as export reads it: ``load_run`` and the manifest fields it implies.

``RUN_DIR/config.json`` holds ``{"format", "version", "model", "train", "data_config", "data"}``:
the :class:`ModelConfig`, :class:`TrainConfig`, :class:`DataConfig` and :class:`DataInfo`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgernn.runtime.limits import strict_json
from edgernn.runtime.manifest import InputSpec, OutputSpec
from edgernn.runtime.records import SeriesRecord

from .config import DataConfig, DataInfo, ModelConfig, RunConfig, TrainConfig, from_dict, to_dict
from .errors import RunError
from .records import TrainingSummary

if TYPE_CHECKING:
    import numpy as np
    import torch

CONFIG_FILE = "config.json"  # the run's configs; also the name it has in a bundle's source/
SUMMARY_FILE = "summary.json"
RUN_FORMAT = "edgernn-train-run"
RUN_VERSION = 1
_PICKLE_SUFFIXES = (".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".bin")


@dataclass(frozen=True)
class RunInfo:
    """The parsed configs of a run directory; ``summary`` is None for an unfinished run."""

    run_dir: Path
    model: ModelConfig
    train: TrainConfig
    data_config: DataConfig
    data: DataInfo
    summary: TrainingSummary | None = None

    @property
    def config(self) -> RunConfig:
        """The run's three configs as one."""
        return RunConfig(data=self.data_config, model=self.model, train=self.train)


@dataclass(frozen=True)
class TrainedRun:
    """A finished run, as training hands it on: the best model in memory, its configs and data
    description, the summary, the test split and the per-epoch records. Later stages take this
    instead of reading the run directory back (:func:`load_trained` reads one from disk)."""

    info: RunInfo  # configs, data description and summary (None only for a run stopped early)
    model: torch.nn.Module  # the best checkpoint's weights, eval mode, on the CPU
    eval_arrays: dict[str, np.ndarray]  # the test split in raw units, as written to eval.npz
    history: tuple[dict[str, Any], ...] = ()  # the records of metrics.jsonl, one per epoch
    rank: int = 0  # this process's rank under torchrun; rank 0 wrote the run directory

    @property
    def run_dir(self) -> Path:
        """The run directory the files were written to."""
        return self.info.run_dir

    @property
    def summary(self) -> TrainingSummary:
        """Best epoch, validation and test metrics, baseline (the same numbers as summary.json)."""
        if self.info.summary is None:
            raise RunError(f"{self.run_dir}: the run did not finish (no {SUMMARY_FILE})")
        return self.info.summary


@dataclass(frozen=True)
class ManifestSpecs:
    """What a run says about the bundle's main input, main output and (one_to_many) condition."""

    input: InputSpec
    output: OutputSpec
    condition: InputSpec | None = None
    series: SeriesRecord | None = None


def config_dict(
    model: ModelConfig, train: TrainConfig, data_config: DataConfig, data: DataInfo
) -> dict[str, Any]:
    """The JSON document stored as ``config.json``."""
    return {
        "format": RUN_FORMAT,
        "version": RUN_VERSION,
        "model": to_dict(model),
        "train": to_dict(train),
        "data_config": to_dict(data_config),
        "data": to_dict(data),
    }


def read_run_info(run_dir: str | Path) -> RunInfo:
    """Parse ``config.json`` (and ``summary.json`` when present) of a run directory."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunError(f"{run_dir}: run directory not found")
    path = run_dir / CONFIG_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: no {CONFIG_FILE}; not an edgernn training run")
    doc = _read_json(path)
    if not isinstance(doc, dict) or doc.get("format") != RUN_FORMAT:
        raise RunError(
            f"{path}: expected format {RUN_FORMAT!r}, got {doc.get('format') if isinstance(doc, dict) else doc!r}"
        )
    if doc.get("version") != RUN_VERSION:
        raise RunError(f"{path}: expected version {RUN_VERSION}, got {doc.get('version')!r}")
    summary = None
    if (run_dir / SUMMARY_FILE).is_file():
        summary = from_dict(TrainingSummary, _read_json(run_dir / SUMMARY_FILE), str(run_dir / SUMMARY_FILE))
    return RunInfo(
        run_dir=run_dir,
        model=from_dict(ModelConfig, doc.get("model"), f"{path}: model"),
        train=from_dict(TrainConfig, doc.get("train"), f"{path}: train"),
        data_config=from_dict(DataConfig, doc.get("data_config"), f"{path}: data_config"),
        data=from_dict(DataInfo, doc.get("data"), f"{path}: data"),
        summary=summary,
    )


def _read_json(path: Path) -> Any:
    try:
        return strict_json(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as err:
        detail = " ".join(str(err).split())[:200]
        raise RunError(f"{path}: not valid JSON ({detail})") from None


def load_trained(run_dir: str | Path) -> TrainedRun:
    """A run directory as a :class:`TrainedRun` (for stages run one at a time): each file is read once
    and the model is built once. A run stopped before its summary still has its best weights and test
    split; only :attr:`TrainedRun.summary` is missing then. Raises :class:`RunError` without them."""
    import numpy as np

    from edgernn.runtime.limits import regular_file
    from edgernn.runtime.vocab import EVAL_FILE

    from .report import read_metrics

    model, info = load_run(run_dir)
    path = info.run_dir / EVAL_FILE
    if not path.is_file():
        raise RunError(f"{run_dir}: no {EVAL_FILE}; the run did not finish")
    regular_file(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except Exception as err:  # a damaged file fails in numpy or zipfile in many ways
        raise RunError(f"{path}: could not read the run's test split ({type(err).__name__}: {err})") from None
    return TrainedRun(info, model, arrays, tuple(read_metrics(info.run_dir)))


def load_run(run_dir: str | Path, info: RunInfo | None = None) -> tuple[Any, RunInfo]:
    """The best model of a run (eval mode, CPU) and its :class:`RunInfo` (``info``: already read).

    Raises :class:`RunError` for a missing or incompatible run directory; pickle checkpoints
    are refused, never opened.
    """
    from .checkpoint import WEIGHTS_FILE, load_weights
    from .forecaster import build_model

    info = info or read_run_info(run_dir)
    weights = info.run_dir / WEIGHTS_FILE
    if not weights.is_file():
        pickles = sorted(p.name for p in info.run_dir.iterdir() if p.suffix in _PICKLE_SUFFIXES)
        hint = f"; found {', '.join(pickles)}, but edgernn refuses pickle checkpoints" if pickles else ""
        raise RunError(f"{info.run_dir}: no {WEIGHTS_FILE}{hint}")
    model = build_model(info.model, info.data)
    state = load_weights(weights)
    expected, found = set(model.state_dict()), set(state)
    if expected != found:
        missing, extra = sorted(expected - found), sorted(found - expected)
        raise RunError(
            f"{weights}: weights do not match config.json (missing: {', '.join(missing) or 'none'}; "
            f"unexpected: {', '.join(extra) or 'none'})"
        )
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise RunError(f"{weights}: weights do not match config.json ({err})") from None
    return model.eval(), info


def manifest_specs(info: RunInfo) -> ManifestSpecs:
    """The manifest's input/output/condition specs for a run: shapes, normalisation, labels, units.

    ``InputSpec.lengths`` is left None: whether the graph takes a lengths input is export's call
    (``info.data.variable_length`` says whether the data had padding).
    """
    m, d = info.model, info.data
    if m.input_kind == "tokens":
        main = InputSpec(
            name="x",
            features=None,
            dtype="int64",
            kind="tokens",
            vocab_size=m.vocab_size,
            start_token=m.start_token,
        )
    else:
        columns = d.feature_names if d.series is not None and m.topology != "one_to_many" else None
        features = len(d.feature_names) if d.transform is not None else m.input_size
        main = InputSpec(
            name="x", features=features, mean=d.input_mean, std=d.input_std, columns=columns or None
        )
    if d.output_kind == "regression":
        output = OutputSpec(
            name="y",
            kind="regression",
            size=m.output_size,
            units=d.units,
            mean=d.output_mean,
            std=d.output_std,
            names=d.output_names or None,
        )
    elif d.output_kind == "classes":
        output = OutputSpec(name="y", kind="classes", size=m.output_size, labels=d.labels)
    else:
        output = OutputSpec(name="y", kind="tokens", size=m.output_size, labels=d.vocab)
    condition = None
    if m.topology == "one_to_many":
        condition = InputSpec(name="cond", features=m.cond_size, mean=d.cond_mean, std=d.cond_std)
    return ManifestSpecs(input=main, output=output, condition=condition, series=d.series)
