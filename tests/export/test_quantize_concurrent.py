"""Concurrent ``edgernn quantize`` on one bundle: writers take turns, so no update is lost.

Before the lock, ``quantize B --variant int8 & quantize B --variant fp16 --force`` left a manifest
without one of the variants whose file was on disk in 3 rounds of 4, and two int8 runs collided on a
fixed-name temp file of onnxruntime's quantizer beside the fp32 model.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from _runtime_models import make_bundle

from edgernn.runtime import Bundle, Session

pytest.importorskip("onnx")

CLI = "import sys; sys.argv[0] = 'edgernn'; from edgernn.cli import main; main()"


def _quantize(bundle, eval_path, *args):
    return subprocess.Popen(
        [sys.executable, "-c", CLI, "quantize", str(bundle), "--eval", str(eval_path), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    "first, second",
    [
        (
            ["--variant", "int8", "--weight-type", "s8", "--force"],
            ["--variant", "fp16", "--force", "--fp16-target", "cpu"],
        ),
        (
            ["--variant", "int8", "--weight-type", "s8", "--force"],
            ["--variant", "int8", "--weight-type", "u8", "--force"],
        ),
    ],
    ids=["int8+fp16", "int8+int8"],
)
def test_concurrent_quantize_lists_every_variant_on_disk(tmp_path, first, second):
    bundle = make_bundle(tmp_path / "b", cell="lstm", features=3, hidden=8, out=2)
    x = np.random.default_rng(0).standard_normal((8, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=Session.load(bundle, provider="cpu").run(x).output)
    procs = [_quantize(bundle, tmp_path / "eval.npz", *args) for args in (first, second)]
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
    loaded = Bundle.load(bundle)
    on_disk = sorted(p.name for p in bundle.glob("model*.onnx"))
    assert sorted(loaded.manifest.model_files().values()) == on_disk
    assert set(loaded.verify().values()) == {"ok"}
    assert set(loaded.manifest.quantization or {}) == {v for v in loaded.variants() if v != "fp32"}
    assert not [p for p in bundle.iterdir() if p.name.startswith(".")]  # no temp folder or file left


def test_a_killed_quantize_leaves_nothing_the_next_one_does_not_clear(tmp_path):
    from edgernn.export.quantization import QuantizeConfig, quantize

    bundle = make_bundle(tmp_path / "b", cell="lstm", features=3, hidden=8, out=2)
    x = np.random.default_rng(0).standard_normal((8, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "eval.npz", x=x, y=Session.load(bundle, provider="cpu").run(x).output)
    stale = bundle / ".quantize-killed"
    (stale / "fp32").mkdir(parents=True)  # what a SIGKILL mid-quantize leaves behind
    (stale / "fp32" / "model.onnx").write_bytes(b"half")
    config = QuantizeConfig(weight_type="s8", latency_iters=2, force=True)
    quantize(bundle, ["int8"], config=config, eval_path=tmp_path / "eval.npz")
    assert sorted(p.name for p in bundle.iterdir()) == ["manifest.json", "model.int8.onnx", "model.onnx"]
