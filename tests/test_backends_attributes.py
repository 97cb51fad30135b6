"""`s2f attributes train`: an ethnicity classifier on face descriptors, checked by simulation.

Descriptors are drawn from class-conditional Gaussians with known means, so the
Bayes-optimal accuracy is known; the fitted classifier must come close to it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from s2f.cli import main
from speech2face.backends.face_inputs import FaceInput
from speech2face.backends.face_table import analysis_rows
from speech2face.backends.label_classifier import predict_label, train_label_classifier
from speech2face.backends.photo_faces import FaceAnalysis
from speech2face.errors import InputError

CLASSES = ("asian", "black", "indian", "white")


def _write_labelled_faces(tmp_path, *, n=600, separation=1.0, seed=0):
    """Class means on orthogonal axes at ``separation`` apart (per axis), unit noise."""
    rng = np.random.default_rng(seed)
    labels = rng.choice(CLASSES, size=n)
    means = np.zeros((len(CLASSES), 128))
    for k in range(len(CLASSES)):
        means[k, k] = separation
    descriptors = means[[CLASSES.index(c) for c in labels]] + rng.normal(size=(n, 128))
    paths = [tmp_path / f"face{i}.jpg" for i in range(n)]
    analyses = [
        FaceAnalysis(status="ok", n_faces=1, descriptor=d.astype(np.float32)) for d in descriptors
    ]
    analyses[0] = FaceAnalysis(status="no_face", n_faces=0)
    faces = tmp_path / "faces.parquet"
    inputs = [FaceInput(path, str(i)) for i, path in enumerate(paths)]
    analysis_rows(inputs, analyses, key="k").to_parquet(faces)
    labels = labels.astype(object)
    labels[1] = "unknown"
    manifest = tmp_path / "manifest.parquet"
    pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(n)],
            "speaker_id": [f"s{i}" for i in range(n)],
            "face_path": [p.name for p in paths],
            "split": np.where(np.arange(n) < n // 2, "train", "test"),
            "ethnicity": labels,
        }
    ).to_parquet(manifest)
    return manifest, faces


def _bayes_accuracy(separation: float, classes: int) -> float:
    """P(correct) for equiprobable means on orthogonal axes: Monte Carlo of the argmax rule."""
    rng = np.random.default_rng(1)
    noise = rng.normal(size=(200_000, classes))
    noise[:, 0] += separation
    return float((noise.argmax(axis=1) == 0).mean())


def test_logistic_classifier_reaches_near_bayes_accuracy(tmp_path):
    separation = 3.0
    manifest, faces = _write_labelled_faces(tmp_path, n=2000, separation=separation)
    result = train_label_classifier(manifest=manifest, faces=faces, out=tmp_path / "eth.pkl")
    assert result.classes == CLASSES
    assert result.n_skipped == 2
    assert result.n_train + result.n_test == 1998
    bayes = _bayes_accuracy(separation, len(CLASSES))
    assert bayes - 0.06 < result.balanced_accuracy_score <= bayes + 0.06
    assert min(result.recall_by_class.values()) > bayes - 0.15


def test_cli_trains_and_saved_model_predicts(tmp_path, capsys):
    manifest, faces = _write_labelled_faces(tmp_path, separation=4.0)
    out = tmp_path / "eth.pkl"
    code = main(
        [
            "attributes",
            "train",
            "--manifest",
            str(manifest),
            "--faces",
            str(faces),
            "--out",
            str(out),
            "--model",
            "mlp",
        ]
    )
    assert code == 0
    assert "balanced accuracy" in capsys.readouterr().out
    descriptors = np.zeros((3, 128))
    descriptors[0, 1] = 8.0
    descriptors[1, 3] = 8.0
    descriptors[2] = np.nan
    predicted = predict_label(out, descriptors)
    assert list(predicted["ethnicity"]) == ["black", "white", "unknown"]
    assert np.isnan(predicted.loc[2, "p_asian"])


def test_label_column_must_exist(tmp_path):
    manifest, faces = _write_labelled_faces(tmp_path, n=40)
    with pytest.raises(InputError, match="no column 'skin_tone'"):
        train_label_classifier(
            manifest=manifest, faces=faces, out=tmp_path / "x.pkl", label="skin_tone"
        )


def test_val_rows_fit_when_there_is_a_test_split_and_measure_when_there_is_none(tmp_path):
    manifest, faces = _write_labelled_faces(tmp_path, n=300, separation=4.0)
    frame = pd.read_parquet(manifest)
    frame["split"] = np.repeat(["train", "val", "test"], 100)
    frame.to_parquet(manifest)
    with_test = train_label_classifier(manifest=manifest, faces=faces, out=tmp_path / "a.pkl")
    assert (with_test.held_out, with_test.n_train, with_test.n_test) == ("test", 198, 100)
    assert "trained on 198 train+val, tested on 100 test" in with_test.summary()
    frame[frame["split"] != "test"].to_parquet(manifest)
    without = train_label_classifier(manifest=manifest, faces=faces, out=tmp_path / "b.pkl")
    assert (without.held_out, without.n_train, without.n_test) == ("val", 98, 100)
    assert "trained on 98 train, tested on 100 val (no test split)" in without.summary()
    assert without.balanced_accuracy_score > 0.6  # chance is 0.25; 98 faces fit 128 dimensions
