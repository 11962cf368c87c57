"""ORT-format model + required-operators config, for onnxruntime minimal builds on embedded targets."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from edgernn.runtime.vocab import FP32, ROLE_OPS_CONFIG, ROLE_ORT

from .errors import ExportError
from .verify import cpu_session


def write_ort(model_path: Path) -> dict[str, tuple[str | None, str]]:
    """Convert with onnxruntime's own converter; check the .ort gives the .onnx's outputs.

    Writes ``model.ort`` and ``model.required_operators.config`` (the list for a minimal build's
    ``--include_ops_by_config``) beside ``model_path``; returns their manifest roles.
    """
    with tempfile.TemporaryDirectory(prefix="edgernn-ort-") as tmp:
        src = Path(tmp) / "in"
        out = Path(tmp) / "out"
        src.mkdir()
        shutil.copyfile(model_path, src / model_path.name)
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "onnxruntime.tools.convert_onnx_models_to_ort",
                str(src),
                "--output_dir",
                str(out),
                "--optimization_style",
                "Fixed",
            ],
            capture_output=True,
            text=True,
        )
        stem = model_path.stem
        # converter output name -> (bundle name, variant, role)
        made = {
            f"{stem}.ort": (f"{stem}.ort", FP32, ROLE_ORT),
            "required_operators.config": (f"{stem}.required_operators.config", None, ROLE_OPS_CONFIG),
        }
        if proc.returncode != 0 or not all((out / name).is_file() for name in made):
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            raise ExportError(f"ORT-format conversion failed: {tail[0]}")
        for name, (target, _, _) in made.items():
            shutil.copyfile(out / name, model_path.parent / target)
    _check_same_outputs(model_path, model_path.parent / f"{stem}.ort")
    return {target: (variant, role) for target, variant, role in made.values()}


def _check_same_outputs(onnx_path: Path, ort_path: Path) -> None:
    a, b = cpu_session(onnx_path), cpu_session(ort_path)
    rng = np.random.default_rng(0)
    feed = {}
    for arg in a.get_inputs():
        shape = [
            d if isinstance(d, int) else (2 if arg.name != "x" or i == 0 else 5)
            for i, d in enumerate(arg.shape)
        ]
        if arg.type == "tensor(int64)":
            feed[arg.name] = np.full(shape, 5 if arg.name == "lengths" else 1, np.int64)
        else:
            feed[arg.name] = rng.standard_normal(shape).astype(np.float32)
    for x, y in zip(a.run(None, feed), b.run(None, feed), strict=True):
        if not np.allclose(x, y, atol=1e-5, rtol=1e-4):
            raise ExportError(f"ORT-format model differs from model.onnx by {float(np.abs(x - y).max()):.3g}")
