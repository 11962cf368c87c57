"""one_to_many end to end: the runtime's decode loop on an exported bundle equals PyTorch's."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from edgernn.cli import cli  # noqa: E402
from edgernn.export import ExportMeta, export  # noqa: E402
from edgernn.runtime import Session  # noqa: E402
from edgernn.runtime.manifest import InputSpec, OutputSpec  # noqa: E402
from edgernn.train.config import ModelConfig  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402
from edgernn.train.run import load_run  # noqa: E402


def test_digits_rows_from_a_label(tmp_path):
    run, bundle = tmp_path / "run", tmp_path / "bundle"
    args = "train --dataset digits --topology one_to_many --epochs 1 --hidden 16 --out".split() + [str(run)]
    assert CliRunner().invoke(cli, args).exit_code == 0
    assert CliRunner().invoke(cli, ["export", str(run), "--out", str(bundle)]).exit_code == 0
    model, info = load_run(run)
    session = Session.load(bundle, provider="cpu")
    cond = np.eye(10, dtype=np.float32)[[3, 7]]  # one-hot labels "3" and "7"
    got = session.generate(cond, 8).output  # real units (pixel intensities 0..16)
    with torch.no_grad():
        want = model.generate(torch.from_numpy(cond), 8).numpy()
    want = want * np.asarray(info.data.output_std, np.float32) + np.asarray(info.data.output_mean, np.float32)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)
    assert got.shape == (2, 8, 8)


def test_token_decoder_starts_from_its_start_token(tmp_path):
    config = ModelConfig(
        cell="lstm",
        topology="one_to_many",
        input_kind="tokens",
        vocab_size=12,
        embed_size=6,
        hidden_size=10,
        num_layers=2,
        output_kind="tokens",
        output_size=12,
        cond_size=4,
        start_token=11,
    )
    torch.manual_seed(0)
    model = SequenceModel(config).eval()
    meta = ExportMeta(
        name="tokens",
        input=InputSpec(features=None, dtype="int64", kind="tokens", vocab_size=12, start_token=11),
        output=OutputSpec(kind="tokens", size=12),
        condition=InputSpec(name="cond", features=4),
    )
    export(model, torch.randint(0, 12, (2, 5)), tmp_path / "b", topology="one_to_many", meta=meta)
    session = Session.load(tmp_path / "b", provider="cpu")
    assert session.manifest.input.start_token == 11
    cond = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    with torch.no_grad():
        want = model.generate(torch.from_numpy(cond), 10).numpy()
    np.testing.assert_array_equal(session.generate(cond, 10).output, want)
