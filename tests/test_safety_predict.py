"""``s2f predict --out``/``--resume`` refuse to destroy or mix what is already there."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd
import pytest

from s2f.cli import main

sys.path.insert(0, str(Path(__file__).parent))
from predict_support import tiny_corpus, tiny_run


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def finished(corpus, run_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("finished") / "pred"
    assert main(_predict(corpus, run_dir, out)) == 0
    return out


def _predict(corpus, run_dir, out, *extra):
    return [
        "predict", "--model", str(run_dir), "--manifest", str(corpus), "--out", str(out),
        "--durations", "3", "--batch-size", "8", "--no-progress", "--threads", "1", *extra,
    ]  # fmt: skip


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_user_folder_is_never_emptied(corpus, run_dir, tmp_path, capsys):
    user = tmp_path / "userdir"
    user.mkdir()
    (user / "important.txt").write_text("keep me")
    assert main(_predict(corpus, run_dir, user)) == 2
    assert "files s2f did not write" in capsys.readouterr().err
    assert _snapshot(user) == {"important.txt": b"keep me"}


def test_resume_into_an_audit_is_refused(corpus, run_dir, tmp_path, capsys):
    audit = tmp_path / "audit"
    audit.mkdir()
    (audit / "audit.json").write_text("{}")
    before = _snapshot(audit)
    assert main(_predict(corpus, run_dir, audit, "--resume")) == 2
    assert "holds a audit, not a predictions" in capsys.readouterr().err
    assert _snapshot(audit) == before


def test_resume_with_another_manifest_keeps_the_finished_artifact(
    corpus, run_dir, finished, tmp_path, capsys
):
    before = _snapshot(finished)
    other = tmp_path / "other.parquet"
    frame = pd.read_parquet(corpus)
    frame["audio_path"] = [str(corpus.parent / p) for p in frame["audio_path"]]
    frame["face_path"] = [str(corpus.parent / p) for p in frame["face_path"]]
    frame.head(4).to_parquet(other)
    assert main(_predict(other, run_dir, finished, "--resume")) == 2
    assert "another manifest_sha256" in capsys.readouterr().err
    assert main(_predict(corpus, run_dir, finished, "--resume", "--durations", "6")) == 2
    assert _snapshot(finished) == before


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_corrupt_resume_record_is_one_line(corpus, run_dir, finished, tmp_path, content, capsys):
    out = tmp_path / "pred"
    (out / ".chunks").mkdir(parents=True)
    (out / ".s2f-kind").write_text("predictions\n")
    (out / ".chunks" / "signature.json").write_text(content)
    assert main(_predict(corpus, run_dir, out, "--resume")) == 2
    assert "signature.json: cannot be read" in capsys.readouterr().err
    copy = tmp_path / "copy"
    copy.mkdir()
    for name, data in _snapshot(finished).items():
        (copy / name).parent.mkdir(parents=True, exist_ok=True)
        (copy / name).write_bytes(data)
    (copy / "meta.json").write_text(content)
    assert main(_predict(corpus, run_dir, copy, "--resume")) == 2
    assert "meta.json: cannot be read" in capsys.readouterr().err
