"""Calling conventions met in libraries' own code (torchaudio, bentrevett/pytorch-seq2seq): lengths
given in the example, a channel-first packed encoder, a time-major encoder that returns its final
state; and the commands that feed x alone refusing a bundle with further inputs.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

from test_export_further_inputs import ATOL, RTOL, MemoryGRU, _close, _run  # noqa: E402
from torch import nn  # noqa: E402

from edgernn.export import export  # noqa: E402


class TimeMajorEncoder(nn.Module):
    """bentrevett/pytorch-seq2seq's Encoder (MIT): src [time, batch] tokens -> (hidden, cell)."""

    def __init__(self):
        super().__init__()
        self.embedding = nn.Embedding(20, 8)
        self.rnn = nn.LSTM(8, 16, 2)

    def forward(self, src):
        _, (hidden, cell) = self.rnn(self.embedding(src))
        return hidden, cell


def test_a_time_major_encoder_returning_its_final_state(tmp_path):
    """A time-major module's (hidden, cell) was read as y [batch, 2 rows, 16] and refused."""
    module = TimeMajorEncoder().eval()
    report = export(module, torch.randint(0, 20, (7, 3)), tmp_path / "b")
    assert report.manifest.topology == "many_to_one" and report.manifest.output.size == 64
    src = torch.randint(0, 20, (11, 2))  # [time, batch]
    with torch.no_grad():
        h, c = module(src)
    want = torch.cat([h.transpose(0, 1).reshape(2, -1), c.transpose(0, 1).reshape(2, -1)], -1)
    _close(_run(report, {"x": src.T.contiguous().numpy()})[0], want, "y = (h, c) batch-first")


class ChannelFirstPacked(nn.Module):
    """torchaudio Tacotron2 _Encoder's calling: forward(x [batch, channels, time], input_lengths), a
    pointwise conv, then a packed LSTM (enforce_sorted=True) whose padded output comes back; a state after."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv1d(6, 6, 1)  # pointwise: a stream of it equals the whole sequence
        self.lstm = nn.LSTM(6, 4, batch_first=True)

    def forward(self, x, input_lengths, state=None):
        packed = nn.utils.rnn.pack_padded_sequence(
            self.conv(x).transpose(1, 2), input_lengths, batch_first=True
        )
        out, state = self.lstm(packed, state)
        return nn.utils.rnn.pad_packed_sequence(out, batch_first=True)[0], state


@pytest.mark.parametrize("given", ["positional", "keyword", "positional with a state after"])
def test_lengths_in_the_example_are_the_graph_lengths(tmp_path, given):
    """(x, input_lengths) as a stranger writes it turns lengths on; the bundle takes int64 lengths (no
    further input) and equals the module on a ragged batch it never saw."""
    torch.manual_seed(0)
    module = ChannelFirstPacked().eval()
    x, lengths = torch.randn(2, 6, 9), torch.tensor([9, 6])
    state = (torch.zeros(1, 2, 4), torch.zeros(1, 2, 4))
    example, kwargs = {
        "positional": ((x, lengths), None),
        "keyword": (x, {"input_lengths": lengths}),
        "positional with a state after": ((x, lengths, state), None),
    }[given]
    export(module, example, tmp_path / "b", example_kwargs=kwargs)
    from edgernn.runtime import Session

    session = Session.load(tmp_path / "b")
    assert session.manifest.input.lengths == "lengths" and session.manifest.inputs == ()
    assert [s.input for s in session.manifest.state] == ["h0", "c0"]  # state="auto": forward returns it
    x, lengths = torch.randn(3, 6, 13), torch.tensor([13, 9, 4])
    want = module(x, lengths)[0].detach().numpy()
    got = session.run(x.transpose(1, 2).numpy(), lengths=lengths.numpy()).output
    for row, n in enumerate(lengths.tolist()):
        np.testing.assert_allclose(got[row, :n], want[row, :n], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("command", ["quantize", "profile"])
def test_quantize_and_profile_refuse_further_inputs_in_one_line(tmp_path, command):
    """Both feed x alone (gate, scoring, calibration; every profile cell): a bundle with a further
    input is refused by name before any work, exit 1, and the bundle is left as exported."""
    from click.testing import CliRunner

    from edgernn.cli import cli

    torch.manual_seed(0)
    export(MemoryGRU().eval(), (torch.randn(2, 6, 4), torch.randn(2, 3, 5)), tmp_path / "b")
    before = sorted(p.name for p in (tmp_path / "b").iterdir())
    result = CliRunner().invoke(cli, [command, str(tmp_path / "b")])
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "this bundle takes further inputs (memory) beside x" in lines[0], lines
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == before
