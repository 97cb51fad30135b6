"""Voice encoder shapes: plain settings, importable without torch (the CLI lists presets
from them), and their checkpoint-safe dictionary form."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from speech2face.models.voice_encoder import VoiceEncoder


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

    def build(self) -> VoiceEncoder:
        """A freshly initialised voice encoder of this shape."""
        from speech2face.models.voice_encoder import VoiceEncoder

        return VoiceEncoder(self)

    @classmethod
    def from_dict(cls, data: dict) -> VoiceEncoderConfig:
        """The config that :func:`config_to_dict` wrote."""
        return config_from_dict(data)

    def last_channels(self) -> int:
        """Channels of the last convolution."""
        return [layer.channels for layer in self.layers if isinstance(layer, Conv)][-1]


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
