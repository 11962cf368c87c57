"""Unsupported modules, failed verification and exporter strategies."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from export_models import Seq  # noqa: E402
from torch import nn  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402


class CellLoop(nn.Module):
    def __init__(self):
        super().__init__()
        self.cell = nn.LSTMCell(4, 8)
        self.head = nn.Linear(8, 2)

    def forward(self, x):
        h = c = torch.zeros(x.shape[0], 8)
        outs = []
        for t in range(x.shape[1]):
            h, c = self.cell(x[:, t], (h, c))
            outs.append(self.head(h))
        return torch.stack(outs, 1)


class Projected(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, proj_size=3, batch_first=True)

    def forward(self, x, state=None):
        return self.lstm(x, state)


class NoRecurrence(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(4, 2)

    def forward(self, x):
        return self.lin(x)


@pytest.mark.parametrize(
    ("module", "state", "message"),
    [
        (CellLoop(), False, "module 'cell' is an LSTMCell: a cell stepped in a Python loop is unrolled"),
        (Projected(), True, "module 'lstm' is an LSTM with proj_size=3"),
        (NoRecurrence(), False, "holds no nn.LSTM, nn.GRU or nn.RNN"),
        (Seq("lstm", layers=2).train(), True, "training mode"),
    ],
)
def test_unsupported_modules_are_refused(tmp_path, module, state, message):
    if isinstance(module, Seq):
        module.rnn.dropout = 0.3
    with pytest.raises(ExportError, match=message):
        export(module, torch.randn(2, 5, 4), tmp_path / "b", state=state)
    assert not (tmp_path / "b").exists()


def test_allow_unrolled_gets_past_the_module_check_but_not_the_gate(tmp_path):
    # The Python loop is traced at the example's 5 steps: the gate runs other lengths and catches it.
    with pytest.raises(ExportError) as err:
        export(CellLoop().eval(), torch.randn(2, 5, 4), tmp_path / "b", state=False, allow_unrolled=True)
    assert "parity T=13 B=1: shape mismatch [(1, 5, 2)] vs [(1, 13, 2)]" in str(err.value)
    assert not (tmp_path / "b").exists()


def test_topology_must_match_the_output(tmp_path):
    with pytest.raises(
        ExportError, match=r"topology many_to_one: expected y of shape \[batch, out\], got \[2, 5, 3\]"
    ):
        export(Seq().eval(), torch.randn(2, 5, 4), tmp_path / "b", topology="many_to_one")
    with pytest.raises(ExportError, match="topology: expected one of many_to_one, many_to_many, one_to_many"):
        export(Seq().eval(), torch.randn(2, 5, 4), tmp_path / "b", topology="seq2seq")


def test_state_convention_is_explained(tmp_path):
    with pytest.raises(
        ExportError,
        match=r"_PlainLSTM: state=True, but forward\(x\) takes no state after x; expected "
        r"forward\(x, state\) -> \(y, state\), or pass state=False",
    ):
        export(_PlainLSTM().eval(), torch.randn(2, 5, 4), tmp_path / "b", state=True)
    report = export(_PlainLSTM().eval(), torch.randn(2, 5, 4), tmp_path / "b")  # auto: stateless
    assert report.manifest.state == () and report.manifest.topology == "many_to_many"


class _PlainLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(4, 8, batch_first=True)

    def forward(self, x):
        return self.lstm(x)[0]


def test_failed_verification_lists_checks_and_writes_nothing(tmp_path):
    out = tmp_path / "bundle"
    export(Seq("lstm").eval(), torch.randn(2, 5, 4), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(ExportError) as err:
        export(Seq("gru").eval(), torch.randn(2, 5, 4), out, atol=0.0, rtol=0.0)
    text = str(err.value)
    assert "nothing was written" in text
    assert "torchscript: parity T=1 B=1:" in text and "max abs diff" in text
    assert "stream step-by-step T=13" in text
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # the previous bundle is untouched
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]  # no temp folder left


def test_success_replaces_an_old_bundle_atomically(tmp_path):
    out = tmp_path / "bundle"
    export(Seq("gru").eval(), torch.randn(2, 5, 4), out)
    first = json.loads((out / "manifest.json").read_text())
    export(Seq("lstm").eval(), torch.randn(2, 5, 4), out)
    second = json.loads((out / "manifest.json").read_text())
    assert first["cell"] == "gru" and second["cell"] == "lstm"
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "model.onnx"]
