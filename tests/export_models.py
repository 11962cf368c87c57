"""User-style PyTorch modules for export tests (the kind of code people actually write)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgernn.export import rnn_with_lengths

# auto in the fast suite; dynamo alone (2-5 s per export here) in the slow one, where the real-model
# corpus also runs every entry with dynamo alone
EXPORTERS = ["auto", pytest.param("dynamo", marks=pytest.mark.slow)]

CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN, "rnn_relu": nn.RNN}


class Seq(nn.Module):
    """A recurrent stack + linear head, following ``forward(x, state=None, lengths=None) -> (y, state)``.

    ``batch_first=False`` keeps a time-major nn module inside a batch-first interface. ``packing``:
    ``torch`` (pack_padded_sequence -> rnn -> pad_packed_sequence) or ``edgernn`` (``rnn_with_lengths``);
    both exporters capture either.
    """

    def __init__(
        self,
        cell="lstm",
        layers=2,
        bidirectional=False,
        batch_first=True,
        topology="many_to_many",
        features=4,
        hidden=8,
        out=3,
        seed=0,
        packing="torch",
    ):
        super().__init__()
        torch.manual_seed(seed)
        self.batch_first, self.topology, self.packing = batch_first, topology, packing
        kind = {"nonlinearity": "relu"} if cell == "rnn_relu" else {}
        self.rnn = CELLS[cell](
            features, hidden, num_layers=layers, bidirectional=bidirectional, batch_first=batch_first, **kind
        )
        self.head = nn.Linear(hidden * (2 if bidirectional else 1), out)

    def forward(self, x, state=None, lengths=None):
        if not self.batch_first:
            x = x.transpose(0, 1)
        if lengths is not None and self.packing == "edgernn":
            y, state = rnn_with_lengths(self.rnn, x, lengths, state)
        elif lengths is not None:
            packed = nn.utils.rnn.pack_padded_sequence(
                x, lengths, batch_first=self.batch_first, enforce_sorted=False
            )
            y, state = self.rnn(packed, state)
            total = x.shape[1] if self.batch_first else x.shape[0]
            y, _ = nn.utils.rnn.pad_packed_sequence(y, batch_first=self.batch_first, total_length=total)
        else:
            y, state = self.rnn(x, state)
        if not self.batch_first:
            y = y.transpose(0, 1)
        if self.topology == "many_to_one":
            y = y[:, -1] if lengths is None else y[torch.arange(y.shape[0]), lengths - 1]
        return self.head(y), state


class Stateless(nn.Module):
    """``forward(x, lengths=None) -> y``: a module that never exposes its state."""

    def __init__(self, inner: nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x, lengths=None):
        return self.inner(x, None, lengths=lengths)[0]


class TextClassifier(nn.Module):
    """Embedding + GRU, classifying from the last hidden state."""

    def __init__(self, vocab=20, dim=6, hidden=10, classes=4):
        super().__init__()
        torch.manual_seed(1)
        self.embed = nn.Embedding(vocab, dim)
        self.gru = nn.GRU(dim, hidden, batch_first=True)
        self.out = nn.Linear(hidden, classes)

    def forward(self, tokens, state=None):
        y, h = self.gru(self.embed(tokens), state)
        return self.out(y[:, -1]), h


class ConvLSTM(nn.Module):
    """A causal conv1d front end (per-step features) feeding a 2-layer LSTM tagger."""

    def __init__(self, features=5, channels=7, hidden=9, out=2):
        super().__init__()
        torch.manual_seed(2)
        self.conv = nn.Conv1d(features, channels, kernel_size=1)
        self.lstm = nn.LSTM(channels, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, out)

    def forward(self, x, state=None):
        z = torch.relu(self.conv(x.transpose(1, 2))).transpose(1, 2)
        y, state = self.lstm(z, state)
        return self.out(y), state


class BiGRUMaxPool(nn.Module):
    """A bidirectional GRU whose outputs are max-pooled over time: stateless, many_to_one."""

    def __init__(self, features=4, hidden=6, classes=3):
        super().__init__()
        torch.manual_seed(3)
        self.gru = nn.GRU(features, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, classes)

    def forward(self, x):
        y, _ = self.gru(x)
        return self.out(y.max(dim=1).values)


class Decoder(nn.Module):
    """one_to_many: a conditioning vector sets the initial state; the decoder feeds back its outputs."""

    def __init__(self, cond=3, features=2, hidden=8, layers=2):
        super().__init__()
        torch.manual_seed(4)
        self.layers, self.hidden = layers, hidden
        self.init = nn.Linear(cond, 2 * layers * hidden)
        self.lstm = nn.LSTM(features, hidden, num_layers=layers, batch_first=True)
        self.out = nn.Linear(hidden, features)

    def init_state(self, cond):
        h, c = torch.tanh(self.init(cond)).view(-1, 2, self.layers, self.hidden).permute(1, 2, 0, 3)
        return h.contiguous(), c.contiguous()

    def forward(self, x, state=None):
        y, state = self.lstm(x, state)
        return self.out(y), state
