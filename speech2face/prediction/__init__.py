"""Prediction: a trained run applied to a manifest, written as a predictions artifact.

``load_model(RUN)`` loads the voice encoder and the run's face models;
``predict(model, MANIFEST, OUT, settings=PredictionSettings(...))`` writes the artifact
(:mod:`speech2face.prediction.artifact`) in resumable chunks, also sharded under ``torchrun``.
See ``docs/predict.md``. The names below import torch only when first used, so that reading
a predictions artifact (:mod:`~speech2face.prediction.artifact`) never does.
"""

from importlib import import_module
from typing import Any

_LAZY = {
    "PredictionSettings": "speech2face.prediction.run",
    "chunk_counts": "speech2face.prediction.run",
    "predict": "speech2face.prediction.run",
    "Speech2FaceModel": "speech2face.prediction.model",
    "load_model": "speech2face.prediction.model",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_LAZY[name]), name)
