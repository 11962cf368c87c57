"""The convolutional branch of a sequence classifier (LSTM-FCN): an FCN beside the recurrence.

Wang et al.'s fully convolutional network (2017), as LSTM-FCN (Karim et al., 2018) runs it beside
its LSTM: three Conv1d blocks (``width``, ``2 * width``, ``width`` channels; kernels 7, 5, 3; stride
1, "same" padding), each followed by BatchNorm and ReLU, then the mean over time. Its pooled
features join the recurrence's pooled features in the head. Long series are first averaged over
windows of ``stride`` steps (``fcn_stride``, which train/recipe.py decides), so the branch reads
about FCN_STEPS steps and its cost stays bounded.

Ragged batches: padding is zeroed before every convolution (no window reads past a sequence's
end), BatchNorm's training statistics count valid steps only (:class:`MaskedBatchNorm1d`), and the
mean over time is over valid steps. In eval mode (export) BatchNorm is the plain affine map of its
running statistics, an ONNX ``BatchNormalization`` (or folded into the Conv), beside the native
LSTM/GRU node.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .packing import valid_steps

KERNELS = (7, 5, 3)  # odd kernels keep "same" padding symmetric (the FCN paper: 8, 5, 3)
FCN_STEPS = 128  # the branch reads about this many steps of a long series (windows averaged)


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics count only the valid steps of a ragged batch."""

    def forward(self, z: Tensor, valid: Tensor | None = None) -> Tensor:  # type: ignore[override]
        """``z`` ``[batch, channels, time]``; ``valid`` ``[batch, 1, time]`` (1.0 valid, 0.0 padding)."""
        if not self.training or valid is None:
            return super().forward(z)
        count = valid.sum().clamp(min=2.0)
        mean = (z * valid).sum(dim=(0, 2)) / count
        var = (((z - mean[None, :, None]) * valid) ** 2).sum(dim=(0, 2)) / count
        with torch.no_grad():
            momentum = self.momentum if self.momentum is not None else 0.1
            self.running_mean.lerp_(mean, momentum)
            self.running_var.lerp_(var * count / (count - 1.0), momentum)  # unbiased, as BatchNorm1d keeps it
            self.num_batches_tracked += 1
        scale = self.weight / torch.sqrt(var + self.eps)
        return (z - mean[None, :, None]) * scale[None, :, None] + self.bias[None, :, None]


class ConvBranch(nn.Module):
    """``[batch, time, channels]`` (+ lengths) -> ``[batch, width]``: FCN blocks, mean over valid steps."""

    def __init__(self, channels: int, width: int, stride: int) -> None:
        super().__init__()
        self.stride = stride
        widths = (channels, width, 2 * width, width)
        self.convs = nn.ModuleList(
            nn.Conv1d(widths[i], widths[i + 1], k, padding=k // 2) for i, k in enumerate(KERNELS)
        )
        self.norms = nn.ModuleList(MaskedBatchNorm1d(widths[i + 1]) for i in range(len(KERNELS)))

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> Tensor:
        z = x.transpose(1, 2)  # [batch, channels, time]
        valid = None
        if lengths is not None:
            valid = valid_steps(lengths, z.shape[2], z).unsqueeze(1)
            z = z * valid
        if self.stride > 1:  # windows of `stride` steps averaged (the tail padded with zeros)
            k = self.stride
            z = nn.functional.avg_pool1d(nn.functional.pad(z, (0, (-z.shape[2]) % k)), k, k)
            if lengths is not None:
                lengths = torch.div(lengths + (k - 1), k, rounding_mode="floor")
                valid = valid_steps(lengths, z.shape[2], z).unsqueeze(1)
        for conv, norm in zip(self.convs, self.norms, strict=True):
            z = torch.relu(norm(conv(z), valid))
            if valid is not None:
                z = z * valid
        if valid is None:
            return z.mean(dim=2)
        return z.sum(dim=2) / valid.sum(dim=2).clamp(min=1.0)
