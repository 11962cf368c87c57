"""The bundled datasets' int8 variants hold their metric within the 1 % budget (slow: ~1.5 min)."""

from __future__ import annotations

import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.export.quantization import quantize  # noqa: E402


@pytest.mark.slow
@pytest.mark.parametrize("dataset", ["sunspots", "digits", "text"])
def test_bundled_int8_within_budget(tmp_path, dataset):
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    assert CliRunner().invoke(cli, ["train", "--dataset", dataset, "--out", str(run)]).exit_code == 0
    assert CliRunner().invoke(cli, ["export", str(run), "--out", str(bundle)]).exit_code == 0
    report = quantize(bundle, ["int8"])
    (result,) = report.results
    print(dataset, report.fp32.metric, result.metric, f"{result.metric_delta:+.3%}", result.quantized_ops)
    assert result.accepted, result.note
    assert result.metric_delta <= 0.01
