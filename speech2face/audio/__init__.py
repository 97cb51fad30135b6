"""Audio front end: decode and resample clips, and turn them into Speech2Face's spectrogram."""

from speech2face.audio.dataset import BadClip, ClipDataset, collate_clips, iterate_batches
from speech2face.audio.frontend import (
    PAPER_CONFIG,
    SpectrogramConfig,
    fit_duration,
    spectrogram,
)
from speech2face.audio.io import load_audio

__all__ = [
    "PAPER_CONFIG",
    "BadClip",
    "ClipDataset",
    "SpectrogramConfig",
    "collate_clips",
    "fit_duration",
    "iterate_batches",
    "load_audio",
    "spectrogram",
]
