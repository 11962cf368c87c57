"""``SequenceModel``: one module for rnn/lstm/gru, three topologies, features or token inputs.

The recurrent core is a single multi-layer ``nn.RNN``/``nn.LSTM``/``nn.GRU`` with
``batch_first=True``, so ONNX export emits one native recurrent node. The state goes in and
comes out explicitly: ``h`` of shape ``[layers * directions, batch, hidden]`` for rnn/gru and a
tuple ``(h, c)`` for lstm.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .config import ModelConfig
from .convbranch import ConvBranch
from .ensemble import MemberHeads, combine, split_members
from .packing import rnn_with_lengths, valid_steps

State = Tensor | tuple[Tensor, Tensor]

_CORES = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}
CONV_CHANNELS = 32  # width of the strided front end (when downsample > 1)
CONV_KERNEL = 5  # the second front-end convolution (front_layers 2): stride 1, same length
_EPS = 1e-5  # a constant series normalises to zeros, not NaN


def per_series_znorm(x: Tensor, lengths: Tensor | None) -> Tensor:
    """Each series and channel to zero mean and unit std over its valid steps (padding stays 0).

    The series is first shifted by its first step (z-normalising ignores a shift): a series whose
    level is far from zero beside its variation (PLAID's currents, 1e-4 apart at 0.3 once
    standardised) would otherwise lose its variation to float32 cancellation in the mean, differently
    in PyTorch and onnxruntime (logits 0.2 apart); the shifted steps are small numbers."""
    x = x - x[:, :1]
    if lengths is None:
        mean = x.mean(dim=1, keepdim=True)
        std = ((x - mean) ** 2).mean(dim=1, keepdim=True).sqrt()
        return (x - mean) / (std + _EPS)
    valid = valid_steps(lengths, x.shape[1], x).unsqueeze(-1)
    count = valid.sum(dim=1, keepdim=True).clamp(min=1.0)
    mean = (x * valid).sum(dim=1, keepdim=True) / count
    std = ((((x - mean) * valid) ** 2).sum(dim=1, keepdim=True) / count).sqrt()
    return (x - mean) / (std + _EPS) * valid


def _zero_padding(z: Tensor, lengths: Tensor | None) -> Tensor:
    """``z`` ``[batch, time, channels]`` with every step at or past its sequence's length set to 0."""
    if lengths is None:
        return z
    return z * valid_steps(lengths, z.shape[1], z).unsqueeze(-1)


class SequenceModel(nn.Module):
    """Front end (Linear projection or Embedding) -> recurrent core -> Linear head.

    * many_to_one: the head reads the last valid step (``lengths``-aware); with two directions it
      reads the forward direction at the last valid step and the backward direction at step 0.
    * many_to_many: the head reads every step.
    * ``members`` > 1 (many_to_one classifiers): a seed ensemble in one wider recurrence, one head
      per member, logits averaged (:mod:`edgernn.train.ensemble`).
    * one_to_many: :meth:`init_state` maps the conditioning vector to the initial state and
      :meth:`forward` is the teacher-forced decoder over the previous outputs.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        if config.input_kind == "tokens":
            self.front: nn.Module = nn.Embedding(config.vocab_size, config.embed_size)
            core_input = config.embed_size
        elif config.project_size is not None:
            self.front = nn.Linear(config.input_size, config.project_size)
            core_input = config.project_size
        else:
            self.front = nn.Identity()
            core_input = config.input_size
        members = max(1, config.members)  # a seed ensemble: see train/ensemble.py
        if config.downsample > 1:
            channels = CONV_CHANNELS * members
            self.conv = nn.Conv1d(core_input, channels, config.downsample, stride=config.downsample)
            if config.front_layers > 1:  # each member's own channels (groups): members stay apart
                pad = CONV_KERNEL // 2
                self.conv2 = nn.Conv1d(channels, channels, CONV_KERNEL, padding=pad, groups=members)
            core_input = channels
        self.fcn = None  # LSTM-FCN: a convolutional branch beside the recurrence (train/convbranch.py)
        if config.fcn_width:
            self.fcn = ConvBranch(config.input_size, config.fcn_width, max(1, config.fcn_stride))
        self.units = config.hidden_size * members  # per direction
        self.rnn = _CORES[config.cell](
            core_input,
            self.units,
            num_layers=config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
            bidirectional=bool(config.bidirectional),
        )
        self.drop = nn.Dropout(config.dropout)
        pooled = 2 if config.pool == "meanmax" else 1
        if members > 1:
            split_members(self.rnn, members, CONV_CHANNELS if config.downsample > 1 else None)
            self.head: nn.Module = MemberHeads(
                members,
                config.hidden_size,
                pooled,
                config.directions,
                config.output_size,
                config.fcn_width or 0,
            )
        else:
            features = config.hidden_size * config.directions * pooled + (config.fcn_width or 0)
            self.head = nn.Linear(features, config.output_size)
        if config.topology == "one_to_many":
            parts = 2 if config.cell == "lstm" else 1
            self.init = nn.Linear(config.cond_size, parts * self._state_rows * config.hidden_size)

    @property
    def _state_rows(self) -> int:
        return self.config.num_layers * self.config.directions

    def forward(
        self, x: Tensor, state: State | None = None, lengths: Tensor | None = None
    ) -> tuple[Tensor, State]:
        """Run the sequence ``x`` from ``state`` (zeros when None).

        ``lengths`` (int64 ``[batch]``) marks the valid steps of padded batches; the returned
        state is then taken at each sequence's last valid step. Returns ``(y, state)`` with ``y``
        ``[batch, out]`` for many_to_one and ``[batch, time, out]`` otherwise.
        """
        if self.config.znorm:
            x = per_series_znorm(x, lengths)
        branch = None if self.fcn is None else self.fcn(x, lengths)
        z = self.front(x)
        if self.config.downsample > 1:
            z, lengths = self._downsample(z, lengths)
        if lengths is None:
            out, state = self.rnn(z, state)
        else:
            out, state = rnn_with_lengths(self.rnn, z, lengths, state)
        if self.config.topology == "many_to_one":
            pooled = self.config.pool in ("mean", "max", "meanmax")
            out = self._pool(out, lengths) if pooled else self._last_step(out, lengths)
        if branch is not None:
            out = torch.cat([out, branch], dim=-1)
        y = self.head(self.drop(out))
        if self.config.members > 1:  # a seed ensemble: [batch, members, classes] while training
            y = y if self.training else combine(y)
        return y, state

    def _downsample(self, z: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor | None]:
        """The strided Conv1d front end: ``ceil(T / k)`` steps (the tail padded with zeros), ReLU; with
        ``front_layers`` 2, a second Conv1d (kernel CONV_KERNEL, stride 1, ReLU) on those steps. With
        ``lengths``, the padding is zeroed before each convolution, so no window reads past a length."""
        k = self.config.downsample
        short = None if lengths is None else torch.div(lengths + (k - 1), k, rounding_mode="floor")
        z = _zero_padding(z, lengths)
        z = nn.functional.pad(z.transpose(1, 2), (0, k - 1))  # a partial last window still counts
        z = torch.relu(self.conv(z))
        if self.config.front_layers > 1:
            z = torch.relu(self.conv2(_zero_padding(z.transpose(1, 2), short).transpose(1, 2)))
        return z.transpose(1, 2), short

    def _pool(self, out: Tensor, lengths: Tensor | None) -> Tensor:
        """Mean and/or max of the outputs over each sequence's valid steps."""
        if lengths is None:
            mean, top = out.mean(dim=1), out.amax(dim=1)
        else:
            valid = valid_steps(lengths, out.shape[1], out).unsqueeze(-1)
            mean = (out * valid).sum(dim=1) / valid.sum(dim=1).clamp(min=1.0)
            top = (out + (valid - 1.0) * 1e9).amax(dim=1)
        pool = self.config.pool
        return mean if pool == "mean" else top if pool == "max" else torch.cat([mean, top], dim=-1)

    def _last_step(self, out: Tensor, lengths: Tensor | None) -> Tensor:
        hidden = self.units
        if lengths is None:
            last = out[:, -1, :hidden]
        else:
            index = (lengths.to(out.device) - 1).view(-1, 1, 1).expand(-1, 1, hidden)
            last = out[:, :, :hidden].gather(1, index).squeeze(1)
        if not self.config.bidirectional:
            return last
        return torch.cat([last, out[:, 0, hidden:]], dim=-1)

    def init_state(self, cond: Tensor) -> State:
        """one_to_many: map the conditioning vector ``[batch, cond_size]`` to the initial state (tanh)."""
        if self.config.topology != "one_to_many":
            raise TypeError(f"init_state is for one_to_many models, this one is {self.config.topology}")
        batch = cond.shape[0]
        flat = torch.tanh(self.init(cond))
        parts = flat.view(batch, -1, self._state_rows, self.config.hidden_size).permute(1, 2, 0, 3)
        if self.config.cell == "lstm":
            return parts[0].contiguous(), parts[1].contiguous()
        return parts[0].contiguous()

    def start_input(self, batch: int, device: torch.device | None = None) -> Tensor:
        """The decoder's first input: zeros (the normalised mean) or the start token."""
        if self.config.input_kind == "tokens":
            return torch.full((batch, 1), self.config.start_token, dtype=torch.long, device=device)
        return torch.zeros(batch, 1, self.config.input_size, device=device)

    @torch.no_grad()
    def generate(
        self,
        cond: Tensor,
        steps: int,
        temperature: float | None = None,
        generator: torch.Generator | None = None,
    ) -> Tensor:
        """Decode ``steps`` outputs from ``cond``, feeding each output back as the next input.

        Regression decoders return ``[batch, steps, out]`` (normalised units). Class/token decoders
        return int64 ``[batch, steps]``: greedy when ``temperature`` is None, else sampled.
        """
        state = self.init_state(cond)
        x = self.start_input(cond.shape[0], cond.device)
        outputs = []
        for _ in range(steps):
            y, state = self(x, state)
            if self.config.output_kind == "regression":
                x = y
            else:
                logits = y[:, -1]
                if temperature is None:
                    x = logits.argmax(-1, keepdim=True)
                else:
                    probs = torch.softmax(logits / temperature, dim=-1)
                    x = torch.multinomial(probs, 1, generator=generator)
            outputs.append(x)
        return torch.cat(outputs, dim=1)
