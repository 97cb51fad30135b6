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
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class Conv:
    """A 4×4 (by default) convolution → ReLU → BatchNorm block."""

    channels: int
    stride: int = 1


@dataclass(frozen=True)
class MaxPoolTime:
    """Max pooling 2×1: halves the time axis, keeps the frequency axis."""


LayerSpec = Conv | MaxPoolTime


@dataclass(frozen=True)
class VoiceEncoderConfig:
    """Everything that defines a voice encoder's shape; one per preset."""

    name: str
    layers: tuple[LayerSpec, ...]
    fc_hidden: int
    out_dim: int
    in_channels: int = 2
    freq_bins: int = 257
    kernel_size: int = 4

    def freq_bins_after_convs(self) -> int:
        """Frequency bins that reach the fully connected layers (``SAME`` padding)."""
        bins = self.freq_bins
        for layer in self.layers:
            if isinstance(layer, Conv):
                bins = math.ceil(bins / layer.stride)
        return bins

    def last_channels(self) -> int:
        """Channels of the last convolution."""
        return [layer.channels for layer in self.layers if isinstance(layer, Conv)][-1]


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


def config_to_dict(config: VoiceEncoderConfig) -> dict:
    """A JSON- and checkpoint-safe form of ``config``; inverse of :func:`config_from_dict`.

    A config of another encoder family (``ge2e``) serialises itself with ``to_dict``.
    """
    if not isinstance(config, VoiceEncoderConfig):
        return config.to_dict()
    layers = [
        {"conv": layer.channels, "stride": layer.stride}
        if isinstance(layer, Conv)
        else {"maxpool_time": 2}
        for layer in config.layers
    ]
    return {
        "name": config.name,
        "layers": layers,
        "fc_hidden": config.fc_hidden,
        "out_dim": config.out_dim,
        "in_channels": config.in_channels,
        "freq_bins": config.freq_bins,
        "kernel_size": config.kernel_size,
    }


def config_from_dict(data: dict) -> VoiceEncoderConfig:
    """The config that :func:`config_to_dict` wrote."""
    layers = tuple(
        Conv(item["conv"], stride=item["stride"]) if "conv" in item else MaxPoolTime()
        for item in data["layers"]
    )
    return VoiceEncoderConfig(**{**data, "layers": layers})
