"""How a run's face models are trained: plain settings, importable without torch."""

from __future__ import annotations

from dataclasses import dataclass, field

from speech2face.vocabulary import SYNTHETIC_ETHNICITIES


@dataclass(frozen=True)
class FaceEncoderTrainingConfig:
    """The ``small`` face encoder's architecture and its identity-classification training."""

    preset: str = "small"
    feature_dim: int = 128
    widths: tuple[int, ...] = (32, 64, 128, 256)
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    label_smoothing: float = 0.1
    max_shift: float = 0.06
    """Largest random translation, as a fraction of the image side."""


@dataclass(frozen=True)
class FaceDecoderTrainingConfig:
    """Decoder architecture and training (image L1 + texture L1 + landmark L1)."""

    preset: str = "small"
    hidden_dim: int = 1000
    texture_channels: tuple[int, ...] = (32, 32, 16, 8)
    epochs: int = 25
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-5
    texture_weight: float = 1.0
    landmark_weight: float = 10.0


@dataclass(frozen=True)
class AttributeTrainingConfig:
    """Attribute classifier architecture, class lists and training."""

    preset: str = "small"
    genders: tuple[str, ...] = ("female", "male")
    ethnicities: tuple[str, ...] = SYNTHETIC_ETHNICITIES
    widths: tuple[int, ...] = (32, 64, 128, 128)
    hidden_dim: int = 128
    epochs: int = 12
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 5e-4
    max_shift: float = 0.06
    blur_probability: float = 0.3
    """Share of training images softened (2× down- and up-sampled), so that the blurrier
    decoder reconstructions are labelled like the sharp faces they stand for."""


@dataclass(frozen=True)
class FaceStageConfig:
    """How the face models of a run are trained."""

    encoder: FaceEncoderTrainingConfig = field(default_factory=FaceEncoderTrainingConfig)
    decoder: FaceDecoderTrainingConfig = field(default_factory=FaceDecoderTrainingConfig)
    attributes: AttributeTrainingConfig = field(default_factory=AttributeTrainingConfig)
    extra_identities: int = 200
    """Freshly rendered people (not in the corpus) added to the train speakers."""
    extra_renders_per_identity: int = 4
    reconstruction_views: int = 3
    """Decoder reconstructions per training face (alone or averaged within its demographic
    cell, :func:`averaged_reconstructions`) added to the attribute classifier's images;
    0: renders only."""
