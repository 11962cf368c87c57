"""``DifferencingForecaster``: a :class:`SequenceModel` that takes levels, learns changes, and gives
levels back, with everything in between inside its own forward (so inside the exported graph).

Per step ``t`` the model sees each input column as its level or as its change since the previous
row (the target, for a seasonal difference: since ``period`` rows back), standardised with training
statistics; it predicts the targets' change over the horizon, and the forward adds that change to
the level it is a change from (``y[t]``, or ``y[t+h-P]``). The previous row, and for a seasonal
difference the last ``period`` target values, are state carried from call to call beside the
recurrent state, so a stream step by step and one whole-sequence call give the same levels. With
zero state (a cold start) the first row stands in for its own predecessors: its changes are 0.

State order: the recurrent state (``h`` or ``h, c``), then ``x_prev`` ``[1, batch, features]``, ``primed``
``[1, batch, 1]`` (0 for a cold start, 1 after any row) and, for a seasonal difference, ``y_hist``
``[1, batch, period]`` (the target's last ``period`` values, oldest first). All in the runtime's
normalised input units.
"""

from __future__ import annotations

import functools
import math

import torch
from torch import Tensor

from .config import SEASONAL, DataInfo, ModelConfig, Transform
from .model import SequenceModel

_RECURRENT_NAMES = {"lstm": ("h", "c")}


class DifferencingForecaster(SequenceModel):
    """See the module docstring; parameters and their names are :class:`SequenceModel`'s."""

    def __init__(self, config: ModelConfig, info: DataInfo) -> None:
        super().__init__(config)
        t: Transform = info.transform
        in_mean, in_std = _vector(info.input_mean), _vector(info.input_std)
        f_mean, f_std = _vector(t.feature_mean), _vector(t.feature_std)
        changed = torch.tensor(t.changed, dtype=torch.float32)
        season = torch.zeros_like(changed)
        if t.difference in SEASONAL:
            season[t.targets[0]] = 1.0
        level = 1.0 - changed - season
        cols = list(t.targets)
        out_mean, out_std = _vector(info.output_mean), _vector(info.output_std)
        on = 0.0 if t.difference == "none" else 1.0
        self.season = t.difference in SEASONAL
        self.both = t.difference == "season+first"  # the seasonal change, first-differenced
        self.period = t.period
        self.horizon = info.horizon or 1
        self.register_buffer("changed", changed, persistent=False)
        self.register_buffer("season_mask", season, persistent=False)
        self.register_buffer("scale", in_std / f_std, persistent=False)  # model feature = d * scale + shift
        self.register_buffer("shift", (level * in_mean - f_mean) / f_std, persistent=False)
        self.register_buffer("targets", torch.tensor(cols, dtype=torch.long), persistent=False)
        self.register_buffer("base_scale", on * in_std[cols] / out_std, persistent=False)
        change = _vector(t.change_mean)
        self.register_buffer(
            "base_shift", on * (in_mean[cols] + change - out_mean) / out_std, persistent=False
        )
        self.calendar = bool(t.calendar_rate)
        # calendar feature j: sin or cos of 2 pi (rate_j * row + offset_j); cos(a) = sin(a + 1/4 turn)
        quarter = torch.tensor([0.0 if s else 0.25 for s in t.calendar_sine])
        self.register_buffer("cal_rate", torch.tensor(t.calendar_rate, dtype=torch.float64), persistent=False)
        offset = torch.tensor(t.calendar_offset, dtype=torch.float64) + quarter.to(torch.float64)
        self.register_buffer("cal_offset", offset, persistent=False)

    @property
    def state_names(self) -> tuple[str, ...]:
        """Graph names of the state pairs (``name0`` in, ``namen`` out)."""
        recurrent = _RECURRENT_NAMES.get(self.config.cell, ("h",))
        extra = (*(("y_hist",) if self.season else ()), *(("step",) if self.calendar else ()))
        return (*recurrent, "x_prev", "primed", *extra)

    def init_state(self, cond: Tensor) -> tuple[Tensor, ...]:
        """A cold start whose row counter (calendar features) starts at ``cond`` ``[batch, 1]``."""
        batch, zeros = cond.shape[0], functools.partial(torch.zeros, device=cond.device)
        hidden = (self.config.num_layers, batch, self.config.hidden_size)
        core = (zeros(hidden), zeros(hidden)) if self.config.cell == "lstm" else (zeros(hidden),)
        hist = (zeros(1, batch, self.period),) if self.season else ()
        step = (cond.reshape(1, batch, 1).to(torch.float64),) if self.calendar else ()
        columns = self.config.input_size - len(self.cal_rate)
        return (*core, zeros(1, batch, columns), zeros(1, batch, 1), *hist, *step)

    def forward(self, x: Tensor, state: tuple[Tensor, ...] | None = None, lengths: Tensor | None = None):
        """``x`` normalised levels ``[batch, time, features]``; returns normalised levels and the state."""
        if lengths is not None:
            raise TypeError("a differencing forecaster runs whole sequences; it takes no lengths")
        parts = self.config.cell == "lstm"
        if state is None:
            core, prev, primed, hist = None, x[:, :1].transpose(0, 1), x.new_zeros(1, x.shape[0], 1), None
            step = x.new_zeros(1, x.shape[0], 1, dtype=torch.float64)
        else:
            core = (state[0], state[1]) if parts else state[0]
            prev, primed = state[1 + parts], state[2 + parts]
            hist = state[3 + parts] if self.season else None
            step = state[-1] if self.calendar else None
        # a cold start (primed 0) takes the first row as its own predecessor
        prev = primed * prev + (1.0 - primed) * x[:, :1].transpose(0, 1)
        shifted = torch.cat([prev.transpose(0, 1), x[:, :-1]], dim=1)
        d = x - self.changed * shifted
        if self.season:
            levels = x.index_select(2, self.targets)[..., 0]  # [batch, time]
            first = x[:, :1, :].index_select(2, self.targets)[..., 0]  # [batch, 1]
            hist = (
                first.expand(-1, self.period)
                if hist is None
                else primed[0] * hist[0] + (1.0 - primed[0]) * first
            )
            past = torch.cat([hist, levels], dim=1)  # [batch, period + time]
            d = d - self.season_mask * past[:, : x.shape[1], None]
            base = past[:, self.horizon : self.horizon + x.shape[1], None]  # y[t+h-P]
            if self.both:  # + y[t] - y[t-P]: the seasonal change so far carries on
                base = base + (levels - past[:, : x.shape[1]])[..., None]
        else:
            base = x.index_select(2, self.targets)
        features = d * self.scale + self.shift
        if self.calendar:
            features = torch.cat([features, self._calendar(step, x.shape[1])], dim=-1)
        y, core = super().forward(features, core)
        y = y + base * self.base_scale + self.base_shift
        carried = (*core,) if parts else (core,)
        carried += (x[:, -1:].transpose(0, 1), torch.ones_like(primed))
        if self.season:
            carried += (past[:, -self.period :].unsqueeze(0),)
        if self.calendar:
            carried += (step + x.shape[1],)
        return y, carried

    def _calendar(self, step: Tensor, time: int) -> Tensor:
        """sin/cos features ``[batch, time, n]`` of rows ``step .. step + time - 1``. The counter and the
        phase are float64 (rows exact to 2**53, no float32 limit at 2**24), reduced to [0, 1) turns
        before the float32 sine, so the phase holds however far the counter runs."""
        rows = (
            step[0].to(torch.float64) + torch.arange(time, dtype=torch.float64, device=step.device)[None, :]
        )
        turns = rows[..., None] * self.cal_rate + self.cal_offset  # [batch, time, n], float64
        return torch.sin(2 * math.pi * (turns - torch.floor(turns)).to(torch.float32))


def _vector(values: tuple[float, ...] | None) -> Tensor:
    return torch.tensor(values, dtype=torch.float32)


def build_model(config: ModelConfig, info: DataInfo) -> SequenceModel:
    """The model a run trains: a :class:`DifferencingForecaster` when the data says so."""
    if info.transform is not None:
        return DifferencingForecaster(config, info)
    return SequenceModel(config)
