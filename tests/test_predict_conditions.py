"""``s2f predict --conditions``: the conditions table's measures joined into the predictions."""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from s2f.cli import main
from speech2face.audio.conditions import CONDITION_COLUMNS
from speech2face.prediction.artifact import read_predictions

sys.path.insert(0, str(Path(__file__).parent))
from predict_support import tiny_corpus, tiny_run


@pytest.fixture(scope="module")
def measured(tmp_path_factory):
    root = tmp_path_factory.mktemp("conditions")
    corpus = tiny_corpus(root)
    run_dir = tiny_run(root / "run")
    conditions = root / "conditions.parquet"
    assert main(["conditions", str(corpus), "--out", str(conditions), "--no-progress"]) == 0
    return corpus, run_dir, conditions


def test_predict_joins_every_measure_on_clip_id(measured, tmp_path):
    corpus, run_dir, conditions = measured
    torch.set_num_threads(1)
    out = tmp_path / "pred"
    argv = ["predict", "--model", str(run_dir), "--manifest", str(corpus), "--out", str(out)]
    argv += ["--durations", "3,6", "--no-progress", "--conditions", str(conditions)]
    assert main(argv) == 0
    table = read_predictions(out, mmap=False).table
    measures = pd.read_parquet(conditions).set_index("clip_id")
    for column in CONDITION_COLUMNS:
        expected = measures[column].reindex(table["clip_id"]).to_numpy()
        np.testing.assert_array_equal(table[column].to_numpy(), expected, err_msg=column)
    assert table["snr_db"].notna().all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["conditions"]["path"] == str(conditions)


def test_a_clip_missing_from_the_conditions_table_fails_before_predicting(
    measured, tmp_path, capsys
):
    corpus, run_dir, conditions = measured
    partial = tmp_path / "partial.parquet"
    pd.read_parquet(conditions).iloc[1:].to_parquet(partial, index=False)
    out = tmp_path / "pred"
    argv = ["predict", "--model", str(run_dir), "--manifest", str(corpus), "--out", str(out)]
    argv += ["--no-progress", "--conditions", str(partial)]
    assert main(argv) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert "not in the conditions table" in error
    assert not (out / "predictions.parquet").exists()
