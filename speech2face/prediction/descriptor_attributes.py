"""Attributes in feature space, for runs without a face decoder.

A run trained on stored face descriptors (or VGG-Face features) has no decoder, so there is
no reconstructed face to label. Its S2F attributes are a descriptor-space classifier
(``s2f attributes train``) applied to the predicted feature, and its F2F attributes the same
classifier applied to the true feature: F2F stays the pseudo upper bound (the classifier's
reading of the real face's feature), S2F what the voice adds or loses.

A classifier file holds ``{"label", "classifier"}``; its label names the attribute:
``gender``, ``ethnicity``, or ``age_group``/``age_decade`` (the paper's age decades).
"""

from __future__ import annotations

import os
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech2face.errors import InputError
from speech2face.hashing import file_sha256

LABEL_TO_ATTRIBUTE = {
    "gender": "gender",
    "ethnicity": "ethnicity",
    "age_group": "age_decade",
    "age_decade": "age_decade",
}
CLASSIFIER_SUFFIXES = (".pkl", ".pickle", ".joblib")

NOT_A_CLASSIFIER = "{path}: not an attribute classifier from `s2f attributes train` ({reason})"
UNKNOWN_LABEL = (
    "{path}: classifier of {label!r}, which is no predicted attribute; "
    "train it with --label gender, ethnicity or age_group"
)
TWO_FOR_ONE = "{first} and {second} both classify {attribute}; pass one"
NO_CLASSIFIERS = "{path}: no attribute classifier files ({suffixes}) there"
NO_SUCH = "{path}: no such attribute classifier file or folder"


@dataclass(frozen=True)
class DescriptorClassifier:
    """One fitted classifier: the attribute it predicts, its classes, where it came from."""

    attribute: str
    classifier: object
    path: Path
    sha256: str

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in self.classifier.classes_]

    @property
    def n_features(self) -> int:
        return int(self.classifier.n_features_in_)

    def predict(self, features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Labels (object array) and class probabilities ``(N, classes)`` float32."""
        if len(features) == 0:
            return np.zeros(0, dtype=object), np.zeros((0, len(self.classes)), np.float32)
        proba = self.classifier.predict_proba(np.asarray(features, dtype=np.float64))
        labels = np.asarray(self.classes, dtype=object)[proba.argmax(axis=1)]
        return labels, proba.astype(np.float32)


def load_descriptor_classifier(path: str | os.PathLike) -> DescriptorClassifier:
    """Read one ``s2f attributes train`` file."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            saved = pickle.load(handle)
        label, classifier = saved["label"], saved["classifier"]
        classifier.classes_, classifier.n_features_in_  # noqa: B018 - fitted?
    except (OSError, pickle.UnpicklingError, KeyError, TypeError, AttributeError, EOFError) as err:
        raise InputError(NOT_A_CLASSIFIER.format(path=path, reason=err)) from err
    if label not in LABEL_TO_ATTRIBUTE:
        raise InputError(UNKNOWN_LABEL.format(path=path, label=label))
    return DescriptorClassifier(
        attribute=LABEL_TO_ATTRIBUTE[label],
        classifier=classifier,
        path=path.resolve(),
        sha256=file_sha256(path),
    )


def load_descriptor_classifiers(
    sources: list[str | os.PathLike],
) -> dict[str, DescriptorClassifier]:
    """Classifiers from files and folders (every classifier file in a folder), by attribute."""
    files: list[Path] = []
    for source in map(Path, sources):
        if source.is_dir():
            found = sorted(p for p in source.iterdir() if p.suffix in CLASSIFIER_SUFFIXES)
            if not found:
                raise InputError(
                    NO_CLASSIFIERS.format(path=source, suffixes=", ".join(CLASSIFIER_SUFFIXES))
                )
            files.extend(found)
        elif source.is_file():
            files.append(source)
        else:
            raise InputError(NO_SUCH.format(path=source))
    loaded: dict[str, DescriptorClassifier] = {}
    for path in files:
        classifier = load_descriptor_classifier(path)
        if classifier.attribute in loaded:
            raise InputError(
                TWO_FOR_ONE.format(
                    first=loaded[classifier.attribute].path,
                    second=path,
                    attribute=classifier.attribute,
                )
            )
        loaded[classifier.attribute] = classifier
    return loaded
