"""``s2f train`` end to end: real WAV decoding, real face images through a frozen face encoder."""

import json

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from PIL import Image

from s2f.cli import main
from speech2face.models.attribute_classifier import AttributeClassifier, AttributeClassifierConfig
from speech2face.models.face_decoder import FaceDecoder, FaceDecoderConfig
from speech2face.models.face_encoder import SmallFaceEncoder, SmallFaceEncoderConfig
from speech2face.training.checkpoint import load_voice_encoder
from speech2face.training.face_models import save_face_model
from speech2face.training.face_stage import face_stage

SAMPLE_RATE = 16_000


def write_corpus(root, *, speakers=5, clips_per_speaker=4):
    """Speakers with their own pitch and face colour; the last speaker is the val split."""
    rng = np.random.default_rng(0)
    rows = []
    t = np.arange(SAMPLE_RATE) / SAMPLE_RATE
    for speaker in range(speakers):
        face = f"faces/s{speaker}.png"
        (root / "faces").mkdir(exist_ok=True)
        colour = rng.integers(0, 256, size=3, dtype=np.uint8)
        Image.fromarray(np.tile(colour, (32, 32, 1))).save(root / face)
        for clip in range(clips_per_speaker):
            audio = f"audio/s{speaker}_{clip}.wav"
            (root / "audio").mkdir(exist_ok=True)
            wave = 0.3 * np.sin(2 * np.pi * (120 + 40 * speaker) * t)
            wave += 0.02 * rng.standard_normal(t.size)
            soundfile.write(root / audio, wave.astype(np.float32), SAMPLE_RATE)
            split = "val" if speaker == speakers - 1 else "train"
            rows.append((f"s{speaker}_{clip}", f"s{speaker}", audio, face, split))
    frame = pd.DataFrame(
        rows, columns=["clip_id", "speaker_id", "audio_path", "face_path", "split"]
    )
    frame.to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


@pytest.fixture(scope="module")
def face_models(tmp_path_factory):
    """A face_models/ folder as `s2f train-faces` leaves it (untrained weights suffice here)."""
    stage = face_stage(tmp_path_factory.mktemp("faces"))
    torch.manual_seed(0)
    encoder = SmallFaceEncoder(SmallFaceEncoderConfig(n_identities=5))
    save_face_model(encoder, stage.face_encoder)
    save_face_model(FaceDecoder(FaceDecoderConfig(feature_dim=128)), stage.face_decoder)
    save_face_model(AttributeClassifier(AttributeClassifierConfig()), stage.attribute_classifier)
    return stage.directory


def train(manifest, out, face_models, *extra):
    argv = ["train", "--manifest", str(manifest), "--out", str(out), "--face-models"]
    argv += [str(face_models), "--duration", "1", "--no-progress"]
    return main([*argv, "--batch-size", "4", "--eval-every", "2", *extra])


def test_s2f_train_writes_a_checkpoint_and_validation_metrics(tmp_path, face_models, capsys):
    torch.set_num_threads(1)
    manifest = write_corpus(tmp_path)
    assert train(manifest, tmp_path / "run", face_models, "--steps", "4") == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["step"] == 4 and np.isfinite(summary["val_loss"])
    val = [
        json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert [r["step"] for r in val if r["split"] == "val"] == [2, 4]
    model = load_voice_encoder(tmp_path / "run" / "checkpoint.pt", preset="small")
    assert model.config.out_dim == 128
    # resuming with another manifest is refused; with the same one it continues
    other = tmp_path / "other.csv"
    pd.read_csv(manifest).iloc[:-1].to_csv(other, index=False)
    assert train(other, tmp_path / "run", face_models, "--steps", "6", "--resume") == 2
    assert "trained on another manifest" in capsys.readouterr().err
    assert train(manifest, tmp_path / "run", face_models, "--steps", "6", "--resume") == 0


def test_s2f_train_refuses_a_clip_without_a_face(tmp_path, face_models, capsys):
    manifest = write_corpus(tmp_path, speakers=3, clips_per_speaker=2)
    frame = pd.read_csv(manifest)
    frame.loc[1, "face_path"] = None
    frame.to_csv(manifest, index=False)
    assert train(manifest, tmp_path / "run", face_models) == 2
    err = capsys.readouterr().err
    assert "row 1 (clip s0_1) has no face_path or face_feature_path" in err
    assert len(err.strip().splitlines()) == 1


def test_s2f_train_refuses_a_preset_whose_feature_size_differs(tmp_path, face_models, capsys):
    manifest = write_corpus(tmp_path, speakers=3, clips_per_speaker=2)
    assert train(manifest, tmp_path / "run", face_models, "--preset", "paper") == 2
    assert "outputs 4096-D features but the face encoder's are 128-D" in capsys.readouterr().err


@pytest.mark.skipif(
    torch.cuda.is_available(), reason="checks the message on a machine without CUDA"
)
def test_s2f_train_on_cuda_without_a_gpu_is_an_input_error(tmp_path, capsys):
    argv = ["train", "--manifest", "m.csv", "--out", str(tmp_path), "--device", "cuda"]
    assert main(argv) == 2
    assert "--device cuda: CUDA is not available on this machine" in capsys.readouterr().err


def test_s2f_train_without_face_models_says_how_to_make_them(tmp_path, capsys):
    manifest = write_corpus(tmp_path, speakers=3, clips_per_speaker=2)
    assert main(["train", "--manifest", str(manifest), "--out", str(tmp_path / "run")]) == 2
    assert "no face models there (expected face_encoder.pt" in capsys.readouterr().err


def test_s2f_train_rebalance_gives_every_group_an_equal_share(tmp_path, face_models, capsys):
    """Four train speakers, three of one gender: resampling evens the shares, reweighting draws
    the run's clips by inverse share, and the run records both shares."""
    torch.set_num_threads(1)
    manifest = write_corpus(tmp_path)
    frame = pd.read_csv(manifest)
    frame["gender"] = np.where(frame["speaker_id"] == "s0", "female", "male")
    frame.to_csv(manifest, index=False)
    run = tmp_path / "resampled"
    assert (
        train(
            manifest,
            run,
            face_models,
            "--steps",
            "2",
            "--rebalance",
            "resample",
            "--rebalance-on",
            "gender",
        )
        == 0
    )
    record = json.loads((run / "rebalance.json").read_text())
    assert record["method"] == "resample" and record["columns"] == ["gender"]
    assert record["shares_before"] == {"female": 0.25, "male": 0.75}
    assert record["shares_after"] == {"female": 0.5, "male": 0.5}
    run = tmp_path / "reweighted"
    assert (
        train(
            manifest,
            run,
            face_models,
            "--steps",
            "3",
            "--rebalance",
            "reweight",
            "--rebalance-on",
            "gender",
        )
        == 0
    )
    record = json.loads((run / "rebalance.json").read_text())
    assert record["clips_after"] == 3 * 4  # steps × batch
    assert record["shares_after"]["female"] > 0.25
    capsys.readouterr()
    assert (
        train(
            manifest,
            tmp_path / "bad",
            face_models,
            "--rebalance-on",
            "accent",
            "--rebalance",
            "resample",
        )
        == 2
    )
    assert "cannot rebalance on 'accent'" in capsys.readouterr().err
