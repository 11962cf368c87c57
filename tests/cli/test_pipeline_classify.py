"""`edgernn pipeline` on a bidirectional sequence classifier with a fixed test file and gate options."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from train_fixtures import write_classes_npz  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402


def test_bidirectional_classifier_with_test_data_goes_through(tmp_path):
    data = write_classes_npz(tmp_path / "train.npz", samples=64, lengths=False)
    test = write_classes_npz(tmp_path / "test.npz", samples=20, lengths=False)
    out = tmp_path / "p"
    args = ["pipeline", "--data", str(data), "--test-data", str(test), "--bidirectional", "--epochs", "2"]
    args += [
        "--hidden",
        "8",
        "--profile-iters",
        "3",
        "--no-torch-baseline",
        "--atol",
        "2e-5",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert result.output.count("streaming stages skipped") == 1
    manifest = Bundle.load(out / "bundle").manifest
    assert manifest.bidirectional and not manifest.streamable and manifest.validation.atol == 2e-5
    summary = json.loads((out / "summary.json").read_text())
    assert {t["mode"] for t in summary["timing"]} == {"sequence"}
    assert not any(v["stream_ok"] for v in summary["variants"].values())
    training = summary["training"]
    scores = {b["name"]: b["metric"] for b in training["baselines"]}
    assert training["test_samples"] == 20 and set(scores) == {"majority", "1-NN Euclidean"}
    assert training["baseline_metric"] == max(scores.values())
    assert "the verdict rests on too little data" in result.output  # 20 test samples
    report = (out / "report.md").read_text()
    assert "| majority | " in report and "| 1-NN Euclidean | " in report  # every baseline, in a table
    # a classifier forecasts nothing: its baselines are "simple baselines"
    assert "strongest simple baseline" in report and "forecast" not in report
    assert "forecast" not in result.output
