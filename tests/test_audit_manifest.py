"""Slicing by any manifest column: the manifest's columns joined on clip_id."""

import numpy as np
import pandas as pd
import pytest

from audit.engine import run_audit
from audit.result import AuditResult
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import write_predictions
from tests.test_audit_engine import make_predictions

OPTIONS = {"n_boot": 50, "metrics": ["s2f_gender_agreement"], "fairlearn_views": False}
ACCENTS = np.array(["north", "south", "coast"], dtype=object)


@pytest.fixture(scope="module")
def predictions():
    return make_predictions()


def manifest_for(predictions) -> pd.DataFrame:
    table = predictions.table
    speaker = table["speaker_id"].str[1:].astype(int).to_numpy()
    return pd.DataFrame(
        {
            "clip_id": table["clip_id"],
            "speaker_id": table["speaker_id"],
            "audio_path": [f"audio/{c}.wav" for c in table["clip_id"]],
            "split": "test",
            "accent": ACCENTS[speaker % 3],
            "language": "xx",  # the predictions' own column wins
            "embedding": [np.zeros(2)] * len(table),  # not a scalar: not joined
        }
    ).iloc[::-1]


def test_manifest_columns_become_slices(tmp_path, predictions):
    manifest = manifest_for(predictions)
    path = tmp_path / "manifest.parquet"
    manifest.to_parquet(path)
    result = run_audit(predictions, manifest=path, slices=["accent", "language"], **OPTIONS)
    record = result.summary["manifest"]
    assert record["joined_columns"] == ["audio_path", "split", "accent"]
    assert "language" in record["kept_from_predictions"]
    assert result.summary["config"]["manifest"] == str(path)
    table = predictions.table
    accent = manifest.set_index("clip_id").loc[table["clip_id"], "accent"].to_numpy()
    agree = (table["s2f_gender"] == table["true_gender"])[table["true_gender"] != "unknown"]
    expected = agree.groupby(accent[agree.index]).mean()
    ours = result.by_group("s2f_gender_agreement", "accent")["value"]
    for group, value in expected.items():
        assert ours[group] == pytest.approx(value, abs=1e-12)
    assert set(result.by_group("s2f_gender_agreement", "language").index) == {"en", "es"}
    assert "accent & language" in {s["name"] for s in result.summary["slices"]}


def test_manifest_problems_are_one_line_errors(predictions):
    manifest = manifest_for(predictions).reset_index(drop=True)
    with pytest.raises(
        InputError,
        match=r"3 clip\(s\) of the predictions are not in the manifest \(table\), "
        r"e.g. clip_id 'c0' \(predictions row 0\)",
    ):
        run_audit(predictions, manifest=manifest[~manifest["clip_id"].isin(["c0", "c1", "c5"])])
    doubled = pd.concat([manifest, manifest.iloc[[4]]], ignore_index=True)
    with pytest.raises(InputError, match=f"row {len(manifest)}: clip_id 'c265' appears twice"):
        run_audit(predictions, manifest=doubled)
    moved = manifest.copy()
    moved.loc[moved["clip_id"] == "c7", "speaker_id"] = "s99"
    with pytest.raises(InputError, match=r"clip_id 'c7' .*'s2' in the predictions, 's99'"):
        run_audit(predictions, manifest=moved)
    with pytest.raises(InputError, match="no 'clip_id' column"):
        run_audit(predictions, manifest=manifest.drop(columns="clip_id"))
    with pytest.raises(InputError, match=r"'accent' is not in the predictions table.*--manifest"):
        run_audit(predictions, slices=["accent"], **OPTIONS)


def test_manifest_option(tmp_path, predictions):
    path = tmp_path / "manifest.csv"
    manifest_for(predictions).drop(columns="embedding").to_csv(path, index=False)
    pred = write_predictions(tmp_path / "pred", predictions.table, features={})
    out = tmp_path / "audit"
    argv = ["audit", str(pred), "--out", str(out), "--no-report", "--n-boot", "20"]
    argv += ["--metrics", "s2f_gender_agreement", "--slices", "accent", "--manifest", str(path)]
    assert main(argv) == 0
    groups = AuditResult.load(out).by_group("s2f_gender_agreement", "accent")
    assert set(groups.index) == {"coast", "north", "south"}
    assert groups["n_clips"].sum() == len(predictions.table)
    missing = tmp_path / "none.csv"
    assert main([*argv[:-1], str(missing)]) == 2
