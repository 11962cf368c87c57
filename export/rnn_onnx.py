"""Translations of the recurrent ops into native ONNX ``LSTM``/``GRU``/``RNN`` nodes (onnxscript).

:func:`translation_table` is the ``custom_translation_table`` handed to
``torch.onnx.export(dynamo=True)``: the ``edgernn::*`` custom ops (``rnn_ops``) and, for modules that
call ``torch.lstm`` & co. directly, the ``aten`` overloads. Each layer becomes one node (layout 0,
time-major, as onnxruntime's CPU kernels require), gates reordered to ONNX's order, GRU with
``linear_before_reset=1``, ReLU RNNs with ``activations=["Relu"]``, and ``lengths`` as
``sequence_lens``. :func:`fold_weight_preparation` then folds the gate reordering into the weights.
"""

from __future__ import annotations

from typing import Any

import torch
from onnxscript import opset18 as op

from . import rnn_ops  # noqa: F401  (importing it registers the edgernn::* ops)

# Gate blocks, PyTorch -> ONNX. LSTM: (i, f, g, o) -> (i, o, f, c); GRU: (r, z, n) -> (z, r, h).
_GATE_ORDER = {"LSTM": (0, 3, 1, 2), "GRU": (1, 0, 2), "RNN": (0,)}
_ONNX_OP = {"lstm": "LSTM", "gru": "GRU", "rnn_tanh": "RNN", "rnn_relu": "RNN"}
_INT32 = 6  # onnx.TensorProto.INT32
_WEIGHT_PREP_OPS = {"Gather", "Unsqueeze", "Concat"}


def _gate_rows(onnx_op: str, hidden_size: int) -> list[int]:
    """Row indices that reorder a ``[gates*H, ...]`` PyTorch weight to ONNX's gate order."""
    return [g * hidden_size + i for g in _GATE_ORDER[onnx_op] for i in range(hidden_size)]


def _layer_weights(onnx_op, params, layer, dirs, has_biases, hidden_size):
    """``W [dirs, G*H, I]``, ``R [dirs, G*H, H]`` and ``B [dirs, 2*G*H]`` (or None) for one layer."""
    per_dir = 4 if has_biases else 2
    rows = _gate_rows(onnx_op, hidden_size)
    w, r, b = [], [], []
    for d in range(dirs):
        p = params[(layer * dirs + d) * per_dir :][:per_dir]
        w.append(op.Unsqueeze(op.Gather(p[0], rows, axis=0), [0]))
        r.append(op.Unsqueeze(op.Gather(p[1], rows, axis=0), [0]))
        if has_biases:
            both = op.Concat(op.Gather(p[2], rows, axis=0), op.Gather(p[3], rows, axis=0), axis=0)
            b.append(op.Unsqueeze(both, [0]))
    cat = (lambda xs: xs[0]) if dirs == 1 else (lambda xs: op.Concat(*xs, axis=0))
    return cat(w), cat(r), (cat(b) if has_biases else None)


def _layer_state(state, layer: int, dirs: int):
    return None if state is None else op.Slice(state, [layer * dirs], [(layer + 1) * dirs], [0])


def _node(mode, x, weights, seq_lens, h0, c0, dirs, hidden_size):
    """One native node; returns ``(Y, Y_h[, Y_c])``."""
    onnx_op = _ONNX_OP[mode]
    attrs: dict[str, Any] = {
        "hidden_size": hidden_size,
        "direction": "bidirectional" if dirs == 2 else "forward",
        "layout": 0,
    }
    if onnx_op == "GRU":
        attrs["linear_before_reset"] = 1
    if mode == "rnn_relu":
        attrs["activations"] = ["Relu"] * dirs
    if onnx_op == "LSTM":
        return op.LSTM(x, *weights, seq_lens, h0, c0, **attrs)
    return getattr(op, onnx_op)(x, *weights, seq_lens, h0, **attrs)


def _merge_directions(y, dirs: int):
    """ONNX ``Y [T, dirs, B, H]`` -> PyTorch's ``[T, B, dirs*H]``."""
    if dirs == 1:
        return op.Squeeze(y, [1])
    return op.Reshape(op.Transpose(y, perm=[0, 2, 1, 3]), [0, 0, -1])


def _translate(mode, input, h0, c0, params, lengths, has_biases, layers, bidirectional, batch_first, hidden):
    """A stack of per-layer native nodes; returns ``(y, h_n[, c_n])`` in PyTorch's layout."""
    dirs = 2 if bidirectional else 1
    x = op.Transpose(input, perm=[1, 0, 2]) if batch_first else input
    seq_lens = None if lengths is None else op.Cast(lengths, to=_INT32)
    hs, cs = [], []
    for layer in range(layers):
        weights = _layer_weights(_ONNX_OP[mode], params, layer, dirs, has_biases, hidden)
        h, c = _layer_state(h0, layer, dirs), _layer_state(c0, layer, dirs)
        outs = _node(mode, x, weights, seq_lens, h, c, dirs, hidden)
        x = _merge_directions(outs[0], dirs)
        hs.append(outs[1])
        if mode == "lstm":
            cs.append(outs[2])
    y = op.Transpose(x, perm=[1, 0, 2]) if batch_first else x
    cat = (lambda xs: xs[0]) if layers == 1 else (lambda xs: op.Concat(*xs, axis=0))
    return (y, cat(hs), cat(cs)) if mode == "lstm" else (y, cat(hs))


def _edgernn_lstm(input, h0, c0, params, lengths, has_biases, layers, bidirectional, batch_first, hidden):
    return _translate(
        "lstm", input, h0, c0, params, lengths, has_biases, layers, bidirectional, batch_first, hidden
    )


def _edgernn_single(mode: str):
    def translation(input, h0, params, lengths, has_biases, layers, bidirectional, batch_first, hidden):
        return _translate(
            mode, input, h0, None, params, lengths, has_biases, layers, bidirectional, batch_first, hidden
        )

    translation.__name__ = f"edgernn_{mode}"
    return translation


def _aten_lstm(input, hx, params, has_biases, layers, dropout, train, bidirectional, batch_first):
    hidden = int(params[1].shape[1])  # weight_hh_l0: [4H, H]
    return _translate(
        "lstm", input, hx[0], hx[1], params, None, has_biases, layers, bidirectional, batch_first, hidden
    )


def _aten_single(mode: str):
    def translation(input, hx, params, has_biases, layers, dropout, train, bidirectional, batch_first):
        hidden = int(params[1].shape[1])
        return _translate(
            mode, input, hx, None, params, None, has_biases, layers, bidirectional, batch_first, hidden
        )

    translation.__name__ = f"aten_{mode}_input"
    return translation


def translation_table() -> dict:
    """``custom_translation_table`` for ``torch.onnx.export(dynamo=True)``: the ``edgernn::*``
    custom ops, and ``aten.{lstm,gru,rnn_tanh,rnn_relu}.input`` for direct ``torch.lstm`` calls."""
    table = {torch.ops.edgernn.lstm.default: _edgernn_lstm, torch.ops.aten.lstm.input: _aten_lstm}
    for mode in ("gru", "rnn_tanh", "rnn_relu"):
        table[getattr(torch.ops.edgernn, mode).default] = _edgernn_single(mode)
        table[getattr(torch.ops.aten, mode).input] = _aten_single(mode)
    return table


def fold_weight_preparation(model) -> None:
    """Fold the gate-reordering Gather/Unsqueeze/Concat of constant weights, whatever their size
    (the exporter's optimizer skips tensors over 8192 elements). ``model`` is an ``onnx_ir.Model``."""
    import onnxscript.optimizer

    def should_fold(node):
        if node.domain not in ("", "ai.onnx") or node.op_type not in _WEIGHT_PREP_OPS:
            return None
        return all(v is None or v.const_value is not None for v in node.inputs) or None

    onnxscript.optimizer.fold_constants(model, should_fold=should_fold)
    onnxscript.optimizer.remove_unused_nodes(model)
