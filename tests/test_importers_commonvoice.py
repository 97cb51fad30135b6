import shutil
from pathlib import Path

import pytest

from speech2face.errors import InputError
from speech2face.importers import ImporterWarning, import_commonvoice
from speech2face.importers.commonvoice import read_commonvoice_tsv
from speech2face.manifest import validate_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "importers"


def _release(tmp_path, name):
    """A copy of a fixture release folder with an (empty) clip per row."""
    folder = tmp_path / name
    shutil.copytree(FIXTURES / name, folder)
    (folder / "clips").mkdir()
    for tsv in folder.glob("*.tsv"):
        for clip in read_commonvoice_tsv(tsv)["path"]:
            (folder / "clips" / clip).write_bytes(b"ID3")
    return folder


def test_old_release_maps_ages_genders_and_locales(tmp_path):
    folder = _release(tmp_path, "commonvoice_old")
    frame = import_commonvoice(folder / "validated.tsv", manifest_dir=tmp_path)
    assert list(frame["clip_id"]) == [
        "common_voice_nl_23522441",
        "common_voice_nl_23522442",
        "common_voice_et_18318995",
        "common_voice_sv-SE_100",
        "common_voice_sv-SE_101",
    ]
    assert frame["audio_path"].iloc[0] == "commonvoice_old/clips/common_voice_nl_23522441.mp3"
    assert list(frame["age_group"]) == ["40-49", "40-49", "unknown", "<20", "70+"]
    assert list(frame["age_group_original"]) == ["fourties", "fourties", "", "teens", "nineties"]
    assert list(frame["gender"]) == ["male", "male", "unknown", "female", "other"]
    assert list(frame["language"]) == ["nl", "nl", "et", "sv", "sv"]
    assert list(frame["language_original"]) == ["nl", "nl", "et", "sv-SE", "sv-SE"]
    assert frame["accent"].iloc[0] == "netherlands"
    assert set(frame["gender_source"]) == {"self_reported"}
    assert set(frame["age_group_source"]) == {"self_reported"}
    assert set(frame["language_source"]) == {"annotated"}
    assert frame.groupby("speaker_id")["split"].nunique().max() == 1
    assert validate_manifest(frame, source="m", base_dir=tmp_path) == []


def test_new_release_genders_and_fixed_split(tmp_path):
    folder = _release(tmp_path, "commonvoice_new")
    frame = import_commonvoice(folder / "train.tsv", manifest_dir=folder)
    assert list(frame["gender"]) == ["male", "female", "other", "unknown", "other", "other"]
    assert list(frame["gender_original"]) == [
        "male_masculine",
        "female_feminine",
        "non-binary",
        "do_not_wish_to_say",
        "intersex",
        "transgender",
    ]
    assert list(frame["age_group"]) == ["20-29", "30-39", "50-59", "70+", "60-69", "70+"]
    assert set(frame["language"]) == {"zh"}
    assert set(frame["split"]) == {"train"}
    assert frame["audio_path"].iloc[0] == "clips/common_voice_zh-CN_200.mp3"


def test_fairface_binning_leaves_teens_unknown(tmp_path):
    folder = _release(tmp_path, "commonvoice_old")
    frame = import_commonvoice(
        folder / "validated.tsv", manifest_dir=tmp_path, age_binning="fairface"
    )
    assert list(frame["age_group"]) == ["40-49", "40-49", "unknown", "unknown", "70+"]


def test_unmapped_value_warns_and_is_unknown(tmp_path):
    folder = _release(tmp_path, "commonvoice_new")
    tsv = folder / "train.tsv"
    tsv.write_text(tsv.read_text().replace("male_masculine", "robot", 1))
    with pytest.warns(ImporterWarning, match="gender value 'robot' .1 row.s.. is not in the"):
        frame = import_commonvoice(tsv, manifest_dir=folder)
    assert frame["gender"].iloc[0] == "unknown"
    assert frame["gender_original"].iloc[0] == "robot"


def test_missing_clips_are_left_out_with_a_warning(tmp_path):
    folder = _release(tmp_path, "commonvoice_new")
    (folder / "clips" / "common_voice_zh-CN_201.mp3").unlink()
    with pytest.warns(ImporterWarning, match=r"1 of 6 row\(s\) left out.*common_voice_zh-CN_201"):
        frame = import_commonvoice(folder / "train.tsv", manifest_dir=folder)
    assert len(frame) == 5
    assert list(frame["gender_original"])[1] == "non-binary"


def test_not_a_commonvoice_tsv(tmp_path):
    path = tmp_path / "x.tsv"
    path.write_text("a\tb\n1\t2\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['client_id', 'path', 'locale'\]"):
        import_commonvoice(path, manifest_dir=tmp_path)


def test_malformed_tsv_is_one_line_naming_the_file(tmp_path):
    path = tmp_path / "validated.tsv"
    path.write_text("client_id\tpath\tlocale\nabc\tx.mp3\ten\nabc\ty.mp3\ten\textra\n")
    with pytest.raises(InputError) as caught:
        import_commonvoice(path, manifest_dir=tmp_path)
    message = str(caught.value)
    assert message.startswith(f"{path}: cannot read: ")
    assert "line 3" in message and "\n" not in message
