"""Modules that pack their own batches, exported by dynamo alone (``export/packed_capture.py``).

Reference: the module called in PyTorch on the same padded batch and lengths (rows in any order).
Tolerance 1e-5 absolute: the native node and PyTorch's packed kernel differ only in float order.
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402
from torch.nn.utils import rnn as rnn_utils  # noqa: E402
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence  # noqa: E402

from edgernn.export import export  # noqa: E402
from edgernn.export.errors import ExportError  # noqa: E402
from edgernn.runtime import Session  # noqa: E402

ORIGINALS = (pack_padded_sequence, pad_packed_sequence)


class LastStateClassifier(nn.Module):
    """The tutorial classifier: functions imported by name, the class read from h_n of the top layer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(3)
        self.lstm = nn.LSTM(5, 7, num_layers=2, batch_first=True)
        self.fc = nn.Linear(7, 4)

    def forward(self, x, lengths):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.fc(h[-1])


class TimeMajorPadded(nn.Module):
    """Time-major bidirectional GRU, padding value -1, pad_packed_sequence without total_length."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(4)
        self.gru = nn.GRU(3, 6, bidirectional=True)

    def forward(self, x, lengths):
        packed = rnn_utils.pack_padded_sequence(x.transpose(0, 1), lengths.cpu(), enforce_sorted=False)
        y, _ = self.gru(packed)
        y, _ = rnn_utils.pad_packed_sequence(y, padding_value=-1.0)
        return y.transpose(0, 1)


class SortedPacking(nn.Module):
    """pack_padded_sequence with its default enforce_sorted=True: PyTorch wants the longest row first."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(5)
        self.gru = nn.GRU(3, 5, batch_first=True)
        self.fc = nn.Linear(5, 2)

    def forward(self, x, lengths):
        y, _ = self.gru(pack_padded_sequence(x, lengths, batch_first=True))
        y, _ = pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.fc(y)


class BiSentiment(nn.Module):
    """The sentiment tutorial: tokens, ``text_lengths``, a 2-layer bi-LSTM, both top directions' h_n."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(6)
        self.embedding = nn.Embedding(50, 8, padding_idx=0)
        self.rnn = nn.LSTM(8, 12, num_layers=2, bidirectional=True, batch_first=True)
        self.fc = nn.Linear(24, 1)

    def forward(self, text, text_lengths):
        embedded = self.embedding(text)
        packed = pack_padded_sequence(
            embedded, text_lengths.to("cpu"), batch_first=True, enforce_sorted=False
        )
        _, (hidden, _) = self.rnn(packed)
        return self.fc(torch.cat((hidden[-2, :, :], hidden[-1, :, :]), dim=1))


class PackedHead(nn.Module):
    """A head on ``packed.data`` (only the real steps, [sum(lengths), hidden]), pooled over the whole
    batch: the output's shape is fine, but reading ``.data`` needs a size from the lengths' values."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(2, 3, batch_first=True)
        self.fc = nn.Linear(3, 1)

    def forward(self, x, lengths):
        y, _ = self.rnn(pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
        return self.fc(y.data).mean(0, keepdim=True).expand(x.shape[0], 1)


def _export_and_compare(module, features, tmp_path, topology, exporter="dynamo"):
    x = torch.randn(2, 6, features)
    report = export(module.eval(), x, tmp_path, lengths=True, exporter=exporter)
    assert report.exporter == "dynamo" and report.manifest.topology == topology
    assert all(c.passed for c in report.checks)
    assert "ragged batch vs packed PyTorch" in [c.name for c in report.checks]
    session = Session.load(tmp_path, provider="cpu")
    for batch, time, lengths in ((3, 9, [4, 9, 1]), (4, 17, [17, 2, 11, 17])):
        x, lens = torch.randn(batch, time, features), torch.tensor(lengths)
        with torch.no_grad():
            want = module(x, lens).numpy()
        np.testing.assert_allclose(session.run(x.numpy(), lens.numpy()).output, want, atol=1e-5, rtol=0)
    return report


def test_functions_imported_by_name_and_the_last_state(tmp_path):
    report = _export_and_compare(LastStateClassifier(), 5, tmp_path / "b", "many_to_one")
    assert report.native_nodes == {"LSTM": 2}
    assert (pack_padded_sequence, pad_packed_sequence) == ORIGINALS  # put back after the export
    assert (rnn_utils.pack_padded_sequence, rnn_utils.pad_packed_sequence) == ORIGINALS


def test_time_major_bidirectional_with_a_padding_value(tmp_path):
    """TorchScript's graph pads with zeros, not -1, and fails the gate; auto keeps dynamo's."""
    report = _export_and_compare(TimeMajorPadded(), 3, tmp_path / "b", "many_to_many", exporter="auto")
    assert report.native_nodes == {"GRU": 1} and report.attempts["dynamo"] == "passed"
    assert report.attempts["torchscript"].startswith("ragged batch vs packed PyTorch")


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_enforce_sorted_modules_are_verified_longest_first(tmp_path, exporter):
    """The gate runs such a module on its rows longest first and puts them back: the graph itself
    takes any order (and so does this check against PyTorch)."""
    module = SortedPacking().eval()
    report = export(module, torch.randn(2, 6, 3), tmp_path / "b", lengths=True, exporter=exporter)
    ragged = next(c for c in report.checks if c.name == "ragged batch vs packed PyTorch")
    assert ragged.passed and ragged.detail.startswith("lengths [15, 1, 8]")
    x, lengths = torch.randn(4, 9, 3), torch.tensor([3, 9, 1, 6])
    order = torch.argsort(lengths, descending=True)
    with torch.no_grad():
        want = module(x[order], lengths[order])[torch.argsort(order)].numpy()
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy(), lengths.numpy()).output
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_lengths_under_another_name(tmp_path, exporter):
    module = BiSentiment().eval()
    report = export(module, torch.randint(1, 50, (2, 6)), tmp_path / "b", lengths=True, exporter=exporter)
    assert report.native_nodes == {"LSTM": 2} and report.manifest.topology == "many_to_one"
    x, lengths = torch.randint(1, 50, (3, 9)), torch.tensor([2, 9, 5])
    with torch.no_grad():
        want = module(x, lengths).numpy()
    got = Session.load(tmp_path / "b", provider="cpu").run(x.numpy(), lengths.numpy()).output
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=0)


def test_which_parameter_takes_the_lengths():
    from edgernn.export.calling import lengths_parameter, state_parameter  # re-exported

    def module(forward):
        class M(nn.Module):
            def __init__(self):
                super().__init__()
                self.rnn = nn.GRU(3, 4, batch_first=True)

        M.forward = forward
        return M()

    cases = {
        "lengths": lambda self, x, h=None, lengths=None: x,
        "text_lengths": lambda self, text, text_lengths: text,
        "seq_lens": lambda self, x, state, seq_lens: x,
        "x_len": lambda self, x, *, x_len=None: x,
        None: lambda self, x, hidden=None: x,  # "hidden" is no length; neither is "lenient" below
    }
    for want, forward in cases.items():
        assert lengths_parameter(module(forward)) == want
    assert lengths_parameter(module(lambda self, x, lenient=False: x)) is None
    assert lengths_parameter(module(lambda self, x, **kwargs: x)) == "lengths"
    assert state_parameter(module(cases["seq_lens"])).name == "state"
    assert state_parameter(module(cases["text_lengths"])) is None
    with pytest.raises(ExportError, match=r"M: lengths=True, but forward\(x, hidden=None\) takes no lengths"):
        export(
            module(lambda self, x, hidden=None: self.rnn(x, hidden)), torch.randn(2, 4, 3), "-", lengths=True
        )


def test_a_packed_data_size_is_one_clear_error(tmp_path):
    with pytest.raises(
        ExportError, match=r"PackedHead: .*dynamo: PackedSequence.data has a size that depends on the lengths"
    ):
        export(PackedHead().eval(), torch.randn(2, 4, 2), tmp_path / "b", lengths=True, exporter="dynamo")
    assert (rnn_utils.pack_padded_sequence, rnn_utils.pad_packed_sequence) == ORIGINALS
    assert not (tmp_path / "b").exists()
