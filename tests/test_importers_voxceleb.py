import hashlib
from pathlib import Path

import pandas as pd
import pytest

from speech2face.errors import InputError
from speech2face.importers import ImporterWarning, import_voxceleb
from speech2face.importers.voxceleb import read_voxceleb_meta
from speech2face.manifest import validate_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "importers"


def _audio_tree(root, clips):
    for clip in clips:
        path = root / f"{clip}.wav"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"RIFF")


@pytest.mark.parametrize("name", ["vox1_meta.csv", "vox1_meta_mirror.csv"])
def test_vox1_meta_official_and_mirror_read_the_same(name):
    meta = read_voxceleb_meta(FIXTURES / name, version=1)
    assert list(meta.columns) == ["speaker_id", "vggface_id", "gender", "nationality", "set"]
    assert list(meta["speaker_id"]) == [
        "id10001",
        "id10002",
        "id10006",
        "id10170",
        "id10270",
        "id10271",
    ]
    assert meta.loc[3, "nationality"] == "New Zealand"
    assert list(meta["set"]) == ["dev"] * 4 + ["test"] * 2


def test_vox2_meta_strips_padding_and_byte_order_mark():
    meta = read_voxceleb_meta(FIXTURES / "vox2_meta.csv", version=2)
    assert list(meta.columns) == ["speaker_id", "vggface_id", "gender", "set"]
    assert meta.iloc[0].tolist() == ["id00012", "n000012", "m", "dev"]
    assert meta.loc[3, "vggface_id"] == "n000140"


def test_headerless_meta_is_read_by_position(tmp_path):
    path = tmp_path / "vox1_meta.csv"
    path.write_text("id10001\tA.J._Buckley\tm\tIreland\tdev\n")
    assert read_voxceleb_meta(path, version=1).iloc[0]["vggface_id"] == "A.J._Buckley"


def test_short_row_is_an_input_error_naming_file_and_row(tmp_path):
    path = tmp_path / "vox1_meta.csv"
    path.write_text("VoxCeleb1 ID\tVGGFace1 ID\tGender\tNationality\tSet\nid10001\tA\tm\n")
    with pytest.raises(InputError, match="row 0 has 3 fields"):
        read_voxceleb_meta(path, version=1)


def test_vox1_joined_to_audio_tree(tmp_path):
    root = tmp_path / "wav"
    _audio_tree(
        root,
        [
            "id10001/1zcIwhmdeo4/00001",
            "id10001/1zcIwhmdeo4/00002",
            "id10006/Abc/00001",
            "id10270/5r0dWxy17C8/00001",
        ],
    )
    with pytest.warns(ImporterWarning, match="3 of 6 speakers have no audio"):
        frame = import_voxceleb(
            FIXTURES / "vox1_meta.csv", version=1, manifest_dir=tmp_path, audio_root=root
        )
    assert list(frame["clip_id"]) == [
        "id10001/1zcIwhmdeo4/00001",
        "id10001/1zcIwhmdeo4/00002",
        "id10006/Abc/00001",
        "id10270/5r0dWxy17C8/00001",
    ]
    assert frame["audio_path"].iloc[0] == "wav/id10001/1zcIwhmdeo4/00001.wav"
    assert list(frame["split"]) == ["train", "train", "train", "test"]
    assert list(frame["gender"]) == ["male", "male", "female", "female"]
    assert list(frame["gender_original"]) == ["m", "m", "f", "f"]
    assert set(frame["gender_source"]) == {"annotated"}
    assert list(frame["nationality"]) == ["Ireland", "Ireland", "Australia", "USA"]
    assert validate_manifest(frame, source="m", base_dir=tmp_path) == []


def test_vox2_with_validation_speakers_carved_from_dev(tmp_path):
    root = tmp_path / "elsewhere"
    speakers = ["id00012", "id00017", "id00022", "id00134", "id00419"]
    _audio_tree(root, [f"{s}/vid/0000{i}" for s in speakers for i in (1, 2)])
    frame = import_voxceleb(
        FIXTURES / "vox2_meta.csv",
        version=2,
        manifest_dir=tmp_path / "out",
        audio_root=root,
        val_fraction=0.5,
    )
    assert len(frame) == 10
    assert Path(frame["audio_path"].iloc[0]).is_absolute()
    by_speaker = frame.groupby("speaker_id")["split"].agg(set)
    assert by_speaker["id00017"] == {"test"} and by_speaker["id00419"] == {"test"}
    for speaker in ("id00012", "id00022", "id00134"):
        share = int(hashlib.sha1(speaker.encode()).hexdigest()[:12], 16) / 16**12
        assert by_speaker[speaker] == ({"val"} if share < 0.5 else {"train"})
    again = import_voxceleb(
        FIXTURES / "vox2_meta.csv",
        version=2,
        manifest_dir=tmp_path / "out",
        audio_root=root,
        val_fraction=0.5,
    )
    pd.testing.assert_frame_equal(frame, again)


def test_no_audio_at_all_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="no audio of any of its 6 speakers"):
        import_voxceleb(
            FIXTURES / "vox1_meta.csv", version=1, manifest_dir=tmp_path, audio_root=tmp_path
        )


def test_meta_in_a_foreign_encoding_is_an_input_error(tmp_path):
    path = tmp_path / "vox1_meta.csv"
    path.write_bytes("id10001\tJos\u00e9\tm\tSpain\tdev\n".encode("latin-1"))
    with pytest.raises(InputError, match="not a VoxCeleb1 metadata file: invalid"):
        read_voxceleb_meta(path, version=1)
