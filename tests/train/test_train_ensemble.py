"""Seed ensembles in one graph: each member equals a standalone one-member model built from its own
blocks of the weights, the eval output is the members' mean logits (softmax: the normalised geometric
mean of their probabilities), training keeps
the members apart, and the whole ensemble exports as one native recurrent node."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from edgernn.train.config import ModelConfig  # noqa: E402
from edgernn.train.model import CONV_CHANNELS, SequenceModel  # noqa: E402
from edgernn.train.objective import Objective  # noqa: E402

H, K, C = 5, 3, 4


def _config(**kw) -> ModelConfig:
    base = {
        "input_size": 2,
        "hidden_size": H,
        "output_size": C,
        "output_kind": "classes",
        "bidirectional": True,
        "pool": "meanmax",
        "znorm": True,
        "downsample": 3,
        "members": K,
    }
    return ModelConfig(**{**base, **kw})


def _member(model: SequenceModel, k: int) -> SequenceModel:
    """A one-member model holding member ``k``'s blocks of the ensemble's weights."""
    config = model.config
    single = SequenceModel(ModelConfig(**{**config.__dict__, "members": 1})).eval()
    gates = {"lstm": 4, "gru": 3, "rnn": 1}[config.cell]
    units = K * H
    rows = torch.cat([torch.arange(g * units + k * H, g * units + (k + 1) * H) for g in range(gates)])
    own = torch.arange(k * H, (k + 1) * H)
    with torch.no_grad():
        for name, param in single.rnn.named_parameters():
            full = getattr(model.rnn, name)[rows]
            if name.startswith("weight_hh"):
                full = full[:, own]
            elif name.startswith("weight_ih") and config.downsample > 1:
                full = full[:, k * CONV_CHANNELS : (k + 1) * CONV_CHANNELS]
            param.copy_(full)
        if config.downsample > 1:
            block = slice(k * CONV_CHANNELS, (k + 1) * CONV_CHANNELS)
            single.conv.weight.copy_(model.conv.weight[block])
            single.conv.bias.copy_(model.conv.bias[block])
            if config.front_layers > 1:  # grouped by member: member k's filters read its own channels
                single.conv2.weight.copy_(model.conv2.weight[block])
                single.conv2.bias.copy_(model.conv2.bias[block])
        if model.fcn is not None:  # the convolutional branch is shared: every member reads it
            single.fcn.load_state_dict(model.fcn.state_dict())
        single.head.weight.copy_(model.head.weight[k].T)
        single.head.bias.copy_(model.head.bias[k])
    return single


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"front_layers": 2},
        {"cell": "gru", "downsample": 1},
        {"pool": "last", "znorm": False},
        {"bidirectional": False, "pool": "last", "znorm": False, "downsample": 1, "cell": "rnn"},
        {"front_layers": 2, "fcn_width": 4, "fcn_stride": 2},
    ],
)
def test_each_member_is_a_standalone_model_and_eval_averages_logits(kw):
    torch.manual_seed(0)
    model = SequenceModel(_config(**kw))
    x = torch.randn(6, 17, 2)
    lengths = torch.tensor([17, 9, 12, 17, 3, 14])
    with torch.no_grad():
        model.train()
        if model.fcn is not None:
            model.fcn.eval()  # BatchNorm's running statistics, as the standalone members use them
        members = model(x, lengths=lengths)[0]  # no dropout: train mode only changes the output
        combined = model.eval()(x, lengths=lengths)[0]
        alone = torch.stack([_member(model, k)(x, lengths=lengths)[0] for k in range(K)], dim=1)
    assert members.shape == (6, K, C)
    torch.testing.assert_close(members, alone, atol=1e-5, rtol=0)
    geometric = torch.softmax(alone.double(), dim=-1).prod(dim=1) ** (1 / K)
    want = geometric / geometric.sum(dim=-1, keepdim=True)
    torch.testing.assert_close(torch.softmax(combined.double(), dim=-1), want, atol=1e-6, rtol=0)


def test_training_keeps_members_apart_and_each_learns_from_its_own_loss():
    torch.manual_seed(1)
    model = SequenceModel(_config(cell="lstm", downsample=2))
    zeros = {n: p == 0 for n, p in model.rnn.named_parameters() if n.startswith("weight_hh")}
    assert all(z.float().mean().item() >= 1 - 1 / K - 1e-6 for z in zeros.values())
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05, weight_decay=0.01)
    x, y = torch.randn(8, 12, 2), torch.randint(0, C, (8,))
    for _ in range(5):
        out, _ = model.train()(x)
        loss = Objective.__new__(Objective)
        loss.info, loss.per_step = type("I", (), {"output_kind": "classes"})(), False
        value = loss._masked_loss(out, y, None)
        want = torch.stack([torch.nn.functional.cross_entropy(out[:, k], y) for k in range(K)]).mean()
        torch.testing.assert_close(value, want)
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    for name, param in model.rnn.named_parameters():
        if name in zeros:
            assert torch.all(param[zeros[name]] == 0), name  # the off-block weights never moved
    before = model.train()(x)[0].detach()
    with torch.no_grad():
        model.conv.weight[CONV_CHANNELS:] += 1.0  # every member but the first
    after = model.train()(x)[0].detach()
    assert torch.equal(before[:, 0], after[:, 0]) and not torch.allclose(before[:, 1], after[:, 1])


def test_the_ensemble_exports_as_one_native_node_with_the_argmax_check(tmp_path):
    import onnx

    from edgernn.export.api import ExportMeta, export
    from edgernn.runtime import Session
    from edgernn.runtime.manifest import OutputSpec

    torch.manual_seed(2)
    model = SequenceModel(_config(front_layers=2)).eval()
    real = np.random.default_rng(0).normal(size=(20, 15, 2)).astype(np.float32)
    meta = ExportMeta(output=OutputSpec(kind="classes", labels=tuple("abcd")), recipe={"members": str(K)})
    report = export(model, torch.from_numpy(real[:2]), tmp_path / "b", meta=meta, real_inputs=real)
    graph = onnx.load(str(tmp_path / "b" / "model.onnx")).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("LSTM") == 1 and ops.count("Conv") == 2
    argmax = next(c for c in report.checks if c.name == "argmax real inputs")
    assert argmax.passed and "argmax agrees on 20/20 real sequences (share 1.0000" in argmax.detail
    session = Session.load(tmp_path / "b")
    assert session.manifest.recipe == {"members": str(K)}
    with torch.no_grad():
        want = torch.softmax(model(torch.from_numpy(real))[0], dim=-1).numpy()
    got = session.run(real)
    np.testing.assert_allclose(np.asarray(got.probabilities), want, atol=1e-5)


@pytest.mark.parametrize("front_layers", [1, 2])
def test_the_front_end_never_reads_padding(front_layers):
    torch.manual_seed(3)
    model = SequenceModel(_config(znorm=False, front_layers=front_layers)).eval()
    x, lengths = torch.randn(4, 20, 2), torch.tensor([20, 7, 13, 2])
    noisy = x.clone()
    for i, n in enumerate(lengths.tolist()):
        noisy[i, n:] = 100.0 * torch.randn(20 - n, 2)  # "pad x with anything past each length"
    with torch.no_grad():
        want = torch.stack([model(x[i : i + 1, :n])[0][0] for i, n in enumerate(lengths.tolist())])
        torch.testing.assert_close(model(noisy, lengths=lengths)[0], want, atol=1e-5, rtol=0)


def test_label_smoothing_spreads_the_target_while_training_only():
    from edgernn.train.config import DataInfo

    info = DataInfo(
        source="x", sha256="0", task="classify", topology="many_to_one", input_kind="features",
        feature_names=("a",), output_kind="classes", output_names=(), labels=tuple("abcd"), metric="accuracy",
    )  # fmt: skip
    objective = Objective(info, label_smoothing=0.2)
    out, y = torch.randn(6, K, C, dtype=torch.float64), torch.randint(0, C, (6,))
    logp = torch.log_softmax(out, dim=-1)
    target = torch.nn.functional.one_hot(y, C)[:, None, :].double() * 0.8 + 0.2 / C
    want = -(target * logp).sum(-1).mean()
    got = objective._masked_loss(out, y, None, smoothing=objective.label_smoothing)
    torch.testing.assert_close(got, want)
    plain = -logp.mean(dim=1).gather(1, y[:, None]).mean()  # validation: plain cross-entropy
    torch.testing.assert_close(objective._masked_loss(out, y, None), plain)
