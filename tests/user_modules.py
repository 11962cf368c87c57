"""Recurrent modules written the way people write them in tutorials and issues; how each author
calls them is in :mod:`user_module_kinds`."""

from __future__ import annotations

import torch
from torch import nn

from edgernn.export import rnn_with_lengths


class GRUHidden(nn.Module):
    """A 3-layer GRU whose state is a required positional argument: ``forward(self, x, h)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(10)
        self.rnn = nn.GRU(4, 8, num_layers=3, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x, h):
        y, h = self.rnn(x, h)
        return self.out(y), h


class LSTMState(nn.Module):
    """``forward(self, x, state)`` with the LSTM's ``(h, c)`` tuple in and out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(11)
        self.rnn = nn.LSTM(4, 8, num_layers=2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x, state):
        y, (h, c) = self.rnn(x, state)
        return self.out(y), (h, c)


class ReluTimeMajor(nn.Module):
    """``nn.RNN(8, 24, nonlinearity="relu", batch_first=False)``: x is ``[time, batch, 8]``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(12)
        self.rnn = nn.RNN(8, 24, nonlinearity="relu", batch_first=False)
        self.out = nn.Linear(24, 2)

    def forward(self, x, h):
        y, h = self.rnn(x, h)
        return self.out(y), h


class LastThree(nn.Module):
    """A 2-layer GRU whose head reads the last 3 steps: PyTorch itself cannot run it on fewer."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(13)
        self.rnn = nn.GRU(4, 10, num_layers=2, batch_first=True)
        self.out = nn.Linear(30, 2)

    def forward(self, x):
        y, _ = self.rnn(x)
        return self.out(y[:, -3:].reshape(x.shape[0], 30))


class NeedsFive(nn.Module):
    """A stateful LSTM classifier that compares the 5th-last and the last step: needs >= 5 steps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(14)
        self.rnn = nn.LSTM(4, 6, batch_first=True)
        self.out = nn.Linear(12, 3)

    def forward(self, x, state=None):
        y, state = self.rnn(x, state)
        return self.out(torch.cat([y[:, -5], y[:, -1]], dim=-1)), state


class LastStep(nn.Module):
    """Many-to-one by its output's rank; exported without naming the topology."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(15)
        self.rnn = nn.LSTM(4, 8, num_layers=2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x, state=None):
        y, state = self.rnn(x, state)
        return self.out(y[:, -1]), state


class GRUHiddenNone(nn.Module):
    """``forward(self, x, hidden=None)``, the other common spelling."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(16)
        self.gru = nn.GRU(4, 7, num_layers=2, batch_first=True)
        self.fc = nn.Linear(7, 2)

    def forward(self, x, hidden=None):
        out, hidden = self.gru(x, hidden)
        return self.fc(out), hidden


class LSTMListState(nn.Module):
    """State taken and returned as a list ``[h, c]``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(17)
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x, state=None):
        y, (h, c) = self.lstm(x, None if state is None else tuple(state))
        return self.fc(y), [h, c]


class KeywordState(nn.Module):
    """State as a keyword-only argument: ``forward(self, x, *, state=None)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(18)
        self.rnn = nn.GRU(4, 8, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x, *, state=None):
        y, state = self.rnn(x, state)
        return self.fc(y), state


class GRUReluStack(nn.Module):
    """A 2-layer GRU feeding a ReLU RNN; the state is the pair of their hidden states."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(19)
        self.gru = nn.GRU(4, 8, num_layers=2, batch_first=True)
        self.rnn = nn.RNN(8, 6, nonlinearity="relu", batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x, state=None):
        h1, h2 = (None, None) if state is None else state
        y, h1 = self.gru(x, h1)
        y, h2 = self.rnn(torch.relu(y), h2)
        return self.fc(y), (h1, h2)


class BiGRUState(nn.Module):
    """A bidirectional 2-layer GRU with its state in and out: verified, not streamable."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(20)
        self.rnn = nn.GRU(4, 5, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(10, 2)

    def forward(self, x, h):
        y, h = self.rnn(x, h)
        return self.fc(y), h


class ReluBiTimeMajor(nn.Module):
    """A bidirectional ReLU RNN, time-major, state in and out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(21)
        self.rnn = nn.RNN(4, 6, num_layers=2, nonlinearity="relu", bidirectional=True)
        self.fc = nn.Linear(12, 2)

    def forward(self, x, h=None):
        y, h = self.rnn(x, h)
        return self.fc(y), h


class Tagger(nn.Module):
    """Embedding + 2-layer LSTM tagger over token ids."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(22)
        self.emb = nn.Embedding(30, 8)
        self.lstm = nn.LSTM(8, 10, num_layers=2, batch_first=True)
        self.tags = nn.Linear(10, 5)

    def forward(self, tokens):
        y, _ = self.lstm(self.emb(tokens))
        return self.tags(y)


class ConvGRU(nn.Module):
    """A Conv1d front end feeding a GRU; classifies from the last step."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(23)
        self.conv = nn.Conv1d(4, 6, kernel_size=3, padding=1)
        self.gru = nn.GRU(6, 8, batch_first=True)
        self.fc = nn.Linear(8, 3)

    def forward(self, x):
        z = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        y, _ = self.gru(z)
        return self.fc(y[:, -1])


class BiLSTMMean(nn.Module):
    """A 2-layer bidirectional LSTM, mean-pooled over time."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(24)
        self.lstm = nn.LSTM(4, 6, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(12, 2)

    def forward(self, x):
        y, _ = self.lstm(x)
        return self.fc(y.mean(dim=1))


class EncoderDecoder(nn.Module):
    """An LSTM encoder whose final state starts a GRU over the same sequence."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(25)
        self.enc = nn.LSTM(4, 8, batch_first=True)
        self.dec = nn.GRU(8, 8, batch_first=True)
        self.fc = nn.Linear(8, 2)

    def forward(self, x):
        y, (h, _) = self.enc(x)
        z, _ = self.dec(y, h)
        return self.fc(z)


class ResidualLSTM(nn.Module):
    """An LSTM inside a residual + LayerNorm block, state in and out."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(26)
        self.inp = nn.Linear(4, 8)
        self.lstm = nn.LSTM(8, 8, batch_first=True)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 2)

    def forward(self, x, state=None):
        z = self.inp(x)
        y, state = self.lstm(z, state)
        return self.fc(self.norm(z + y)), state


class PackedTorch(nn.Module):
    """Variable lengths with pack_padded_sequence, as the PyTorch docs show it."""

    def __init__(self, packing="torch"):
        super().__init__()
        torch.manual_seed(27)
        self.packing = packing
        self.lstm = nn.LSTM(4, 6, batch_first=True)
        self.fc = nn.Linear(6, 2)

    def forward(self, x, state=None, lengths=None):
        if self.packing == "edgernn":
            y, state = rnn_with_lengths(self.lstm, x, lengths, state)
        else:
            packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
            y, state = self.lstm(packed, state)
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.fc(y), state
