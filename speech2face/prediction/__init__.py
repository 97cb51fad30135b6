"""Prediction: a trained run applied to a manifest, written as a predictions artifact.

``load_model(RUN)`` loads the voice encoder and the run's face models;
``predict(model, MANIFEST, OUT, settings=PredictionSettings(...))`` writes the artifact
(:mod:`speech2face.predictions`) in resumable chunks, also sharded under ``torchrun``.
See ``docs/predict.md``.
"""

from speech2face.prediction.model import Speech2FaceModel, load_model
from speech2face.prediction.run import PredictionSettings, chunk_counts, predict

__all__ = ["PredictionSettings", "Speech2FaceModel", "chunk_counts", "load_model", "predict"]
