"""nn.LSTM/GRU/RNN as ``torch.library`` custom ops, so the dynamo exporter keeps them whole.

``torch.onnx.export(dynamo=True)`` on its own (torch 2.13) freezes the declared time dim of
``aten.lstm``/``aten.gru`` outputs (its decompositions re-derive their shapes by unrolling), unrolls
``nn.RNN`` for the example length only, and cannot capture ``pack_padded_sequence``. Four custom
ops, ``edgernn::lstm``, ``edgernn::gru``, ``edgernn::rnn_tanh`` and ``edgernn::rnn_relu``, fix that
with public APIs: their eager kernels are torch's own (``torch.lstm`` & co., bit-identical to the nn
modules), their fake kernels give symbolic shapes, and an optional ``lengths`` reproduces
pack -> rnn -> pad. :func:`swap_rnn_modules` puts a parameter-sharing shim that calls them in place of
every recurrent module for the duration of an export (and takes the ``DeferredPack`` of
``packed_capture``); ``rnn_onnx`` translates them to native nodes.

The ops are registered when this module is first imported; import it from this path only.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from edgernn.train.packing import rnn_with_lengths

from .errors import ExportError
from .packed_capture import DeferredPack

__all__ = ["CUSTOM_OPS", "rnn_with_lengths", "swap_rnn_modules"]

RECURRENT_TYPES = (nn.LSTM, nn.GRU, nn.RNN)
_KERNELS = {"lstm": torch.lstm, "gru": torch.gru, "rnn_tanh": torch.rnn_tanh, "rnn_relu": torch.rnn_relu}


def mode_of(rnn: nn.Module) -> str:
    """``lstm``, ``gru``, ``rnn_tanh`` or ``rnn_relu`` for an nn.LSTM/GRU/RNN."""
    if isinstance(rnn, nn.LSTM):  # subclasses too (a library's LSTM that handles zero lengths)
        return "lstm"
    if isinstance(rnn, nn.GRU):
        return "gru"
    return "rnn_" + rnn.nonlinearity


def weight_names(rnn: nn.Module) -> list[str]:
    """Parameter names in torch's flat-weights order (layer-major, direction-minor)."""
    kinds = ["weight_ih", "weight_hh"] + (["bias_ih", "bias_hh"] if rnn.bias else [])
    suffixes = ["", "_reverse"][: 2 if rnn.bidirectional else 1]
    return [f"{k}_l{layer}{s}" for layer in range(rnn.num_layers) for s in suffixes for k in kinds]


def _eager(mode, input, hx, params, lengths, has_biases, num_layers, bidirectional, batch_first):
    """torch's own kernel; with ``lengths``, pack -> rnn -> pad to the input's full length."""
    kernel = _KERNELS[mode]
    flags = (has_biases, num_layers, 0.0, False, bidirectional)
    if lengths is None:
        return tuple(kernel(input, hx if mode == "lstm" else hx[0], params, *flags, batch_first))
    total = input.shape[1 if batch_first else 0]
    packed = pack_padded_sequence(input, lengths.cpu(), batch_first, enforce_sorted=False)
    hx = [h.index_select(1, packed.sorted_indices) for h in hx]
    out = kernel(packed.data, packed.batch_sizes, hx if mode == "lstm" else hx[0], params, *flags)
    y = PackedSequence(out[0], packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices)
    y, _ = pad_packed_sequence(y, batch_first, total_length=total)
    return (y, *(s.index_select(1, packed.unsorted_indices) for s in out[1:]))


def _zeros(input: Tensor, rows: int, batch_first: bool, hidden_size: int) -> Tensor:
    return input.new_zeros(rows, input.shape[0 if batch_first else 1], hidden_size)


def _fake(input, num_layers, bidirectional, batch_first, hidden_size, n_states):
    dirs = 2 if bidirectional else 1
    batch = input.shape[0 if batch_first else 1]
    states = tuple(input.new_empty(num_layers * dirs, batch, hidden_size) for _ in range(n_states))
    return (input.new_empty((*input.shape[:2], dirs * hidden_size)), *states)


@torch.library.custom_op("edgernn::lstm", mutates_args=())
def _lstm_op(
    input: Tensor,
    h0: Tensor | None,
    c0: Tensor | None,
    params: list[Tensor],
    lengths: Tensor | None,
    has_biases: bool,
    num_layers: int,
    bidirectional: bool,
    batch_first: bool,
    hidden_size: int,
) -> tuple[Tensor, Tensor, Tensor]:
    rows = num_layers * (2 if bidirectional else 1)
    h0 = _zeros(input, rows, batch_first, hidden_size) if h0 is None else h0
    c0 = _zeros(input, rows, batch_first, hidden_size) if c0 is None else c0
    return _eager(
        "lstm", input, [h0, c0], params, lengths, has_biases, num_layers, bidirectional, batch_first
    )


@_lstm_op.register_fake
def _(input, h0, c0, params, lengths, has_biases, num_layers, bidirectional, batch_first, hidden_size):
    return _fake(input, num_layers, bidirectional, batch_first, hidden_size, 2)


def _single_state_op(mode: str):
    """``edgernn::gru``, ``rnn_tanh`` and ``rnn_relu`` share one schema, returning ``(y, h_n)``."""

    def kernel(
        input: Tensor,
        h0: Tensor | None,
        params: list[Tensor],
        lengths: Tensor | None,
        has_biases: bool,
        num_layers: int,
        bidirectional: bool,
        batch_first: bool,
        hidden_size: int,
    ) -> tuple[Tensor, Tensor]:
        rows = num_layers * (2 if bidirectional else 1)
        h0 = _zeros(input, rows, batch_first, hidden_size) if h0 is None else h0
        return _eager(mode, input, [h0], params, lengths, has_biases, num_layers, bidirectional, batch_first)

    op = torch.library.custom_op(f"edgernn::{mode}", kernel, mutates_args=())

    @op.register_fake
    def _(input, h0, params, lengths, has_biases, num_layers, bidirectional, batch_first, hidden_size):
        return _fake(input, num_layers, bidirectional, batch_first, hidden_size, 1)

    return op


CUSTOM_OPS = {
    "lstm": _lstm_op,
    "gru": _single_state_op("gru"),
    "rnn_tanh": _single_state_op("rnn_tanh"),
    "rnn_relu": _single_state_op("rnn_relu"),
}


def _call(rnn: nn.Module, params: list[Tensor], input: Tensor, hx, lengths: Tensor | None, batch_first=None):
    """Call the custom op for ``rnn`` with the nn module's conventions for ``hx`` and the result."""
    mode = mode_of(rnn)
    batch_first = rnn.batch_first if batch_first is None else batch_first
    cfg = (rnn.bias, rnn.num_layers, rnn.bidirectional, batch_first, rnn.hidden_size)
    if mode == "lstm":
        h0, c0 = hx if hx is not None else (None, None)
        y, h, c = CUSTOM_OPS[mode](input, h0, c0, params, lengths, *cfg)
        return y, (h, c)
    return CUSTOM_OPS[mode](input, hx, params, lengths, *cfg)


class _ExportRNN(nn.Module):
    """Stands in for an nn.LSTM/GRU/RNN during a dynamo export and calls its custom op.

    It registers the *same* Parameter objects under the same names (initializer names and the state
    dict are unchanged) and answers every other attribute (``hidden_size``, ``num_layers``, ...) from
    the original module, so code such as ``torch.zeros(self.rnn.num_layers, b, self.rnn.hidden_size)``
    still runs.
    """

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        object.__setattr__(self, "cfg", rnn)  # not a submodule: the shim replaces it in the tree
        self._names = weight_names(rnn)
        for name in self._names:
            self.register_parameter(name, getattr(rnn, name))

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            value = getattr(object.__getattribute__(self, "cfg"), name)
            if isinstance(value, Tensor):  # weights are the shim's own (same Parameter objects)
                raise
            return value

    def params(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._names]

    def forward_lengths(self, input: Tensor, lengths: Tensor, hx=None):
        """What :func:`rnn_with_lengths` calls during an export: lengths become ``sequence_lens``."""
        return _call(self.cfg, self.params(), input, hx, lengths)

    def forward(self, input, hx=None):
        if isinstance(input, DeferredPack):  # pack_padded_sequence during the export: no packing
            y, state = _call(self.cfg, self.params(), input.padded, hx, input.lengths, batch_first=True)
            return DeferredPack(y, input.lengths), state
        if isinstance(input, PackedSequence):
            raise ExportError(
                "a PackedSequence made by other means than pack_padded_sequence (pack_sequence, or "
                "PackedSequence(...) itself) cannot be captured by torch.export (the dynamo exporter); "
                "call pack_padded_sequence -> rnn -> pad_packed_sequence, or "
                "edgernn.export.rnn_with_lengths(rnn, x, lengths, state), which gives the same numbers"
            )
        if input.dim() == 3:
            return _call(self.cfg, self.params(), input, hx, None)
        batch_axis = 1 - int(self.cfg.batch_first)  # unbatched [T, I]: add a batch axis of 1
        hx1 = None if hx is None else _map_state(hx, lambda t: t.unsqueeze(1))
        y, state = _call(self.cfg, self.params(), input.unsqueeze(batch_axis), hx1, None)
        return y.squeeze(batch_axis), _map_state(state, lambda t: t.squeeze(1))


def _map_state(state, fn):
    return tuple(fn(t) for t in state) if isinstance(state, tuple) else fn(state)


def _recurrent_children(model: nn.Module) -> Iterator[tuple[nn.Module, str, nn.Module]]:
    for parent in model.modules():
        for name, child in parent.named_children():
            if isinstance(child, RECURRENT_TYPES):
                yield parent, name, child


_BASE_FORWARD = {kind: kind.forward for kind in RECURRENT_TYPES}


def _own_forward(rnn: nn.Module) -> bool:
    """A subclass that writes its own forward (and calls ``super().forward`` inside it)."""
    return type(rnn).forward not in _BASE_FORWARD.values()


@contextlib.contextmanager
def swap_rnn_modules(model: nn.Module) -> Iterator[nn.Module]:
    """Temporarily replace every nn.LSTM/GRU/RNN in ``model`` by the custom-op shim. A subclass with its
    own forward stays in place (its forward is the module's behaviour): the base class's forward it
    calls is routed to the shim instead, for the duration of the export."""
    found = list(_recurrent_children(model))
    for _, name, child in found:
        if getattr(child, "proj_size", 0):
            raise ExportError(f"module {name!r} has proj_size: ONNX's LSTM has no projection")
    swapped = [(p, n, c) for p, n, c in found if not _own_forward(c)]
    routed = {id(c): _ExportRNN(c) for _, _, c in found if _own_forward(c)}
    try:
        for parent, name, child in swapped:
            setattr(parent, name, _ExportRNN(child))
        for kind, original in _BASE_FORWARD.items():
            if routed:
                kind.forward = _routed_forward(routed, original)
        yield model
    finally:
        for parent, name, child in swapped:
            setattr(parent, name, child)
        for kind, original in _BASE_FORWARD.items():
            kind.forward = original


def _routed_forward(shims: dict[int, nn.Module], original):
    def forward(self, *args, **kwargs):
        shim = shims.get(id(self))
        return shim(*args, **kwargs) if shim is not None else original(self, *args, **kwargs)

    return forward
