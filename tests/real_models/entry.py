"""One corpus entry: a real model class, the example its author would pass, the export options a
user would try, and the model called as its author calls it; and the inputs the checks make."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn


@dataclass(frozen=True)
class Entry:
    name: str
    library: str
    make: Callable[[], nn.Module]
    example: Callable[[nn.Module, int, int], Any]  # (module, batch, time) -> example_inputs
    features: int | None = 8  # None: token ids
    vocab: int = 30
    call: Callable | None = None  # None: the corpus expects a refusal
    kwargs: dict[str, Any] = field(default_factory=dict)
    sorted_lengths: bool = False  # the module packs with enforce_sorted=True
    refused: str = ""  # a refusal the corpus expects (a true reason), though ``call`` could check it
    example_kwargs: Callable[[nn.Module, int, int], dict[str, Any]] | None = None  # by parameter name

    @property
    def expect(self) -> str:
        return "exported" if self.call is not None and not self.refused else "refused"


def tokens(vocab: int, batch: int, time: int) -> torch.Tensor:
    return torch.randint(0, vocab, (batch, time))


def feats(n: int, batch: int, time: int) -> torch.Tensor:
    return torch.randn(batch, time, n)


def _t(x):
    return x.transpose(0, 1)


def _flat(state) -> list[torch.Tensor]:
    return [state] if isinstance(state, torch.Tensor) else [t for s in state for t in _flat(s)]
