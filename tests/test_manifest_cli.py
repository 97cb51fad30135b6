"""``s2f validate`` and ``s2f import``, run in-process through the real entry point."""

import re
from pathlib import Path

import pandas as pd
import pytest

from s2f import cli
from speech2face.manifest import read_manifest

FIXTURES = Path(__file__).parent / "fixtures" / "importers"
GOOD = {
    "clip_id": ["c0", "c1", "c2", "c3"],
    "speaker_id": ["s0", "s0", "s1", "s2"],
    "split": ["train", "train", "val", "test"],
    "audio_path": ["a/c0.wav", "a/c1.wav", "a/c2.wav", "a/c3.wav"],
}


@pytest.fixture
def s2f(monkeypatch, capsys):
    """Run ``s2f`` in-process with only this area's commands; (status, stdout, stderr)."""
    monkeypatch.setattr(cli, "COMMAND_MODULES", ("s2f.commands.manifest",))

    def run(*argv):
        status = cli.main([str(arg) for arg in argv])
        captured = capsys.readouterr()
        return status, captured.out, captured.err

    return run


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "a").mkdir()
    for name in GOOD["audio_path"]:
        (tmp_path / name).write_bytes(b"RIFF")
    return tmp_path


def test_validate_command_prints_all_problems_and_exits_2(folder, s2f):
    frame = pd.DataFrame({**GOOD, "split": ["train", "dev", "val", "test"]})
    frame.loc[3, "clip_id"] = "c0"
    frame.to_csv(folder / "m.csv", index=False)
    status, out, err = s2f("validate", folder / "m.csv")
    assert status == 2
    assert out.splitlines() == [
        f"{folder / 'm.csv'}:row 1:column split: split 'dev' is not one of train, val, test",
        f"{folder / 'm.csv'}:row 3:column clip_id: clip_id 'c0' is already used by row 0",
    ]
    assert err.strip() == f"{folder / 'm.csv'}: 2 problem(s)"


def test_validate_command_accepts_a_valid_manifest_and_options(folder, s2f):
    frame = pd.DataFrame({**GOOD, "speaker_id": ["s0", "s0", "s0", "s1"]})
    frame.to_parquet(folder / "m.parquet", index=False)
    assert s2f("validate", folder / "m.parquet")[0] == 2
    status, out, _ = s2f(
        "validate", folder / "m.parquet", "--allow-speaker-leakage", "--no-check-files"
    )
    assert status == 0
    assert out.strip().endswith("valid voice manifest, 4 row(s)")


def test_validate_command_on_a_missing_file_is_one_line(tmp_path, s2f):
    status, _, err = s2f("validate", tmp_path / "none.csv")
    assert status == 2
    assert err == f"s2f validate: error: {tmp_path / 'none.csv'}: no such manifest\n"


def test_import_command_writes_a_valid_manifest_and_prints_warnings(tmp_path, s2f):
    names = (FIXTURES / "utkface_names.txt").read_text().split()
    for name in names:
        (tmp_path / name).write_bytes(b"\xff\xd8")
    out = tmp_path / "out" / "utk.parquet"
    status, stdout, stderr = s2f("import", "utkface", tmp_path, "--out", out, "--split", "test")
    assert status == 0
    assert stdout.strip() == f"{out}: 5 row(s), 5 speaker(s)"
    assert re.search(r"s2f import: warning: utkface: 2 file name\(s\) lack", stderr)
    frame = read_manifest(out)
    assert set(frame["split"]) == {"test"}
    assert frame["face_path"].iloc[0].startswith("/")
    assert s2f("validate", out)[0] == 0


def test_import_command_refuses_options_of_other_datasets(tmp_path, s2f):
    status, _, stderr = s2f(
        "import", "utkface", tmp_path, "--out", tmp_path / "m.parquet", "--labels", "x.csv"
    )
    assert status == 2
    assert stderr.strip() == (
        "s2f import: error: --labels does not apply to utkface "
        "(it applies to --age-binning, --split, --split-fractions)"
    )
    assert not (tmp_path / "m.parquet").exists()
