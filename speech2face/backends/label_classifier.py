"""An attribute classifier (ethnicity by default) on 128-D face descriptors.

No pretrained ethnicity model ships in any registry package, so ethnicity for
real faces comes from the user's labels or from this classifier, trained on a
labelled face manifest (``s2f import fairface|utkface``) joined to its faces
table (``s2f faces``) by image path; several manifests (FairFace's train and
val imports) may be given together. Rows without a face or with an
``unknown`` label are left out of training and counted. When there are
``test`` rows, the ``train`` and ``val`` rows fit the model and the ``test``
rows measure it; FairFace ships no test labels, so without ``test`` rows the
``train`` rows fit it and the ``val`` rows measure it (the summary says so).
Its errors inherit the labelled set's: FairFace's annotators' categories and
balance, UTKFace's automatic labels; say so wherever its labels are used.
"""

from __future__ import annotations

import math
import os
import pickle
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from speech2face.atomic import atomic_write
from speech2face.backends.face_table import read_faces, rows_by_path, rows_of_face_paths
from speech2face.backends.photo_faces import DESCRIPTOR_DIM
from speech2face.errors import InputError
from speech2face.manifest.io import read_manifest
from speech2face.manifest.schema import FACE_PATH, SPLIT
from speech2face.vocabulary import UNKNOWN

MODELS = ("logistic", "mlp")
NO_LABEL_COLUMN = "{path}: no column {column!r} to train on"
NO_FACE_COLUMN = "{path}: not a face manifest (no {column!r} column)"
TOO_FEW = (
    "{path}: need labelled faces to fit and to hold out: train (and val) rows with test rows, "
    "or train rows with val rows; found {train} train, {val} val, {test} test"
)
MIN_TEST_PER_CLASS = 30
"""Held-out faces per class below which the classifier's scores come with a warning."""
THIN_TEST = (
    "warning: tested on {n_test} held-out face(s) ({counts}): {why}; these scores say "
    "almost nothing about how the classifier labels new faces (hold out at least "
    f"{MIN_TEST_PER_CLASS} faces of every class)"
)
NO_TEST_EXAMPLE = "n/a (no held-out face)"
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
    held_out: str = "test"
    """The split measured: ``test``, or ``val`` when there were no test rows."""
    n_test_by_class: dict[str, int] = field(default_factory=dict)
    """Held-out faces of each class (a class with none has recall NaN)."""
    balanced_accuracy_interval: tuple[float, float] = (math.nan, math.nan)
    """95% interval: the mean of the per-class Wilson intervals (approximate)."""

    @property
    def warning(self) -> str | None:
        """Why the held-out scores are (nearly) meaningless, or None when they are not."""
        counts = ", ".join(f"{name} {n}" for name, n in self.n_test_by_class.items())
        missing = [name for name, n in self.n_test_by_class.items() if n == 0]
        if missing:
            why = f"no held-out face of {', '.join(missing)}, so its recall is not measured"
        elif min(self.n_test_by_class.values(), default=0) < MIN_TEST_PER_CLASS:
            why = f"fewer than {MIN_TEST_PER_CLASS} of some class"
        else:
            return None
        return THIN_TEST.format(n_test=self.n_test, counts=counts, why=why)

    def summary(self) -> str:
        recalls = ", ".join(
            f"{name} {NO_TEST_EXAMPLE if math.isnan(value) else format(value, '.2f')}"
            for name, value in self.recall_by_class.items()
        )
        fitted = "train" if self.held_out == "val" else "train+val"
        tested = "val (no test split)" if self.held_out == "val" else "test"
        low, high = self.balanced_accuracy_interval
        interval = f" (95% CI {low:.2f}–{high:.2f})" if math.isfinite(low) else ""
        line = (
            f"{self.out}: {self.label} from face descriptors; trained on {self.n_train} "
            f"{fitted}, tested on {self.n_test} {tested} ({self.n_skipped} without face or "
            f"label skipped); balanced accuracy {self.balanced_accuracy_score:.3f}{interval}; "
            f"recall {recalls}"
        )
        return line + ("\n" + self.warning if self.warning else "")


def wilson(successes: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN when ``n`` is 0)."""
    if n == 0:
        return math.nan, math.nan
    z = NormalDist().inv_cdf(0.5 + level / 2)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


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
    rows = rows_of_face_paths(rows_by_path(table), manifest.parent, frame[FACE_PATH])
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


def train_label_classifier(
    *,
    manifest: str | os.PathLike | Sequence[str | os.PathLike],
    faces: str | os.PathLike,
    out: str | os.PathLike,
    label: str = "ethnicity",
    model: str = "logistic",
    seed: int = 0,
) -> AttributeTraining:
    """Fit on the train/val faces, measure on the test faces (else train on train, measure
    on val), save to ``out`` atomically; ``manifest`` may be several manifests."""
    manifests = [manifest] if isinstance(manifest, str | os.PathLike) else list(manifest)
    parts = [labelled_descriptors(m, faces, label=label) for m in manifests]
    x = np.concatenate([part[0] for part in parts]).reshape(-1, DESCRIPTOR_DIM)
    y, splits = (np.concatenate([part[i] for part in parts]) for i in (1, 2))
    skipped = sum(part[3] for part in parts)
    named = ", ".join(str(m) for m in manifests)
    held_out = "test" if (splits == "test").any() else "val"
    train = np.isin(splits, ("train", "val")) if held_out == "test" else splits == "train"
    test = splits == held_out
    if not train.any() or not test.any():
        counts = {split: int((splits == split).sum()) for split in ("train", "val", "test")}
        raise InputError(TOO_FEW.format(path=named, **counts))
    if len(set(y[train])) < 2:
        raise InputError(ONE_CLASS.format(path=named, column=label))
    with warnings.catch_warnings():  # a thin held-out split is said in words, below
        warnings.simplefilter("ignore", UserWarning)
        classifier = make_classifier(model, seed=seed).fit(x[train], y[train])
        predicted = classifier.predict(x[test])
    classes = tuple(str(c) for c in classifier.classes_)
    n_by_class = {c: int((y[test] == c).sum()) for c in classes}
    hits = {c: int(((y[test] == c) & (predicted == c)).sum()) for c in classes}
    recalls = [hits[c] / n_by_class[c] if n_by_class[c] else math.nan for c in classes]
    measured = [c for c in classes if n_by_class[c]]
    balanced = float(np.mean([hits[c] / n_by_class[c] for c in measured]))
    bounds = np.array([wilson(hits[c], n_by_class[c]) for c in measured])
    out = Path(out)
    save_attribute_classifier(classifier, out, label=label)
    return AttributeTraining(
        out=out,
        label=label,
        classes=classes,
        n_train=int(train.sum()),
        n_test=int(test.sum()),
        n_skipped=skipped,
        balanced_accuracy_score=balanced,
        recall_by_class=dict(zip(classes, map(float, recalls), strict=True)),
        held_out=held_out,
        n_test_by_class=n_by_class,
        balanced_accuracy_interval=(float(bounds[:, 0].mean()), float(bounds[:, 1].mean())),
    )


def save_attribute_classifier(classifier: Pipeline, path: Path, *, label: str) -> None:
    """Pickle ``{"label", "classifier"}`` to ``path`` atomically."""
    with atomic_write(path) as handle:
        pickle.dump({"label": label, "classifier": classifier}, handle)


def predict_label(path: str | os.PathLike, descriptors: np.ndarray) -> pd.DataFrame:
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
