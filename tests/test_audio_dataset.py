"""Manifest clips through a DataLoader: features, segments, and bad clips raised or listed."""

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch

from speech2face.audio import (
    ClipDataset,
    SpectrogramConfig,
    fit_duration,
    iterate_batches,
    load_audio,
    spectrogram,
)
from speech2face.audio.dataset import ROW_ERROR, SKIP_NEEDS_CSV
from speech2face.errors import InputError

torch.set_num_threads(1)
SHORT = SpectrogramConfig(duration_s=1.0)


@pytest.fixture
def corpus(tmp_path):
    """Three good clips (one stereo 44.1 kHz) and two bad ones, paths relative to tmp_path."""
    rng = np.random.default_rng(0)
    (tmp_path / "audio").mkdir()
    for name in ("a", "b"):
        sf.write(tmp_path / "audio" / f"{name}.wav", rng.uniform(-0.5, 0.5, 12000), 16000)
    sf.write(tmp_path / "audio" / "c.flac", rng.uniform(-0.5, 0.5, (60000, 2)), 44100)
    sf.write(tmp_path / "audio" / "silent.wav", np.zeros(16000), 16000)
    (tmp_path / "audio" / "broken.ogg").write_bytes(b"OggS" + b"\x00" * 50)
    rows = pd.DataFrame(
        {
            "clip_id": ["a", "silent", "b", "broken", "c"],
            "audio_path": [
                "audio/a.wav",
                "audio/silent.wav",
                "audio/b.wav",
                "audio/broken.ogg",
                str(tmp_path / "audio" / "c.flac"),  # absolute paths are kept
            ],
            "start_s": [np.nan, np.nan, 0.25, np.nan, np.nan],
            "end_s": [np.nan, np.nan, 0.5, np.nan, np.nan],
        }
    )
    return tmp_path, rows


def test_items_are_the_front_end_of_each_clip(corpus):
    base, rows = corpus
    dataset = ClipDataset(rows, base_dir=base, config=SHORT)
    item = dataset[2]
    expected_wave = fit_duration(
        load_audio(base / "audio/b.wav", start_s=0.25, end_s=0.5), seconds=1.0, sample_rate=16000
    )
    assert item["clip_id"] == "b"
    torch.testing.assert_close(
        item["features"], spectrogram(torch.from_numpy(expected_wave), SHORT)
    )
    assert item["features"].shape == (SHORT.num_frames, 257, 2)


def test_raise_names_the_manifest_row_and_file(corpus):
    base, rows = corpus
    dataset = ClipDataset(rows, base_dir=base, config=SHORT)
    with pytest.raises(InputError) as caught:
        dataset[1]
    message = str(caught.value)
    assert message.startswith(ROW_ERROR.format(row=1, clip_id="silent", reason=""))
    assert str(base / "audio/silent.wav") in message and "silent" in message


def test_skip_with_workers_lists_every_bad_clip(corpus, tmp_path):
    base, rows = corpus
    dataset = ClipDataset(rows, base_dir=base, config=SHORT, on_error="skip")
    report = tmp_path / "out" / "skipped.csv"
    batches = list(iterate_batches(dataset, batch_size=2, num_workers=2, skipped_csv=report))
    assert [clip for batch in batches for clip in batch["clip_id"]] == ["a", "b", "c"]
    assert sum(len(batch["features"]) for batch in batches) == 3
    assert batches[0]["features"].shape == (1, SHORT.num_frames, 257, 2)
    skipped = pd.read_csv(report)
    assert list(skipped.columns) == ["clip_id", "path", "reason"]
    assert skipped["clip_id"].tolist() == ["silent", "broken"]
    assert "audio is silent" in skipped["reason"][0]
    assert "not a readable audio file" in skipped["reason"][1]


def test_skip_without_a_list_is_refused(corpus):
    base, rows = corpus
    dataset = ClipDataset(rows, base_dir=base, config=SHORT, on_error="skip")
    with pytest.raises(ValueError, match=SKIP_NEEDS_CSV):
        next(iterate_batches(dataset, batch_size=2))


def test_missing_columns_are_named():
    with pytest.raises(InputError, match="audio_path"):
        ClipDataset(pd.DataFrame({"clip_id": ["x"]}))
