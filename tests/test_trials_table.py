"""The trials table contract: write_trials / read_trials and one-line errors."""

from __future__ import annotations

import pandas as pd
import pytest

from speech2face import trials as schema
from speech2face.errors import InputError
from speech2face.trials import read_trials, write_trials


def table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "trial_id": ["t1", "t2"],
            "voice_clip_id": ["c1", "c1"],
            "voice_speaker_id": ["a", "a"],
            "face_id": ["fa", "fb"],
            "face_speaker_id": ["a", "b"],
            "score": [0.9, 0.1],
            "target": [True, False],
            "language": ["en", "en"],
        }
    )


def test_round_trip_parquet_with_meta_and_csv(tmp_path):
    path = write_trials(tmp_path / "trials.parquet", table(), meta={"model_id": "fop"})
    loaded = read_trials(path)
    pd.testing.assert_frame_equal(loaded.table, table())
    assert loaded.meta == {"model_id": "fop", "kind": "trials", "schema_version": 1}
    csv = tmp_path / "trials.csv"
    table().assign(target=["yes", "0"]).to_csv(csv, index=False)
    assert read_trials(csv).table["target"].tolist() == [True, False]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="score"), "trials.csv:column score: missing required"),
        (lambda t: t.assign(score=[0.1, "inf"]), "trials.csv:row 1:column score: 'inf'"),
        (lambda t: t.assign(target=["true", "maybe"]), "trials.csv:row 1:column target:"),
        (lambda t: t.assign(trial_id=["t1", "t1"]), "row 1:column trial_id: 't1' is already"),
        (lambda t: t.assign(target=[True, True]), "row 1:column target: True but"),
        (lambda t: t.assign(face_speaker_id=["z", "b"]), "row 0:column target: True but"),
    ],
)
def test_errors_name_file_row_and_column(tmp_path, change, message):
    path = tmp_path / "trials.csv"
    change(table()).to_csv(path, index=False)
    with pytest.raises(InputError) as error:
        read_trials(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_face_column_and_required_columns():
    assert schema.face_column("gender") == "face_gender"
    assert schema.REQUIRED_COLUMNS[-2:] == ("score", "target")
