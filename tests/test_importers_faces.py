from pathlib import Path

import pytest

from speech2face.errors import InputError
from speech2face.importers import ImporterWarning, import_fairface, import_utkface
from speech2face.importers.fairface import read_fairface_labels, repair_excel_age
from speech2face.importers.utkface import parse_utkface_name
from speech2face.manifest import manifest_kind, validate_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "importers"


def _touch(folder, names):
    for name in names:
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8")


@pytest.mark.parametrize(
    ("value", "repaired"),
    [("03-Sep", "3-9"), ("9-Mar", "3-9"), ("Oct-19", "10-19"), ("19-Oct", "10-19")],
)
def test_excel_dates_are_repaired(value, repaired):
    assert repair_excel_age(value) == repaired


@pytest.mark.parametrize("value", ["20-29", "more than 70", "04-Sep", "Nov-19", "3-9"])
def test_other_values_are_not_dates(value):
    assert repair_excel_age(value) is None


def test_both_excel_spellings_read_the_same():
    warning = "repaired Excel-mangled age bin"
    with pytest.warns(ImporterWarning, match=warning):
        first = read_fairface_labels(FIXTURES / "fairface_label_train.csv")
    with pytest.warns(ImporterWarning, match=r"'9-Mar' → '3-9' \(1 rows\)"):
        second = read_fairface_labels(FIXTURES / "fairface_label_train_excel_us.csv")
    assert first.set_index("file").loc[second["file"], "age_bin"].tolist() == ["3-9", "10-19"]
    assert second["age_bin"].tolist() == ["3-9", "10-19"]


def test_fairface_face_manifest(tmp_path):
    table_files = [f"train/{n}.jpg" for n in (1, 2, 3, 7, 9, 13, 17, 19, 108)]
    _touch(tmp_path, table_files)
    with pytest.warns(ImporterWarning):
        frame = import_fairface(
            FIXTURES / "fairface_label_train.csv", manifest_dir=tmp_path, image_root=tmp_path
        )
    assert manifest_kind(frame) == "face"
    assert "audio_path" not in frame.columns
    assert list(frame["face_path"]) == table_files
    assert list(frame["clip_id"]) == [name[:-4] for name in table_files]
    assert (frame["speaker_id"] == frame["clip_id"]).all()
    assert set(frame["split"]) == {"train"}
    assert list(frame["age_group"]) == [
        "50-59",
        "30-39",
        "<20",
        "40-49",
        "<20",
        "20-29",
        "20-29",
        "<20",
        "70+",
    ]
    assert list(frame["age_group_original"])[2] == "03-Sep"
    assert list(frame["ethnicity"]) == [
        "asian",
        "indian",
        "black",
        "middle_eastern",
        "white",
        "latino_hispanic",
        "asian",
        "black",
        "indian",
    ]
    assert list(frame["gender"])[:2] == ["male", "female"]
    assert list(frame["fairface_service_test"])[:2] == [True, False]
    assert set(frame["ethnicity_source"]) == {"annotated"}
    assert validate_manifest(frame, source="m", base_dir=tmp_path) == []


def test_fairface_bins_kept_under_fairface_binning(tmp_path):
    _touch(tmp_path, [f"train/{n}.jpg" for n in (1, 2, 3, 7, 9, 13, 17, 19, 108)])
    with pytest.warns(ImporterWarning):
        frame = import_fairface(
            FIXTURES / "fairface_label_train.csv",
            manifest_dir=tmp_path,
            image_root=tmp_path,
            age_binning="fairface",
        )
    assert list(frame["age_group"])[2:5] == ["3-9", "40-49", "10-19"]
    assert list(frame["age_group"])[-2:] == ["0-2", "70+"]


def test_fairface_missing_column(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("file,age,gender\ntrain/1.jpg,20-29,Male\n")
    with pytest.raises(InputError, match=r"missing column\(s\) \['race'\]"):
        import_fairface(path, manifest_dir=tmp_path)


@pytest.mark.parametrize(
    ("name", "labels"),
    [
        ("1_0_0_20161219140623097.jpg.chip.jpg", ("1", "0", "0")),
        ("39_1_20170116174525125.jpg.chip.jpg", ("39", "", "")),
        ("55_0_0_20170116232725357jpg", ("55", "0", "0")),
        ("nonsense.jpg", ("", "", "")),
    ],
)
def test_utkface_names(name, labels):
    parsed = parse_utkface_name(name)
    assert (parsed["age"], parsed["gender"], parsed["race"]) == labels


def test_utkface_face_manifest(tmp_path):
    names = (FIXTURES / "utkface_names.txt").read_text().split()
    _touch(tmp_path / "UTKFace", names)
    with pytest.warns(ImporterWarning, match="2 file name.s. lack label fields"):
        frame = import_utkface(tmp_path / "UTKFace", manifest_dir=tmp_path)
    frame = frame.set_index("clip_id")
    assert frame.loc["1_0_0_20161219140623097", "face_path"] == (
        "UTKFace/1_0_0_20161219140623097.jpg.chip.jpg"
    )
    row = frame.loc["26_1_2_20170116174525125"]
    assert (row["age"], row["age_group"], row["gender"], row["ethnicity"]) == (
        26,
        "20-29",
        "female",
        "asian",
    )
    assert frame.loc["116_1_0_20170120134921760", "age_group"] == "70+"
    incomplete = frame.loc["39_1_20170116174525125"]
    assert (incomplete["age"], incomplete["gender"], incomplete["ethnicity"]) == (
        39,
        "unknown",
        "unknown",
    )
    assert set(frame["age_source"]) == {"annotated"}
    assert validate_manifest(frame.reset_index(), source="m", base_dir=tmp_path) == []


def test_utkface_empty_folder(tmp_path):
    with pytest.raises(InputError, match="no UTKFace images"):
        import_utkface(tmp_path, manifest_dir=tmp_path)
