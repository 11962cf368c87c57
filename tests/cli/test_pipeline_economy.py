"""One `edgernn pipeline` run hands each stage what the previous one returned: at most 9 onnxruntime
sessions in all its processes, the test split and the training records never read back, the run's
configs opened at most 3 times (written by training, written into the bundle, hashed there), the
bundle's manifest read at most 3 times, the PyTorch module built once (training's own, also timed as
the PyTorch baseline). Counted by tests/shim/sitecustomize.py in every process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

pytest.importorskip("torch")

SHIM = Path(__file__).resolve().parents[1] / "shim"
MAX_SESSIONS = 8


def test_pipeline_opens_each_thing_once(tmp_path):
    log = tmp_path / "count.log"
    env = {**os.environ, "PYTHONPATH": str(SHIM), "EDGERNN_COUNT_LOG": str(log)}
    args = ["pipeline", "--dataset", "sunspots", "--out", str(tmp_path / "p"), "--epochs", "2"]
    args += ["--profile-iters", "5"]
    code = f"import sys; sys.argv = ['edgernn', *{args!r}]; from edgernn.cli import main; main()"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (tmp_path / "p" / "report.md").is_file()
    lines = [line.split("\t") for line in log.read_text().splitlines()]
    counts = Counter(kind for _, kind, _ in lines)
    # fp32 verification and the staged bundle through edgernn.runtime (export) + fp32 reference and 4
    # int8 weight settings (quantize) + the profiled int8 session (fp32 profiles quantize's reference;
    # each shared by the sequence and stream passes).
    assert 1 <= counts["session"] <= MAX_SESSIONS, counts
    assert counts["eval_read"] <= 1, [w for _, k, w in lines if k == "eval_read"]
    opens = Counter(what for _, kind, what in lines if kind == "open")
    assert opens["config.json"] <= 3 and opens["metrics.jsonl"] <= 1, opens
    assert counts["bundle_load"] <= 3, counts  # each reads the bundle's manifest.json
    assert counts["model_built"] == 1, counts
