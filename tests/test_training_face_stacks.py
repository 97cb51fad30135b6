"""``s2f train`` without a synthetic face stack: stored face features, VGG-Face; loss terms."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image
from torch import nn

from s2f.cli import main
from speech2face.audio import SpectrogramConfig
from speech2face.models.face_encoder import VGGFace
from speech2face.models.loss import speech2face_loss
from speech2face.training.checkpoint import load_checkpoint
from speech2face.training.face_targets import (
    FACE_STACK_FILE,
    features_stack,
    load_targets,
    vggface_stack,
)
from tests.test_training_command import write_corpus

V_S = [[1.0, 2.0, 2.0], [0.0, 3.0, 4.0]]
V_F = [[2.0, 1.0, 2.0], [3.0, 0.0, 4.0]]


def test_without_a_decoder_term_one_is_the_l1_distance_of_the_features():
    loss = speech2face_loss(torch.tensor(V_S), torch.tensor(V_F), decoder_head=None, fc8_head=None)
    # clip 1: |1-2| + |2-1| + 0 = 2; clip 2: 3 + 3 + 0 = 6
    assert loss.decoder_l1.item() == pytest.approx(4.0)
    assert loss.distillation.item() == 0.0
    assert loss.total.item() == pytest.approx(4.0 + loss.feature_l2.item())


def test_without_fc8_distillation_adds_no_gradient():
    v_s = torch.tensor(V_S, requires_grad=True)
    fc8 = nn.Linear(3, 4).requires_grad_(False)
    with_fc8 = speech2face_loss(v_s, torch.tensor(V_F), decoder_head=None, fc8_head=fc8)
    (grad_with,) = torch.autograd.grad(with_fc8.total - with_fc8.distillation, v_s)
    without = speech2face_loss(v_s, torch.tensor(V_F), decoder_head=None, fc8_head=None)
    (grad_without,) = torch.autograd.grad(without.total, v_s)
    torch.testing.assert_close(grad_with, grad_without)
    assert with_fc8.distillation.item() > 0


def with_stored_features(manifest, *, dim=128):
    """Give each speaker a random stored face feature of ``dim`` (as s2f face-features does)."""
    frame = pd.read_csv(manifest)
    root = manifest.parent
    (root / "features").mkdir(exist_ok=True)
    rng = np.random.default_rng(1)
    for speaker in frame["speaker_id"].unique():
        np.save(root / "features" / f"{speaker}.npy", rng.normal(size=dim).astype(np.float32))
    frame["face_feature_path"] = "features/" + frame["speaker_id"] + ".npy"
    frame = frame.drop(columns=["face_path"])
    frame.to_csv(manifest, index=False)
    return manifest


def train(manifest, out, *extra):
    argv = ["train", "--manifest", str(manifest), "--out", str(out), "--duration", "1"]
    return main([*argv, "--no-progress", "--batch-size", "4", "--eval-every", "2", *extra])


def test_train_on_stored_features_needs_no_face_models_and_records_its_stack(tmp_path, capsys):
    torch.set_num_threads(1)
    manifest = with_stored_features(write_corpus(tmp_path))
    run = tmp_path / "run"
    assert train(manifest, run, "--steps", "4") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 4 and np.isfinite(summary["val_loss"])
    assert summary["face_stack"] == "stored_features"
    stack = json.loads((run / FACE_STACK_FILE).read_text())
    assert stack["face_stack"] == "stored_features" and stack["feature_dim"] == 128
    assert stack["loss_terms"]["decoder_l1"] == "the feature itself (no face decoder)"
    assert stack["loss_terms"]["distillation"] == "dropped (no fc8 head)"
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(r["distillation"] == 0.0 for r in records)
    assert all(r["decoder_l1"] > 0 for r in records)
    assert not (run / "face_models").exists()
    assert load_checkpoint(run / "checkpoint.pt")["step"] == 4
    # resuming keeps the stack; a fresh run into the same folder is refused
    assert train(manifest, run, "--steps", "6", "--resume") == 0
    assert train(manifest, run, "--steps", "6") == 2
    assert "already exists; pass --resume" in capsys.readouterr().err


def test_stored_features_of_the_wrong_size_are_one_line(tmp_path, capsys):
    manifest = with_stored_features(write_corpus(tmp_path, speakers=3, clips_per_speaker=2), dim=64)
    assert train(manifest, tmp_path / "run") == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        "--preset small outputs 128-D features but the manifest's stored face features are "
        "64-D; pick the matching preset"
    )
    assert len(err.splitlines()) == 1


def test_a_clip_without_face_or_feature_names_both_ways_to_fix_it(tmp_path, capsys):
    manifest = with_stored_features(write_corpus(tmp_path, speakers=3, clips_per_speaker=2))
    frame = pd.read_csv(manifest)
    frame.loc[2, "face_feature_path"] = None
    frame.to_csv(manifest, index=False)
    assert train(manifest, tmp_path / "run") == 2
    err = capsys.readouterr().err
    assert "no face models there" in err
    assert "give every train and val clip a face_feature_path" in err
    assert train(manifest, tmp_path / "run", "--face-encoder", "stored") == 2
    assert "row 2 (clip s1_0) has no face_feature_path" in capsys.readouterr().err


def test_vggface_options_are_checked(tmp_path, capsys):
    manifest = write_corpus(tmp_path, speakers=3, clips_per_speaker=2)
    assert train(manifest, tmp_path / "run", "--face-encoder", "vggface") == 2
    assert "needs --vggface-weights FILE" in capsys.readouterr().err
    assert train(manifest, tmp_path / "run", "--vggface-weights", "w.pt") == 2
    assert "only read with --face-encoder vggface" in capsys.readouterr().err
    missing = tmp_path / "nowhere.pt"
    argv = ["--face-encoder", "vggface", "--vggface-weights", str(missing), "--preset", "paper"]
    assert train(manifest, tmp_path / "run", *argv) == 2
    assert "nowhere.pt" in capsys.readouterr().err


def test_vggface_stack_encodes_each_face_image_once_with_fc7_and_keeps_fc8(tmp_path):
    torch.manual_seed(0)
    weights = tmp_path / "vgg_face.pt"
    torch.save(VGGFace().state_dict(), weights)
    manifest = write_corpus(tmp_path, speakers=2, clips_per_speaker=2)
    stack = vggface_stack(weights)
    assert stack.kind == "vggface" and stack.feature_dim == 4096
    assert stack.heads.decoder_head is None and stack.heads.fc8_head is stack.face_encoder.fc8
    assert stack.describe()["loss_terms"]["distillation"] == "face encoder's fc8"
    data = load_targets(manifest, stack=stack, spectrogram_config=SpectrogramConfig(duration_s=1))
    targets = data.train.face_features
    assert targets.shape == (2, 4096)  # speaker 0's two clips; speaker 1 is the val split
    torch.testing.assert_close(targets[0], targets[1])
    image = np.array(Image.open(tmp_path / "faces" / "s0.png").convert("RGB").resize((224, 224)))
    expected = stack.face_encoder(torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255)
    torch.testing.assert_close(targets[0], expected[0], atol=1e-4, rtol=1e-4)
    assert (targets >= 0).all()  # fc7 after its ReLU


def test_train_clips_are_random_crops_and_val_clips_their_first_seconds(tmp_path):
    manifest = with_stored_features(write_corpus(tmp_path, speakers=3, clips_per_speaker=2))
    data = load_targets(
        manifest, stack=features_stack(128), spectrogram_config=SpectrogramConfig(duration_s=1)
    )
    assert data.train.random_crops and not data.val.random_crops
    assert len(data.train) == 4 and len(data.val) == 2
