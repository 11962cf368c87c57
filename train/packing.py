"""Padded batches through a recurrent layer, written so that both ONNX exporters can capture it."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def rnn_with_lengths(rnn: nn.Module, x: Tensor, lengths: Tensor, state: Any = None) -> tuple[Tensor, Any]:
    """``rnn`` over padded ``x`` where only the first ``lengths[i]`` steps of row ``i`` count.

    The same numbers as ``pack_padded_sequence(x, lengths, rnn.batch_first, enforce_sorted=False)`` ->
    ``rnn`` -> ``pad_packed_sequence(..., total_length=T)``: steps past a row's length are zero and
    each row's final state is taken at its own last step. The dynamo exporter (torch.export) cannot
    capture packed sequences; during its export ``rnn`` is a stand-in with ``forward_lengths``, which
    maps ``lengths`` to the native op's ``sequence_lens``. Returns ``(y, state)`` like ``rnn``.
    """
    direct = getattr(rnn, "forward_lengths", None)
    if direct is not None:
        return direct(x, lengths, state)
    total = x.shape[1 if rnn.batch_first else 0]
    packed = pack_padded_sequence(x, lengths.cpu(), batch_first=rnn.batch_first, enforce_sorted=False)
    y, state = rnn(packed, state)
    y, _ = pad_packed_sequence(y, batch_first=rnn.batch_first, total_length=total)
    return y, state


def valid_steps(lengths: Tensor, steps: int, like: Tensor) -> Tensor:
    """``[batch, steps]`` in ``like``'s dtype and device: 1 at each row's first ``lengths`` steps, 0 past."""
    index = torch.arange(steps, device=like.device)[None, :]
    return (index < lengths.to(like.device)[:, None]).to(like.dtype)
