"""`edgernn export RUN_DIR`: a real training run to a bundle, and the bundle without edgernn."""

from __future__ import annotations

import json
import textwrap

import numpy as np
import pytest

pytest.importorskip("torch")
from blocked_imports import run_blocked  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402


@pytest.fixture(scope="module")
def lstm_run(tmp_path_factory):
    """A 2-layer LSTM trained for 2 epochs on the bundled sunspots (tiny, ~5 s)."""
    out = tmp_path_factory.mktemp("runs") / "sun"
    args = "train --dataset sunspots --cell lstm --layers 2 --hidden 8 --epochs 2 --out".split() + [str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out


def test_export_run_to_bundle(lstm_run, tmp_path):
    result = CliRunner().invoke(cli, ["export", str(lstm_run), "--out", str(tmp_path / "b"), "--ort"])
    assert result.exit_code == 0, result.output
    assert "native 2×LSTM, 0 Loop/Scan" in result.output
    bundle = Bundle.load(tmp_path / "b")
    m = bundle.manifest
    assert (m.cell, m.layers, m.topology, m.streamable) == ("lstm", 2, "many_to_many", True)
    run_config = json.loads((lstm_run / "config.json").read_text())
    assert list(m.input.mean) == pytest.approx(run_config["data"]["input_mean"])
    assert m.output.kind == "regression" and m.output.units == run_config["data"]["units"]
    assert m.files["eval.npz"].role == "data"
    assert {"model.ort", "model.required_operators.config"} <= set(m.files)
    assert m.files["source/model.safetensors"].role == "source"
    assert bundle.file("source/config.json").is_file()
    checks = {c.name: c for c in m.validation.checks}
    assert checks["parity real inputs"].passed and checks["stream step-by-step T=143"].passed
    summary = json.loads((lstm_run / "summary.json").read_text())
    assert (m.validation.torch_metric.name, m.validation.torch_metric.value) == (
        summary["metric"],
        summary["test_metric"],
    )
    # The runtime on the bundled test split, in real units, reproduces training's test RMSE.
    data = np.load(bundle.file("eval.npz"))
    pred = Session.load(tmp_path / "b", provider="cpu").run(data["x"]).output
    mask = data["mask"].astype(bool) if "mask" in data.files else np.ones(pred.shape[:2], bool)
    rmse = float(np.sqrt(np.mean((pred - data["y"].reshape(pred.shape))[mask] ** 2)))
    assert rmse == pytest.approx(summary["test_metric"], rel=1e-4)


def test_bundle_loads_in_plain_onnxruntime_without_edgernn(lstm_run, tmp_path):
    assert CliRunner().invoke(cli, ["export", str(lstm_run), "--out", str(tmp_path / "b")]).exit_code == 0
    code = textwrap.dedent(
        f"""
        import json, numpy as np, onnxruntime as ort
        m = json.load(open({str(tmp_path / "b" / "manifest.json")!r}))
        s = ort.InferenceSession({str(tmp_path / "b" / "model.onnx")!r}, providers=['CPUExecutionProvider'])
        x = np.ones((1, 9, m['input']['features']), np.float32)
        feed = {{'x': x, 'h0': np.zeros((2, 1, 8), np.float32), 'c0': np.zeros((2, 1, 8), np.float32)}}
        y, hn, cn = s.run(None, feed)
        print(y.shape, hn.shape, cn.shape, [o.name for o in s.get_outputs()])
        """
    )
    proc = run_blocked(code, blocked=("edgernn", "torch"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "(1, 9, 1) (2, 1, 8) (2, 1, 8) ['y', 'hn', 'cn']"


def test_export_cli_errors(tmp_path):
    runner = CliRunner()
    missing = runner.invoke(cli, ["export", str(tmp_path / "nope"), "--out", str(tmp_path / "b")])
    assert missing.exit_code == 1 and "run directory not found" in missing.output
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "model.pt").write_bytes(b"\x80\x04pickle")
    not_run = runner.invoke(cli, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "b")])
    assert not_run.exit_code == 1 and "no config.json" in not_run.output
    assert not (tmp_path / "b").exists()
    assert runner.invoke(cli, ["export", "--help"]).exit_code == 0
