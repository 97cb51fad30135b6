"""``--out`` never destroys what s2f did not write; an artifact and its report are one unit."""

from __future__ import annotations

import os

import pytest

from audit.artifacts import AUDIT_FILE, REPORT_FILE
from s2f.cli import main
from speech2face.artifacts import KIND_FILE
from speech2face.errors import InputError
from speech2face.outputs import artifact_kind, check_out
from speech2face.prediction.artifact import write_predictions
from tests.report_artifacts import planted_manifest, planted_predictions

AUDIT = ["--n-boot", "20", "--slices", "ethnicity", "--metrics", "s2f_gender_agreement"]


@pytest.fixture(scope="module")
def pred(tmp_path_factory):
    predictions = planted_predictions()
    folder = tmp_path_factory.mktemp("pred") / "pred"
    return write_predictions(folder, predictions.table, features=predictions.features)


def _files(folder):
    return sorted(p.name for p in folder.iterdir())


def test_a_foreign_folder_is_refused_and_left_alone(tmp_path, pred, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "important.txt").write_text("mine")
    assert main(["audit", str(pred), "--out", str(user), *AUDIT]) == 2
    error = capsys.readouterr().err
    assert "files s2f did not write" in error and error.count("\n") == 1
    assert _files(user) == ["important.txt"]


def test_the_working_folder_and_a_folder_holding_the_input_are_refused(tmp_path, pred, capsys):
    cwd = os.getcwd()
    os.chdir(pred)
    try:
        assert main(["audit", str(pred), "--out", ".", *AUDIT]) == 2
    finally:
        os.chdir(cwd)
    assert "working folder" in capsys.readouterr().err
    assert main(["audit", str(pred), "--out", str(pred.parent), *AUDIT]) == 2
    assert "would replace the input" in capsys.readouterr().err
    assert (pred / "predictions.parquet").is_file()


def test_a_file_or_a_path_under_a_file_is_refused(tmp_path, pred, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("x")
    for out in (afile, afile / "sub"):
        assert main(["audit", str(pred), "--out", str(out), *AUDIT]) == 2
        assert "--out" in capsys.readouterr().err
    assert afile.read_text() == "x"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]  # no temporary file left


def test_an_artifact_of_another_kind_is_refused(tmp_path, pred):
    audit = tmp_path / "audit"
    assert main(["audit", str(pred), "--out", str(audit), "--no-report", *AUDIT]) == 0
    assert artifact_kind(audit) == "audit"
    predictions = planted_predictions()
    with pytest.raises(InputError, match="holds a audit, not a predictions"):
        write_predictions(audit, predictions.table, features=predictions.features)
    with pytest.raises(InputError, match="holds a predictions, not a audit"):
        check_out(pred, "audit")
    assert (audit / AUDIT_FILE).is_file()


def test_unwritable_parent_is_refused(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):
            pytest.skip("running as a user who can write anywhere")
        with pytest.raises(InputError, match="cannot write in"):
            check_out(locked / "audit", "audit")
    finally:
        locked.chmod(0o700)


def test_a_no_report_rewrite_removes_the_stale_report(tmp_path, pred):
    out = tmp_path / "audit"
    assert main(["audit", str(pred), "--out", str(out), *AUDIT]) == 0
    assert (out / REPORT_FILE).is_file()
    assert (
        main(["audit", str(pred), "--out", str(out), "--duration", "3", "--no-report", *AUDIT]) == 0
    )
    assert not (out / REPORT_FILE).exists()
    assert (out / KIND_FILE).read_text().strip() == "audit"


def test_a_failure_while_rendering_leaves_the_previous_unit_intact(tmp_path, pred, monkeypatch):
    out = tmp_path / "audit"
    assert main(["audit", str(pred), "--out", str(out), *AUDIT]) == 0
    before = {name: (out / name).read_bytes() for name in _files(out)}

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("reports.audit.render_audit_report", killed)
    assert main(["audit", str(pred), "--out", str(out), "--duration", "3", *AUDIT]) == 130
    assert {name: (out / name).read_bytes() for name in _files(out)} == before
    assert _files(tmp_path) == ["audit"]  # no staging folder left behind


def test_compare_writes_its_report_in_the_same_unit(tmp_path, pred, monkeypatch):
    audit = tmp_path / "a"
    assert main(["audit", str(pred), "--out", str(audit), "--no-report", *AUDIT]) == 0
    out = tmp_path / "c"
    assert main(["compare", str(audit), str(audit), "--out", str(out)]) == 0
    assert (out / REPORT_FILE).is_file()
    assert main(["compare", str(audit), str(audit), "--out", str(out), "--no-report"]) == 0
    assert not (out / REPORT_FILE).exists()
    assert main(["compare", str(audit), str(audit), "--out", str(audit)]) == 2


def test_dataset_report_is_one_unit_and_never_overwrites_a_foreign_file(tmp_path, monkeypatch):
    manifest = tmp_path / "m.parquet"
    planted_manifest().to_parquet(manifest)
    report = tmp_path / "r.html"
    base = ["dataset-report", str(manifest), "--out", str(report), "--no-check-files"]
    assert main(base) == 0
    analysis = tmp_path / "r.analysis"
    assert (analysis / REPORT_FILE).read_bytes() == report.read_bytes()
    before = report.read_bytes()

    def broken(*args, **kwargs):
        raise RuntimeError("renderer died")

    monkeypatch.setattr("reports.dataset.dataset_report_html", broken)
    with pytest.raises(RuntimeError):
        main([*base, "--min-speakers", "3"])
    assert report.read_bytes() == before == (analysis / REPORT_FILE).read_bytes()
    monkeypatch.undo()
    foreign = tmp_path / "notes.html"
    foreign.write_text("<p>my notes</p>")
    assert main(["dataset-report", str(manifest), "--out", str(foreign), "--no-check-files"]) == 2
    assert foreign.read_text() == "<p>my notes</p>"
