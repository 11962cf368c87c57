"""Modules behind the four root causes of issue 27 and dynamo's two graph errors, each as small as
the real model it stands for (named in its docstring)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import rnn as rnn_utils


class PlainSubLSTM(nn.LSTM):
    """A library's own LSTM class that only renames nn.LSTM (its forward is nn.LSTM's)."""


class ZeroLengthLSTM(nn.LSTM):
    """After pytorch-forecasting's ``LSTM(RNN, nn.LSTM)`` (MIT): lengths of 0 are packed as 1 and the
    final state of such a row is the initial state. Here without a data-dependent branch, so that a
    graph can hold it: the row's state is replaced by ``where(lengths == 0, h0, hn)`` always."""

    def forward(self, x, hx=None, lengths=None):
        if lengths is None:
            return super().forward(x, hx)
        packed = rnn_utils.pack_padded_sequence(
            x, lengths.clamp(min=1), batch_first=self.batch_first, enforce_sorted=False
        )
        out, (h, c) = super().forward(packed, hx)
        out, _ = rnn_utils.pad_packed_sequence(out, batch_first=self.batch_first, total_length=x.shape[1])
        empty = (lengths == 0)[None, :, None]
        h0, c0 = hx if hx is not None else (torch.zeros_like(h), torch.zeros_like(c))
        return out.masked_fill(empty.transpose(0, 1), 0.0), (
            torch.where(empty, h0, h),
            torch.where(empty, c0, c),
        )


class ZeroLengthEncoder(nn.Module):
    """An encoder over the zero-length-aware LSTM subclass: ``forward(x, state, lengths)``."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(30)
        self.rnn = ZeroLengthLSTM(4, 8, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x, state=None, lengths=None):
        y, state = self.rnn(x, state, lengths)
        return self.out(y), state


class SubclassTagger(nn.Module):
    """A tagger over a renamed LSTM class."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(31)
        self.rnn = PlainSubLSTM(4, 8, num_layers=2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x, state=None):
        y, state = self.rnn(x, state)
        return self.out(y), state


class ViewFails(nn.Module):
    """Its forward reshapes with the training batch size baked in (``view(32, 2, 32)``): it raises."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.GRU(4, 8, batch_first=True)

    def forward(self, x):
        y, _ = self.rnn(x)
        return y.reshape(32, 2, 32)


class TimeMajorPackedBiGRU(nn.Module):
    """A seq2seq encoder in the official tutorial's style: ``x [time, batch, features]``, packed,
    bidirectional, stateless."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(32)
        self.rnn = nn.GRU(4, 6, bidirectional=True)
        self.out = nn.Linear(12, 3)

    def forward(self, x, lengths):
        packed = rnn_utils.pack_padded_sequence(x, lengths, enforce_sorted=False)
        y, _ = self.rnn(packed)
        y, _ = rnn_utils.pad_packed_sequence(y, total_length=x.shape[0])
        return self.out(y)


class FractionLengths(nn.Module):
    """After speechbrain's relative lengths (``wav_lens`` in (0, 1]): the module turns fractions of
    the padded length back into steps."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(33)
        self.rnn = nn.LSTM(4, 8, batch_first=True)
        self.out = nn.Linear(8, 2)

    def forward(self, x, lengths):
        if lengths.is_floating_point() is False:
            raise TypeError("expected relative lengths (floats in (0, 1])")
        steps = torch.round(lengths * x.shape[1]).long()
        packed = rnn_utils.pack_padded_sequence(x, steps, batch_first=True, enforce_sorted=False)
        y, _ = self.rnn(packed)
        y, _ = rnn_utils.pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])
        return self.out(y)


class TwoGRUShared(nn.Module):
    """Two GRUs sharing one state tensor through ``torch.chunk``/``cat`` (state width 16, each GRU 8)."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(34)
        self.a, self.b = nn.GRU(4, 8, batch_first=True), nn.GRU(4, 8, batch_first=True)
        self.out = nn.Linear(16, 3)

    def forward(self, x, h=None):
        ha, hb = (None, None) if h is None else torch.chunk(h, 2, dim=-1)
        ya, ha = self.a(x, ha)
        yb, hb = self.b(x, hb)
        return self.out(torch.cat([ya, yb], -1)), torch.cat([ha, hb], -1)


class SqueezeLayers(nn.Module):
    """``h.squeeze(0)`` on a 2-layer LSTM's ``[2, batch, hidden]`` state: a no-op in PyTorch."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(35)
        self.rnn = nn.LSTM(4, 8, num_layers=2, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        _, (h, _) = self.rnn(x)
        return self.out(h.squeeze(0)[-1])


class FlatTimeMajor(nn.Module):
    """pytorch/examples word_language_model's habit on a time-major LSTM: ``decoded.view(-1, ntoken)``."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.LSTM(4, 8)
        self.out = nn.Linear(8, 3)

    def forward(self, x, hidden):
        y, hidden = self.rnn(x, hidden)
        return self.out(y).view(-1, 3), hidden


class ChannelFirst(nn.Module):
    """A conv front end on x [batch, channels, time], then a GRU over time: y [batch, time, 3]."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(36)
        self.conv = nn.Conv1d(5, 6, 3, padding=1)
        self.rnn = nn.GRU(6, 8, batch_first=True)
        self.out = nn.Linear(8, 3)

    def forward(self, x):
        y, _ = self.rnn(torch.relu(self.conv(x)).transpose(1, 2))
        return self.out(y)
