"""The export matrix's user-module kinds: each module of :mod:`user_modules` with the way its author
calls it (``example``, ``call``).

``call(module, x, state)`` runs the module as its author would, on batch-first ``x`` (time-major
modules get it transposed) and a flat list of state tensors (or None), and returns
``(y batch-first, flat state list)``: the independent reference the exported bundle is checked against.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from root_cause_modules import SqueezeLayers, SubclassTagger, TwoGRUShared  # noqa: E402
from torch import nn
from user_modules import (  # noqa: E402
    BiGRUState,
    BiLSTMMean,
    ConvGRU,
    EncoderDecoder,
    GRUHidden,
    GRUHiddenNone,
    GRUReluStack,
    KeywordState,
    LastStep,
    LastThree,
    LSTMListState,
    LSTMState,
    NeedsFive,
    ReluBiTimeMajor,
    ReluTimeMajor,
    ResidualLSTM,
    Tagger,
)


# -- how each author calls their module ----------------------------------------------------------
def _x(features: int | None, vocab: int = 30):
    def make(batch: int, time: int) -> torch.Tensor:
        if features is None:
            return torch.randint(0, vocab, (batch, time))
        return torch.randn(batch, time, features)

    return make


@dataclass(frozen=True)
class Kind:
    """One user-module kind of the export matrix: how to build, call and export it, and what to expect."""

    name: str
    make: Callable[[], nn.Module]
    features: int | None  # None: token ids
    native: dict[str, int]  # expected native recurrent nodes
    state: tuple[tuple[int, int], ...] = ()  # (rows, hidden) per state tensor; () stateless
    structure: str = "tensor"  # tensor | tuple | list
    passing: str = "none"  # positional | keyword:NAME | none (never given by the example)
    example_state: bool = False  # export with example_inputs=(x, state)
    time_major: bool = False
    min_length: int = 1
    time: int = 6  # the example's length
    topology: str = "many_to_many"
    streamable: bool = True
    auto_exporter: str = "torchscript"  # which exporter exporter="auto" keeps
    export_kwargs: dict[str, Any] = field(default_factory=dict)

    def example(self, batch: int, time: int) -> Any:
        x = _x(self.features)(batch, time)
        if self.time_major:
            x = x.transpose(0, 1).contiguous()
        if not self.example_state:
            return x
        return (x, self.pack(self.zeros(batch, random=True)))

    def zeros(self, batch: int, random: bool = False) -> list[torch.Tensor]:
        make = (lambda s: 0.5 * torch.randn(s)) if random else torch.zeros
        return [make((rows, batch, hidden)) for rows, hidden in self.state]

    def pack(self, flat: list[torch.Tensor]) -> Any:
        if self.structure == "tensor":
            return flat[0]
        return list(flat) if self.structure == "list" else tuple(flat)

    def call(self, module: nn.Module, x: torch.Tensor, state: list[torch.Tensor] | None):
        """The module run as its author runs it; returns (y batch-first, flat state or [])."""
        xs = x.transpose(0, 1) if self.time_major else x
        with torch.no_grad():
            if not self.state:
                out = module(xs)
                y, flat = (out[0] if isinstance(out, tuple) else out), []
            else:
                given = self.pack(state if state is not None else self.zeros(x.shape[0]))
                if self.passing == "positional":
                    out = module(xs, given)
                else:
                    out = module(xs, **{self.passing.split(":")[1]: given})
                y, flat = out[0], [out[1]] if isinstance(out[1], torch.Tensor) else list(out[1])
        if self.time_major and y.dim() == 3:
            y = y.transpose(0, 1)
        return y, flat


KINDS = [
    Kind(
        "gru3_state_positional", GRUHidden, 4, {"GRU": 3}, ((3, 8),), passing="positional", example_state=True
    ),
    Kind(
        "lstm_tuple_state_positional",
        LSTMState,
        4,
        {"LSTM": 2},
        ((2, 8), (2, 8)),
        structure="tuple",
        passing="positional",
        example_state=True,
    ),
    Kind(
        "relu_rnn_time_major",
        ReluTimeMajor,
        8,
        {"RNN": 1},
        ((1, 24),),
        passing="positional",
        example_state=True,
        time_major=True,
    ),
    Kind("gru_last3_min_length", LastThree, 4, {"GRU": 2}, min_length=3, time=9, topology="many_to_one"),
    Kind(
        "many_to_one_inferred",
        LastStep,
        4,
        {"LSTM": 2},
        ((2, 8), (2, 8)),
        structure="tuple",
        passing="keyword:state",
        topology="many_to_one",
    ),
    Kind("gru_hidden_none", GRUHiddenNone, 4, {"GRU": 2}, ((2, 7),), passing="keyword:hidden"),
    Kind("lstm_list_state", LSTMListState, 4, {"LSTM": 1}, ((1, 6), (1, 6)), "list", "keyword:state"),
    Kind("gru_keyword_only_state", KeywordState, 4, {"GRU": 1}, ((1, 8),), passing="keyword:state"),
    Kind(
        "gru_relu_rnn_stack",
        GRUReluStack,
        4,
        {"GRU": 2, "RNN": 1},
        ((2, 8), (1, 6)),
        "tuple",
        "keyword:state",
    ),
    Kind(
        "lstm_needs_5_steps",
        NeedsFive,
        4,
        {"LSTM": 1},
        ((1, 6), (1, 6)),
        structure="tuple",
        passing="keyword:state",
        min_length=5,
        time=8,
        topology="many_to_one",
    ),
    Kind(
        "bi_gru_state",
        BiGRUState,
        4,
        {"GRU": 2},
        ((4, 5),),
        passing="positional",
        example_state=True,
        streamable=False,
    ),
    Kind(
        "bi_relu_rnn_time_major",
        ReluBiTimeMajor,
        4,
        {"RNN": 2},
        ((4, 6),),
        passing="keyword:h",
        example_state=True,
        time_major=True,
        streamable=False,
    ),
    Kind("embedding_lstm_tagger", Tagger, None, {"LSTM": 2}),
    Kind("conv1d_gru_last_step", ConvGRU, 4, {"GRU": 1}, topology="many_to_one"),
    Kind("bi_lstm_mean_pool", BiLSTMMean, 4, {"LSTM": 2}, topology="many_to_one"),
    Kind("lstm_encoder_gru", EncoderDecoder, 4, {"LSTM": 1, "GRU": 1}),
    Kind("residual_layernorm_lstm", ResidualLSTM, 4, {"LSTM": 1}, ((1, 8), (1, 8)), "tuple", "keyword:state"),
    # issue 27: a subclass of nn.LSTM, torch.chunk on the state (dynamo's Split), squeeze of a non-1 dim
    Kind("lstm_subclass", SubclassTagger, 4, {"LSTM": 2}, ((2, 8), (2, 8)), "tuple", "keyword:state"),
    Kind("two_gru_chunked_state", TwoGRUShared, 4, {"GRU": 2}, ((1, 16),), passing="keyword:h"),
    Kind("lstm_squeeze_layers", SqueezeLayers, 4, {"LSTM": 2}, topology="many_to_one"),
]
