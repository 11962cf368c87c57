"""Seed ensembles in one graph: ``members`` classifiers trained side by side as one wider layer.

Member ``k`` owns hidden units ``k*H .. (k+1)*H - 1`` of every direction of the recurrence (and
``k*C .. (k+1)*C - 1`` of the strided front end's channels). Its recurrent weights, and its input
weights wherever the input is itself split by member, are block-diagonal: the off-block entries
start at zero and their gradients are masked to zero, so Adam (and weight decay, L2 or decoupled)
never moves them and the members stay independent networks with their own initial weights. The
whole ensemble still exports as ONE native LSTM/GRU node of ``members * H`` units.

Each member has its own linear head. While training, the model returns every member's logits
``[batch, members, classes]`` and each member learns from its own cross-entropy (objective.py);
in eval mode (validation, test, export) it returns the members' mean logits, whose softmax is the
normalised geometric mean of the members' probabilities. (The log of the arithmetic mean was the
first choice; its rare classes' log-probabilities magnify float32 differences by 1/p, so a trained
ensemble failed the export gate's tolerance at 7.6e-4 while every class decision agreed.)
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def _owner(width: int, block: int, total: int) -> Tensor:
    """The member owning each of ``width`` positions laid out as repeated groups of ``total`` units
    (gates or directions), ``block`` units per member within a group."""
    return (torch.arange(width) % total) // block


def recurrent_masks(rnn: nn.RNNBase, members: int, input_block: int | None) -> dict[str, Tensor]:
    """The 0/1 mask of every weight matrix of ``rnn`` that keeps its members apart.

    ``input_block``: channels per member of the first layer's input (a per-member front end), or
    None when every member reads the same input (no mask on the first layer's input weights).
    """
    units, masks = rnn.hidden_size, {}
    block = units // members
    for name, weight in rnn.named_parameters():
        if not name.startswith("weight_"):
            continue
        rows = _owner(weight.shape[0], block, units)
        if name.startswith("weight_hh"):
            cols = _owner(weight.shape[1], block, units)
        elif name.startswith("weight_ih_l0"):
            if input_block is None:
                continue
            cols = torch.arange(weight.shape[1]) // input_block
        else:  # a deeper layer reads [forward units, backward units] of the layer below
            cols = _owner(weight.shape[1], block, units)
        masks[name] = (rows[:, None] == cols[None, :]).to(weight.dtype)
    return masks


def split_members(rnn: nn.RNNBase, members: int, input_block: int | None) -> None:
    """Initialise ``rnn`` as ``members`` independent layers of ``hidden_size / members`` units (the
    init scale of one member alone) and keep them apart while training (masked gradients)."""
    bound = 1.0 / math.sqrt(rnn.hidden_size // members)
    masks = recurrent_masks(rnn, members, input_block)
    with torch.no_grad():
        for name, param in rnn.named_parameters():
            param.uniform_(-bound, bound)
            if name in masks:
                param.mul_(masks[name])
                param.register_hook(_masked(masks[name]))


def _masked(mask: Tensor):  # type: ignore[no-untyped-def]
    def hook(grad: Tensor) -> Tensor:
        return grad * mask.to(grad.device, grad.dtype)

    return hook


class MemberHeads(nn.Module):
    """One linear head per member over its own pooled features; ``[batch, members, classes]``.

    ``shared``: the width of features every member reads besides its own (the convolutional branch
    of an LSTM-FCN, train/convbranch.py), appended after the members' pooled features."""

    def __init__(
        self, members: int, hidden: int, groups: int, directions: int, classes: int, shared: int = 0
    ) -> None:
        super().__init__()
        # pooled features: groups x directions x members x hidden, then the shared ones
        self.groups, self.directions, self.shared = groups, directions, shared
        features = groups * directions * hidden + shared
        bound = 1.0 / math.sqrt(features)  # nn.Linear's init, per member
        self.weight = nn.Parameter(torch.empty(members, features, classes).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(members, classes).uniform_(-bound, bound))

    def forward(self, pooled: Tensor) -> Tensor:
        """``pooled`` ``[batch, groups * directions * members * H + shared]`` (pooling groups outermost)."""
        members, batch = self.weight.shape[0], pooled.shape[0]
        own = pooled[:, : pooled.shape[1] - self.shared]
        per_member = own.reshape(batch, self.groups, self.directions, members, -1)
        per_member = per_member.permute(3, 0, 1, 2, 4).reshape(members, batch, -1)
        if self.shared:
            common = pooled[:, pooled.shape[1] - self.shared :]
            per_member = torch.cat([per_member, common.unsqueeze(0).expand(members, -1, -1)], dim=-1)
        logits = torch.matmul(per_member, self.weight) + self.bias.unsqueeze(1)  # [members, batch, classes]
        return logits.transpose(0, 1)


def combine(logits: Tensor) -> Tensor:
    """``[batch, members, classes]`` -> the members' mean logits (softmax: the normalised geometric
    mean of their probabilities)."""
    return logits.mean(dim=1)
