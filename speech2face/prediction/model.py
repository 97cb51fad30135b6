"""A trained run, loaded for prediction: voice encoder plus the run's frozen face models.

A run folder (``s2f train --out RUN``) holds ``checkpoint.pt`` (the voice encoder) and
``face_models/`` (:mod:`speech2face.training.face_stage`). The model's identity in a
predictions table is ``model_id`` (``speech2face-<preset>-<weights hash>`` unless given)
and ``config_hash``: a hash of everything that shapes its outputs (voice encoder config,
training config, each face model file).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from speech2face import __version__
from speech2face.errors import InputError
from speech2face.models.attribute_classifier import AttributeClassifier
from speech2face.models.face_decoder import FaceDecoder
from speech2face.models.face_encoder import FaceEncoder
from speech2face.models.voice_encoder import VoiceEncoder, config_from_dict
from speech2face.training.checkpoint import file_sha256, load_checkpoint
from speech2face.training.face_stage import MODEL_FILES, face_stage
from speech2face.training.faces import load_face_model
from speech2face.training.voice import CHECKPOINT_FILE

NOT_A_RUN = (
    "{run}: not a trained run (no {file}); train one with `s2f train --manifest M --out {run}`"
)
NO_FACE_MODELS = (
    "{run}: no face models ({missing} missing in face_models/); "
    "`s2f train-faces --manifest M --out {run}` makes them"
)
DIMENSION_MISMATCH = (
    "{run}: the voice encoder (preset {preset}) outputs {voice}-D features but the face "
    "encoder gives {face}-D and the decoder takes {decoder}-D; these models do not belong together"
)
STALE_FACE_MODEL = (
    "{path}: its weights do not fit this version's {kind} ({reason}); "
    "retrain it with `s2f train-faces`"
)
IGNORED_TRAINING_KEYS = ("device", "num_workers")
"""Training settings that do not change the weights' meaning, left out of ``config_hash``."""


@dataclass
class Speech2FaceModel:
    """Everything prediction runs: the four networks in eval mode and the model's identity."""

    voice_encoder: VoiceEncoder
    face_encoder: FaceEncoder
    face_decoder: FaceDecoder
    attribute_classifier: AttributeClassifier
    model_id: str
    config_hash: str
    preset: str
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def feature_dim(self) -> int:
        return self.voice_encoder.config.out_dim


def _load_face_model(path: Path, kind: str):
    """``load_face_model``, with weights from an older architecture as a one-line error."""
    try:
        return load_face_model(path, kind=kind)
    except RuntimeError as error:  # load_state_dict: missing or unexpected keys, shapes
        reason = str(error).strip().splitlines()[-1].strip()
        raise InputError(STALE_FACE_MODEL.format(path=path, kind=kind, reason=reason)) from error


def load_model(run_dir: str | os.PathLike, *, model_id: str | None = None) -> Speech2FaceModel:
    """Load ``run_dir``; refuse a checkpoint from another version or mismatched face models."""
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise InputError(NOT_A_RUN.format(run=run_dir, file=CHECKPOINT_FILE))
    stage = face_stage(run_dir)
    missing = [name for name in MODEL_FILES.values() if not (stage.directory / name).is_file()]
    if missing:
        raise InputError(NO_FACE_MODELS.format(run=run_dir, missing=", ".join(missing)))
    payload = load_checkpoint(checkpoint)
    voice = VoiceEncoder(config_from_dict(payload["encoder_config"]))
    voice.load_state_dict(payload["model"])
    faces = {
        kind: _load_face_model(stage.directory / name, kind) for kind, name in MODEL_FILES.items()
    }
    dims = {
        "voice": voice.config.out_dim,
        "face": faces["face_encoder"].feature_dim,
        "decoder": faces["face_decoder"].config.feature_dim,
    }
    if len(set(dims.values())) != 1:
        raise InputError(DIMENSION_MISMATCH.format(run=run_dir, preset=payload["preset"], **dims))
    digests = {kind: file_sha256(stage.directory / name) for kind, name in MODEL_FILES.items()}
    weights = file_sha256(checkpoint)
    training = {
        key: value
        for key, value in payload.get("training_config", {}).items()
        if key not in IGNORED_TRAINING_KEYS
    }
    shape = {
        "preset": payload["preset"],
        "encoder_config": payload["encoder_config"],
        "training_config": training,
        "face_models": digests,
    }
    config_hash = hashlib.sha256(
        json.dumps(shape, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    info = {
        "run": str(run_dir.resolve()),
        "step": payload.get("step"),
        "weights_sha256": weights,
        "face_models_sha256": digests,
        "trained_on_manifest_sha256": payload.get("manifest_hash"),
        "speech2face_version": __version__,
    }
    return Speech2FaceModel(
        voice_encoder=voice.eval(),
        face_encoder=faces["face_encoder"].eval(),
        face_decoder=faces["face_decoder"].eval(),
        attribute_classifier=faces["attribute_classifier"].eval(),
        model_id=model_id or f"speech2face-{payload['preset']}-{weights[:10]}",
        config_hash=config_hash,
        preset=payload["preset"],
        info=info,
    )
