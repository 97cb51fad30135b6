import numpy as np
import pandas as pd
import pytest

from speech2face.errors import InputError
from speech2face.prediction.artifact import read_predictions, write_predictions


def _table(n: int = 4) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(n)],
            "speaker_id": [f"s{i // 2}" for i in range(n)],
            "duration_s": [6.0] * n,
            "gender": ["female", "male"] * (n // 2),
        }
    )


def test_round_trip_keeps_rows_features_and_meta(tmp_path):
    rng = np.random.default_rng(0)
    features = {"pred_feature": rng.normal(size=(4, 8)), "true_feature": rng.normal(size=(4, 8))}
    write_predictions(tmp_path / "pred", _table(), features=features, meta={"model_id": "m1"})
    loaded = read_predictions(tmp_path / "pred")
    pd.testing.assert_frame_equal(loaded.table, _table())
    assert isinstance(loaded.features["pred_feature"], np.memmap)
    np.testing.assert_allclose(loaded.features["true_feature"], features["true_feature"], rtol=1e-6)
    assert loaded.meta["model_id"] == "m1"
    assert loaded.meta["features"] == {"pred_feature": [8], "true_feature": [8]}


def test_single_parquet_with_vector_columns_is_read_as_features(tmp_path):
    table = _table()
    table["pred_feature"] = [np.arange(3, dtype=np.float32) + i for i in range(4)]
    table.to_parquet(tmp_path / "third_party.parquet")
    loaded = read_predictions(tmp_path / "third_party.parquet")
    assert "pred_feature" not in loaded.table.columns
    assert loaded.features["pred_feature"].shape == (4, 3)
    assert loaded.features["pred_feature"][2, 0] == 2.0


def test_failed_write_leaves_the_earlier_artifact_whole(tmp_path):
    good = {"pred_feature": np.zeros((4, 2))}
    write_predictions(tmp_path / "pred", _table(), features=good)
    with pytest.raises(InputError, match="has 3 rows, the table has 4"):
        write_predictions(tmp_path / "pred", _table(), features={"pred_feature": np.zeros((3, 2))})
    assert len(read_predictions(tmp_path / "pred")) == 4


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (_table().drop(columns="speaker_id"), r"lacks required column\(s\) \['speaker_id'\]"),
        (pd.concat([_table(), _table().iloc[:1]]), "row 4: clip_id 'c0' appears twice"),
    ],
)
def test_bad_tables_are_named_in_one_line(tmp_path, table, message):
    with pytest.raises(InputError, match=message):
        write_predictions(tmp_path / "pred", table, features={})
