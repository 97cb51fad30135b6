import numpy as np
import pandas as pd
import pytest

from speech2face.manifest import Problem, manifest_kind, validate_manifest
from speech2face.manifest import validate as messages

GOOD = {
    "clip_id": ["c0", "c1", "c2", "c3"],
    "speaker_id": ["s0", "s0", "s1", "s2"],
    "split": ["train", "train", "val", "test"],
    "audio_path": ["a/c0.wav", "a/c1.wav", "a/c2.wav", "a/c3.wav"],
}


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a").mkdir()
    for name in GOOD["audio_path"]:
        (tmp_path / name).write_bytes(b"RIFF")
    return tmp_path


def _problems(frame, folder, **options):
    return validate_manifest(frame, source="m.csv", base_dir=folder, **options)


def test_a_good_manifest_has_no_problems(folder):
    frame = pd.DataFrame({**GOOD, "age": [20, 31.5, np.nan, 80], "gender": ["male"] * 4})
    assert _problems(frame, folder) == []


def test_problem_prints_as_one_line():
    assert str(Problem("m.csv", 3, "split", "bad")) == "m.csv:row 3:column split: bad"
    assert str(Problem("m.csv", None, "clip_id", "bad")) == "m.csv:column clip_id: bad"
    assert str(Problem("m.csv", 2, None, "bad")) == "m.csv:row 2: bad"


def test_every_problem_is_reported_with_row_and_column(folder):
    frame = pd.DataFrame(
        {
            "clip_id": ["c0", "c0", "c2", "c3", "c4"],
            "speaker_id": ["s0", "s0", "s1", "s2", None],
            "split": ["train", "training", "val", "test", "test"],
            "audio_path": ["a/c0.wav", "a/c1.wav", "a/gone.wav", "a/c3.wav", "a/c3.wav"],
            "age": ["20", "-3", "forty", "200", ""],
            "start_s": [0.0, 1.0, 4.0, 0.0, 0.0],
            "end_s": [3.0, 2.0, 4.0, 3.0, 3.0],
            "gender": ["male", "M", "female", "unknown", "other"],
            "gender_source": ["self_reported", "guessed", "annotated", "", "inferred"],
            "language": ["en", "en", "English", "unknown", "zh"],
        }
    )
    found = [str(problem) for problem in _problems(frame, folder)]
    gone = folder / "a" / "gone.wav"
    assert found == [
        "m.csv:row 1:column clip_id: clip_id 'c0' is already used by row 0",
        "m.csv:row 1:column split: split 'training' is not one of train, val, test",
        "m.csv:row 1:column age: -3.0 is negative",
        "m.csv:row 1:column gender: gender 'M' is not one of female, male, other, unknown",
        "m.csv:row 1:column gender_source: 'guessed' is not one of "
        "self_reported, annotated, inferred, synthetic",
        f"m.csv:row 2:column audio_path: file {gone} does not exist",
        "m.csv:row 2:column age: 'forty' is not a number",
        "m.csv:row 2:column language: language 'English' is not an ISO 639 code "
        "(two or three lowercase letters)",
        "m.csv:row 2:column start_s: start_s 4.0 is not before end_s 4.0",
        "m.csv:row 3:column age: age 200.0 is above 130 years",
        "m.csv:row 4:column speaker_id: missing value",
    ]


def test_missing_required_columns_come_first(folder):
    frame = pd.DataFrame({"clip_id": ["c0"], "split": ["train"]})
    found = [str(problem) for problem in _problems(frame, folder)]
    assert found == [
        "m.csv:column speaker_id: missing required column of a voice manifest",
        "m.csv:column audio_path: missing required column of a voice manifest",
    ]


def test_speaker_in_two_splits_is_an_error_unless_allowed(folder):
    frame = pd.DataFrame({**GOOD, "speaker_id": ["s0", "s1", "s0", "s0"]})
    found = _problems(frame, folder)
    assert [(p.row, p.column) for p in found] == [(2, "speaker_id")]
    assert found[0].message == messages.SPEAKER_LEAKAGE.format(
        speaker="s0", splits="train/val/test", second="val"
    )
    assert _problems(frame, folder, allow_speaker_leakage=True) == []


def test_files_are_checked_only_when_asked(tmp_path):
    frame = pd.DataFrame(GOOD)
    assert len(_problems(frame, tmp_path)) == 4
    assert _problems(frame, tmp_path, check_files=False) == []


def test_absolute_paths_are_checked_as_given(folder):
    frame = pd.DataFrame({**GOOD, "audio_path": [str(folder / p) for p in GOOD["audio_path"]]})
    assert _problems(frame, folder / "elsewhere") == []


def test_face_manifest_needs_face_path_not_audio(folder):
    faces = pd.DataFrame({**GOOD, "face_path": GOOD["audio_path"]}).drop(columns="audio_path")
    assert manifest_kind(faces) == "face"
    assert _problems(faces, folder) == []
    faces.loc[1, "face_path"] = "a/none.jpg"
    assert [(p.row, p.column) for p in _problems(faces, folder)] == [(1, "face_path")]
