"""The explicit export wrapper and the checks that a module will export to native recurrent ops."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ExportError

_CELLS = {nn.LSTM: "lstm", nn.GRU: "gru", nn.RNN: "rnn"}
_UNROLLED = (nn.LSTMCell, nn.GRUCell, nn.RNNCell)


@dataclass(frozen=True)
class RecurrentLayer:
    """One nn.LSTM/GRU/RNN found in a module; ``nodes`` is how many ONNX nodes it should become."""

    path: str
    cell: str
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
        cell = _CELLS.get(type(sub))
        if cell is None:
            continue
        if getattr(sub, "proj_size", 0) and not allow_unrolled:
            raise ExportError(
                f"module {name!r} is an LSTM with proj_size={sub.proj_size}: ONNX's LSTM has no projection, "
                "so it would be decomposed into elementwise ops. Use proj_size=0"
            )
        if cell == "rnn" and sub.nonlinearity != "tanh" and not allow_unrolled:
            raise ExportError(
                f"module {name!r} is an RNN with nonlinearity={sub.nonlinearity!r}: export supports tanh"
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


class ExportWrapper(nn.Module):
    """Flatten the state of ``forward(x, state) -> (y, state)`` into named tensors.

    Graph signature: ``x, h0[, c0][, lengths] -> y, hn[, cn]``. With ``state=False`` the wrapped
    module is called as ``module(x)`` (or ``module(x, lengths=...)``) and only ``y`` is returned.
    """

    def __init__(self, module: nn.Module, *, state_tensors: int, lengths: bool) -> None:
        super().__init__()
        self.module = module
        self.state_tensors = state_tensors
        self.lengths = lengths

    def forward(self, x: torch.Tensor, *rest: torch.Tensor):
        state_in = rest[: self.state_tensors]
        kwargs = {"lengths": rest[self.state_tensors]} if self.lengths else {}
        if self.state_tensors == 0:
            out = self.module(x, **kwargs)
            return out[0] if isinstance(out, tuple) else out
        state = state_in[0] if self.state_tensors == 1 else tuple(state_in)
        y, state = self.module(x, state, **kwargs)
        return (y, state) if self.state_tensors == 1 else (y, *state)


def state_names(state_tensors: int, names: tuple[str, ...] | None = None) -> tuple[list[str], list[str]]:
    """Graph names of the state inputs and outputs: ``h0 -> hn`` and ``c0 -> cn`` for an LSTM, or
    ``{name}0 -> {name}n`` for the module's own ``state_names``."""
    if names is not None and len(names) == state_tensors:
        return [f"{n}0" for n in names], [f"{n}n" for n in names]
    if state_tensors == 1:
        return ["h0"], ["hn"]
    if state_tensors == 2:
        return ["h0", "c0"], ["hn", "cn"]
    return [f"state{i}" for i in range(state_tensors)], [f"state{i}_out" for i in range(state_tensors)]


def count_state_tensors(module: nn.Module, x: torch.Tensor) -> int:
    """Run the module once on ``x`` to see how it returns its state (tensor, or tuple for LSTM)."""
    with torch.no_grad():
        out = module(x)
    if not (isinstance(out, tuple) and len(out) == 2):
        raise ExportError(
            f"with state=True, expected {type(module).__name__}.forward(x, state=None) to return (y, state), "
            f"got {type(out).__name__}. Pass state=False for a module whose forward returns y only"
        )
    state = out[1]
    if isinstance(state, torch.Tensor):
        return 1
    if isinstance(state, tuple | list) and state and all(isinstance(s, torch.Tensor) for s in state):
        return len(state)
    raise ExportError(
        f"expected the returned state to be a tensor or a tuple of tensors, got {type(state).__name__}"
    )
