"""An audit analyses the test split by default; other splits on request."""

import numpy as np
import pandas as pd
import pytest

from audit.engine import run_audit
from audit.result import AuditResult
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, write_predictions
from tests.test_audit_engine import make_predictions

OPTIONS = {
    "n_boot": 50,
    "slices": ["language"],
    "metrics": ["s2f_gender_agreement", "recall@1_cosine"],
    "fairlearn_views": False,
}


@pytest.fixture(scope="module")
def split_predictions():
    """60 test speakers, 30 train speakers whose predictions are perfect (fitted)."""
    predictions = make_predictions(n_speakers=90)
    table = predictions.table.copy()
    speaker = table["speaker_id"].str[1:].astype(int)
    table["split"] = np.where(speaker < 60, "test", "train")
    train = table["split"] == "train"
    table.loc[train, "s2f_gender"] = table.loc[train, "true_gender"]
    features = {k: np.array(v) for k, v in predictions.features.items()}
    features["pred_feature"][train.to_numpy()] = features["true_feature"][train.to_numpy()]
    return Predictions(table, features, predictions.meta)


def test_default_audits_test_rows_only(split_predictions):
    table = split_predictions.table
    result = run_audit(split_predictions, **OPTIONS)
    test = (table["split"] == "test").to_numpy()
    alone = run_audit(
        Predictions(
            table[test].reset_index(drop=True),
            {k: v[test] for k, v in split_predictions.features.items()},
        ),
        **OPTIONS,
    )
    pd.testing.assert_frame_equal(result.groups, alone.groups)
    assert result.split == "test" and result.summary["config"]["split"] is None
    assert result.summary["predictions"]["n_clips"] == test.sum() == 180
    assert result.summary["retrieval"]["mixed"]["groups"][0]["gallery_size"] == 60
    assert any(
        "audit of split 'test': 90 row(s) of other splits left out (train (90))" in note
        for note in result.summary["notes"]
    )
    expected = (table["s2f_gender"] == table["true_gender"])[test].mean()
    assert result.overall().loc["s2f_gender_agreement", "value"] == pytest.approx(expected)


def test_all_and_other_splits(split_predictions):
    table = split_predictions.table
    # training speakers (here: speakers with train rows) are left out of split all by default
    every = run_audit(split_predictions, split="all", **OPTIONS)
    assert every.summary["predictions"]["n_clips"] == 180
    assert every.summary["training_speakers"] == {
        "source": "speakers with train/val rows in the predictions; no seen_in_training column",
        "included": False,
        "n_clips": 90,
        "n_speakers": 30,
        "note": every.summary["training_speakers"]["note"],
    }
    every = run_audit(split_predictions, split="all", include_training_speakers=True, **OPTIONS)
    assert every.summary["predictions"]["n_clips"] == len(table)
    assert every.summary["retrieval"]["mixed"]["groups"][0]["gallery_size"] == 90
    assert every.summary["caveats"][0].startswith(
        "This audit includes 90 clip(s) of 30 speaker(s) the model trained on"
    )
    with pytest.raises(InputError, match="every one of the 90 clip"):
        run_audit(split_predictions, split="train", **OPTIONS)
    train = run_audit(split_predictions, split="train", include_training_speakers=True, **OPTIONS)
    assert train.overall().loc["s2f_gender_agreement", "value"] == 1.0
    assert train.overall().loc["recall@1_cosine", "value"] == 1.0
    with pytest.raises(
        InputError, match=r"no rows with split 'val' to audit; .*180 row\(s\) of 'test'"
    ):
        run_audit(split_predictions, split="val", **OPTIONS)
    with pytest.raises(InputError, match="split must be one of train, val, test, all"):
        run_audit(split_predictions, split="dev", **OPTIONS)


def test_no_split_column(split_predictions):
    table = split_predictions.table.drop(columns="split")
    plain = Predictions(table, split_predictions.features)
    assert run_audit(plain, **OPTIONS).split is None
    with pytest.raises(InputError, match="split 'test' asked for, but the predictions have no"):
        run_audit(plain, split="test", **OPTIONS)


def test_split_option_on_the_command_line(tmp_path, split_predictions, capsys):
    path = write_predictions(
        tmp_path / "pred", split_predictions.table, features=split_predictions.features
    )
    common = ["--n-boot", "20", "--slices", "language", "--metrics", "s2f_gender_agreement"]
    out = tmp_path / "audit"
    assert (
        main(["audit", str(path), "--out", str(out), "--no-report", "--split", "train", *common])
        == 2
    )
    assert "--include-training-speakers" in capsys.readouterr().err
    train_too = ["--split", "train", "--include-training-speakers"]
    assert main(["audit", str(path), "--out", str(out), "--no-report", *train_too, *common]) == 0
    assert AuditResult.load(out).split == "train"
    assert main(["audit", str(path), "--out", str(out), "--split", "val", *common]) == 2
    assert "no rows with split 'val'" in capsys.readouterr().err
