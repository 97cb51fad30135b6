"""Manifest columns, allowed values and the two manifest kinds.

A manifest has one row per item. A *voice* manifest (the default) lists audio
clips and has ``audio_path``; a *face* manifest (FairFace, UTKFace) lists face
images, has ``face_path`` and no ``audio_path``. The kind is read from the
columns, so a CSV and a Parquet file of the same table are the same manifest.
"""

from __future__ import annotations

import re

import pandas as pd

from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS

CLIP_ID = "clip_id"
SPEAKER_ID = "speaker_id"
SPLIT = "split"
AUDIO_PATH = "audio_path"
FACE_PATH = "face_path"
FACE_FEATURE_PATH = "face_feature_path"
"""A ``.npy`` file holding the precomputed face feature of the speaker's face."""
START_S = "start_s"
END_S = "end_s"
AGE = "age"
AGE_GROUP = "age_group"
GENDER = "gender"
ETHNICITY = "ethnicity"
LANGUAGE = "language"

VOICE = "voice"
FACE = "face"
METADATA = "metadata"
METADATA_ONLY = "metadata_only"
"""Marks a manifest of speakers without audio (``s2f import ... --metadata-only``): one row
per speaker, no ``audio_path``; for ``s2f validate --metadata-only`` and
``s2f dataset-report``, refused by train and predict."""
N_CLIPS_LISTED = "n_clips_listed"
"""In a metadata-only manifest: the clips the dataset's metadata lists for the speaker."""

IDENTITY_COLUMNS = (CLIP_ID, SPEAKER_ID, SPLIT)
"""Required in every manifest."""
MEDIA_COLUMN = {VOICE: AUDIO_PATH, FACE: FACE_PATH}
"""The further required column of each kind."""
PATH_COLUMNS = (AUDIO_PATH, FACE_PATH, FACE_FEATURE_PATH)
"""Columns holding file paths, relative to the manifest's folder or absolute."""
TIME_COLUMNS = (START_S, END_S)
LABELLED_COLUMNS = (AGE, *DEMOGRAPHIC_COLUMNS)
"""Demographic columns that may carry a ``<column>_source`` provenance column."""

SOURCE_SUFFIX = "_source"
ORIGINAL_SUFFIX = "_original"
"""Importers keep a dataset's own value of ``<column>`` in ``<column>_original``."""

LANGUAGE_PATTERN = re.compile(r"^[a-z]{2,3}$")
"""An ISO 639-1 (two letters) or ISO 639-2/3 (three letters) language code."""


def source_column(column: str) -> str:
    """The provenance column of a demographic column: ``gender`` → ``gender_source``."""
    return f"{column}{SOURCE_SUFFIX}"


def original_column(column: str) -> str:
    """The column keeping a dataset's own value: ``gender`` → ``gender_original``."""
    return f"{column}{ORIGINAL_SUFFIX}"


def manifest_kind(frame: pd.DataFrame) -> str:
    """``"face"`` for a table with ``face_path`` and no ``audio_path``; ``"metadata"`` for
    one marked ``metadata_only`` without ``audio_path``; else ``"voice"``."""
    if AUDIO_PATH not in frame.columns and METADATA_ONLY in frame.columns:
        return METADATA
    if AUDIO_PATH not in frame.columns and FACE_PATH in frame.columns:
        return FACE
    return VOICE


def required_columns(kind: str) -> tuple[str, ...]:
    """The columns a manifest of ``kind`` must have."""
    return (*IDENTITY_COLUMNS, *((MEDIA_COLUMN[kind],) if kind in MEDIA_COLUMN else ()))
