"""Corpus entries for modules that take several tensors (further named inputs, a dict or tuple x,
a decoder step, a state passed through): each with the model called as its author calls it, the
further inputs by their graph names (``call(module, x, lengths, state, **further)``)."""

from __future__ import annotations

import torch

from . import forecast_libs as fc
from .entry import Entry, _flat, _t, feats, tokens


def _luong(m, x, steps, state, encoder_outputs):
    """One decoding step: the token [1, batch], the GRU's hidden state, the encoder's outputs
    [memory_time, batch, hidden] (a length of their own)."""
    y, h = m(_t(x), state[0], encoder_outputs)
    return y, [h]


def _encode(m, x, steps, state, **further):
    """pytorch-forecasting's encode: the final (h, c), batch-first, flattened, concatenated."""
    batch = {"encoder_cat": further["x.encoder_cat"], "encoder_cont": x, "encoder_lengths": steps}
    h, c = m(batch)
    return torch.cat([s.transpose(0, 1).reshape(s.shape[1], -1) for s in (h, c)], -1), []


def _darts(m, x, steps, state):
    y, h = m((x, None), tuple(state))
    return y.reshape(y.shape[0], y.shape[1], -1), _flat(h)


def _neuralforecast(m, x, steps, state, **further):
    batch = {
        "insample_y": x,
        "hist_exog": further["windows_batch.hist_exog"],
        "stat_exog": further["windows_batch.stat_exog"],
    }
    y = m(batch)
    return y.reshape(y.shape[0], y.shape[1], -1), []


def _d2l_decoder(m, x, steps, state, **further):
    memory = further.get("state.0", state[0] if len(state) == 2 else None)
    y, (_, h) = m(x, [memory, state[-1]])
    return y, ([memory, h] if len(state) == 2 else [h])


def _performance(m, x, steps, state, control):
    """One event step [1, batch] with its control vector [1, batch, 6] and the GRU's state."""
    y, h = m(_t(x), control, state[0])
    return _t(y), [h]


NAMED_ENTRIES: list[Entry] = [
    Entry(
        "_RNNModule (x_in tuple, LSTM)",
        "darts",
        fc.DartsRNNModule,
        lambda m, b, t: ((feats(4, b, t), None),),
        4,
        call=_darts,
    ),
    Entry(
        "RNN (windows_batch dict)",
        "neuralforecast",
        fc.NeuralForecastRNN,
        lambda m, b, t: {
            "insample_y": feats(1, b, t),
            "hist_exog": feats(2, b, t),
            "stat_exog": torch.randn(b, 2),
        },
        1,
        call=_neuralforecast,
    ),
    Entry(
        "char_rnn_generation RNN (category, input, hidden)",
        "pytorch/tutorials",
        fc.CharRNNGeneration,
        lambda m, b, t: (
            torch.eye(4)[torch.zeros(b, dtype=torch.long)],
            torch.randn(b, 12),
            torch.zeros(b, 16),
        ),
    ),
    Entry(
        "Seq2SeqDecoder (state = [enc_outputs, hidden])",
        "d2l-ai/d2l-en",
        fc.D2LSeq2SeqDecoder,
        lambda m, b, t: (tokens(30, b, t), [torch.randn(t, b, 16), torch.zeros(2, b, 16)]),
        None,
        call=_d2l_decoder,
    ),
    Entry(
        "PerformanceRNN (event, control, hidden)",
        "Performance-RNN-PyTorch",
        fc.PerformanceRNN,
        lambda m, b, t: (tokens(24, 1, b), torch.rand(1, b, 6), torch.zeros(2, b, 16)),
        None,
        24,
        call=_performance,
    ),
]
