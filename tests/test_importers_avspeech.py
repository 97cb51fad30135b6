from pathlib import Path

import numpy as np
import pytest

from speech2face.errors import InputError
from speech2face.importers import ImporterWarning, import_avspeech
from speech2face.importers.avspeech import avspeech_clip_id, read_avspeech_segments
from speech2face.manifest import validate_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "importers"
CLIPS = [
    "AvWWVOgaMlk_090.000000-093.566667",
    "ymD5uLlLc0g_036.033000-040.900000",
    "Swss72CHSWg_090.023267-097.297200",
]


@pytest.fixture
def audio_root(tmp_path):
    root = tmp_path / "audio"
    root.mkdir()
    for clip in CLIPS:
        (root / f"{clip}.wav").write_bytes(b"RIFF")
    return root


def test_segments_read_without_header():
    segments = read_avspeech_segments(FIXTURES / "avspeech_train.csv")
    assert list(segments.columns) == [
        "youtube_id",
        "video_start_s",
        "video_end_s",
        "face_x",
        "face_y",
    ]
    assert segments.loc[0, "youtube_id"] == "AvWWVOgaMlk"
    assert segments.loc[2, "video_end_s"] == pytest.approx(97.2972)


def test_clip_id_matches_the_dataset_download_script():
    assert avspeech_clip_id("AvWWVOgaMlk", 90.0, 93.566667) == CLIPS[0]


def test_bad_number_names_row_and_column(tmp_path):
    path = tmp_path / "avspeech_test.csv"
    path.write_text("AvWWVOgaMlk,90.0,93.5,0.5,0.3\nymD5uLlLc0g,abc,40.9,0.5,0.3\n")
    with pytest.raises(InputError, match=r"row 1: column video_start_s: 'abc' is not a number"):
        read_avspeech_segments(path)


def test_import_with_inferred_labels(tmp_path, audio_root):
    with pytest.warns(ImporterWarning, match=r"1 of 4 row\(s\) left out"):
        frame = import_avspeech(
            FIXTURES / "avspeech_train.csv",
            manifest_dir=tmp_path,
            audio_root=audio_root,
            labels=FIXTURES / "avspeech_labels.csv",
        )
    assert list(frame["clip_id"]) == CLIPS
    assert list(frame["speaker_id"]) == ["AvWWVOgaMlk", "ymD5uLlLc0g", "Swss72CHSWg"]
    assert list(frame["audio_path"]) == [f"audio/{clip}.wav" for clip in CLIPS]
    assert set(frame["split"]) == {"train"}
    assert list(frame["gender"]) == ["male", "female", "male"]
    assert list(frame["ethnicity"]) == ["white", "asian", "indian"]
    assert list(frame["ethnicity_original"]) == ["White", "East Asian", "Indian"]
    assert list(frame["age_group"]) == ["30-39", "20-29", "40-49"]
    assert frame["age"].tolist()[:2] == [pytest.approx(np.nan, nan_ok=True)] * 2
    assert frame["age"].iloc[2] == 41
    assert list(frame["language"]) == ["en", "en", "unknown"]
    for column in ("gender", "ethnicity", "age_group", "age", "language"):
        assert set(frame[f"{column}_source"]) == {"inferred"}
    assert validate_manifest(frame, source="m", base_dir=tmp_path) == []


def test_labels_source_and_missing_labels(tmp_path, audio_root):
    labels = tmp_path / "labels.csv"
    labels.write_text("clip_id,gender\nAvWWVOgaMlk_090.000000-093.566667,f\n")
    with pytest.warns(ImporterWarning):
        frame = import_avspeech(
            FIXTURES / "avspeech_train.csv",
            manifest_dir=tmp_path,
            audio_root=audio_root,
            labels=labels,
            labels_source="annotated",
        )
    assert list(frame["gender"]) == ["female", "unknown", "unknown"]
    assert set(frame["gender_source"]) == {"annotated"}
    assert "ethnicity" not in frame.columns


def test_labels_file_without_key_or_with_bad_language(tmp_path, audio_root):
    labels = tmp_path / "labels.csv"
    labels.write_text("video,gender\nAvWWVOgaMlk,f\n")
    with pytest.warns(ImporterWarning), pytest.raises(InputError, match="needs a clip_id or"):
        import_avspeech(
            FIXTURES / "avspeech_train.csv",
            manifest_dir=tmp_path,
            audio_root=audio_root,
            labels=labels,
        )
    labels.write_text("youtube_id,language\nAvWWVOgaMlk,English\n")
    with (
        pytest.warns(ImporterWarning),
        pytest.raises(
            InputError, match=r"row 0: column language: 'English' is not an ISO 639 code"
        ),
    ):
        import_avspeech(
            FIXTURES / "avspeech_train.csv",
            manifest_dir=tmp_path,
            audio_root=audio_root,
            labels=labels,
        )
