"""Modules that return more than y and their state: a tuple ``(y, attn)``, a dict with a
``prediction`` and an auxiliary tensor, a NamedTuple with the state among its fields. Each further
output becomes a named graph output; every bundle is run through ``edgernn.runtime.Session`` at
shapes the export never saw, against the module itself, and streamed step by step where it keeps a
state.
"""

from __future__ import annotations

import dataclasses
import typing

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from export_models import EXPORTERS  # noqa: E402
from test_export_further_inputs import MemoryGRU  # noqa: E402
from torch import nn  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.runtime import Session  # noqa: E402

ATOL, RTOL = 1e-5, 1e-4
EXPORTERS_FAST = ["auto", "dynamo"]  # the dict output keeps dynamo alone in the fast suite too


class AttendGRU(MemoryGRU):
    """forward(x, memory, h=None) -> (y, h, attn): attention weights [batch, time, memory_time]."""

    def forward(self, x, memory, h=None):
        return self.attend(x, memory, h)


class AttendPair(nn.Module):
    """forward(x, memory) -> (y, attn): stateless."""

    def __init__(self):
        super().__init__()
        self.inner = AttendGRU()

    def forward(self, x, memory):
        y, _, attn = self.inner(x, memory)
        return y, attn


class DictHeads(nn.Module):
    """forward(x) -> {"gate": [batch, time], "prediction": [batch, time, 3], "summary": [batch, 8],
    "steps": int64 [batch]}: y is the prediction (its name), though not first."""

    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)
        self.head = nn.Linear(8, 3)
        self.gate = nn.Linear(8, 1)

    def forward(self, x):
        out, (h, _) = self.lstm(x)
        gate = torch.sigmoid(self.gate(out))[..., 0]
        steps = torch.full((x.shape[0],), 1, dtype=torch.int64) * x.shape[1]
        return {"gate": gate, "prediction": self.head(out), "summary": h[-1], "steps": steps, "note": "hi"}


class Out(typing.NamedTuple):
    logits: torch.Tensor
    hidden: torch.Tensor
    energy: torch.Tensor


class NamedOut(nn.Module):
    """forward(x, hidden=None) -> Out(logits, hidden, energy [batch, time])."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.head = nn.Linear(8, 5)

    def forward(self, x, hidden=None):
        out, hidden = self.gru(x, hidden)
        return Out(self.head(out), hidden, (out**2).sum(-1))


@dataclasses.dataclass
class Pred:
    aux: dict
    logits: torch.Tensor


class DataclassOut(nn.Module):
    """forward(x) -> Pred(aux={"attn": [batch, time, time], "layers": 1}, logits): nested names."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(4, 6, batch_first=True)
        self.head = nn.Linear(6, 2)

    def forward(self, x):
        out, _ = self.rnn(x)
        attn = torch.softmax(out @ out.transpose(1, 2), dim=-1)
        return Pred({"attn": attn, "layers": 1}, self.head(attn @ out))


def _outputs(report) -> dict[str, tuple]:
    return {s.name: (s.shape, s.dtype) for s in report.manifest.outputs}


def _close(got, want, what: str) -> None:
    np.testing.assert_allclose(got, np.asarray(want), atol=ATOL, rtol=RTOL, err_msg=what)


def _streamed(session: Session, x: np.ndarray, feed: dict, names: list[str]) -> dict[str, np.ndarray]:
    """Every output of ``session``'s stream pushed one step at a time, joined along time."""
    stream = session.stream(x.shape[0], inputs=feed or None)
    steps = [stream.step(x[:, t]) for t in range(x.shape[1])]
    return {n: np.stack([s.outputs[n] for s in steps], axis=1) for n in names}


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_tuple_with_state_and_attention(tmp_path, exporter):
    module = AttendGRU().eval()
    report = export(module, (torch.randn(2, 6, 4), torch.randn(2, 9, 5)), tmp_path / "b", exporter=exporter)
    assert _outputs(report) == {"out.2": (("batch", "time", "memory_time"), "float32")}
    assert [s.input for s in report.manifest.state] == ["h0"]
    assert all(c.passed for c in report.checks), [c for c in report.checks if not c.passed]
    session = Session.load(tmp_path / "b", provider="cpu")
    x, memory = torch.randn(3, 11, 4), torch.randn(3, 4, 5)
    got = session.run(x.numpy(), inputs={"memory": memory.numpy()}, return_state=True)
    with torch.no_grad():
        y, hn, attn = module(x, memory)
    _close(got.outputs["y"], y, "y at batch 3, time 11, memory 4")
    _close(got.outputs["out.2"], attn, "attention at batch 3, time 11, memory 4")
    _close(got.state["h0"], hn, "hn")
    streamed = _streamed(session, x.numpy(), {"memory": memory.numpy()}, ["y", "out.2"])
    _close(streamed["y"], y, "y streamed")
    _close(streamed["out.2"], attn, "attention streamed step by step")


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_stateless_pair(tmp_path, exporter):
    module = AttendPair().eval()
    report = export(module, (torch.randn(2, 6, 4), torch.randn(2, 9, 5)), tmp_path / "b", exporter=exporter)
    assert _outputs(report) == {"out.1": (("batch", "time", "memory_time"), "float32")}
    assert report.manifest.state == ()
    session = Session.load(tmp_path / "b", provider="cpu")
    x, memory = torch.randn(4, 7, 4), torch.randn(4, 3, 5)
    got = session.run(x.numpy(), inputs={"memory": memory.numpy()})
    with torch.no_grad():
        y, attn = module(x, memory)
    _close(got.outputs["y"], y, "y")
    _close(got.outputs["out.1"], attn, "attention at batch 4, time 7, memory 3")


@pytest.mark.parametrize("exporter", EXPORTERS_FAST)
def test_dict_output_y_by_name(tmp_path, exporter):
    module = DictHeads().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", exporter=exporter)
    assert report.manifest.output.size == 3
    assert _outputs(report) == {
        "gate": (("batch", "time"), "float32"),
        "summary": (("batch", 8), "float32"),
        "steps": (("batch",), "int64"),
    }
    assert all(c.passed for c in report.checks), [c for c in report.checks if not c.passed]
    session = Session.load(tmp_path / "b", provider="cpu")
    x = torch.randn(3, 10, 4)
    got = session.run(x.numpy())
    with torch.no_grad():
        want = module(x)
    _close(got.outputs["y"], want["prediction"], "prediction at batch 3, time 10")
    _close(got.outputs["gate"], want["gate"], "gate")
    _close(got.outputs["summary"], want["summary"], "summary")
    assert got.outputs["steps"].tolist() == [10, 10, 10]


def test_dict_output_main_output_declared(tmp_path):
    module = DictHeads().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", main_output="gate", topology="many_to_one")
    assert "prediction" in _outputs(report) and "gate" not in _outputs(report)
    session = Session.load(tmp_path / "b", provider="cpu")
    x = torch.randn(2, 5, 4)
    with torch.no_grad():
        want = module(x)
    _close(session.run(x.numpy()).outputs["prediction"], want["prediction"], "prediction, now further")


@pytest.mark.parametrize("exporter", EXPORTERS)
def test_named_tuple_with_state(tmp_path, exporter):
    module = NamedOut().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", exporter=exporter)
    assert _outputs(report) == {"energy": (("batch", "time"), "float32")}
    assert report.manifest.output.size == 5 and [s.input for s in report.manifest.state] == ["h0"]
    session = Session.load(tmp_path / "b", provider="cpu")
    x, h = torch.randn(3, 9, 4), torch.randn(1, 3, 8)
    got = session.run(x.numpy(), state={"h0": h.numpy()}, return_state=True)
    with torch.no_grad():
        want = module(x, h)
    _close(got.outputs["y"], want.logits, "logits")
    _close(got.outputs["energy"], want.energy, "energy")
    _close(got.state["h0"], want.hidden, "hidden")
    with torch.no_grad():
        zero = module(x)
    streamed = _streamed(session, x.numpy(), {}, ["y", "energy"])
    _close(streamed["y"], zero.logits, "logits streamed")
    _close(streamed["energy"], zero.energy, "energy streamed step by step")


def test_dataclass_output_with_a_nested_dict(tmp_path):
    module = DataclassOut().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b")
    assert _outputs(report) == {"aux.attn": (("batch", "time", "time"), "float32")}
    assert [s.module for s in report.manifest.outputs] == [".aux['attn']"]
    session = Session.load(tmp_path / "b", provider="cpu")
    x = torch.randn(3, 8, 4)
    got = session.run(x.numpy())
    with torch.no_grad():
        want = module(x)
    _close(got.outputs["y"], want.logits, "logits")
    _close(got.outputs["aux.attn"], want.aux["attn"], "aux.attn [batch, time, time]")


class NoisyAux(nn.Module):
    """y is deterministic; the auxiliary output is noise, so no graph can match PyTorch on it."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)

    def forward(self, x):
        out, _ = self.gru(x)
        return out, torch.randn_like(out)


def test_the_gate_compares_further_outputs(tmp_path):
    from edgernn.export.errors import ExportError

    with pytest.raises(ExportError) as err:
        export(NoisyAux().eval(), torch.randn(2, 6, 4), tmp_path / "b")
    assert "passes verification" in str(err.value) and "parity T=6 B=3" in str(err.value)  # y alone agrees
    assert not (tmp_path / "b").exists()


class PackedWithNorms(nn.Module):
    """forward(x, lengths) -> (y, norms [batch, time], lengths): a packed GRU; the lengths echoed back
    are left out."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)

    def forward(self, x, lengths):
        packed = nn.utils.rnn.pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        out, _ = self.gru(packed)
        out, _ = nn.utils.rnn.pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
        return out, (out**2).sum(-1), lengths


def test_ragged_batches_cut_further_outputs_by_row_and_step(tmp_path):
    module = PackedWithNorms().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b", lengths=True)
    assert _outputs(report) == {"out.1": (("batch", "time"), "float32")}
    ragged = [c for c in report.checks if c.name.startswith("ragged")]
    assert ragged and all(c.passed for c in ragged), ragged
    session = Session.load(tmp_path / "b", provider="cpu")
    x, lengths = torch.randn(3, 9, 4), torch.tensor([9, 4, 7])
    got = session.run(x.numpy(), lengths.numpy())
    with torch.no_grad():
        y, norms, _ = module(x, lengths)
    for i, n in enumerate(lengths.tolist()):
        _close(got.outputs["y"][i, :n], y[i, :n], f"y row {i}")
        _close(got.outputs["out.1"][i, :n], norms[i, :n], f"norms row {i}, its {n} steps")


def test_an_example_state_is_told_from_an_attention_returned_after_it(tmp_path):
    """(x, memory, h) given: h is the state (forward returns one of its shapes), attn an output."""
    module = AttendGRU().eval()
    example = (torch.randn(2, 6, 4), torch.randn(2, 9, 5), torch.randn(1, 2, 8))
    report = export(module, example, tmp_path / "b")
    assert [s.input for s in report.manifest.state] == ["h0"]
    assert [s.name for s in report.manifest.inputs] == ["memory"]
    assert _outputs(report) == {"out.2": (("batch", "time", "memory_time"), "float32")}


class DictState(nn.Module):
    """forward(x, hidden=None) -> {"logits": ..., "hidden": h, "energy": [batch, time]}."""

    def __init__(self):
        super().__init__()
        self.gru = nn.GRU(4, 8, batch_first=True)
        self.head = nn.Linear(8, 3)

    def forward(self, x, hidden=None):
        out, hidden = self.gru(x, hidden)
        return {"logits": self.head(out), "hidden": hidden, "energy": (out**2).sum(-1)}


def test_dict_output_with_the_state_in_it(tmp_path):
    module = DictState().eval()
    report = export(module, torch.randn(2, 6, 4), tmp_path / "b")
    assert [s.input for s in report.manifest.state] == ["h0"]
    assert _outputs(report) == {"energy": (("batch", "time"), "float32")}
    session = Session.load(tmp_path / "b", provider="cpu")
    x, h = torch.randn(3, 9, 4), torch.randn(1, 3, 8)
    got = session.run(x.numpy(), state={"h0": h.numpy()}, return_state=True)
    with torch.no_grad():
        want = module(x, h)
    _close(got.outputs["y"], want["logits"], "logits")
    _close(got.outputs["energy"], want["energy"], "energy")
    _close(got.state["h0"], want["hidden"], "hidden")
    with torch.no_grad():
        zero = module(x)
    streamed = _streamed(session, x.numpy(), {}, ["y", "energy"])
    _close(streamed["energy"], zero["energy"], "energy streamed step by step")
