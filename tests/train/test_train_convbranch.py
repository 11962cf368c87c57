"""The convolutional branch of a sequence classifier (LSTM-FCN, train/convbranch.py): BatchNorm's
training statistics count valid steps only, no window reads padding, the window average is the
numpy one, and a classifier with the branch exports beside one native recurrent node."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgernn.train.config import ModelConfig  # noqa: E402
from edgernn.train.convbranch import ConvBranch, MaskedBatchNorm1d  # noqa: E402
from edgernn.train.model import SequenceModel  # noqa: E402


def test_masked_batchnorm_trains_on_the_valid_steps_alone():
    """Reference: nn.BatchNorm1d over the valid steps of the batch laid end to end (padding dropped)."""
    torch.manual_seed(0)
    z = torch.randn(3, 4, 10) * 3.0 + 1.0
    lengths = [10, 6, 2]
    z[1, :, 6:], z[2, :, 2:] = 50.0, -70.0  # padding that would swamp the statistics
    valid = (torch.arange(10)[None, :] < torch.tensor(lengths)[:, None]).unsqueeze(1).float()
    masked, plain = MaskedBatchNorm1d(4), torch.nn.BatchNorm1d(4)
    with torch.no_grad():
        masked.weight.uniform_(0.5, 2.0), masked.bias.uniform_(-1.0, 1.0)
    plain.load_state_dict(masked.state_dict())
    got = masked.train()(z, valid)
    laid = torch.cat([z[i, :, :n] for i, n in enumerate(lengths)], dim=1).unsqueeze(0)  # [1, 4, 18]
    want = plain.train()(laid)[0]
    torch.testing.assert_close(torch.cat([got[i, :, :n] for i, n in enumerate(lengths)], dim=1), want)
    torch.testing.assert_close(masked.running_mean, plain.running_mean)
    torch.testing.assert_close(masked.running_var, plain.running_var)
    torch.testing.assert_close(masked.eval()(z), plain.eval()(z))  # eval: the plain affine map


@pytest.mark.parametrize("stride", [1, 3])
def test_the_branch_never_reads_padding(stride):
    torch.manual_seed(1)
    branch = ConvBranch(2, 6, stride)
    branch.train()(torch.randn(5, 16, 2))  # running statistics away from their initial 0 / 1
    branch.eval()
    x, lengths = torch.randn(4, 16, 2), torch.tensor([16, 7, 11, 2])
    noisy = x.clone()
    for i, n in enumerate(lengths.tolist()):
        noisy[i, n:] = 100.0 * torch.randn(16 - n, 2)
    with torch.no_grad():
        want = torch.stack([branch(x[i : i + 1, :n], None)[0] for i, n in enumerate(lengths.tolist())])
        torch.testing.assert_close(branch(noisy, lengths), want, atol=1e-5, rtol=0)


def test_the_window_average_is_the_numpy_one():
    """With identity convolutions (kernel centre 1) and BatchNorm at 0 / 1, the branch's output is the
    mean over windows of the ReLU of each window's average: computed here in numpy."""
    branch = ConvBranch(1, 1, 4).eval()
    with torch.no_grad():
        for conv in branch.convs:
            conv.weight.zero_(), conv.bias.zero_()
            conv.weight[:, :, conv.kernel_size[0] // 2] = 1.0 / conv.in_channels
    x = np.random.default_rng(2).normal(size=(1, 10, 1)).astype(np.float32) + 0.3
    windows = np.pad(x[0, :, 0], (0, 2)).reshape(3, 4).mean(axis=1)  # 10 steps: 3 windows of 4
    want = np.maximum(windows / np.sqrt(1 + 1e-5) ** 3, 0).mean()
    with torch.no_grad():
        got = branch(torch.from_numpy(x), None)
    np.testing.assert_allclose(got.numpy()[0, 0], want, rtol=1e-5)


def test_a_classifier_with_the_branch_exports_beside_one_native_node(tmp_path):
    import onnx

    from edgernn.export.api import ExportMeta, export
    from edgernn.runtime import Session
    from edgernn.runtime.manifest import OutputSpec

    torch.manual_seed(3)
    config = ModelConfig(
        input_size=1, hidden_size=5, output_size=3, output_kind="classes", bidirectional=True,
        pool="meanmax", znorm=True, downsample=3, front_layers=2, members=3, fcn_width=8, fcn_stride=2,
    )  # fmt: skip
    model = SequenceModel(config)
    model.train()(torch.randn(8, 30, 1))  # BatchNorm statistics of its own
    model.eval()
    rng = np.random.default_rng(3)
    real = rng.normal(size=(12, 30, 1)).astype(np.float32)
    lengths = rng.integers(5, 31, size=12)
    meta = ExportMeta(output=OutputSpec(kind="classes", labels=tuple("abc")))
    report = export(
        model, torch.from_numpy(real[:2]), tmp_path / "b", meta=meta, lengths=True,
        real_inputs=real, real_lengths=lengths,
    )  # fmt: skip
    assert all(c.passed for c in report.checks) and report.native_nodes == {"LSTM": 1}
    ops = [n.op_type for n in onnx.load(str(tmp_path / "b" / "model.onnx")).graph.node]
    assert ops.count("LSTM") == 1 and ops.count("Conv") == 2 + 3 and "Loop" not in ops
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(real), lengths=torch.from_numpy(lengths))[0], dim=-1)
    got = Session.load(tmp_path / "b").run(real, lengths=lengths)
    np.testing.assert_allclose(np.asarray(got.probabilities), want.numpy(), atol=1e-5)
