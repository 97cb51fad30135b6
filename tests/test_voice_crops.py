"""Random training crops: a random window of each clip per epoch, reproducible and resumable."""

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from torch import nn

from speech2face.audio import SpectrogramConfig
from speech2face.audio.frontend import fit_duration, spectrogram
from speech2face.errors import InputError
from speech2face.models.face_encoder import SmallFaceEncoder, SmallFaceEncoderConfig
from speech2face.models.registry import get_model
from speech2face.training.voice import FaceHeads, TrainingConfig, train_voice_encoder
from speech2face.training.voice_data import load_training_data, random_window

RATE = 16_000


def test_a_long_wave_gives_a_contiguous_window_at_a_random_offset():
    wave = np.arange(1000, dtype=np.float32)
    offsets = set()
    for seed in range(200):
        window = random_window(wave, samples=300, rng=np.random.default_rng(seed))
        assert len(window) == 300 and np.all(np.diff(window) == 1)
        offsets.add(int(window[0]))
    assert min(offsets) < 50 and max(offsets) > 650 and len(offsets) > 150
    same = [random_window(wave, samples=300, rng=np.random.default_rng(7)) for _ in range(2)]
    np.testing.assert_array_equal(*same)


def test_a_short_wave_repeats_from_a_random_phase():
    wave = np.arange(70, dtype=np.float32)
    phases = set()
    for seed in range(50):
        window = random_window(wave, samples=200, rng=np.random.default_rng(seed))
        phase = int(window[0])
        np.testing.assert_array_equal(window, (np.arange(200) + phase) % 70)
        phases.add(phase)
    assert len(phases) > 20
    exact = random_window(wave[:64], samples=64, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(exact, wave[:64])


def write_corpus(root):
    """Four train speakers and one val speaker, 1.5 s chirps rising at speaker-specific rates."""
    rows = []
    t = np.arange(int(1.5 * RATE)) / RATE
    (root / "audio").mkdir()
    (root / "faces").mkdir()
    for speaker in range(5):
        feature = f"faces/s{speaker}.npy"
        np.save(root / feature, np.full(128, speaker, np.float32))
        for clip in range(4):
            audio = f"audio/s{speaker}_{clip}.wav"
            wave = 0.3 * np.sin(2 * np.pi * (150 + 30 * speaker + 200 * t) * t)
            soundfile.write(root / audio, wave.astype(np.float32), RATE)
            split = "val" if speaker == 4 else "train"
            rows.append((f"s{speaker}_{clip}", f"s{speaker}", audio, feature, split))
    columns = ["clip_id", "speaker_id", "audio_path", "face_feature_path", "split"]
    pd.DataFrame(rows, columns=columns).to_csv(root / "manifest.csv", index=False)
    return root / "manifest.csv"


def training_data(root, **options):
    root.mkdir(exist_ok=True)
    torch.manual_seed(0)
    encoder = SmallFaceEncoder(SmallFaceEncoderConfig(n_identities=5))
    return load_training_data(
        write_corpus(root),
        face_encoder=encoder,
        spectrogram_config=SpectrogramConfig(duration_s=0.5),
        **options,
    )


def first_seconds(root, clip_id):
    wave, _ = soundfile.read(root / f"audio/{clip_id}.wav", dtype="float32")
    wave = fit_duration(wave, seconds=0.5, sample_rate=RATE)
    return spectrogram(torch.from_numpy(wave), SpectrogramConfig(duration_s=0.5))


def test_train_clips_are_cropped_per_epoch_and_val_clips_are_their_first_seconds(tmp_path):
    data = training_data(tmp_path)
    train = data.train
    train.set_epoch(0, seed=0)
    epoch0 = [train[i][1] for i in range(4)]
    again = [train[i][1] for i in range(4)]
    train.set_epoch(1, seed=0)
    epoch1 = [train[i][1] for i in range(4)]
    assert all(torch.equal(a, b) for a, b in zip(epoch0, again, strict=True))
    assert not any(torch.equal(a, b) for a, b in zip(epoch0, epoch1, strict=True))
    assert all(x.shape == (48, 257, 2) for x in epoch0)
    assert not any(torch.equal(x, first_seconds(tmp_path, f"s0_{i}")) for i, x in enumerate(epoch0))
    clip_id, features, target = data.val[0]
    assert torch.equal(features, first_seconds(tmp_path, clip_id)) and target[0].item() == 4


def test_without_random_crops_train_clips_are_their_first_seconds(tmp_path):
    data = training_data(tmp_path, random_crops=False)
    data.train.set_epoch(3, seed=1)
    clip_id, features, _ = data.train[1]
    assert torch.equal(features, first_seconds(tmp_path, clip_id))


def test_an_unreadable_training_clip_names_its_row_and_clip(tmp_path):
    data = training_data(tmp_path)
    (tmp_path / "audio" / "s1_2.wav").write_bytes(b"")
    with pytest.raises(InputError, match=r"row 6 \(clip_id s1_2\).*empty"):
        data.train[6]


def train(data, out, *, steps, resume=False):
    torch.set_num_threads(1)
    torch.manual_seed(0)
    heads = FaceHeads(decoder_head=nn.Linear(128, 12), fc8_head=nn.Linear(128, 10))
    config = TrainingConfig(batch_size=4, max_steps=steps, eval_every=4, checkpoint_every=3)
    train_voice_encoder(
        get_model("small"),
        preset="small",
        train_set=data.train,
        val_set=data.val,
        heads=heads,
        config=config,
        out_dir=out,
        manifest_hash=data.manifest_hash,
        resume=resume,
        progress=False,
    )
    return torch.load(out / "checkpoint.pt", weights_only=False)["model"]


def test_a_resumed_run_sees_the_same_crops_and_ends_bit_identical(tmp_path):
    data = training_data(tmp_path)
    whole = train(data, tmp_path / "whole", steps=9)
    assert data.train.draw == (0, 2)  # 4 steps per epoch: step 9 was drawn in epoch 2
    train(data, tmp_path / "split", steps=5)
    resumed = train(data, tmp_path / "split", steps=9, resume=True)
    assert all(torch.equal(whole[name], resumed[name]) for name in whole)
    other = train(training_data(tmp_path / "x", random_crops=False), tmp_path / "plain", steps=9)
    assert not all(torch.equal(whole[name], other[name]) for name in whole)
