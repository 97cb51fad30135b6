"""Voice encoder presets: one frozen config per name, ``get_model(name)``.

``paper`` is Table 1 of Oh et al. (2019). ``small`` keeps the design (4×4
conv → ReLU → BN blocks, 2×1 time pooling, stride-2 convolutions, average pool
over time, two FC layers) but is narrower and shorter, with stride-2 first
convolutions so that it trains on two CPU cores in minutes; its 128-D output
matches the small face encoder's feature.

``ge2e`` is another family: a frozen pretrained GE2E speaker embedding (Resemblyzer, the
``voices`` extra) computed from the same spectrogram, then a trained MLP head to the face
feature (:mod:`speech2face.backends.ge2e`). Presets are looked up
through :data:`VOICE_PRESETS`, so importing this registry imports neither torch nor
Resemblyzer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from speech2face.models.voice_config import Conv, MaxPoolTime, VoiceEncoderConfig
from speech2face.registry import Registry

if TYPE_CHECKING:
    from torch import nn

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

VOICE_PRESETS = Registry(
    "voice encoder preset",
    {
        "paper": "speech2face.models.registry:PAPER",
        "small": "speech2face.models.registry:SMALL",
        "ge2e": "speech2face.backends.ge2e:GE2E",  # needs the voices extra, imported on use
    },
)
"""Each preset's config; a config builds its model (``config.build()``)."""


def available_models() -> list[str]:
    """Names of the voice encoder presets."""
    return VOICE_PRESETS.names()


def get_config(name: str, **overrides: Any) -> Any:
    """The preset's config, with fields replaced by ``overrides`` (e.g. ``out_dim=64``)."""
    return replace(VOICE_PRESETS.get(name), **overrides)


def get_model(name: str, **overrides: Any) -> nn.Module:
    """A freshly initialised voice encoder of preset ``name``."""
    return get_config(name, **overrides).build()


def voice_encoder_from_checkpoint(payload: dict[str, Any]) -> nn.Module:
    """The trained voice encoder of a checkpoint payload (any preset), in eval mode."""
    saved = payload["encoder_config"]
    config = type(VOICE_PRESETS.get(saved.get("name"))).from_dict(saved)
    model = config.build()
    model.load_state_dict(payload["model"])
    return model.eval()
