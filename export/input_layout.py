"""Which axis of x is batch and which is time, when x is not ``[batch, time, features]``.

Real models take ``[batch, channels, samples]`` (channel-first conv front ends), ``[batch, 1, time,
freq]`` (torchaudio's DeepSpeech) and return ``[batch, n_src, filters, frames]``. The graph keeps the
runtime's contract, ``x [batch, time, features]`` with every other axis of the module's x flattened
into the features, and the wrapper moves the axes back before the module sees them. The axes are
declared (``dims={"x": {0: "batch", 2: "time"}}``, as torch.export's dynamic shapes) or probed: the
one axis of x the module runs on at another length is time, and an output axis that grows with it
is the output's time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import ExportError

GROW = 3  # steps added to a candidate axis by the probe


@dataclass(frozen=True)
class InputLayout:
    """The module's x as the graph's ``[batch, time, features]``: its rank, batch and time axes, and
    the sizes of its other axes (flattened into features, in order)."""

    rank: int
    batch_axis: int
    time_axis: int
    rest: tuple[int, ...]

    @property
    def perm(self) -> tuple[int, ...]:
        others = [a for a in range(self.rank) if a not in (self.batch_axis, self.time_axis)]
        return (self.batch_axis, self.time_axis, *others)

    def to_graph(self, x: torch.Tensor) -> torch.Tensor:
        y = x.permute(self.perm)
        return y.reshape(y.shape[0], y.shape[1], -1) if self.rest else y

    def to_module(self, x: torch.Tensor) -> torch.Tensor:
        y = x.reshape(x.shape[0], x.shape[1], *self.rest) if len(self.rest) != 1 else x
        inverse = [self.perm.index(a) for a in range(self.rank)]
        return y.permute(inverse)

    def describe(self) -> str:
        names = ["?"] * self.rank
        names[self.batch_axis], names[self.time_axis] = "batch", "time"
        it = iter(self.rest)
        return "[" + ", ".join(n if n != "?" else str(next(it)) for n in names) + "]"


def declared(name: str, dims: dict | None, x: torch.Tensor) -> InputLayout | None:
    """The layout ``dims`` declares for x (None when it declares none)."""
    if not dims or "x" not in dims:  # the further inputs' dims are read by .further_axes
        return None
    axes = {label: axis for axis, label in dims["x"].items()}
    if sorted(axes) != ["batch", "time"] or any(not 0 <= a < x.dim() for a in axes.values()):
        raise ExportError(
            f"{name}: dims['x']: expected one 'batch' and one 'time' axis of x {list(x.shape)} "
            f"(rank {x.dim()}), got {dims['x']}"
        )
    return make_layout(x, axes["batch"], axes["time"])


def make_layout(x: torch.Tensor, batch_axis: int, time_axis: int) -> InputLayout:
    rest = tuple(int(s) for a, s in enumerate(x.shape) if a not in (batch_axis, time_axis))
    return InputLayout(x.dim(), batch_axis, time_axis, rest)


def probe_time_axis(
    name: str, run: Callable[[torch.Tensor, int], Any], x: torch.Tensor, only: int | None = None
) -> tuple[InputLayout, int | None] | None:
    """Axis 0 is batch; the time axis is the one axis of x the module also runs on ``GROW`` steps
    longer. Returns the layout and the output's time axis (the axis of y that grew, or None), None
    when no axis qualifies; two that qualify is an error naming both (declare dims)."""
    found = []
    for axis in range(1, x.dim()) if only is None else (only,):
        if x.shape[axis] < 2:
            continue
        longer = torch.cat([x, x.narrow(axis, 0, min(GROW, x.shape[axis]))], dim=axis)
        try:
            with torch.no_grad():
                y, y2 = _y(run(x, axis)), _y(run(longer, axis))
        except Exception:  # the module refuses this axis at another length: not time
            continue
        grown = [a for a in range(y.dim()) if y2.dim() == y.dim() and y2.shape[a] == y.shape[a] + GROW]
        found.append((axis, grown[0] if len(grown) == 1 else None))
    if not found:
        return None
    if len(found) > 1:
        raise ExportError(
            f"{name}: x {list(x.shape)}: axes {[a for a, _ in found]} can all change length, so which is "
            "time is ambiguous; declare it, e.g. dims={'x': {0: 'batch', " + f"{found[-1][0]}: 'time'}}}}"
        )
    axis, y_axis = found[0]
    return make_layout(x, 0, axis), y_axis


def choose_layout(name: str, module, x: torch.Tensor, config, probe: bool = False):
    """``(layout, output time axis)`` for x: declared by ``config.dims``, probed for x of rank 4 and up
    (or when ``probe``), None for the plain ``[batch, time(, features)]`` reading. A high-rank x whose
    time axis cannot be found is refused here, with its shape."""
    layout = declared(name, getattr(config, "dims", None), x)
    if layout is not None:
        probed = probe_time_axis(name, _runner(module, config), x, only=layout.time_axis)
        return layout, (probed[1] if probed else None)
    if x.dim() <= 3 and not probe:
        bound = bool(getattr(module, "further", ()))  # further inputs tied to x's time grow with it
        if x.dim() < 3 or bound or _grows(_runner(module, config), x):
            return None
        probe = True  # a rank-3 x that stops running one step longer on axis 1: its time is elsewhere
    probed = probe_time_axis(name, _runner(module, config), x)
    if probed is None and x.dim() > 3:
        raise ExportError(
            f"{name}: x {list(x.shape)} (rank {x.dim()}): no axis of it can change length (axes 1..{x.dim() - 1} "
            "tried), so the module fixes its number of steps (a reshape to a fixed size?) or takes no batch "
            "on axis 0; declare dims={'x': {0: 'batch', T: 'time'}} if one should"
        )
    return probed


def _grows(run: Callable[[torch.Tensor, int], Any], x: torch.Tensor) -> bool:
    """The module runs on x one step longer on axis 1 (its last step repeated), or fails there the
    same way as on x itself (the old path reports that failure)."""
    try:
        with torch.no_grad():
            run(torch.cat([x, x[:, -1:]], dim=1), 1)
    except Exception:  # the user's forward may raise anything
        try:
            with torch.no_grad():
                run(x, 1)
        except Exception:
            return True  # fails on the example too: not a question of the layout
        return False
    return True


def _runner(module, config) -> Callable[[torch.Tensor, int], Any]:
    """``module(x)``, with full lengths for the candidate axis when the export takes lengths."""
    from .lengths_feed import lengths_parameter

    param = lengths_parameter(module) if config.lengths else None

    def run(x: torch.Tensor, axis: int) -> Any:
        if param is None:
            return module(x)
        full = torch.full((x.shape[0],), x.shape[axis], dtype=torch.int64)
        if config.lengths_as == "fraction":
            return module(x, **{param: torch.ones(x.shape[0])})
        try:
            return module(x, **{param: full})
        except Exception:
            if config.lengths_as == "steps":
                raise
            return module(x, **{param: torch.ones(x.shape[0])})

    return run


def _y(out: Any) -> torch.Tensor:
    y = out[0] if isinstance(out, tuple | list) else out
    if not isinstance(y, torch.Tensor):
        raise TypeError("no tensor output")
    return y


def output_to_graph(y: torch.Tensor, time_axis: int | None) -> torch.Tensor:
    """``y`` with its time axis second and every other axis after batch flattened: ``[batch, time, out]``."""
    if time_axis is None or (time_axis == 1 and y.dim() == 3):
        return y
    others = [a for a in range(1, y.dim()) if a != time_axis]
    moved = y.permute(0, time_axis, *others)
    return moved.reshape(moved.shape[0], moved.shape[1], -1)
