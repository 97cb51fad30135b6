"""An attribute classifier (ethnicity by default) on 128-D face descriptors.

No pretrained ethnicity model ships in any registry package, so ethnicity for
real faces comes from the user's labels or from this classifier, trained on a
labelled face manifest (``s2f import fairface|utkface``) joined to its faces
table (``s2f faces``) by image path. Rows without a face or with an
``unknown`` label are left out of training and counted. The manifest's
``train`` (and ``val``) rows fit the model; its ``test`` rows measure it.
Its errors inherit the labelled set's: FairFace's annotators' categories and
balance, UTKFace's automatic labels; say so wherever its labels are used.
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, recall_score
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from speech2face.backends.face_table import read_faces
from speech2face.errors import InputError
from speech2face.manifest.io import read_manifest, resolve_path
from speech2face.manifest.schema import FACE_PATH, SPLIT
from speech2face.vocabulary import UNKNOWN

MODELS = ("logistic", "mlp")
NO_LABEL_COLUMN = "{path}: no column {column!r} to train on"
NO_FACE_COLUMN = "{path}: not a face manifest (no {column!r} column)"
TOO_FEW = "{path}: need labelled faces in both train and test splits; found {train} and {test}"
ONE_CLASS = "{path}: column {column!r} has one class among the training faces; need two or more"


@dataclass(frozen=True)
class AttributeTraining:
    """What a training run fitted and how well it did on the held-out split."""

    out: Path
    label: str
    classes: tuple[str, ...]
    n_train: int
    n_test: int
    n_skipped: int
    balanced_accuracy_score: float
    recall_by_class: dict[str, float]

    def summary(self) -> str:
        recalls = ", ".join(f"{name} {value:.2f}" for name, value in self.recall_by_class.items())
        return (
            f"{self.out}: {self.label} from face descriptors; trained on {self.n_train}, "
            f"tested on {self.n_test} ({self.n_skipped} without face or label skipped); "
            f"balanced accuracy {self.balanced_accuracy_score:.3f}; recall {recalls}"
        )


def labelled_descriptors(
    manifest: str | os.PathLike, faces: str | os.PathLike, *, label: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Descriptors, labels and splits of the manifest's faces, plus how many were skipped."""
    manifest = Path(manifest)
    frame = read_manifest(manifest)
    for column, message in ((FACE_PATH, NO_FACE_COLUMN), (label, NO_LABEL_COLUMN)):
        if column not in frame.columns:
            raise InputError(message.format(path=manifest, column=column))
    table, descriptors = read_faces(faces)
    row_of = {str(Path(p).resolve()): i for i, p in enumerate(table["image_path"])}
    paths = [str(resolve_path(manifest.parent, p).resolve()) for p in frame[FACE_PATH]]
    rows = np.array([row_of.get(p, -1) for p in paths])
    labels = frame[label].fillna(UNKNOWN).astype(str).to_numpy()
    found = rows >= 0
    usable = found & (labels != UNKNOWN)
    usable[found] &= np.isfinite(descriptors[rows[found]]).all(axis=1)
    splits = (
        frame[SPLIT].astype(str).to_numpy() if SPLIT in frame.columns else np.full(len(frame), "")
    )
    return descriptors[rows[usable]], labels[usable], splits[usable], int((~usable).sum())


def make_classifier(model: str, *, seed: int) -> Pipeline:
    """A scaled logistic regression or small MLP over descriptors."""
    if model == "mlp":
        head = MLPClassifier(
            hidden_layer_sizes=(64,),
            alpha=1e-3,
            early_stopping=True,
            random_state=seed,
            max_iter=500,
        )
    else:
        head = LogisticRegression(max_iter=2000, C=1.0)
    return make_pipeline(StandardScaler(), head)


def train_attribute_classifier(
    *,
    manifest: str | os.PathLike,
    faces: str | os.PathLike,
    out: str | os.PathLike,
    label: str = "ethnicity",
    model: str = "logistic",
    seed: int = 0,
) -> AttributeTraining:
    """Fit on the train/val faces, measure on the test faces, save to ``out`` atomically."""
    x, y, splits, skipped = labelled_descriptors(manifest, faces, label=label)
    train, test = np.isin(splits, ("train", "val")), splits == "test"
    if not train.any() or not test.any():
        raise InputError(TOO_FEW.format(path=manifest, train=train.sum(), test=test.sum()))
    if len(set(y[train])) < 2:
        raise InputError(ONE_CLASS.format(path=manifest, column=label))
    classifier = make_classifier(model, seed=seed).fit(x[train], y[train])
    predicted = classifier.predict(x[test])
    classes = tuple(str(c) for c in classifier.classes_)
    recalls = recall_score(y[test], predicted, labels=list(classes), average=None, zero_division=0)
    out = Path(out)
    save_attribute_classifier(classifier, out, label=label)
    return AttributeTraining(
        out=out,
        label=label,
        classes=classes,
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        n_skipped=skipped,
        balanced_accuracy_score=float(balanced_accuracy_score(y[test], predicted)),
        recall_by_class=dict(zip(classes, map(float, recalls), strict=True)),
    )


def save_attribute_classifier(classifier: Pipeline, path: Path, *, label: str) -> None:
    """Pickle ``{"label", "classifier"}`` to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    with temporary.open("wb") as handle:
        pickle.dump({"label": label, "classifier": classifier}, handle)
    os.replace(temporary, path)


def predict_attribute(path: str | os.PathLike, descriptors: np.ndarray) -> pd.DataFrame:
    """Labels and class probabilities for descriptors; ``unknown`` where a row has no face."""
    with Path(path).open("rb") as handle:
        saved = pickle.load(handle)
    classifier: Pipeline = saved["classifier"]
    descriptors = np.asarray(descriptors, dtype=np.float64)
    has_face = np.isfinite(descriptors).all(axis=1)
    probabilities = np.full((len(descriptors), len(classifier.classes_)), np.nan)
    if has_face.any():
        probabilities[has_face] = classifier.predict_proba(descriptors[has_face])
    labels = np.where(
        has_face, classifier.classes_[np.nan_to_num(probabilities).argmax(axis=1)], UNKNOWN
    )
    columns = {f"p_{c}": probabilities[:, i] for i, c in enumerate(classifier.classes_)}
    return pd.DataFrame({saved["label"]: labels, **columns})
