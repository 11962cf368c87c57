"""Finite inputs, infinite outputs: ``run`` says so on stderr with the count (a CSV of ±3e38 gave
``inf`` forecasts with exit 0 and not a word); finite outputs say nothing."""

from __future__ import annotations

import numpy as np
from _runtime_models import make_bundle, ort_reference, zeros_state
from click.testing import CliRunner

from edgernn.cli import cli

MEAN = STD = 3e38  # de-normalisation y * std + mean overflows float32 once y > 0.13


def test_outputs_that_overflow_are_counted_in_a_warning(tmp_path):
    bundle = make_bundle(
        tmp_path / "b", output_kw={"kind": "regression", "mean": (MEAN, MEAN), "std": (STD, STD)}
    )
    x = np.array([[3e38, -3e38, 3e38], [-3e38, 3e38, -3e38], [1.0, 2.0, 3.0]], np.float32)
    (tmp_path / "x.csv").write_text("".join(",".join(f"{v:.9g}" for v in row) + "\n" for row in x))
    raw = ort_reference(bundle / "model.onnx", {"x": x[None], **zeros_state("lstm", 1)})[0]
    with np.errstate(over="ignore"):
        want = int(np.count_nonzero(~np.isfinite(raw * np.float32(STD) + np.float32(MEAN))))
    assert want > 0
    result = CliRunner().invoke(cli, ["run", str(bundle), str(tmp_path / "x.csv")])
    assert result.exit_code == 0, result.output
    assert (
        f"warning: {want} of {raw.size} output values are not finite (inf or NaN) although every input was"
        in (result.stderr)
    )
    plain = make_bundle(tmp_path / "plain")
    quiet = CliRunner().invoke(cli, ["run", str(plain), str(tmp_path / "x.csv")])
    assert quiet.exit_code == 0 and "not finite" not in quiet.stderr
