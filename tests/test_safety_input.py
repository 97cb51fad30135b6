"""Bad input is a one-line error naming the file, row, column or option (exit 2), never a
traceback."""

from __future__ import annotations

import decimal

import numpy as np
import pandas as pd
import pytest

from s2f.cli import main
from speech2face.prediction.artifact import write_predictions
from tests.report_artifacts import planted_predictions

BASE = {
    "clip_id": ["c0", "c1"],
    "speaker_id": ["s0", "s1"],
    "audio_path": ["a.wav", "b.wav"],
    "split": ["test", "test"],
}


def _one_line_error(capsys, *needles: str) -> str:
    error = capsys.readouterr().err
    assert "Traceback" not in error
    assert all(needle in error for needle in needles), error
    return error


@pytest.mark.parametrize(
    ("column", "values", "needle"),
    [
        ("end_s", [np.inf, 2.0], "row 0:column end_s: inf is not a finite number"),
        ("audio_path", ["x" * 100_000, "b.wav"], "row 0:column audio_path: file"),
        ("audio_path", ["~nosuchuser/a.wav", "b.wav"], "~nosuchuser/a.wav does not exist"),
        ("gender", [True, None], "row 0:column gender: gender 'True'"),
    ],
)
def test_bad_csv_cells_are_named(tmp_path, capsys, column, values, needle):
    path = tmp_path / "m.csv"
    pd.DataFrame({**BASE, column: values}).to_csv(path, index=False)
    assert main(["validate", str(path)]) == 2
    assert needle in capsys.readouterr().out


@pytest.mark.parametrize(
    ("column", "value", "kind"),
    [
        ("gender", b"female", "bytes"),
        ("clip_id", ["c", "0"], "ndarray"),
        ("language", ["en"], "ndarray"),
    ],
)
def test_odd_parquet_cells_are_named(tmp_path, capsys, column, value, kind):
    frame = pd.DataFrame(BASE, dtype=object)
    frame[column] = pd.Series([value, value], dtype=object)
    path = tmp_path / "m.parquet"
    frame.to_parquet(path)
    assert main(["validate", str(path), "--no-check-files"]) == 2
    assert f"row 0:column {column}: holds a {kind} value" in capsys.readouterr().out


def test_a_decimal_age_is_a_number(tmp_path, capsys):
    frame = pd.DataFrame({**BASE, "age": [decimal.Decimal("31.5"), decimal.Decimal("200")]})
    path = tmp_path / "m.parquet"
    frame.to_parquet(path)
    assert main(["validate", str(path), "--no-check-files"]) == 2
    assert "row 1:column age: age 200.0 is above 130" in capsys.readouterr().out


@pytest.fixture
def pred(tmp_path):
    predictions = planted_predictions()
    return write_predictions(tmp_path / "pred", predictions.table, features=predictions.features)


CORRUPTIONS = {
    "predictions.parquet": lambda p: p.write_bytes(p.read_bytes()[:100]),
    "meta.json": lambda p: p.write_text("{oops"),
    "meta.json ": lambda p: p.write_text("[1, 2]"),
    "features/pred_feature.npy": lambda p: p.write_bytes(b"garbage"),
    "features/pred_feature.npy ": lambda p: p.write_bytes(p.read_bytes()[:200]),
    "features/true_feature.npy": lambda p: np.save(p, np.zeros((3, 2, 2))),
    "features/true_feature.npy ": lambda p: np.save(p, np.float32(1)),
    "features/true_feature.npy  ": lambda p: np.save(p, np.array([None] * 3), allow_pickle=True),
}


@pytest.mark.parametrize("name", list(CORRUPTIONS))
def test_a_corrupt_predictions_artifact_is_one_line(pred, tmp_path, capsys, name):
    CORRUPTIONS[name](pred / name.strip())
    assert main(["audit", str(pred), "--out", str(tmp_path / "audit"), "--n-boot", "5"]) == 2
    _one_line_error(capsys, name.strip().split("/")[-1])


def test_a_feature_width_mismatch_is_one_line(pred, tmp_path, capsys):
    rows = len(pd.read_parquet(pred / "predictions.parquet"))
    np.save(pred / "features" / "true_feature.npy", np.zeros((rows, 3), dtype=np.float32))
    assert main(["audit", str(pred), "--out", str(tmp_path / "audit"), "--n-boot", "5"]) == 2
    _one_line_error(capsys, "differ in width")


def test_compare_refuses_a_corrupt_audit(pred, tmp_path, capsys):
    common = ["--n-boot", "5", "--metrics", "s2f_gender_agreement", "--no-report"]
    for name in ("a", "b"):
        assert main(["audit", str(pred), "--out", str(tmp_path / name), *common]) == 0
    (tmp_path / "a" / "audit.json").write_text("{")
    (tmp_path / "b" / "groups.parquet").write_bytes(b"PAR1")
    for name, file in (("a", "audit.json"), ("b", "groups.parquet")):
        argv = ["compare", str(tmp_path / name), str(tmp_path / name), "--out", str(tmp_path / "c")]
        assert main(argv) == 2
        _one_line_error(capsys, file, "cannot be read")


@pytest.mark.parametrize(
    "argv",
    [
        ["synth", "--out", "{tmp}/c", "--test-fraction", "nan"],
        ["synth", "--out", "{tmp}/c", "--seed", str(2**32)],
        ["train", "--manifest", "{tmp}/m.parquet", "--out", "{tmp}/r", "--lr", "nan"],
        ["train", "--manifest", "{tmp}/m.parquet", "--out", "{tmp}/r", "--workers", "-1"],
        ["train", "--manifest", "{tmp}/m.parquet", "--out", "{tmp}/r", "--device", "tpu9"],
        ["train", "--manifest", "{tmp}/m.parquet", "--out", "{tmp}/r", "--duration", "inf"],
        ["train", "--manifest", "{tmp}/m.parquet", "--out", "{tmp}/r", "--seed", "-1"],
        ["dataset-report", "{tmp}/m.parquet", "--out", "{tmp}/r.html", "--privacy-k", "-3"],
        ["faces", "{tmp}", "--out", "{tmp}/faces.csv"],
        [
            "face-features",
            "--manifest",
            "{tmp}/m.parquet",
            "--faces",
            "{tmp}/no.parquet",
            "--out",
            "{tmp}/o.parquet",
        ],
        [
            "face-features",
            "--manifest",
            "{tmp}/m.parquet",
            "--faces",
            "{tmp}/m.csv",
            "--out",
            "{tmp}/o.parquet",
        ],
    ],
)
def test_bad_options_are_one_line(tmp_path, capsys, argv):
    pd.DataFrame(BASE).to_parquet(tmp_path / "m.parquet")
    (tmp_path / "m.csv").write_text("not parquet")
    assert main([part.format(tmp=tmp_path) for part in argv]) == 2
    _one_line_error(capsys, "error:")
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()


@pytest.mark.parametrize("column", ["clip_id", "duration_s"])
def test_a_list_in_a_key_column_is_one_line(tmp_path, capsys, column):
    """A list where a clip key belongs (found by tests/test_fuzz_cli.py) is named, not a
    pandas TypeError."""
    path = tmp_path / "predictions.parquet"
    frame = pd.DataFrame({"clip_id": ["c0", "c1"], "speaker_id": ["s0", "s1"]}, dtype=object)
    frame["duration_s"] = pd.Series([6.0, 6.0], dtype=object)
    frame[column] = pd.Series([None, []], dtype=object)
    frame.to_parquet(path)
    assert main(["audit", str(path), "--out", str(tmp_path / "audit"), "--n-boot", "5"]) == 2
    _one_line_error(capsys, f"row 1, column {column!r}", "is not a single value")


@pytest.mark.parametrize("column", ["speaker_id", "s2f_gender", "split"])
def test_bytes_in_a_text_column_are_named_or_read_as_text(tmp_path, capsys, column):
    """A Parquet binary column (found by tests/test_fuzz_cli.py: pandas' ``astype(str)``
    raised UnicodeDecodeError deep in the audit) is read as UTF-8 text, or refused naming
    the column and the first row that is not text."""
    path = tmp_path / "predictions.parquet"
    frame = pd.DataFrame(
        {
            "clip_id": ["c0", "c1", "c2", "c3"],
            "speaker_id": ["s0", "s0", "s1", "s1"],
            "duration_s": [6.0] * 4,
            "split": ["test"] * 4,
            "true_gender": ["female", "female", "male", "male"],
            "s2f_gender": ["female", "male", "male", "male"],
        }
    )
    text = frame.copy()
    text[column] = text[column].str.encode("utf-8")
    text.to_parquet(path)
    argv = ["audit", str(path), "--n-boot", "5", "--no-report", "--min-speakers", "2"]
    assert main([*argv, "--out", str(tmp_path / "as-text")]) == 0
    capsys.readouterr()
    frame[column] = pd.Series([b"ok", b"\xff\xfe", b"x", b"y"], dtype=object)
    frame.to_parquet(path)
    assert main([*argv, "--out", str(tmp_path / "refused")]) == 2
    _one_line_error(capsys, f"column {column!r}, row 1: bytes that are not UTF-8 text")
    assert not (tmp_path / "refused").exists()
