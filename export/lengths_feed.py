"""The lengths a module takes, and the layout they reveal: built after the batch axis is known.

A module with a lengths argument takes one entry per sequence of its batch, so the lengths must be
built for the batch axis: ``x.shape[0]`` entries for a batch-first module, ``x.shape[1]`` for a
time-major one. Some libraries pass lengths as fractions of the padded length (``0.5`` = half the
steps) instead of step counts. :func:`probe_lengths` tries the layouts and kinds the caller allows,
in order, and keeps the first the module runs on; the graph itself always takes int64 steps.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ExportError

LENGTHS_AS = ("steps", "fraction")
_BY_KEYWORD = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
_LENGTHS_NAME = re.compile(r"(^|_)(len|lens|length|lengths|ilens|olens|hlens)($|_)")  # ilens: ESPnet


@dataclass(frozen=True)
class LengthsFeed:
    """How the module takes its lengths: the parameter, the axis of x they index, steps or fractions."""

    param: str
    batch_axis: int = 0  # 0: x [batch, time, ...]; 1: x [time, batch, ...] (as the module takes it)
    fraction: bool = False  # the module takes lengths / padded length (float32), not steps (int64)
    time_axis: int | None = None  # default: the axis after (or before) the batch axis

    def _sizes(self, x: torch.Tensor) -> tuple[int, int]:
        time_axis = 1 - self.batch_axis if self.time_axis is None else self.time_axis
        return x.shape[self.batch_axis], x.shape[time_axis]

    def full(self, x: torch.Tensor) -> torch.Tensor:
        """Every sequence of ``x`` (as the module takes it) at its full length."""
        batch, time = self._sizes(x)
        return self.convert(torch.full((batch,), time, dtype=torch.int64), time)

    def convert(self, steps: torch.Tensor, time: int | torch.Tensor) -> torch.Tensor:
        """The graph's int64 steps as the module takes them."""
        return steps.to(torch.float32) / time if self.fraction else steps

    def describe(self, x: torch.Tensor) -> str:
        batch, time = self._sizes(x)
        kind = f"fractions [{1.0}] * {batch}" if self.fraction else f"steps [{time}] * {batch}"
        return f"{self.param}={kind} (batch axis {self.batch_axis} of x {list(x.shape)})"


def probe_lengths(
    name: str,
    call: Callable[[int, dict[str, Any]], Any],
    x: torch.Tensor,
    param: str,
    axes: list[int],
    lengths_as: str | None,
    time_axis: int | None = None,
) -> LengthsFeed:
    """The first (kind, axis) the module runs on: ``call(axis, {param: lengths})`` must not raise.
    Steps are tried before fractions unless ``lengths_as`` names one; ``axes`` in the order given."""
    kinds = [lengths_as == "fraction"] if lengths_as else [False, True]
    tried = []
    for fraction in kinds:
        for axis in axes:
            feed = LengthsFeed(param, axis, fraction, time_axis)
            try:
                call(axis, {param: feed.full(x)})
            except ExportError:
                raise
            except Exception as err:  # what the module refuses is what we look for
                tried.append(f"{feed.describe(x)}: {type(err).__name__}: {' '.join(str(err).split())[:160]}")
                continue
            return feed
    raise ExportError(
        f"{name}: forward failed on the example input {list(x.shape)} with every lengths tried: "
        + " | ".join(tried)
    )


def parameters(module: torch.nn.Module) -> list[inspect.Parameter]:
    try:
        return list(inspect.signature(module.forward).parameters.values())
    except (TypeError, ValueError):
        return []


def lengths_parameter(module: torch.nn.Module) -> str | None:
    """The parameter of ``forward`` after ``x`` that takes the lengths: ``lengths``, else the first
    named like it (``text_lengths``, ``seq_lens``, ``x_len``); ``lengths`` when only ``**kwargs``
    could take it; None when nothing can."""
    inside = getattr(module, "edgernn_lengths", None)  # a Bound runner: the lengths sit in an argument
    if inside:
        return str(inside)
    params = parameters(module)
    named = [p.name for p in params[1:] if p.kind in _BY_KEYWORD]
    like = [n for n in named if n == "lengths"] or [n for n in named if _LENGTHS_NAME.search(n)]
    if like:
        return like[0]
    return "lengths" if any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params) else None


def lengths_or_refuse(module: torch.nn.Module, name: str) -> str:
    found = lengths_parameter(module)
    if found is None:
        raise ExportError(
            f"{name}: lengths=True, but forward{inspect.signature(module.forward)} takes no lengths; expected "
            "a parameter named lengths (or like it: text_lengths, seq_lens, x_len, ilens), or pass lengths=False"
        )
    return found
