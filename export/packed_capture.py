"""``pack_padded_sequence -> rnn -> pad_packed_sequence`` as the dynamo exporter can capture it.

torch.export cannot trace a ``PackedSequence``: packing computes ``batch_sizes`` from the values of
``lengths``, a shape that depends on data. During a dynamo export :func:`defer_packing` replaces the
two functions with ones that pack nothing: :func:`pack_padded_sequence` keeps the padded batch and
its lengths in a :class:`DeferredPack`, the swapped recurrent module (``rnn_ops``) runs its custom
op with ``lengths`` (the native node's ``sequence_lens``), and :func:`pad_packed_sequence` hands the
padded result back. The numbers are those of packing: steps past a row's length are
``padding_value``, each row's final state is taken at its own last step.

One difference is inherent in a graph with a symbolic time axis: ``pad_packed_sequence`` without
``total_length`` gives ``max(lengths)`` steps in PyTorch and the input's full length here (the same
when the longest row fills the batch, as it does in a padded batch).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import rnn as rnn_utils
from torch.nn.utils.rnn import PackedSequence

from .errors import ExportError

_ORIGINAL = {
    "pack_padded_sequence": rnn_utils.pack_padded_sequence,
    "pad_packed_sequence": rnn_utils.pad_packed_sequence,
}


class DeferredPack:
    """A packed batch that was never packed: ``padded`` is ``[batch, time, ...]``, ``lengths`` ``[batch]``."""

    def __init__(self, padded: Tensor, lengths: Tensor) -> None:
        self.padded, self.lengths = padded, lengths

    def __getattr__(self, name: str):
        if name in PackedSequence._fields:
            raise ExportError(
                f"PackedSequence.{name} has a size that depends on the lengths' values, which torch.export "
                "(the dynamo exporter) cannot capture; pad_packed_sequence the rnn's output before using it"
            )
        raise AttributeError(name)


def pack_padded_sequence(
    input: Tensor, lengths: Any, batch_first: bool = False, enforce_sorted: bool = True
) -> DeferredPack:
    """Stand-in for ``torch.nn.utils.rnn.pack_padded_sequence`` during a dynamo export."""
    lengths = torch.as_tensor(lengths, dtype=torch.int64)
    return DeferredPack(input if batch_first else input.transpose(0, 1), lengths)


def pad_packed_sequence(
    sequence: Any, batch_first: bool = False, padding_value: float = 0.0, total_length: int | None = None
) -> tuple[Tensor, Tensor]:
    """Stand-in for ``torch.nn.utils.rnn.pad_packed_sequence`` during a dynamo export."""
    if not isinstance(sequence, DeferredPack):
        return _ORIGINAL["pad_packed_sequence"](sequence, batch_first, padding_value, total_length)
    y, lengths = sequence.padded, sequence.lengths
    if padding_value != 0.0:  # the native op already writes zeros past each row's length
        steps = torch.arange(y.shape[1], device=y.device)
        valid = (steps[None, :] < lengths[:, None].to(y.device)).reshape(*y.shape[:2], *[1] * (y.dim() - 2))
        y = torch.where(valid, y, torch.full_like(y, padding_value))
    if total_length is not None and total_length != y.shape[1]:
        extra = total_length - y.shape[1]
        if extra < 0:
            raise ValueError(f"pad_packed_sequence: total_length {total_length} is shorter than the batch")
        pad = y.new_full((y.shape[0], extra, *y.shape[2:]), padding_value)
        y = torch.cat([y, pad], dim=1)
    return (y if batch_first else y.transpose(0, 1)), lengths


_STAND_INS = {"pack_padded_sequence": pack_padded_sequence, "pad_packed_sequence": pad_packed_sequence}


def _namespaces(model: nn.Module) -> list[dict]:
    """Where the model's code finds the two functions: torch's modules and each user module's globals."""
    spaces = [vars(rnn_utils), vars(nn.utils)]
    for module in model.modules():
        name = type(module).__module__
        if name.startswith(("torch.", "edgernn.")) or name not in sys.modules:
            continue
        space = vars(sys.modules[name])
        if all(space is not s for s in spaces):
            spaces.append(space)
    return spaces


@contextlib.contextmanager
def defer_packing(model: nn.Module) -> Iterator[None]:
    """For the block, ``pack_padded_sequence``/``pad_packed_sequence`` as ``model`` calls them are the
    stand-ins above (also where its modules imported them by name)."""
    stand_in = {id(_ORIGINAL[name]): fn for name, fn in _STAND_INS.items()}
    patched: list[tuple[dict, str, Any]] = []
    try:
        for space in _namespaces(model):
            for name, value in list(space.items()):
                if id(value) in stand_in:
                    patched.append((space, name, value))
                    space[name] = stand_in[id(value)]
        yield
    finally:
        for space, name, value in patched:
            space[name] = value
