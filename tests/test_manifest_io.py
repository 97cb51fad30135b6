import numpy as np
import pandas as pd
import pytest

from speech2face.errors import InputError
from speech2face.manifest import load_manifest, read_manifest, resolve_path, write_manifest
from speech2face.manifest.io import NO_SUCH_FILE, UNKNOWN_FORMAT, WRITE_PARQUET_ONLY


def _write_audio(folder, names):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")


def test_parquet_round_trip_keeps_types(tmp_path):
    frame = pd.DataFrame({"clip_id": ["a", "b"], "speaker_id": ["s1", "s2"], "age": [31.5, np.nan]})
    path = write_manifest(frame, tmp_path / "sub" / "m.parquet")
    pd.testing.assert_frame_equal(read_manifest(path), frame)
    assert [p.name for p in path.parent.iterdir()] == ["m.parquet"]


def test_write_replaces_atomically_and_keeps_old_file_on_failure(tmp_path):
    path = tmp_path / "m.parquet"
    write_manifest(pd.DataFrame({"clip_id": ["a"]}), path)
    unwritable = pd.DataFrame({"clip_id": [object()]})
    with pytest.raises(Exception):  # noqa: B017 - pyarrow's own error type
        write_manifest(unwritable, path)
    assert list(read_manifest(path)["clip_id"]) == ["a"]
    assert [p.name for p in tmp_path.iterdir()] == ["m.parquet"]


def test_csv_keeps_na_like_ids_as_strings(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("clip_id,speaker_id,age\nNA,007,\nnull,008,40\n")
    frame = read_manifest(path)
    assert list(frame["clip_id"]) == ["NA", "null"]
    assert list(frame["speaker_id"]) == ["007", "008"]
    assert frame["age"].isna().tolist() == [True, False]


def test_read_errors_name_the_file(tmp_path):
    with pytest.raises(InputError, match=NO_SUCH_FILE.format(path=tmp_path / "x.csv")):
        read_manifest(tmp_path / "x.csv")
    other = tmp_path / "m.json"
    other.write_text("{}")
    with pytest.raises(InputError, match=UNKNOWN_FORMAT.format(path=other).replace(".", r"\.")):
        read_manifest(other)
    broken = tmp_path / "m.parquet"
    broken.write_bytes(b"not parquet")
    with pytest.raises(InputError, match="cannot read the manifest"):
        read_manifest(broken)


def test_write_refuses_non_parquet_name(tmp_path):
    path = tmp_path / "m.csv"
    with pytest.raises(InputError) as caught:
        write_manifest(pd.DataFrame({"clip_id": ["a"]}), path)
    assert str(caught.value) == WRITE_PARQUET_ONLY.format(path=path)
    assert not path.exists()


def test_resolve_path(tmp_path):
    assert resolve_path(tmp_path, "a/b.wav") == tmp_path / "a" / "b.wav"
    assert resolve_path(tmp_path, "/data/b.wav").as_posix() == "/data/b.wav"


def test_load_manifest_fills_unknowns_and_derives_age_groups(tmp_path):
    _write_audio(tmp_path, ["a.wav", "b.wav", "c.wav"])
    (tmp_path / "m.csv").write_text(
        "clip_id,speaker_id,split,audio_path,age,age_group,gender,gender_source\n"
        "a,s1,train,a.wav,34,,female,self_reported\n"
        "b,s2,test,b.wav,,,,\n"
        "c,s3,val,c.wav,71,20-29,male,annotated\n"
    )
    frame = load_manifest(tmp_path / "m.csv")
    assert list(frame["age_group"]) == ["30-39", "unknown", "20-29"]
    assert list(frame["gender"]) == ["female", "unknown", "male"]
    assert list(frame["gender_source"]) == ["self_reported", "unknown", "annotated"]
    assert list(frame["ethnicity"]) == ["unknown"] * 3
    assert list(frame["language"]) == ["unknown"] * 3
    assert len(frame) == 3


def test_load_manifest_uses_the_chosen_binning(tmp_path):
    _write_audio(tmp_path, ["a.wav"])
    (tmp_path / "m.csv").write_text("clip_id,speaker_id,split,audio_path,age\na,s,train,a.wav,5\n")
    frame = load_manifest(tmp_path / "m.csv", age_binning="fairface")
    assert list(frame["age_group"]) == ["3-9"]


def test_load_manifest_raises_first_problem_and_count(tmp_path):
    (tmp_path / "m.csv").write_text(
        "clip_id,speaker_id,split,audio_path\na,s1,train,a.wav\na,s2,dev,b.wav\n"
    )
    with pytest.raises(InputError) as caught:
        load_manifest(tmp_path / "m.csv")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'm.csv'}:row 0:column audio_path: file ")
    assert "(and 3 more problem(s);" in message
    assert "\n" not in message
    with pytest.raises(InputError) as caught:
        load_manifest(tmp_path / "m.csv", check_files=False)
    assert ":row 1:column clip_id: clip_id 'a' is already used by row 0 (and 1 more" in str(
        caught.value
    )


def test_load_manifest_with_one_problem_names_just_it(tmp_path):
    _write_audio(tmp_path, ["a.wav"])
    (tmp_path / "m.csv").write_text("clip_id,speaker_id,split,audio_path,age\na,s,train,a.wav,x\n")
    with pytest.raises(InputError) as caught:
        load_manifest(tmp_path / "m.csv")
    assert str(caught.value) == f"{tmp_path / 'm.csv'}:row 0:column age: 'x' is not a number"
