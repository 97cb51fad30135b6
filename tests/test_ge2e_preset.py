"""The ``ge2e`` voice-encoder preset: trained, predicted, audited and compared with ``small``.

Needs the [voices] extra (Resemblyzer). Both runs share one face stack (untrained, narrow
128-D face models, copied into each run by `s2f train-faces --face-models`), as compared
voice models must.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from s2f.cli import main
from speech2face.backends import voices
from speech2face.models.attribute_classifier import AttributeClassifier, AttributeClassifierConfig
from speech2face.models.face_decoder import FaceDecoder, FaceDecoderConfig, normalise_landmarks
from speech2face.models.face_encoder import SmallFaceEncoder, SmallFaceEncoderConfig
from speech2face.models.registry import available_models, get_config
from speech2face.prediction.artifact import read_predictions
from speech2face.synth.synthetic_faces import render_face, sample_face_params
from speech2face.training.checkpoint import load_checkpoint
from speech2face.training.face_models import save_face_model
from speech2face.training.face_stage import MODEL_FILES
from tests.predict_support import TINY_WIDTHS, tiny_corpus

DIM = 128


def s2f(*argv: object) -> int:
    return main([str(arg) for arg in argv])


def narrow_face_models(folder):
    """Untrained 128-D face encoder, decoder and attribute classifier (as train-faces leaves)."""
    torch.manual_seed(0)
    face = render_face(
        sample_face_params(
            np.random.default_rng(0), gender="female", age=30.0, ethnicity="group_a"
        ),
        size=64,
    )
    mean = normalise_landmarks(torch.as_tensor(face.landmarks, dtype=torch.float32), size=64)
    models = {
        "face_encoder": SmallFaceEncoder(
            SmallFaceEncoderConfig(n_identities=4, feature_dim=DIM, widths=TINY_WIDTHS)
        ),
        "face_decoder": FaceDecoder(
            FaceDecoderConfig(feature_dim=DIM, hidden_dim=32, texture_channels=TINY_WIDTHS),
            mean_landmarks=mean,
        ),
        "attribute_classifier": AttributeClassifier(
            AttributeClassifierConfig(widths=TINY_WIDTHS, hidden_dim=16)
        ),
    }
    for kind, model in models.items():
        save_face_model(model.eval(), folder / MODEL_FILES[kind])
    (folder / "face_stage.json").write_text("{}")
    return folder


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("ge2e")
    manifest = tiny_corpus(root)
    faces = narrow_face_models(root / "face_models")
    for preset in ("small", "ge2e"):
        run = root / preset
        assert s2f("train-faces", "--manifest", manifest, "--out", run, "--face-models", faces) == 0
        argv = ["--preset", preset, "--steps", "3", "--batch-size", "4", "--duration", "1"]
        assert s2f("train", "--manifest", manifest, "--out", run, *argv, "--no-progress") == 0
        pred = root / f"pred_{preset}"
        argv = ["--split", "test", "--durations", "1", "--no-progress", "--model-id", preset]
        assert s2f("predict", "--model", run, "--manifest", manifest, "--out", pred, *argv) == 0
        argv = ["--n-boot", "5", "--min-speakers", "2", "--no-report"]
        assert s2f("audit", pred, "--out", root / f"audit_{preset}", *argv) == 0
    argv = ["--out", root / "comparison", "--no-report"]
    assert s2f("compare", root / "audit_small", root / "audit_ge2e", *argv) == 0
    return root


def test_ge2e_is_a_preset_whose_embedding_stays_frozen(compared):
    assert "ge2e" in available_models() and get_config("ge2e").out_dim == DIM
    payload = load_checkpoint(compared / "ge2e" / "checkpoint.pt", preset="ge2e")
    assert payload["step"] == 3 and payload["encoder_config"]["name"] == "ge2e"
    pretrained = voices.load_ge2e().state_dict()
    for key, value in pretrained.items():
        assert torch.equal(payload["model"][f"embedding.encoder.{key}"], value), key
    stack = json.loads((compared / "ge2e" / "face_stack.json").read_text())
    assert stack["face_stack"] == "face_models"
    assert stack["loss_terms"]["decoder_l1"] == "face decoder's first layer"


def test_both_runs_predict_the_same_clips_and_compare(compared):
    small = read_predictions(compared / "pred_small")
    ge2e = read_predictions(compared / "pred_ge2e")
    assert list(small.table["clip_id"]) == list(ge2e.table["clip_id"])
    np.testing.assert_array_equal(small.features["true_feature"], ge2e.features["true_feature"])
    assert ge2e.features["pred_feature"].shape == (len(ge2e.table), DIM)
    assert not np.allclose(small.features["pred_feature"], ge2e.features["pred_feature"])
    assert set(ge2e.table["model_id"]) == {"ge2e"} and ge2e.meta["preset"] == "ge2e"
    comparison = json.loads((compared / "comparison" / "comparison.json").read_text())
    assert [model["model_id"] for model in comparison["models"]] == ["small", "ge2e"]
    changes = pd.read_parquet(compared / "comparison" / "changes.parquet")
    row = changes[(changes["metric"] == "feature_cosine_score") & (changes["slice"] == "overall")]

    def cosine(pred):
        p, t = np.asarray(pred.features["pred_feature"]), np.asarray(pred.features["true_feature"])
        return np.mean((p * t).sum(1) / np.linalg.norm(p, axis=1) / np.linalg.norm(t, axis=1))

    assert row["value_baseline"].item() == pytest.approx(cosine(small), abs=1e-6)
    assert row["delta"].item() == pytest.approx(cosine(ge2e) - cosine(small), abs=1e-6)


def test_without_the_voices_extra_ge2e_training_is_one_line(tmp_path, monkeypatch, capsys):
    voices._resemblyzer.cache_clear()
    monkeypatch.setitem(sys.modules, "resemblyzer", None)
    try:
        manifest = tmp_path / "m.csv"
        pd.DataFrame(
            {
                "clip_id": ["a"],
                "speaker_id": ["s"],
                "audio_path": ["a.wav"],
                "split": ["train"],
                "face_feature_path": ["f.npy"],
            }
        ).to_csv(manifest, index=False)
        np.save(tmp_path / "f.npy", np.ones(DIM, np.float32))
        assert (
            s2f("train", "--manifest", manifest, "--out", tmp_path / "run", "--preset", "ge2e") == 2
        )
    finally:
        voices._resemblyzer.cache_clear()
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "GE2E speaker embeddings needs 'resemblyzer': install speech2face-audit[voices], "
        "then `pip install --no-deps resemblyzer==0.1.4`"
    )
    assert len(err.splitlines()) == 1


def test_importing_the_registry_does_not_import_resemblyzer():
    code = (
        "import sys; from speech2face.models import registry; "
        "registry.get_config('ge2e'); registry.available_models(); "
        "print('resemblyzer' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
