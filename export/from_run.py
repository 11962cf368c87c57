"""Export a finished ``edgernn train`` run: its best weights, normalisation, labels and data.

:func:`export_trained` takes the :class:`~edgernn.train.run.TrainedRun` that training returned (the
model in memory, nothing read back); :func:`export_run` is the same from a run directory on disk.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from edgernn.runtime.manifest import InputSpec
from edgernn.runtime.vocab import EVAL_FILE, SOURCE_DIR

from .api import ExportMeta, ExportReport, export
from .config import ExportConfig
from .errors import ExportError
from .evaluate import EvalData

if TYPE_CHECKING:
    from edgernn.train.run import RunInfo, TrainedRun


# A classifier's logits pass through per-series normalisation, a strided convolution and pooling
# over hundreds of steps; onnxruntime and PyTorch sum in different orders, and a trained net
# amplifies that to ~6e-5 on real data (ArrowHead, 251 steps). A class decision does not move at
# 1e-4, so a trained classifier is held to it; regression and token outputs keep 1e-5.
CLASS_ATOL = 1e-4


def export_run(
    run_dir: str | Path, out_dir: str | Path, *, lengths: bool | None = None, **options
) -> ExportReport:
    """Export RUN_DIR's best checkpoint (see :func:`export_trained`); ``options`` are
    :func:`~edgernn.export.api.export`'s keyword arguments."""
    from edgernn.train.run import load_trained

    _check_apart(Path(run_dir), Path(out_dir))  # before the model is built
    return export_trained(load_trained(run_dir), out_dir, lengths=lengths, **options)


def export_trained(
    trained: TrainedRun,
    out_dir: str | Path,
    *,
    lengths: bool | None = None,
    eval_data: EvalData | None = None,
    **options,
) -> ExportReport:
    """Export a finished run's best model; the test split ships in the bundle as ``eval.npz`` and the
    checkpoint itself as ``source/`` (for PyTorch baselines; the runtime never reads it).

    ``eval_data``: the run's test split when the caller holds it already as :class:`EvalData`;
    ``lengths`` defaults to whether the data had padding; ``options`` are
    :func:`~edgernn.export.api.export`'s keyword arguments."""
    from edgernn.train.checkpoint import WEIGHTS_FILE
    from edgernn.train.recipe import recipe_record
    from edgernn.train.run import CONFIG_FILE, config_dict, manifest_specs

    info, run_dir = trained.info, trained.run_dir
    _check_apart(run_dir, Path(out_dir))
    specs = manifest_specs(info)
    eval_path = run_dir / EVAL_FILE
    data = eval_data if eval_data is not None else EvalData.from_arrays(trained.eval_arrays, eval_path)
    real_x = _model_space(data.x, specs.input)
    if lengths is None:
        lengths = bool(info.data.variable_length)
    _gate_defaults(info, options)
    doc = config_dict(info.model, info.train, info.data_config, info.data)
    meta = ExportMeta(
        name=run_dir.resolve().name,
        input=specs.input,
        output=specs.output,
        condition=specs.condition,
        data_files={EVAL_FILE: eval_path},
        # The checkpoint travels too (safetensors + JSON), so `edgernn profile --torch` can time PyTorch.
        source_files={
            f"{SOURCE_DIR}/{CONFIG_FILE}": (json.dumps(doc, indent=2) + "\n").encode("utf-8"),
            f"{SOURCE_DIR}/{WEIGHTS_FILE}": run_dir / WEIGHTS_FILE,
        },
        torch_metric=info.summary.test if info.summary is not None else None,
        series=specs.series,
        recipe=recipe_record(info.model, info.train, info.data, trained.eval_arrays),
    )
    return export(
        trained.model,
        torch.from_numpy(real_x[:2]),
        out_dir,
        topology=info.model.topology,
        lengths=lengths,
        meta=meta,
        real_inputs=real_x,
        real_lengths=data.lengths if lengths else None,
        **options,
    )


def _gate_defaults(info: RunInfo, options: dict[str, Any]) -> None:
    """The export options a run decides when the caller leaves them out: the tolerance, and no state
    I/O for a whole-sequence (bidirectional many_to_one) model."""
    if options.get("atol") is None:
        options["atol"] = CLASS_ATOL if info.data.output_kind == "classes" else ExportConfig.atol
    if (
        options.get("state", "auto") == "auto"
        and info.model.bidirectional
        and info.model.topology == "many_to_one"
    ):
        # A bidirectional model reads whole sequences: its final state is never fed back (not
        # streamable), so the graph has no state inputs or outputs. A trained LSTM's final cell state
        # is also where float32 differences pile up (ArrowHead: 5.5e-4 in c, 1.3e-5 in the logits).
        options["state"] = False


def _check_apart(run_dir: Path, out_dir: Path) -> None:
    """The bundle never goes into the run (or the run into the bundle): replacing one would remove
    the other's files."""
    run, out = run_dir.resolve(), out_dir.resolve()
    if out == run or out.is_relative_to(run):
        raise ExportError(
            f"--out {out_dir}: is the run directory {run_dir} or inside it; expected a folder elsewhere "
            "(replacing it would remove the run's checkpoints)"
        )
    if run.is_relative_to(out):
        raise ExportError(f"--out {out_dir}: holds the run directory {run_dir}; expected a folder elsewhere")


def _model_space(x: np.ndarray, spec: InputSpec) -> np.ndarray:
    """Raw eval inputs as the model sees them: normalised float32, or int64 token ids."""
    if spec.kind == "tokens":
        return x.astype(np.int64)
    x = x.astype(np.float32)
    if spec.mean is not None and spec.std is not None:
        x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return x.astype(np.float32)
