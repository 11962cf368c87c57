"""`edgernn pipeline` and `edgernn demo`: every stage in one command, a summary and report.md."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402


def _check_outputs(out):
    summary = json.loads((out / "summary.json").read_text())
    train = json.loads((out / "run" / "summary.json").read_text())
    assert summary["quality"]["value"] == f"{train['test_metric']:.4g}"
    assert set(summary["variants"]) == {"fp32", "int8"}
    bundle = Bundle.load(out / "bundle")
    assert bundle.variants() == ["fp32", "int8"] and set(bundle.verify().values()) == {"ok"}
    # Every variant x mode was timed on the CPU EP beside PyTorch eager.
    timed = {(t["variant"], t["mode"]): t for t in summary["timing"]}
    assert set(timed) == {("fp32", "sequence"), ("int8", "sequence"), ("fp32", "stream"), ("int8", "stream")}
    for t in timed.values():
        assert t["provider"] == "CPUExecutionProvider" and 0 < t["p50_ms"] <= t["p99_ms"]
        assert t["speedup_vs_torch"] == pytest.approx(t["torch_p50_ms"] / t["p50_ms"], rel=1e-6)
    report = (out / "report.md").read_text()
    for section in (
        "## Quality",
        "## Variants",
        "## Export verification",
        "](loss.png)",
        "](grad_norm.png)",
        "](latency.png)",
    ):
        assert section in report
    assert all((out / name).is_file() for name in ("loss.png", "grad_norm.png", "latency.png"))
    return summary


def test_pipeline_on_bundled_data(tmp_path):
    args = "pipeline --dataset sunspots --epochs 2 --profile-iters 5 --out".split() + [str(tmp_path / "p")]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "6/6 report" in result.output and "Variants (CPU, 1 thread, batch 1)" in result.output
    assert f"report: {tmp_path / 'p' / 'report.md'}" in result.output
    _check_outputs(tmp_path / "p")


def test_pipeline_bad_input_is_one_line(tmp_path):
    result = CliRunner().invoke(
        cli, ["pipeline", "--data", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "p")]
    )
    assert result.exit_code == 1 and result.output.count("error:") == 1
    assert not (tmp_path / "p" / "bundle").exists()


@pytest.mark.slow
def test_demo(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--out", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    summary = _check_outputs(tmp_path / "demo")
    assert float(summary["quality"]["ratio"]) <= 0.7  # the sunspots quality bar
