"""The export corpus: each real model class with the example its author would pass, the export
options a user would try, and the model called as its author calls it (the reference).

``call(module, x, lengths, state)`` takes the graph's side of things, ``x`` batch-first
``[batch, time, ...]`` (token ids ``[batch, time]``), ``lengths`` int64 steps or None and the flat
state list or None, and returns ``(y, flat state)`` as the bundle gives them.
"""

from __future__ import annotations

import torch
from torch import nn

from . import pytorch_examples as ex
from . import speech_libs as sp
from . import text_libs as tx
from .corpus_named import NAMED_ENTRIES, _encode, _luong
from .entry import Entry, _flat, _t, feats, tokens


def _state_as_y(state) -> torch.Tensor:
    """A final state returned alone, as the graph gives it: batch-first, flattened, concatenated."""
    return torch.cat([s.transpose(0, 1).reshape(s.shape[1], -1) for s in state], -1)


def _wlm(kind: str) -> Entry:
    def call(m, x, lengths, state):
        y, h = m(_t(x), tuple(state) if kind == "LSTM" else state[0])
        return _t(y.view(x.shape[1], x.shape[0], -1)), _flat(h)

    return Entry(
        f"word_language_model RNNModel({kind})",
        "pytorch/examples",
        lambda: ex.RNNModel(kind, ntoken=40),
        lambda m, b, t: (_t(tokens(40, b, t)), m.init_hidden(b)),
        None,
        40,
        call,
    )


def _d2l(layer: str) -> Entry:
    def call(m, x, lengths, state):
        y, h = m(x, tuple(state) if layer == "LSTM" else state[0])
        return _t(y.view(x.shape[1], x.shape[0], -1)), _flat(h)

    def example(m, b, t):
        h = torch.zeros(1, b, 32)
        return tokens(28, b, t), ((h, h.clone()) if layer == "LSTM" else h)

    return Entry(
        f"d2l RNNModel({layer})",
        "d2l-ai/d2l-en",
        lambda: ex.D2LRNNModel(getattr(nn, layer)(28, 32)),
        example,
        None,
        28,
        call,
    )


def _stateless(y_index: int | None = None, time_major: bool = False, lengths: bool = False, fraction=False):
    def call(m, x, steps, state):
        xs = _t(x) if time_major else x
        args = [xs]
        if lengths:
            args.append(steps.float() / x.shape[1] if fraction else steps)
        out = m(*args)
        y = out[y_index] if y_index is not None else out
        return (_t(y) if time_major and y.dim() == 3 else y), []

    return call


def _stateful(
    time_major=False, lengths=None, fraction=False, tuple_state=False, y_index=0, s_index=1, kw="hx"
):
    def call(m, x, steps, state):
        xs = _t(x) if time_major else x
        kwargs = {kw: tuple(state) if tuple_state else state[0]}
        if lengths:
            kwargs[lengths] = steps.float() / x.shape[1] if fraction else steps
        out = m(xs, **kwargs)
        y = out[y_index]
        return (_t(y) if time_major and y.dim() == 3 else y), _flat(out[s_index])

    return call


def _espnet_rnnp(m, x, steps, state):
    """ESPnet RNNP's prev_state: one (h, c) per layer."""
    y, _, states = m(x, steps, [tuple(state[0:2]), tuple(state[2:4])])
    return y, _flat(states)


def _masks(y):
    """[batch, n_src, filters, frames] as the graph gives it: [batch, frames, n_src * filters]."""
    return y.permute(0, 3, 1, 2).reshape(y.shape[0], y.shape[3], -1)


def _sb(kind, bidirectional=False, lengths=False) -> Entry:
    name = f"speechbrain.nnet.RNN.{kind}" + (" (relative lengths)" if lengths else "")
    return Entry(
        name,
        "speechbrain",
        lambda: sp.SpeechBrainRNN(kind, 12, (2, 6, 8), 2, bidirectional),
        lambda m, b, t: feats(8, b, t),
        call=_stateful(lengths="lengths" if lengths else None, fraction=True, tuple_state=kind == "LSTM"),
        kwargs={"lengths": True} if lengths else {},
    )


ENTRIES: list[Entry] = [
    _wlm("LSTM"),
    _wlm("GRU"),
    _wlm("RNN_RELU"),
    Entry(
        "time_sequence_prediction Sequence",
        "pytorch/examples",
        ex.Sequence,
        lambda m, b, t: torch.randn(b, t),
    ),
    Entry("mnist_rnn Net", "pytorch/examples", ex.MnistRNN, lambda m, b, t: torch.randn(b, 1, 28, 28)),
    Entry(
        "snli Encoder (bi-LSTM)",
        "pytorch/examples",
        ex.SNLIEncoder,
        lambda m, b, t: _t(feats(12, b, t)),
        12,
        call=_stateless(time_major=True),
    ),
    Entry(
        "char_rnn_classification CharRNN",
        "pytorch/tutorials",
        ex.CharRNN,
        lambda m, b, t: _t(feats(57, b, t)),
        57,
        call=_stateless(time_major=True),
    ),
    Entry(
        "seq2seq_translation EncoderRNN",
        "pytorch/tutorials",
        ex.EncoderRNN,
        lambda m, b, t: tokens(30, b, t),
        None,
        call=_stateless(0),
    ),
    Entry(
        "seq2seq_translation DecoderRNN",
        "pytorch/tutorials",
        ex.DecoderRNN,
        lambda m, b, t: (torch.randn(b, t, 16), torch.zeros(1, b, 16)),
        16,
    ),
    Entry(
        "chatbot EncoderRNN (packed, time-major)",
        "pytorch/tutorials",
        ex.ChatbotEncoderRNN,
        lambda m, b, t: _t(tokens(30, b, t)),
        None,
        call=_stateful(time_major=True, lengths="input_lengths", kw="hidden"),
        kwargs={"lengths": True},
        sorted_lengths=True,
    ),
    Entry(
        "chatbot LuongAttnDecoderRNN",
        "pytorch/tutorials",
        ex.LuongAttnDecoderRNN,
        lambda m, b, t: (tokens(30, 1, b), torch.zeros(2, b, 16), torch.randn(t, b, 16)),
        None,
        call=_luong,
    ),
    Entry(
        "pytorch-seq2seq Encoder",
        "bentrevett/pytorch-seq2seq",
        ex.Seq2SeqEncoder,
        lambda m, b, t: _t(tokens(20, b, t)),
        None,
        20,
        call=lambda m, x, steps, state: (_state_as_y(m(_t(x))), []),
    ),
    Entry(
        "pytorch-seq2seq Decoder",
        "bentrevett/pytorch-seq2seq",
        ex.Seq2SeqDecoder,
        lambda m, b, t: (torch.randint(0, 20, (b,)), torch.zeros(2, b, 16), torch.zeros(2, b, 16)),
        None,
        20,
        call=lambda m, x, steps, state: (lambda y, h, c: (y, [h, c]))(*m(x[:, 0], *state)),
    ),
    Entry(
        "sequence_models LSTMTagger",
        "pytorch/tutorials",
        ex.LSTMTagger,
        lambda m, b, t: torch.randint(0, 9, (t,)),
    ),
    _d2l("GRU"),
    _d2l("LSTM"),
    Entry(
        "DeepSpeech",
        "torchaudio",
        sp.DeepSpeech,
        lambda m, b, t: torch.randn(b, 1, t, 12),
        12,
        call=lambda m, x, steps, state: (m(x.unsqueeze(1)), []),
    ),
    Entry(
        "Tacotron2 _Encoder",
        "torchaudio",
        sp.TacotronEncoder,
        lambda m, b, t: torch.randn(b, 16, t),
        16,
        call=lambda m, x, steps, state: (m(x.transpose(1, 2), steps), []),
        kwargs={"lengths": True},
        sorted_lengths=True,
    ),
    Entry(
        "WaveRNN",
        "torchaudio",
        sp.WaveRNN,
        lambda m, b, t: (torch.randn(b, 1, 4 * t), torch.randn(b, 1, 8, t)),
    ),
    Entry(
        "SingleRNN (bi-LSTM)",
        "asteroid",
        lambda: sp.SingleRNN("LSTM", 8, 12, 2, bidirectional=True),
        lambda m, b, t: feats(8, b, t),
        call=_stateless(),
    ),
    Entry(
        "StackedResidualRNN (GRU)",
        "asteroid",
        sp.StackedResidualRNN,
        lambda m, b, t: feats(8, b, t),
        call=_stateless(),
    ),
    Entry(
        "StackedResidualBiRNN (LSTM)",
        "asteroid",
        sp.StackedResidualBiRNN,
        lambda m, b, t: feats(8, b, t),
        call=_stateless(),
    ),
    Entry("DPRNNBlock", "asteroid", sp.DPRNNBlock, lambda m, b, t: torch.randn(b, 8, 5, t)),
    Entry(
        "LSTMMasker",
        "asteroid",
        sp.LSTMMasker,
        lambda m, b, t: torch.randn(b, 8, t),
        call=lambda m, x, steps, state: (_masks(m(x.transpose(1, 2))), []),
    ),
    _sb("LSTM", lengths=True),
    _sb("GRU"),
    _sb("RNN", bidirectional=True),
    Entry("LiGRU", "speechbrain", sp.LiGRU, lambda m, b, t: feats(8, b, t)),
    Entry(
        "nn.LSTM subclass (zero lengths)",
        "pytorch-forecasting",
        lambda: tx.ForecastingLSTM(3, 8, batch_first=True),
        lambda m, b, t: feats(3, b, t),
        3,
        call=_stateful(lengths="lengths", tuple_state=True),
        kwargs={"lengths": True},
        refused="a row of length 0",
    ),
    Entry(
        "nn.GRU subclass",
        "pytorch-forecasting",
        lambda: tx.ForecastingGRU(3, 8, num_layers=2, batch_first=True),
        lambda m, b, t: feats(3, b, t),
        3,
        call=_stateful(),
    ),
    Entry(
        "RecurrentNetwork.encode (dict input)",
        "pytorch-forecasting",
        tx.RecurrentNetworkEncoder,
        lambda m, b, t: {
            "encoder_cat": torch.stack([torch.randint(0, 5, (b, t)), torch.randint(0, 7, (b, t))], -1),
            "encoder_cont": feats(3, b, t),
            "encoder_lengths": torch.full((b,), t),
        },
        3,
        call=_encode,
        kwargs={"lengths": True},
        refused="data-dependent control flow",  # the library's LSTM: if min_length == 0
    ),
    Entry(
        "encoders.RNN (packed BLSTM)",
        "espnet",
        tx.EspnetRNN,
        lambda m, b, t: feats(8, b, t),
        call=_stateful(lengths="ilens", tuple_state=True, s_index=2, kw="prev_state"),
        kwargs={"lengths": True},
        sorted_lengths=True,
    ),
    Entry(
        "encoders.RNNP (per-layer BLSTM)",
        "espnet",
        tx.EspnetRNNP,
        lambda m, b, t: feats(8, b, t),
        call=_espnet_rnnp,
        kwargs={"lengths": True},
        sorted_lengths=True,
    ),
    Entry(
        "LanguageModel (char LSTM)",
        "flair",
        tx.FlairLanguageModel,
        lambda m, b, t: (_t(tokens(40, b, t)), m.init_hidden(b)),
        None,
        40,
        call=_stateful(time_major=True, tuple_state=True, s_index=2, kw="hidden"),
    ),
]
ENTRIES += NAMED_ENTRIES  # the classes the general contract brought in (corpus_named.py)
