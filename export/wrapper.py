"""The explicit export wrapper and the checks that a module will export to native recurrent ops."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ExportError

_CELLS = ((nn.LSTM, "lstm"), (nn.GRU, "gru"), (nn.RNN, "rnn"))  # subclasses included (isinstance)
_UNROLLED = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)


@dataclass(frozen=True)
class RecurrentLayer:
    """One nn.LSTM/GRU/RNN found in a module; ``nodes`` is how many ONNX nodes it should become."""

    path: str
    cell: str  # lstm | gru | rnn (tanh or relu: nn.RNN's two nonlinearities, both native in ONNX)
    layers: int
    hidden_size: int
    bidirectional: bool
    batch_first: bool

    @property
    def nodes(self) -> int:
        return self.layers  # the exporters emit one node per layer (bidirectional inside the node)

    @property
    def state_rows(self) -> int:
        return self.layers * (2 if self.bidirectional else 1)


def find_recurrent(module: nn.Module, *, allow_unrolled: bool = False) -> list[RecurrentLayer]:
    """List the module's recurrent layers; refuse what would be unrolled or decomposed."""
    found = []
    for path, sub in module.named_modules():
        name = path or type(module).__name__
        if isinstance(sub, _UNROLLED) and not allow_unrolled:
            raise ExportError(
                f"module {name!r} is an {type(sub).__name__}: a cell stepped in a Python loop is unrolled "
                "into one node per step. Use nn.LSTM/nn.GRU/nn.RNN over the whole sequence "
                "(or pass allow_unrolled=True to export it anyway)"
            )
        cell = cell_of(sub)
        if cell is None:
            continue
        if getattr(sub, "proj_size", 0) and not allow_unrolled:
            raise ExportError(
                f"module {name!r} is an LSTM with proj_size={sub.proj_size}: ONNX's LSTM has no projection, "
                "so it would be decomposed into elementwise ops. Use proj_size=0"
            )
        if module.training and sub.dropout > 0 and sub.num_layers > 1:
            raise ExportError(
                f"module {name!r} has dropout={sub.dropout} and the model is in training mode: training-mode "
                "dropout cannot be expressed by the native op. Call model.eval() before exporting"
            )
        found.append(
            RecurrentLayer(name, cell, sub.num_layers, sub.hidden_size, sub.bidirectional, sub.batch_first)
        )
    if not found and not allow_unrolled:
        raise ExportError(
            f"module {type(module).__name__!r} holds no nn.LSTM, nn.GRU or nn.RNN: nothing recurrent to export"
        )
    return found


def cell_of(module: nn.Module) -> str | None:
    """``lstm``, ``gru`` or ``rnn`` for an nn.LSTM/GRU/RNN or a subclass of one; None otherwise."""
    return next((cell for kind, cell in _CELLS if isinstance(module, kind)), None)


class ExportWrapper(nn.Module):
    """The graph's fixed signature around the module as it is written.

    Graph: ``x [batch, time, ...], h0[, c0][, lengths][, further inputs] -> y, hn[, cn][, further outputs]``; ``calling`` says where the
    module takes its state (positional or keyword, tensor, tuple or list) and whether it reads ``x``
    time-major. A stateless module gives ``y`` only.
    """

    def __init__(self, module: nn.Module, calling) -> None:
        super().__init__()
        self.module = module
        self.calling = calling

    def forward(self, x: torch.Tensor, *rest: torch.Tensor):
        n = self.calling.n_state
        lengths = rest[n] if self.calling.lengths else None
        further = rest[n + bool(self.calling.lengths) :]
        y, state, extras = self.calling.call(self.module, x, tuple(rest[:n]), lengths, further)
        outs = (y, *state, *(leaf.value for leaf in extras))
        return outs if len(outs) > 1 else y


def state_names(
    state_tensors: int, lstm: bool = True, names: tuple[str, ...] | None = None
) -> tuple[list[str], list[str]]:
    """Graph names of the state inputs and outputs: ``{name}0 -> {name}n`` for a module's own
    ``state_names``; else ``h0 -> hn``, and ``c0 -> cn`` when the two tensors are one LSTM's
    ``(h, c)``; ``state0 -> state0_out``, ... for any other state."""
    if names is not None and len(names) == state_tensors:
        return [f"{n}0" for n in names], [f"{n}n" for n in names]
    if state_tensors == 1:
        return ["h0"], ["hn"]
    if state_tensors == 2 and lstm:
        return ["h0", "c0"], ["hn", "cn"]
    return [f"state{i}" for i in range(state_tensors)], [f"state{i}_out" for i in range(state_tensors)]
