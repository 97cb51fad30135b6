"""The atomic-write helpers: success replaces whole, a crash leaves the old file and no litter."""

from __future__ import annotations

import os
import stat

import pytest

from speech2face.atomic import atomic_folder, atomic_write, swap_folder, write_json, write_text


class Crash(Exception):
    pass


def _hidden(folder):
    return [p.name for p in folder.iterdir() if p.name.startswith(".")]


def test_success_replaces_the_file(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with atomic_write(target) as handle:
        handle.write(b"new")
    assert target.read_bytes() == b"new"
    assert _hidden(tmp_path) == []


def test_crash_mid_write_keeps_the_old_file_and_no_temp(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    with pytest.raises(Crash), atomic_write(target, "w") as handle:
        handle.write("half")
        raise Crash
    assert target.read_text() == "old"
    assert _hidden(tmp_path) == []


def test_text_and_json_helpers_make_folders_and_default_permissions(tmp_path):
    target = write_json(tmp_path / "sub" / "x.json", {"a": 1}, sort_keys=True)
    assert target.read_text() == '{"a": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~_umask()
    write_text(target, "é", fsync=True)
    assert target.read_text(encoding="utf-8") == "é"


def test_atomic_folder_swaps_in_whole(tmp_path):
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with atomic_folder(target) as staging:
        (staging / "new.txt").write_text("new")
    assert [p.name for p in target.iterdir()] == ["new.txt"]
    assert _hidden(tmp_path) == []


def test_atomic_folder_crash_keeps_the_old_folder(tmp_path):
    target = tmp_path / "artifact"
    target.mkdir()
    (target / "old.txt").write_text("old")
    with pytest.raises(Crash), atomic_folder(target) as staging:
        (staging / "new.txt").write_text("new")
        raise Crash
    assert [p.name for p in target.iterdir()] == ["old.txt"]
    assert _hidden(tmp_path) == []


def test_swap_folder_replaces_a_file(tmp_path):
    staging, target = tmp_path / "staged", tmp_path / "target"
    staging.mkdir()
    target.write_text("a file")
    swap_folder(staging, target)
    assert target.is_dir() and _hidden(tmp_path) == []


def test_bad_mode_is_refused(tmp_path):
    with pytest.raises(ValueError), atomic_write(tmp_path / "x", "a"):
        pass


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
