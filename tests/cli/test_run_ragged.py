"""`edgernn run` on padded sequences of different lengths: .npz (x + lengths) and JSON with lengths
give what Session.run gives with the lengths; a padded batch without lengths is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402
from export_models import Seq  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.export import export  # noqa: E402
from edgernn.runtime import Session  # noqa: E402


@pytest.fixture(scope="module")
def ragged(tmp_path_factory):
    root = tmp_path_factory.mktemp("ragged")
    model = Seq(cell="gru", layers=1, topology="many_to_one", features=3, out=2)
    export(model, torch.zeros(2, 6, 3), root / "b", lengths=True, exporter="torchscript")
    x = np.random.default_rng(0).normal(size=(4, 6, 3)).astype(np.float32)
    lengths = np.array([6, 2, 4, 3])
    x[np.arange(6)[None, :] >= lengths[:, None]] = 0.0
    want = Session.load(root / "b").run(x, lengths=lengths).output
    return root, x, lengths, want


def _run(root, name, out="y.npy"):
    result = CliRunner().invoke(cli, ["run", str(root / "b"), str(root / name), "--out", str(root / out)])
    return result, (np.load(root / out) if result.exit_code == 0 else None)


def test_npz_with_lengths_equals_session_run(ragged):
    root, x, lengths, want = ragged
    np.savez(root / "in.npz", x=x, lengths=lengths)
    result, got = _run(root, "in.npz")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    padded_alone = Session.load(root / "b").run(x).output  # what reading padding as data gives
    assert np.abs(padded_alone - want).max() > 1e-3


def test_json_with_lengths_equals_session_run(ragged):
    root, x, lengths, want = ragged
    (root / "in.json").write_text(json.dumps({"x": x.tolist(), "lengths": lengths.tolist()}))
    result, got = _run(root, "in.json", "y2.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["in.npy", "nolengths.npz"])
def test_padded_batch_without_lengths_is_refused(ragged, name):
    root, x, _, _ = ragged
    np.save(root / "in.npy", x)
    np.savez(root / "nolengths.npz", x=x)
    result, _ = _run(root, name, "y3.npy")
    assert result.exit_code == 1 and not (root / "y3.npy").exists()
    line = result.output.strip()
    assert "\n" not in line and "4 sequences without lengths, but the bundle was trained on sequences" in line


def test_bad_lengths_are_one_line(ragged):
    root, x, _, _ = ragged
    np.savez(root / "bad.npz", x=x, lengths=np.array([6, 2]))
    result, _ = _run(root, "bad.npz", "y4.npy")
    assert result.exit_code == 1 and "'lengths' must be 4 integers (one per sequence)" in result.output


def test_npz_padded_with_nan_past_lengths_equals_zero_padding(ragged):
    """Ragged sets often arrive padded with NaN: padding is never read, so it runs as zeros do."""
    root, x, lengths, want = ragged
    nan = x.copy()
    nan[np.arange(6)[None, :] >= lengths[:, None]] = np.nan
    np.savez(root / "nan.npz", x=nan, lengths=lengths)
    result, got = _run(root, "nan.npz", "y4.npy")
    assert result.exit_code == 0, result.output
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)
    nan[1, 0, 0] = np.nan  # inside a sequence: still refused, in one line
    np.savez(root / "nan_inside.npz", x=nan, lengths=lengths)
    result, _ = _run(root, "nan_inside.npz", "y5.npy")
    assert result.exit_code == 1 and "NaN or Inf" in result.output and "Traceback" not in result.output
