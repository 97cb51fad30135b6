"""A run's face models: trained on the corpus's train speakers or reused; then train → predict."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import read_predictions
from speech2face.training.face_config import (
    AttributeTrainingConfig,
    FaceDecoderTrainingConfig,
    FaceEncoderTrainingConfig,
    FaceStageConfig,
)
from speech2face.training.face_models import load_face_model
from speech2face.training.face_stage import NOT_A_SYNTHETIC_CORPUS, prepare_face_stage

sys.path.insert(0, str(Path(__file__).parent))
from predict_support import TINY_WIDTHS, tiny_corpus

TINY = FaceStageConfig(
    encoder=FaceEncoderTrainingConfig(feature_dim=128, widths=TINY_WIDTHS, epochs=1),
    decoder=FaceDecoderTrainingConfig(hidden_dim=32, texture_channels=TINY_WIDTHS, epochs=1),
    attributes=AttributeTrainingConfig(widths=TINY_WIDTHS, hidden_dim=16, epochs=1),
    extra_identities=3,
    extra_renders_per_identity=1,
)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("stage"))


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    torch.set_num_threads(1)
    run = tmp_path_factory.mktemp("runs") / "a"
    return prepare_face_stage(corpus, run, seed=0, config=TINY)


def test_face_models_train_on_train_speakers_only(corpus, trained):
    info = trained.info()
    manifest = pd.read_parquet(corpus)
    train = sorted(set(manifest.loc[manifest["split"] == "train", "speaker_id"]))
    assert info["trained"] and info["corpus_speakers"] == train
    assert info["n_identities"] == len(train) + TINY.extra_identities
    assert info["digests"] == trained.digests()
    encoder = load_face_model(trained.face_encoder, kind="face_encoder")
    assert encoder.fc8.out_features == info["n_identities"]
    # a run that has its face models keeps them
    before = trained.face_encoder.stat().st_mtime_ns
    prepare_face_stage(corpus, trained.directory.parent, seed=1, config=TINY)
    assert trained.face_encoder.stat().st_mtime_ns == before


def test_reuse_copies_the_same_models_and_refuses_others(corpus, trained, tmp_path):
    reused = prepare_face_stage(corpus, tmp_path / "b", face_models=trained.directory.parent)
    assert reused.digests() == trained.digests()
    assert reused.info()["trained"] is False and reused.info()["origin"]["trained"] is True
    other = prepare_face_stage(corpus, tmp_path / "c", seed=1, config=TINY)
    with pytest.raises(InputError, match="already holds other face models"):
        prepare_face_stage(corpus, tmp_path / "c", face_models=trained.directory)
    assert other.digests() != trained.digests()


def test_a_manifest_outside_a_synthetic_corpus_needs_face_models(corpus, tmp_path):
    manifest = tmp_path / "manifest.parquet"
    pd.read_parquet(corpus).assign(
        audio_path=lambda f: [str(corpus.parent / p) for p in f["audio_path"]],
        face_path=lambda f: [str(corpus.parent / p) for p in f["face_path"]],
    ).to_parquet(manifest)
    expected = NOT_A_SYNTHETIC_CORPUS.format(manifest=manifest, file="renders.parquet")
    with pytest.raises(InputError) as error:
        prepare_face_stage(manifest, tmp_path / "run")
    assert str(error.value) == expected


def test_train_faces_then_train_then_predict(corpus, trained, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train-faces", "--manifest", str(corpus), "--out", str(run),
                 "--face-models", str(trained.directory)]) == 0  # fmt: skip
    stage = json.loads(capsys.readouterr().out)
    assert Path(stage["face_encoder"]).parent == run / "face_models"
    assert main(["train", "--manifest", str(corpus), "--out", str(run), "--steps", "2",
                 "--batch-size", "2", "--duration", "1", "--no-progress"]) == 0  # fmt: skip
    out = tmp_path / "pred"
    assert main(["predict", "--model", str(run), "--manifest", str(corpus), "--out", str(out),
                 "--split", "test", "--durations", "3", "--no-progress"]) == 0  # fmt: skip
    predictions = read_predictions(out)
    manifest = pd.read_parquet(corpus)
    assert list(predictions.table["clip_id"]) == list(
        manifest.loc[manifest["split"] == "test", "clip_id"]
    )
    assert predictions.meta["model"]["face_models_sha256"] == trained.digests()
    assert np.isfinite(predictions.features["pred_feature"]).all()
