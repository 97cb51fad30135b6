"""A trained run, loaded for prediction: voice encoder plus the run's frozen face stack.

A run folder (``s2f train --out RUN``) holds ``checkpoint.pt`` (the voice encoder) and its
face stack (``face_stack.json``, :mod:`speech2face.training.face_targets`): ``face_models/``
(:mod:`speech2face.training.face_stage`: encoder, decoder, attribute classifier), or no face
model at all (stored face features), or the user's VGG-Face. Without a decoder there are no
reconstructions: S2F and F2F attributes come from descriptor-space classifiers
(``s2f attributes train``) applied to the predicted and the true feature. The model's identity in a
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

from torch import nn

from speech2face import __version__
from speech2face.artifacts import ATTRIBUTE_MODELS_DIR
from speech2face.errors import InputError
from speech2face.hashing import file_sha256
from speech2face.models.attribute_classifier import AttributeClassifier
from speech2face.models.face_decoder import FaceDecoder
from speech2face.models.face_encoder import FaceEncoder
from speech2face.models.registry import voice_encoder_from_checkpoint
from speech2face.prediction.descriptor_attributes import (
    DescriptorClassifier,
    load_descriptor_classifiers,
)
from speech2face.training.checkpoint import load_checkpoint
from speech2face.training.face_domain import read_face_domain
from speech2face.training.face_models import load_face_model
from speech2face.training.face_stage import MODEL_FILES, face_stage
from speech2face.training.face_targets import FACE_MODELS, VGGFACE, read_face_stack
from speech2face.training.speakers import TrainingSpeakers, read_training_speakers
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
WRONG_CLASSIFIER_DIM = (
    "{path}: this attribute classifier reads {found}-D features but the run's are {expected}-D"
)
IGNORED_TRAINING_KEYS = ("device", "num_workers")
"""Training settings that do not change the weights' meaning, left out of ``config_hash``."""


@dataclass
class Speech2FaceModel:
    """Everything prediction runs: the networks in eval mode and the model's identity.

    ``face_encoder`` is None when the true features are stored in the manifest;
    ``face_decoder`` and ``attribute_classifier`` are None for a run without a decoder, whose
    S2F/F2F attributes come from ``descriptor_classifiers`` (attribute name → classifier).
    """

    voice_encoder: nn.Module
    face_encoder: FaceEncoder | None
    face_decoder: FaceDecoder | None
    attribute_classifier: AttributeClassifier | None
    model_id: str
    config_hash: str
    preset: str
    info: dict[str, Any] = field(default_factory=dict)
    face_stack: str = FACE_MODELS
    descriptor_classifiers: dict[str, DescriptorClassifier] = field(default_factory=dict)
    training_speakers: TrainingSpeakers | None = None
    """The speakers the run trained and validated on; None: the run did not record them."""

    @property
    def feature_dim(self) -> int:
        return self.voice_encoder.config.out_dim

    @property
    def true_features_from_images(self) -> bool:
        """True when the true feature is the face encoder's, even where a stored one exists."""
        return self.face_stack == VGGFACE


def _load_face_model(path: Path, kind: str):
    """``load_face_model``, with weights from an older architecture as a one-line error."""
    try:
        return load_face_model(path, kind=kind)
    except RuntimeError as error:  # load_state_dict: missing or unexpected keys, shapes
        reason = str(error).strip().splitlines()[-1].strip()
        raise InputError(STALE_FACE_MODEL.format(path=path, kind=kind, reason=reason)) from error


def load_model(
    run_dir: str | os.PathLike,
    *,
    model_id: str | None = None,
    attribute_models: list[str | os.PathLike] | None = None,
    vggface_weights: str | os.PathLike | None = None,
) -> Speech2FaceModel:
    """Load ``run_dir``; refuse a checkpoint from another version or mismatched face models.

    ``attribute_models`` (files or folders of ``s2f attributes train`` classifiers) label the
    predicted and true features of a run without a decoder; by default ``RUN/attribute_models/``.
    ``vggface_weights`` replaces the VGG-Face weights path a ``vggface`` run recorded.
    """
    run_dir = Path(run_dir)
    checkpoint = run_dir / CHECKPOINT_FILE
    if not checkpoint.is_file():
        raise InputError(NOT_A_RUN.format(run=run_dir, file=CHECKPOINT_FILE))
    stack = read_face_stack(run_dir) or {"face_stack": FACE_MODELS}
    if stack["face_stack"] == FACE_MODELS:
        stage = face_stage(run_dir)
        missing = [name for name in MODEL_FILES.values() if not (stage.directory / name).is_file()]
        if missing:
            raise InputError(NO_FACE_MODELS.format(run=run_dir, missing=", ".join(missing)))
    payload = load_checkpoint(checkpoint)
    voice = voice_encoder_from_checkpoint(payload)
    if stack["face_stack"] == FACE_MODELS:
        faces = {
            kind: _load_face_model(stage.directory / name, kind)
            for kind, name in MODEL_FILES.items()
        }
        dims = {
            "voice": voice.config.out_dim,
            "face": faces["face_encoder"].feature_dim,
            "decoder": faces["face_decoder"].config.feature_dim,
        }
        if len(set(dims.values())) != 1:
            raise InputError(
                DIMENSION_MISMATCH.format(run=run_dir, preset=payload["preset"], **dims)
            )
        digests = {kind: file_sha256(stage.directory / name) for kind, name in MODEL_FILES.items()}
        classifiers: dict[str, DescriptorClassifier] = {}
    else:
        faces = {"face_encoder": None, "face_decoder": None, "attribute_classifier": None}
        if stack["face_stack"] == VGGFACE:
            from speech2face.models.face_encoder import load_vggface

            faces["face_encoder"] = load_vggface(
                vggface_weights or stack["vggface_weights"]
            ).freeze()
        digests = {"face_stack": stack}
        sources = attribute_models
        if sources is None and (run_dir / ATTRIBUTE_MODELS_DIR).is_dir():
            sources = [run_dir / ATTRIBUTE_MODELS_DIR]
        classifiers = load_descriptor_classifiers(sources or [])
        for classifier in classifiers.values():
            if classifier.n_features != voice.config.out_dim:
                raise InputError(
                    WRONG_CLASSIFIER_DIM.format(
                        path=classifier.path,
                        found=classifier.n_features,
                        expected=voice.config.out_dim,
                    )
                )
            digests[f"attribute:{classifier.attribute}"] = classifier.sha256
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
        "face_stack": stack,
        "attribute_models": {
            name: str(classifier.path) for name, classifier in classifiers.items()
        },
        "trained_on_manifest_sha256": payload.get("manifest_hash"),
        "face_domain": read_face_domain(run_dir),
        "speech2face_version": __version__,
    }
    return Speech2FaceModel(
        voice_encoder=voice.eval(),
        face_encoder=None if faces["face_encoder"] is None else faces["face_encoder"].eval(),
        face_decoder=None if faces["face_decoder"] is None else faces["face_decoder"].eval(),
        attribute_classifier=None
        if faces["attribute_classifier"] is None
        else faces["attribute_classifier"].eval(),
        model_id=model_id or f"speech2face-{payload['preset']}-{weights[:10]}",
        config_hash=config_hash,
        preset=payload["preset"],
        info=info,
        face_stack=stack["face_stack"],
        descriptor_classifiers=classifiers,
        training_speakers=read_training_speakers(run_dir),
    )
