"""The export matrix through the CLI: `edgernn train` runs of each cell and shape, then `edgernn export`."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.bundle import Bundle  # noqa: E402

OP = {"lstm": "LSTM", "gru": "GRU", "rnn": "RNN"}


def _ragged_npz(path):
    """Variable-length sequences (3..12 steps of 3 features) labelled by the sign of their sum."""
    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 13, 120)
    x = np.zeros((120, 12, 3), np.float32)
    for i, n in enumerate(lengths):
        x[i, :n] = rng.standard_normal((n, 3))
    y = (x.sum(axis=(1, 2)) > 0).astype(np.int64)
    np.savez(path, x=x, y=y, lengths=lengths)
    return path


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize(("layers", "direction"), [(1, "--unidirectional"), (2, "--bidirectional")])
def test_train_then_export_cli(tmp_path, cell, layers, direction):
    data = _ragged_npz(tmp_path / "ragged.npz")
    run, out = tmp_path / "run", tmp_path / "bundle"
    train = (
        f"train --data {data} --cell {cell} --layers {layers} {direction} --hidden 8 --epochs 1 --out {run}"
    )
    assert CliRunner().invoke(cli, train.split()).exit_code == 0
    result = CliRunner().invoke(cli, ["export", str(run), "--out", str(out)])
    assert result.exit_code == 0, result.output
    bundle = Bundle.load(out)
    m = bundle.manifest
    assert (m.cell, m.layers, m.bidirectional, m.input.lengths) == (
        cell,
        layers,
        direction == "--bidirectional",
        "lengths",
    )
    assert m.validation.native_nodes == {OP[cell]: layers}
    names = {c.name: c for c in m.validation.checks}
    assert names["ragged batch vs packed PyTorch"].passed and names["parity real inputs"].passed
    assert ("stream step-by-step T=27" in names) == (direction == "--unidirectional")
    # Ragged data through the runtime: padding beyond each length must not change a prediction.
    test = np.load(bundle.file("eval.npz"))
    session = Session.load(out, provider="cpu")
    padded = test["x"].copy()
    for i, n in enumerate(test["lengths"]):
        padded[i, n:] = 7.0
    np.testing.assert_allclose(
        session.run(padded, lengths=test["lengths"]).output,
        session.run(test["x"], lengths=test["lengths"]).output,
        atol=1e-6,
    )


@pytest.mark.parametrize("cell", ["lstm", "rnn"])
def test_ragged_runs_export_with_dynamo_alone(tmp_path, cell):
    """edgernn's own models pack with rnn_with_lengths, so a ragged bidirectional run exports with
    the dynamo exporter alone (what auto does once the TorchScript exporter is gone)."""
    data = _ragged_npz(tmp_path / "ragged.npz")
    run, out = tmp_path / "run", tmp_path / "bundle"
    train = f"train --data {data} --cell {cell} --layers 2 --bidirectional --hidden 8 --epochs 1 --out {run}"
    assert CliRunner().invoke(cli, train.split()).exit_code == 0
    result = CliRunner().invoke(cli, ["export", str(run), "--out", str(out), "--exporter", "dynamo"])
    assert result.exit_code == 0, result.output
    m = Bundle.load(out).manifest
    assert m.validation.exporter == "dynamo" and m.validation.native_nodes == {OP[cell]: 2}
    assert {c.name for c in m.validation.checks} >= {"ragged batch vs packed PyTorch", "parity real inputs"}
