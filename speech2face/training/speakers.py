"""Which speakers a run trained on: recorded by ``s2f train``, read by ``s2f predict``.

``RUN/training_speakers.json`` lists the speakers of the train and val rows a run learnt
from (val speakers chose the checkpoint, so they count as seen), and the languages of its
train rows (``languages``: what the model heard in training; absent when the manifest has
no ``language`` column or the run predates the record). With ``--hash-speaker-ids``
it lists their SHA-256 instead (:func:`hash_speaker_id`): the file then names nobody, and
prediction still recognises them. Prediction marks every clip whose speaker is listed
(``seen_in_training``), whatever the manifest's ``split`` column says now: a manifest can
be re-split after training, and the audit leaves those clips out by default.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from speech2face.artifacts import (
    TRAINING_SPEAKERS_FILE,
    TRAINING_SPEAKERS_SCHEMA_VERSION,
    check_schema_version,
    read_json_object,
)
from speech2face.atomic import write_json
from speech2face.vocabulary import MIN_GROUP_SPEAKERS

HASH_PREFIX = "sha256:"
FEW_SPEAKERS = (
    "warning: training on {n} speaker(s), fewer than {minimum}: the voice encoder will "
    "memorise voices more than it learns faces, and a later audit has few unseen speakers"
)
NO_VAL_SPEAKERS = (
    "warning: no val speakers: nothing measures how the model does on voices it never "
    "heard while training (give some speakers split 'val')"
)
SEEN_IN_OTHER_SPLITS = (
    "warning: {n_clips} clip(s) of {n_speakers} speaker(s) the model trained on are in "
    "split(s) {splits} of {manifest}; they are marked seen_in_training and an audit leaves "
    "them out unless --include-training-speakers"
)


def hash_speaker_id(speaker_id: object) -> str:
    """A speaker id as recorded by a run with ``--hash-speaker-ids``."""
    return HASH_PREFIX + hashlib.sha256(str(speaker_id).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class TrainingSpeakers:
    """The speakers of a run's train and val rows (or their hashes)."""

    train: frozenset[str]
    val: frozenset[str]
    hashed: bool = False
    languages: frozenset[str] | None = None
    """The languages of the train rows (None: not recorded)."""

    @property
    def seen(self) -> frozenset[str]:
        return self.train | self.val

    def contains(self, speaker_ids: Iterable[object]) -> np.ndarray:
        """Per speaker id: whether the run trained or validated on that speaker."""
        seen = self.seen
        key = hash_speaker_id if self.hashed else str
        return np.array([key(speaker) in seen for speaker in speaker_ids], dtype=bool)

    def to_dict(self) -> dict[str, Any]:
        record = {
            "schema_version": TRAINING_SPEAKERS_SCHEMA_VERSION,
            "hashed": self.hashed,
            "n_train": len(self.train),
            "n_val": len(self.val),
            "train": sorted(self.train),
            "val": sorted(self.val),
        }
        if self.languages is not None:
            record["languages"] = sorted(self.languages)
        return record

    @classmethod
    def of(
        cls,
        train: Iterable[object],
        val: Iterable[object],
        *,
        hashed: bool = False,
        languages: Iterable[object] | None = None,
    ):
        key = hash_speaker_id if hashed else str
        heard = None if languages is None else frozenset(map(str, languages))
        return cls(frozenset(map(key, train)), frozenset(map(key, val)), hashed, heard)


def record_training_speakers(run_dir: str | os.PathLike, speakers: TrainingSpeakers) -> Path:
    """Write ``RUN/training_speakers.json``."""
    path = Path(run_dir) / TRAINING_SPEAKERS_FILE
    write_json(path, speakers.to_dict(), indent=2, sort_keys=True)
    return path


def read_training_speakers(run_dir: str | os.PathLike) -> TrainingSpeakers | None:
    """A run's training speakers, or None for a run that did not record them."""
    path = Path(run_dir) / TRAINING_SPEAKERS_FILE
    if not path.is_file():
        return None
    found = read_json_object(path)
    check_schema_version(path, found.get("schema_version"), (TRAINING_SPEAKERS_SCHEMA_VERSION,))
    languages = found.get("languages")
    return TrainingSpeakers(
        frozenset(map(str, found.get("train", []))),
        frozenset(map(str, found.get("val", []))),
        bool(found.get("hashed", False)),
        None if languages is None else frozenset(map(str, languages)),
    )


def speaker_warnings(speakers: TrainingSpeakers, *, minimum: int = MIN_GROUP_SPEAKERS) -> list[str]:
    """What ``s2f train`` warns about the speakers it trains on."""
    warnings = []
    if len(speakers.train) < minimum:
        warnings.append(FEW_SPEAKERS.format(n=len(speakers.train), minimum=minimum))
    if not speakers.val:
        warnings.append(NO_VAL_SPEAKERS)
    return warnings
