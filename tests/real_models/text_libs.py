"""Models of pytorch-forecasting, ESPnet and flair, re-created.

Sources, read at: sktime/pytorch-forecasting pytorch_forecasting/models/nn/rnn.py (RNN, LSTM, GRU
that handle zero lengths) and models/rnn/_rnn.py (RecurrentNetwork.encode) (MIT); espnet/espnet
espnet/nets/pytorch_backend/rnn/encoders.py (RNN, RNNP) (Apache-2.0); flairNLP/flair
flair/models/language_model.py (LanguageModel.forward) (MIT).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils import rnn


class ForecastingRNN(nn.RNNBase):
    """pytorch-forecasting's RNN base: zero lengths handled by packing them as 1 and, when the batch
    holds one (a branch on the lengths' values), putting the initial state back."""

    def forward(self, x, hx=None, lengths=None, enforce_sorted=True):
        if isinstance(x, rnn.PackedSequence) or lengths is None:
            return super().forward(x, hx=hx)
        min_length, max_length = lengths.min(), lengths.max()
        if max_length == 0:
            out = x.new_zeros(lengths.size(0), x.size(1), self.hidden_size)
            return out, self.init_hidden_state(x)
        pack_lengths = lengths.where(lengths > 0, torch.ones_like(lengths))
        packed = rnn.pack_padded_sequence(
            x, pack_lengths.cpu(), enforce_sorted=enforce_sorted, batch_first=self.batch_first
        )
        packed_out, hidden_state = super().forward(packed, hx=hx)
        if min_length == 0:
            no_encoding = (lengths == 0)[None, :, None]
            initial = self.init_hidden_state(x) if hx is None else hx
            hidden_state = self.handle_no_encoding(hidden_state, no_encoding, initial)
        out, _ = rnn.pad_packed_sequence(packed_out, batch_first=self.batch_first)
        return out, hidden_state

    def _zeros(self, x):
        batch = x.size(0) if self.batch_first else x.size(1)
        return x.new_zeros(self.num_layers * (2 if self.bidirectional else 1), batch, self.hidden_size)


class ForecastingLSTM(ForecastingRNN, nn.LSTM):
    """pytorch_forecasting.models.nn.LSTM (its cell state is refilled from the initial *hidden*
    state, as the library does)."""

    def handle_no_encoding(self, hidden_state, no_encoding, initial_hidden_state):
        hidden, cell = hidden_state
        hidden = hidden.masked_scatter(no_encoding, initial_hidden_state[0])
        cell = cell.masked_scatter(no_encoding, initial_hidden_state[0])
        return hidden, cell

    def init_hidden_state(self, x):
        return self._zeros(x), self._zeros(x)


class ForecastingGRU(ForecastingRNN, nn.GRU):
    """pytorch_forecasting.models.nn.GRU."""

    def handle_no_encoding(self, hidden_state, no_encoding, initial_hidden_state):
        return hidden_state.masked_scatter(no_encoding, initial_hidden_state)

    def init_hidden_state(self, x):
        return self._zeros(x)


class RecurrentNetworkEncoder(nn.Module):
    """pytorch-forecasting RecurrentNetwork.encode: a dict batch in (categoricals through one
    embedding each, as MultiEmbedding; continuous covariates; lengths), the final hidden state out."""

    def __init__(self, n_cont=3, cat_sizes=(5, 7), embedding_size=2, hidden_size=8):
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(n, embedding_size) for n in cat_sizes)
        self.rnn = ForecastingLSTM(n_cont + len(cat_sizes) * embedding_size, hidden_size, batch_first=True)

    def construct_input_vector(self, x_cat, x_cont):
        embeddings = [emb(x_cat[..., i]) for i, emb in enumerate(self.embeddings)]
        return torch.cat([x_cont, *embeddings], dim=-1)

    def forward(self, x: dict):
        encoder_lengths = x["encoder_lengths"] - 1
        assert encoder_lengths.min() > 0
        input_vector = self.construct_input_vector(x["encoder_cat"], x["encoder_cont"])
        _, hidden_state = self.rnn(input_vector, lengths=encoder_lengths, enforce_sorted=False)
        return hidden_state


class EspnetRNN(nn.Module):
    """ESPnet encoders.RNN: xs_pad [batch, time, idim], ilens; packed (B)LSTM, then tanh(Linear)."""

    def __init__(self, idim=8, elayers=2, cdim=10, hdim=6, typ="blstm"):
        super().__init__()
        bidir = typ[0] == "b"
        kind = nn.LSTM if "lstm" in typ else nn.GRU
        self.nbrnn = kind(idim, cdim, elayers, batch_first=True, bidirectional=bidir)
        self.l_last = nn.Linear(cdim * (2 if bidir else 1), hdim)

    def forward(self, xs_pad, ilens, prev_state=None):
        xs_pack = rnn.pack_padded_sequence(xs_pad, ilens.cpu(), batch_first=True)
        ys, states = self.nbrnn(xs_pack, hx=prev_state)
        ys_pad, ilens = rnn.pad_packed_sequence(ys, batch_first=True)
        projected = torch.tanh(self.l_last(ys_pad.contiguous().view(-1, ys_pad.size(2))))
        return projected.view(ys_pad.size(0), ys_pad.size(1), -1), ilens, states


class EspnetRNNP(nn.Module):
    """ESPnet encoders.RNNP: one packed (B)LSTM per layer, each followed by a projection."""

    def __init__(self, idim=8, elayers=2, cdim=10, hdim=6, typ="blstm"):
        super().__init__()
        self.bidir, self.elayers = typ[0] == "b", elayers
        for i in range(elayers):
            layer = nn.LSTM(
                idim if i == 0 else hdim, cdim, num_layers=1, bidirectional=self.bidir, batch_first=True
            )
            setattr(self, f"{'birnn' if self.bidir else 'rnn'}{i}", layer)
            setattr(self, f"bt{i}", nn.Linear(cdim * (2 if self.bidir else 1), hdim))

    def forward(self, xs_pad, ilens, prev_state=None):
        states = []
        for layer in range(self.elayers):
            xs_pack = rnn.pack_padded_sequence(xs_pad, ilens.cpu(), batch_first=True)
            module = getattr(self, f"{'birnn' if self.bidir else 'rnn'}{layer}")
            ys, state = module(xs_pack, hx=None if prev_state is None else prev_state[layer])
            states.append(state)
            ys_pad, ilens = rnn.pad_packed_sequence(ys, batch_first=True)
            projected = getattr(self, f"bt{layer}")(ys_pad.contiguous().view(-1, ys_pad.size(2)))
            xs_pad = projected.view(ys_pad.size(0), ys_pad.size(1), -1)
            if layer < self.elayers - 1:
                xs_pad = torch.tanh(xs_pad)
        return xs_pad, ilens, states


class FlairLanguageModel(nn.Module):
    """flair LanguageModel: character ids [time, batch], hidden in, (decoded, output, hidden) out."""

    def __init__(self, n_chars=40, embedding_size=12, hidden_size=16, nlayers=1):
        super().__init__()
        self.hidden_size, self.nlayers = hidden_size, nlayers
        self.drop = nn.Dropout(0.1)
        self.encoder = nn.Embedding(n_chars, embedding_size)
        self.rnn = nn.LSTM(embedding_size, hidden_size, nlayers)
        self.decoder = nn.Linear(hidden_size, n_chars)

    def forward(self, input, hidden, ordered_sequence_lengths=None, decode=True):
        emb = self.drop(self.encoder(input))
        output, hidden = self.rnn(emb, hidden)
        output = self.drop(output)
        decoded = self.decoder(output) if decode else None
        return decoded, output, hidden

    def init_hidden(self, bsz):
        weight = next(self.parameters())
        h = weight.new_zeros(self.nlayers, bsz, self.hidden_size)
        return h, h.clone()
