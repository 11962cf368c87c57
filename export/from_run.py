"""Export a finished ``edgernn train`` run: its best weights, normalisation, labels and data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgernn.runtime.errors import BundleError

from .api import ExportMeta, ExportReport, export


def export_run(
    run_dir: str | Path, out_dir: str | Path, *, lengths: bool | None = None, **options
) -> ExportReport:
    """Export RUN_DIR's best checkpoint; the test split ships in the bundle as ``eval.npz`` and the
    checkpoint itself as ``source/`` (for PyTorch baselines; the runtime never reads it)."""
    from edgernn.train.checkpoint import WEIGHTS_FILE
    from edgernn.train.run import CONFIG_FILE, EVAL_FILE, load_run, manifest_specs

    model, info = load_run(run_dir)
    specs = manifest_specs(info)
    eval_path = Path(run_dir) / EVAL_FILE
    if not eval_path.is_file():
        raise BundleError(f"{run_dir}: no {EVAL_FILE}; the run did not finish")
    with np.load(eval_path, allow_pickle=False) as data:
        x = data["x"]
        real_lengths = data["lengths"] if "lengths" in data.files else None
    real_x = _model_space(x, specs.input)
    if lengths is None:
        lengths = bool(info.data.variable_length)
    summary = info.summary or {}
    meta = ExportMeta(
        name=Path(run_dir).resolve().name,
        input=specs.input,
        output=specs.output,
        condition=specs.condition,
        data_files={EVAL_FILE: eval_path},
        # The checkpoint travels too (safetensors + JSON), so `edgernn profile --torch` can time PyTorch.
        source_files={f"source/{name}": Path(run_dir) / name for name in (CONFIG_FILE, WEIGHTS_FILE)},
        torch_metric={"name": summary["metric"], "value": summary["test_metric"]}
        if "test_metric" in summary
        else None,
    )
    example = torch.from_numpy(real_x[:2])
    return export(
        model,
        example,
        out_dir,
        topology=info.model.topology,
        lengths=lengths,
        meta=meta,
        real_inputs=real_x,
        real_lengths=real_lengths if lengths else None,
        **options,
    )


def _model_space(x: np.ndarray, spec) -> np.ndarray:
    """Raw eval inputs as the model sees them: normalised float32, or int64 token ids."""
    if spec.kind == "tokens":
        return x.astype(np.int64)
    x = x.astype(np.float32)
    if spec.mean is not None and spec.std is not None:
        x = (x - np.asarray(spec.mean, np.float32)) / np.asarray(spec.std, np.float32)
    return x.astype(np.float32)
