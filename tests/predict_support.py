"""Shared helpers of the prediction tests: a tiny synthetic corpus and an untrained tiny run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from speech2face.models.attribute_classifier import AttributeClassifier, AttributeClassifierConfig
from speech2face.models.face_decoder import FaceDecoder, FaceDecoderConfig, normalise_landmarks
from speech2face.models.face_encoder import SmallFaceEncoder, SmallFaceEncoderConfig
from speech2face.models.registry import get_model
from speech2face.models.voice_config import config_to_dict
from speech2face.synth.corpus import generate_corpus
from speech2face.synth.synthetic_faces import render_face, sample_face_params
from speech2face.training.checkpoint import save_checkpoint
from speech2face.training.face_models import save_face_model
from speech2face.training.face_stage import MODEL_FILES, face_stage

FEATURE_DIM = 16
TINY_WIDTHS = (8, 8, 8, 8)


def tiny_corpus(root: Path) -> Path:
    """12 speakers × 2 clips (the fewest whose test split holds every group), 1 render each."""
    return generate_corpus(
        root / "corpus",
        speakers=12,
        clips_per_speaker=2,
        renders_per_speaker=1,
        test_fraction=0.6,
        workers=1,
        progress=False,
    )


def tiny_run(run_dir: Path, *, seed: int = 0, voice_dim: int = FEATURE_DIM) -> Path:
    """A run folder with narrow, randomly initialised models (prediction needs no training).

    The decoder's landmarks vary around a rendered face's (a fresh decoder predicts the mean).
    """
    torch.manual_seed(seed)
    face = render_face(
        sample_face_params(
            np.random.default_rng(seed), gender="female", age=30.0, ethnicity="group_a"
        ),
        size=64,
    )
    mean_landmarks = normalise_landmarks(
        torch.as_tensor(face.landmarks, dtype=torch.float32), size=64
    )
    decoder = FaceDecoder(
        FaceDecoderConfig(feature_dim=FEATURE_DIM, hidden_dim=32, texture_channels=TINY_WIDTHS),
        mean_landmarks=mean_landmarks,
    )
    torch.nn.init.normal_(decoder.landmark_head.weight, std=0.02)
    models = {
        "face_encoder": SmallFaceEncoder(
            SmallFaceEncoderConfig(n_identities=4, feature_dim=FEATURE_DIM, widths=TINY_WIDTHS)
        ),
        "face_decoder": decoder,
        "attribute_classifier": AttributeClassifier(
            AttributeClassifierConfig(widths=TINY_WIDTHS, hidden_dim=16)
        ),
    }
    for kind, model in models.items():
        save_face_model(model.eval(), face_stage(run_dir).directory / MODEL_FILES[kind])
    (face_stage(run_dir).info_path).write_text("{}")
    voice = get_model("small", out_dim=voice_dim)
    save_checkpoint(
        run_dir / "checkpoint.pt",
        {
            "preset": "small",
            "encoder_config": config_to_dict(voice.config),
            "training_config": {},
            "manifest_hash": "none",
            "step": 0,
            "model": voice.state_dict(),
        },
    )
    return run_dir
