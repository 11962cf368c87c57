"""Models of darts, neuralforecast and the PyTorch tutorials that take several tensors, re-created.

Sources, read at: unit8co/darts darts/models/forecasting/rnn_model.py (_RNNModule: a tuple
``x_in = (x, static_covariates)`` and an optional hidden state) (Apache-2.0); Nixtla/neuralforecast
neuralforecast/models/rnn.py (RNN.forward over a ``windows_batch`` dict of the target, historic and
static exogenous covariates; v1.7, recurrent mode, no future covariates, the MAE loss whose
domain_map is the identity) (Apache-2.0); pytorch/tutorials intermediate_source/
char_rnn_generation_tutorial.py (RNN(category, input, hidden), its own cell of nn.Linear) and
d2l-ai/d2l-en chapter_recurrent-modern/seq2seq (Seq2SeqDecoder: the encoder's outputs and the
hidden state travel together as the state) (BSD-3-Clause; MIT-0); djosix/Performance-RNN-PyTorch
model.py (PerformanceRNN.forward: one event step conditioned by a control vector) (MIT).
"""

from __future__ import annotations

import torch
from torch import nn


class DartsRNNModule(nn.Module):
    """darts _RNNModule: ``forward(x_in: tuple, h=None)``, x_in = (past target and covariates
    [batch, time, input_size], static covariates or None); predictions [batch, time, target, params]."""

    def __init__(self, name="LSTM", input_size=4, hidden_dim=12, num_layers=2, target_size=2, nr_params=1):
        super().__init__()
        self.target_size, self.nr_params = target_size, nr_params
        self.rnn = getattr(nn, name)(input_size, hidden_dim, num_layers, batch_first=True)
        self.V = nn.Linear(hidden_dim, target_size * nr_params)

    def forward(self, x_in: tuple, h: torch.Tensor | None = None):
        x, _ = x_in
        batch_size = x.shape[0]
        out, last_hidden_state = self.rnn(x) if h is None else self.rnn(x, h)
        predictions = self.V(out)
        predictions = predictions.view(batch_size, out.shape[1], self.target_size, self.nr_params)
        return predictions, last_hidden_state


class MLP(nn.Module):
    """neuralforecast.common._modules.MLP: Linear, ReLU layers, Linear."""

    def __init__(self, in_features, out_features, hidden_size, num_layers=2):
        super().__init__()
        layers = [nn.Linear(in_features, hidden_size), nn.ReLU()]
        for _ in range(num_layers - 1):
            layers += [nn.Linear(hidden_size, hidden_size), nn.ReLU()]
        self.layers = nn.Sequential(*layers, nn.Linear(hidden_size, out_features))

    def forward(self, x):
        return self.layers(x)


class NeuralForecastRNN(nn.Module):
    """neuralforecast RNN: a dict batch of the target window [batch, time, 1], historic exogenous
    covariates [batch, time, hist] and static ones [batch, stat]; forecasts of h steps from every
    position, [batch, time, h, 1]."""

    def __init__(self, h=3, hist_exog_size=2, stat_exog_size=2, hidden=16, context_size=4, decoder_hidden=8):
        super().__init__()
        self.h, self.context_size = h, context_size
        self.hist_exog_size, self.stat_exog_size = hist_exog_size, stat_exog_size
        self.hist_encoder = nn.RNN(1 + hist_exog_size + stat_exog_size, hidden, 2, batch_first=True)
        self.context_adapter = nn.Linear(hidden, context_size * h)
        self.mlp_decoder = MLP(context_size, 1, decoder_hidden)

    def forward(self, windows_batch: dict):
        encoder_input = windows_batch["insample_y"]  # [B, seq_len, 1]
        hist_exog = windows_batch["hist_exog"]  # [B, seq_len, X]
        stat_exog = windows_batch["stat_exog"]  # [B, S]
        batch_size, seq_len = encoder_input.shape[:2]
        if self.hist_exog_size > 0:
            encoder_input = torch.cat((encoder_input, hist_exog), dim=2)
        if self.stat_exog_size > 0:
            stat_exog = stat_exog.unsqueeze(1).repeat(1, seq_len, 1)  # [B, S] -> [B, seq_len, S]
            encoder_input = torch.cat((encoder_input, stat_exog), dim=2)
        hidden_state, _ = self.hist_encoder(encoder_input)  # [B, seq_len, rnn_hidden_state]
        context = self.context_adapter(hidden_state)
        context = context.reshape(batch_size, seq_len, self.h, self.context_size)
        return self.mlp_decoder(context)  # [B, seq_len, h, 1]


class CharRNNGeneration(nn.Module):
    """Tutorial "Generating names with a character-level RNN": ``forward(category, input, hidden)``,
    the category one-hot conditioning every step of its own cell (nn.Linear layers)."""

    def __init__(self, n_categories=4, input_size=12, hidden_size=16, output_size=12):
        super().__init__()
        self.i2h = nn.Linear(n_categories + input_size + hidden_size, hidden_size)
        self.i2o = nn.Linear(n_categories + input_size + hidden_size, output_size)
        self.o2o = nn.Linear(hidden_size + output_size, output_size)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, category, input, hidden):
        input_combined = torch.cat((category, input, hidden), 1)
        hidden = self.i2h(input_combined)
        output = self.o2o(torch.cat((hidden, self.i2o(input_combined)), 1))
        return self.softmax(output), hidden


class D2LSeq2SeqDecoder(nn.Module):
    """d2l Seq2SeqDecoder: tokens [batch, time]; the state is ``[enc_outputs, hidden_state]`` as
    init_state gives it, the encoder's last output as context at every step; outputs [batch, time,
    vocab] and the state, the encoder's outputs passed through unchanged."""

    def __init__(self, vocab_size=30, embed_size=8, num_hiddens=16, num_layers=2):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_size)
        self.rnn = nn.GRU(embed_size + num_hiddens, num_hiddens, num_layers)
        self.dense = nn.Linear(num_hiddens, vocab_size)

    def forward(self, X, state):
        embs = self.embedding(X.t().type(torch.int32))  # [num_steps, batch, embed]
        enc_output, hidden_state = state
        context = enc_output[-1]  # [batch, num_hiddens]
        context = context.repeat(embs.shape[0], 1, 1)
        embs_and_context = torch.cat((embs, context), -1)
        outputs, hidden_state = self.rnn(embs_and_context, hidden_state)
        outputs = self.dense(outputs).swapaxes(0, 1)
        return outputs, [enc_output, hidden_state]


class PerformanceRNN(nn.Module):
    """Performance-RNN: one step of event ids [1, batch] and its control [1, batch, control_dim]
    (pitch histogram and note density) into a GRU, the next events' logits [1, batch, events]."""

    def __init__(self, event_dim=24, control_dim=6, init_dim=8, hidden_dim=16, gru_layers=2):
        super().__init__()
        self.event_dim, self.control_dim, self.gru_layers = event_dim, control_dim, gru_layers
        self.event_embedding = nn.Embedding(event_dim, event_dim)
        self.concat_input_fc = nn.Linear(event_dim + 1 + control_dim, hidden_dim)
        self.concat_input_fc_activation = nn.LeakyReLU(0.1, inplace=True)
        self.gru = nn.GRU(hidden_dim, hidden_dim, num_layers=gru_layers)
        self.output_fc = nn.Linear(hidden_dim * gru_layers, event_dim)

    def forward(self, event, control=None, hidden=None):
        assert len(event.shape) == 2
        assert event.shape[0] == 1
        batch_size = event.shape[1]
        event = self.event_embedding(event)
        if control is None:
            default = torch.ones(1, batch_size, 1, device=event.device)
            control = torch.zeros(1, batch_size, self.control_dim, device=event.device)
        else:
            default = torch.zeros(1, batch_size, 1, device=event.device)
            assert control.shape == (1, batch_size, self.control_dim)
        concat = torch.cat([event, default, control], -1)
        input = self.concat_input_fc_activation(self.concat_input_fc(concat))
        _, hidden = self.gru(input, hidden)
        output = hidden.permute(1, 0, 2).contiguous()
        output = output.view(batch_size, -1).unsqueeze(0)
        return self.output_fc(output), hidden
