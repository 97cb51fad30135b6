"""Voice encoder presets: one frozen config per name, ``get_model(name)``.

``paper`` is Table 1 of Oh et al. (2019). ``small`` keeps the design (4×4
conv → ReLU → BN blocks, 2×1 time pooling, stride-2 convolutions, average pool
over time, two FC layers) but is narrower and shorter, with stride-2 first
convolutions so that it trains on two CPU cores in minutes; its 128-D output
matches the small face encoder's feature.

``ge2e`` is another family: a frozen pretrained GE2E speaker embedding (Resemblyzer, the
``voices`` extra) computed from the same spectrogram, then a trained MLP head to the face
feature (:mod:`speech2face.backends.ge2e`). It is built lazily, so importing this registry
never imports Resemblyzer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from torch import nn

from speech2face.errors import InputError
from speech2face.models.voice_encoder import (
    Conv,
    MaxPoolTime,
    VoiceEncoder,
    VoiceEncoderConfig,
    config_from_dict,
)

UNKNOWN_PRESET = "unknown voice encoder preset {name!r}; available: {available}"

PAPER = VoiceEncoderConfig(
    name="paper",
    layers=(
        Conv(64),
        Conv(64),
        Conv(128),
        MaxPoolTime(),
        Conv(128),
        MaxPoolTime(),
        Conv(128),
        MaxPoolTime(),
        Conv(256),
        MaxPoolTime(),
        Conv(512),
        Conv(512, stride=2),
        Conv(512, stride=2),
    ),
    fc_hidden=4096,
    out_dim=4096,
)

SMALL = VoiceEncoderConfig(
    name="small",
    layers=(
        Conv(16, stride=2),
        Conv(32, stride=2),
        MaxPoolTime(),
        Conv(32),
        MaxPoolTime(),
        Conv(64),
        MaxPoolTime(),
        Conv(64, stride=2),
        Conv(64, stride=2),
    ),
    fc_hidden=256,
    out_dim=128,
)

PRESETS: dict[str, VoiceEncoderConfig] = {config.name: config for config in (PAPER, SMALL)}


GE2E_PRESET = "ge2e"
"""Frozen GE2E speaker embedding → trained head (needs the ``voices`` extra)."""


def available_models() -> list[str]:
    """Names of the voice encoder presets."""
    return sorted([*PRESETS, GE2E_PRESET])


def get_config(name: str, **overrides: Any) -> Any:
    """The preset's config, with fields replaced by ``overrides`` (e.g. ``out_dim=64``)."""
    if name == GE2E_PRESET:
        from speech2face.backends.ge2e import GE2E

        return replace(GE2E, **overrides)
    if name not in PRESETS:
        raise InputError(UNKNOWN_PRESET.format(name=name, available=", ".join(available_models())))
    return replace(PRESETS[name], **overrides)


def get_model(name: str, **overrides: Any) -> nn.Module:
    """A freshly initialised voice encoder of preset ``name``."""
    if name == GE2E_PRESET:
        from speech2face.backends.ge2e import GE2EVoiceEncoder

        return GE2EVoiceEncoder(get_config(name, **overrides))
    return VoiceEncoder(get_config(name, **overrides))


def voice_encoder_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """The trained voice encoder of a checkpoint payload (any preset), in eval mode."""
    config = payload["encoder_config"]
    if config.get("name") == GE2E_PRESET:
        from speech2face.backends.ge2e import GE2EConfig, GE2EVoiceEncoder

        model: nn.Module = GE2EVoiceEncoder(GE2EConfig.from_dict(config))
    else:
        model = VoiceEncoder(config_from_dict(config))
    model.load_state_dict(payload["model"])
    return model.eval()
