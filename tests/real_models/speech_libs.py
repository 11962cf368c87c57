"""Models of torchaudio, asteroid and speechbrain, re-created.

Sources, read at: pytorch/audio src/torchaudio/models/deepspeech.py, tacotron2.py (_Encoder),
wavernn.py (BSD-2-Clause); asteroid-team/asteroid asteroid/masknn/recurrent.py (SingleRNN,
StackedResidualRNN, StackedResidualBiRNN, DPRNNBlock, LSTMMasker), asteroid/masknn/norms.py (GlobLN)
(MIT); speechbrain/speechbrain speechbrain/nnet/RNN.py (LSTM, GRU, RNN, pack_padded_sequence with
relative lengths) (Apache-2.0).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class FullyConnected(nn.Module):
    def __init__(self, n_feature, n_hidden, relu_max_clip=20):
        super().__init__()
        self.fc, self.relu_max_clip = nn.Linear(n_feature, n_hidden), relu_max_clip

    def forward(self, x):
        return F.hardtanh(F.relu(self.fc(x)), 0, self.relu_max_clip)


class DeepSpeech(nn.Module):
    """torchaudio.models.DeepSpeech: x [batch, channel=1, time, feature] -> [batch, time, class]."""

    def __init__(self, n_feature=12, n_hidden=16, n_class=10):
        super().__init__()
        self.n_hidden = n_hidden
        self.fc1, self.fc2 = FullyConnected(n_feature, n_hidden), FullyConnected(n_hidden, n_hidden)
        self.fc3 = FullyConnected(n_hidden, n_hidden)
        self.bi_rnn = nn.RNN(n_hidden, n_hidden, num_layers=1, nonlinearity="relu", bidirectional=True)
        self.fc4, self.out = FullyConnected(n_hidden, n_hidden), nn.Linear(n_hidden, n_class)

    def forward(self, x):
        x = self.fc3(self.fc2(self.fc1(x))).squeeze(1).transpose(0, 1)
        x, _ = self.bi_rnn(x)
        x = x[:, :, : self.n_hidden] + x[:, :, self.n_hidden :]
        x = self.out(self.fc4(x)).permute(1, 0, 2)
        return F.log_softmax(x, dim=2)


class TacotronEncoder(nn.Module):
    """torchaudio Tacotron2's _Encoder: x [batch, embedding, time] (channel-first), input_lengths,
    three conv+batchnorm layers, then a packed bidirectional LSTM."""

    def __init__(self, dim=16, n_convolution=3, kernel_size=5):
        super().__init__()
        pad = (kernel_size - 1) // 2
        self.convolutions = nn.ModuleList(
            nn.Sequential(nn.Conv1d(dim, dim, kernel_size, padding=pad), nn.BatchNorm1d(dim))
            for _ in range(n_convolution)
        )
        self.lstm = nn.LSTM(dim, dim // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, x, input_lengths):
        for conv in self.convolutions:
            x = F.dropout(F.relu(conv(x)), 0.5, self.training)
        x = nn.utils.rnn.pack_padded_sequence(x.transpose(1, 2), input_lengths.cpu(), batch_first=True)
        outputs, _ = self.lstm(x)
        outputs, _ = nn.utils.rnn.pad_packed_sequence(outputs, batch_first=True)
        return outputs


class WaveRNN(nn.Module):
    """torchaudio.models.WaveRNN's forward (two GRUs over waveform + upsampled spectrogram); its
    MelResNet/Stretch2d upsampling is simplified here to a 1x1 conv and a nearest stretch."""

    def __init__(self, hop_length=4, n_freq=8, n_rnn=16, n_fc=16, n_classes=32, n_aux=4):
        super().__init__()
        self.hop, self.n_rnn, self.n_aux = hop_length, n_rnn, n_aux
        self.aux = nn.Conv1d(n_freq, 4 * n_aux, 1)
        self.fc = nn.Linear(n_freq + n_aux + 1, n_rnn)
        self.rnn1 = nn.GRU(n_rnn, n_rnn, batch_first=True)
        self.rnn2 = nn.GRU(n_rnn + n_aux, n_rnn, batch_first=True)
        self.fc1, self.fc2 = nn.Linear(n_rnn + n_aux, n_fc), nn.Linear(n_fc + n_aux, n_fc)
        self.fc3 = nn.Linear(n_fc, n_classes)

    def forward(self, waveform, specgram):
        waveform, specgram = waveform.squeeze(1), specgram.squeeze(1)
        h = torch.zeros(1, waveform.size(0), self.n_rnn)
        aux = self.aux(specgram).repeat_interleave(self.hop, dim=2).transpose(1, 2)
        specgram = specgram.repeat_interleave(self.hop, dim=2).transpose(1, 2)
        a1, a2, a3, a4 = aux.split(self.n_aux, dim=-1)
        x = self.fc(torch.cat([waveform.unsqueeze(-1), specgram, a1], dim=-1))
        x = x + self.rnn1(x, h)[0]
        x = x + self.rnn2(torch.cat([x, a2], dim=-1), h)[0]
        x = F.relu(self.fc1(torch.cat([x, a3], dim=-1)))
        x = F.relu(self.fc2(torch.cat([x, a4], dim=-1)))
        return self.fc3(x).unsqueeze(1)


class SingleRNN(nn.Module):
    """asteroid.masknn.recurrent.SingleRNN: [batch, seq, feats] -> the RNN's output."""

    def __init__(
        self, rnn_type="LSTM", input_size=8, hidden_size=12, n_layers=1, dropout=0, bidirectional=False
    ):
        super().__init__()
        self.output_size = hidden_size * (2 if bidirectional else 1)
        self.rnn = getattr(nn, rnn_type.upper())(
            input_size,
            hidden_size,
            num_layers=n_layers,
            dropout=dropout,
            batch_first=True,
            bidirectional=bool(bidirectional),
        )

    def forward(self, inp):
        rnn_output, _ = self.rnn(inp)
        return rnn_output


class StackedResidualRNN(nn.Module):
    """asteroid: unidirectional SingleRNNs with a residual connection around each."""

    def __init__(self, rnn_type="GRU", n_units=8, n_layers=3, dropout=0.0):
        super().__init__()
        self.layers = nn.ModuleList(SingleRNN(rnn_type, n_units, n_units) for _ in range(n_layers))
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, x):
        for rnn in self.layers:
            x = x + self.dropout_layer(rnn(x))
        return x


class StackedResidualBiRNN(nn.Module):
    """asteroid: bidirectional SingleRNNs, each projected back to n_units, with residuals."""

    def __init__(self, rnn_type="LSTM", n_units=8, n_layers=2, dropout=0.0):
        super().__init__()
        self.first = SingleRNN(rnn_type, n_units, n_units, bidirectional=True)
        self.layers = nn.ModuleList(
            SingleRNN(rnn_type, 2 * n_units, n_units, bidirectional=True) for _ in range(n_layers - 1)
        )
        self.linear = nn.Linear(2 * n_units, n_units)
        self.dropout_layer = nn.Dropout(dropout)

    def forward(self, x):
        x = torch.cat([x, x], dim=-1) + self.dropout_layer(self.first(x))
        for rnn in self.layers:
            x = x + self.dropout_layer(rnn(x))
        return self.linear(x)


class GlobLN(nn.Module):
    """asteroid's global layer norm over every axis but the batch, per-channel gain and bias."""

    def __init__(self, channels):
        super().__init__()
        self.gamma, self.beta = nn.Parameter(torch.ones(channels)), nn.Parameter(torch.zeros(channels))

    def forward(self, x):
        dims = list(range(1, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)
        var = ((x - mean) ** 2).mean(dim=dims, keepdim=True)
        shape = [1, -1] + [1] * (x.dim() - 2)
        return self.gamma.view(shape) * (x - mean) / (var + 1e-8).sqrt() + self.beta.view(shape)


class DPRNNBlock(nn.Module):
    """asteroid DPRNNBlock: x [batch, feats, chunk_size, n_chunks]; one RNN along each chunk, one
    across the chunks."""

    def __init__(self, in_chan=8, hid_size=6):
        super().__init__()
        self.intra_RNN = SingleRNN("LSTM", in_chan, hid_size, bidirectional=True)
        self.inter_RNN = SingleRNN("LSTM", in_chan, hid_size, bidirectional=True)
        self.intra_linear = nn.Linear(self.intra_RNN.output_size, in_chan)
        self.inter_linear = nn.Linear(self.inter_RNN.output_size, in_chan)
        self.intra_norm, self.inter_norm = GlobLN(in_chan), GlobLN(in_chan)

    def forward(self, x):
        B, N, K, L = x.size()
        output = x
        x = self.intra_linear(self.intra_RNN(x.transpose(1, -1).reshape(B * L, K, N)))
        output = output + self.intra_norm(x.reshape(B, L, K, N).transpose(1, -1))
        x = self.inter_linear(self.inter_RNN(output.transpose(1, 2).transpose(2, -1).reshape(B * K, L, N)))
        x = x.reshape(B, K, L, N).transpose(1, -1).transpose(2, -1).contiguous()
        return output + self.inter_norm(x)


class LSTMMasker(nn.Module):
    """asteroid LSTMMasker: x [batch, n_filters, frames] -> masks [batch, n_src, n_filters, frames]."""

    def __init__(self, in_chan=8, n_src=2, n_layers=2, hid_size=12):
        super().__init__()
        self.n_src, self.in_chan = n_src, in_chan
        self.rnn = SingleRNN("LSTM", in_chan, hid_size, n_layers=n_layers, bidirectional=True)
        self.mask_net = nn.Sequential(nn.Dropout(0.3), nn.Linear(2 * hid_size, n_src * in_chan))

    def forward(self, x):
        batch_size = x.shape[0]
        masks = self.mask_net(self.rnn(x.transpose(1, 2))).transpose(1, 2)
        return torch.sigmoid(masks.view(batch_size, self.n_src, self.in_chan, -1))


def sb_pack_padded_sequence(inputs, lengths):
    """speechbrain.nnet.RNN.pack_padded_sequence: relative lengths times the padded length."""
    lengths = (lengths * inputs.size(1)).cpu()
    return nn.utils.rnn.pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)


class SpeechBrainRNN(nn.Module):
    """speechbrain.nnet.RNN.LSTM / GRU / RNN: x [batch, time, fea] (4-D inputs flattened), relative
    lengths, returns (output, hn)."""

    def __init__(self, kind="LSTM", hidden_size=12, input_shape=(2, 6, 8), num_layers=2, bidirectional=False):
        super().__init__()
        self.reshape = len(input_shape) > 3
        size = int(torch.prod(torch.tensor(input_shape[2:])).item())
        self.rnn = getattr(nn, kind)(
            size, hidden_size, num_layers=num_layers, bidirectional=bidirectional, batch_first=True
        )

    def forward(self, x, hx=None, lengths=None):
        if self.reshape and x.ndim == 4:
            x = x.reshape(x.shape[0], x.shape[1], x.shape[2] * x.shape[3])
        if lengths is not None:
            x = sb_pack_padded_sequence(x, lengths)
        output, hn = self.rnn(x, hx=hx) if hx is not None else self.rnn(x)
        if lengths is not None:
            output, _ = nn.utils.rnn.pad_packed_sequence(output, batch_first=True)
        return output, hn


class LiGRU(nn.Module):
    """speechbrain's Light GRU: its own cell, stepped over time in a Python loop (no nn.GRU)."""

    def __init__(self, input_size=8, hidden_size=12):
        super().__init__()
        self.w = nn.Linear(input_size, 2 * hidden_size, bias=False)
        self.u = nn.Linear(hidden_size, 2 * hidden_size, bias=False)
        self.hidden_size = hidden_size

    def forward(self, x):
        wx, ht, hs = self.w(x), x.new_zeros(x.shape[0], self.hidden_size), []
        for k in range(wx.shape[1]):
            a, z = (wx[:, k] + self.u(ht)).chunk(2, 1)
            z = torch.sigmoid(z)
            ht = z * ht + (1 - z) * F.relu(a)
            hs.append(ht)
        return torch.stack(hs, dim=1)
