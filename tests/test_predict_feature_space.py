"""``s2f predict`` on a run without a decoder: manifest labels, descriptor classifiers, errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from s2f.cli import main
from speech2face.backends.label_classifier import save_attribute_classifier
from speech2face.prediction.artifact import read_predictions
from tests.test_training_command import write_corpus
from tests.test_training_face_stacks import with_stored_features

GENDERS = {"s0": "female", "s1": "male", "s2": "female", "s3": "male", "s4": "female"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A stored-feature run on 5 speakers; s3 and s4 are the test split; gender self-reported."""
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("fs")
    manifest = with_stored_features(write_corpus(root))
    frame = pd.read_csv(manifest)
    frame["split"] = np.where(frame["speaker_id"].isin(["s3", "s4"]), "test", "train")
    frame["gender"] = frame["speaker_id"].map(GENDERS)
    frame["gender_source"] = "self_reported"
    frame.to_csv(manifest, index=False)
    argv = ["train", "--manifest", manifest, "--out", root / "run", "--duration", "1"]
    assert (
        main([str(a) for a in [*argv, "--steps", "2", "--batch-size", "4", "--no-progress"]]) == 0
    )
    features = np.stack([np.load(root / "features" / f"s{i}.npy") for i in range(5)])
    classifier = LogisticRegression().fit(features, [GENDERS[f"s{i}"] for i in range(5)])
    save_attribute_classifier(classifier, root / "models" / "gender.pkl", label="gender")
    return root, manifest, features, classifier


def predict(root, manifest, out, *extra):
    argv = ["predict", "--model", root / "run", "--manifest", manifest, "--out", out]
    argv += ["--split", "test", "--durations", "1", "--no-progress"]
    return main([str(a) for a in [*argv, *extra]])


def test_manifest_labels_stand_for_the_true_face_with_their_source(trained, tmp_path):
    root, manifest, features, classifier = trained
    assert predict(root, manifest, tmp_path / "pred", "--attribute-models", root / "models") == 0
    pred = read_predictions(tmp_path / "pred")
    table = pred.table
    assert list(table["speaker_id"]) == ["s3"] * 4 + ["s4"] * 4
    assert list(table["true_gender"]) == ["male"] * 4 + ["female"] * 4
    assert set(table["true_gender_source"]) == {"self_reported"}
    expected = classifier.predict(features[[3, 4]])
    assert list(table["f2f_gender"]) == [expected[0]] * 4 + [expected[1]] * 4
    np.testing.assert_allclose(
        pred.features["f2f_gender_proba"][0], classifier.predict_proba(features[[3]])[0], rtol=1e-5
    )
    assert set(table["s2f_gender"]) <= {"female", "male"}
    assert not [c for c in table.columns if "_cf_" in c]  # no landmarks without a faces table
    assert pred.meta["model"]["face_stack"]["face_stack"] == "stored_features"
    audit = ["audit", str(tmp_path / "pred"), "--out", str(tmp_path / "a"), "--n-boot", "5"]
    assert main([*audit, "--no-report"]) == 0  # (the report needs 3+ speakers for its figures)


def test_the_runs_own_attribute_models_are_the_default(trained, tmp_path):
    root, manifest, _, _ = trained
    assert predict(root, manifest, tmp_path / "none") == 0
    assert not [c for c in read_predictions(tmp_path / "none").table if c.startswith("s2f_")]
    (root / "run" / "attribute_models").mkdir()
    (root / "run" / "attribute_models" / "gender.pkl").write_bytes(
        (root / "models" / "gender.pkl").read_bytes()
    )
    try:
        assert predict(root, manifest, tmp_path / "own") == 0
    finally:
        (root / "run" / "attribute_models" / "gender.pkl").unlink()
        (root / "run" / "attribute_models").rmdir()
    assert "s2f_gender" in read_predictions(tmp_path / "own").table.columns


def test_bad_attribute_models_and_missing_features_are_one_line(trained, tmp_path, capsys):
    root, manifest, features, _ = trained
    odd = LogisticRegression().fit(features[:, :8], ["a", "b", "a", "b", "a"])
    save_attribute_classifier(odd, tmp_path / "height.pkl", label="height")
    assert (
        predict(root, manifest, tmp_path / "p", "--attribute-models", tmp_path / "height.pkl") == 2
    )
    assert "classifier of 'height', which is no predicted attribute" in capsys.readouterr().err
    save_attribute_classifier(odd, tmp_path / "narrow.pkl", label="ethnicity")
    assert (
        predict(root, manifest, tmp_path / "p", "--attribute-models", tmp_path / "narrow.pkl") == 2
    )
    assert "reads 8-D features but the run's are 128-D" in capsys.readouterr().err
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    assert predict(root, manifest, tmp_path / "p", "--attribute-models", tmp_path / "junk.pkl") == 2
    assert "not an attribute classifier from `s2f attributes train`" in capsys.readouterr().err
    frame = pd.read_csv(manifest)
    frame.loc[frame["clip_id"] == "s4_1", "face_feature_path"] = None
    frame.loc[frame["clip_id"] == "s4_1", "face_path"] = "faces/s4.png"
    broken = root / "broken.csv"
    frame.to_csv(broken, index=False)
    assert predict(root, broken, tmp_path / "p") == 2
    err = capsys.readouterr().err.strip()
    assert "row 17 (clip s4_1) has no face_feature_path" in err
    assert len(err.splitlines()) == 1
