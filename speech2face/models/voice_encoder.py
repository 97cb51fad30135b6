"""The Speech2Face voice encoder: complex spectrogram → face feature.

The paper's Table 1 (Oh et al., CVPR 2019): 4×4 convolutions, each followed by
ReLU then BatchNorm, max pooling 2×1 over time only, two stride-2 convolutions,
an average pool over the whole time axis (so any clip length works) and two
fully connected layers. The table gives kernels, strides and channels but no
padding; convolutions here pad like TensorFlow's ``SAME`` (the paper's
framework), so a stride-1 convolution keeps the frame and bin counts and a
stride-2 one halves them rounding up. Max pooling drops an odd last frame.

Input is ``(batch, frames, bins, 2)`` (real, imaginary), as the audio front
end returns it; for 6 s that is ``(batch, 598, 257, 2)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from speech2face.models.voice_config import Conv, VoiceEncoderConfig


def same_padding(size: int, *, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow ``SAME`` padding (before, after) for one axis."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A square-kernel convolution padded like TensorFlow's ``SAME``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        kernel, stride = self.kernel_size[0], self.stride[0]
        top, bottom = same_padding(x.shape[-2], kernel=kernel, stride=stride)
        left, right = same_padding(x.shape[-1], kernel=kernel, stride=stride)
        return super().forward(F.pad(x, (left, right, top, bottom)))


def _conv_block(in_channels: int, layer: Conv, kernel_size: int) -> nn.Sequential:
    return nn.Sequential(
        SameConv2d(in_channels, layer.channels, kernel_size, stride=layer.stride),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(layer.channels),
    )


class VoiceEncoder(nn.Module):
    """Spectrogram ``(B, T, F, 2)`` → face feature ``(B, out_dim)``."""

    def __init__(self, config: VoiceEncoderConfig) -> None:
        super().__init__()
        self.config = config
        blocks: list[nn.Module] = []
        channels = config.in_channels
        for layer in config.layers:
            if isinstance(layer, Conv):
                blocks.append(_conv_block(channels, layer, config.kernel_size))
                channels = layer.channels
            else:
                blocks.append(nn.MaxPool2d(kernel_size=(2, 1), stride=(2, 1)))
        self.convs = nn.Sequential(*blocks)
        fc_in = config.last_channels() * config.freq_bins_after_convs()
        self.head = nn.Sequential(
            nn.Linear(fc_in, config.fc_hidden),
            nn.ReLU(inplace=True),
            nn.Linear(config.fc_hidden, config.out_dim),
        )

    def forward(self, spectrogram: torch.Tensor) -> torch.Tensor:
        if spectrogram.ndim != 4 or spectrogram.shape[-1] != self.config.in_channels:
            raise ValueError(
                f"expected a (batch, frames, bins, {self.config.in_channels}) spectrogram, "
                f"got shape {tuple(spectrogram.shape)}"
            )
        # (B, T, F, C) viewed as (B, C, T, F): already channels-last in memory.
        x = self.convs(spectrogram.permute(0, 3, 1, 2))
        x = x.mean(dim=2)  # average pool over the whole time axis → (B, C, F')
        return self.head(x.flatten(1))
