"""The predictions artifact: what any voice-to-face model hands to the audit.

A predictions artifact is a folder::

    predictions.parquet   one row per clip and evaluated duration: ids, demographics,
                          ``duration_s``, predicted attributes, craniofacial measures
    features/<name>.npy   float32 matrices; row i belongs to row i of the table.
                          Read back memory-mapped, so a million 4096-D rows stay on disk.
    meta.json             model id, config hash, feature names and sizes, class lists

Column conventions (see ``docs/predict.md``):

- required: ``clip_id``, ``speaker_id``, ``duration_s``
- demographics as in the manifest: ``age``, ``age_group``, ``gender``, ``ethnicity``,
  ``language`` and their ``<column>_source``
- features: ``pred_feature`` (the face feature predicted from the voice) and
  ``true_feature`` (the face encoder's feature of the speaker's true face)
- attributes, for ``face`` in ``true``/``f2f``/``s2f`` and ``attribute`` in
  ``gender``/``age_decade``/``ethnicity``: the label ``<face>_<attribute>``, the
  class probabilities as feature ``<face>_<attribute>_proba`` (class order in
  ``meta["classes"][attribute]``) and ``<face>_age_years``
- craniofacial measures: ``<face>_cf_<measure>``

A third-party model writes the same artifact with :func:`write_predictions`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from speech2face.artifacts import (
    DURATION_COLUMN,
    PREDICTIONS_SCHEMA_VERSIONS,
    check_schema_version,
    read_json_object,
    read_matrix,
    read_table,
)
from speech2face.artifacts import PREDICTIONS_FEATURES_DIR as FEATURES_DIR
from speech2face.artifacts import PREDICTIONS_META_FILE as META_FILE
from speech2face.artifacts import PREDICTIONS_SCHEMA_VERSION as SCHEMA_VERSION
from speech2face.artifacts import PREDICTIONS_TABLE_FILE as TABLE_FILE
from speech2face.atomic import atomic_folder
from speech2face.errors import InputError
from speech2face.outputs import check_out, mark

KIND = "predictions"
REQUIRED_COLUMNS = ("clip_id", "speaker_id", DURATION_COLUMN)
FACES = ("true", "f2f", "s2f")
PAIRED_FEATURES = ("pred_feature", "true_feature")
"""Compared row by row: they must have one width."""
ATTRIBUTES = ("gender", "age_decade", "ethnicity")


@dataclass
class Predictions:
    """A loaded predictions artifact: the table, its feature matrices and metadata."""

    table: pd.DataFrame
    features: dict[str, np.ndarray] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)


def write_predictions(
    path: str | os.PathLike,
    table: pd.DataFrame,
    *,
    features: Mapping[str, np.ndarray],
    meta: Mapping[str, Any] | None = None,
) -> Path:
    """Write a predictions artifact atomically: an earlier one is replaced only whole.

    ``path`` must be new, empty or a predictions artifact (see :mod:`speech2face.outputs`).
    """
    path = check_out(path, KIND)
    _check(table, features, source=str(path))
    meta_out = {
        "schema_version": SCHEMA_VERSION,
        **dict(meta or {}),
        "features": {name: list(np.shape(matrix)[1:]) for name, matrix in features.items()},
    }
    with atomic_folder(path) as staging:
        table.reset_index(drop=True).to_parquet(staging / TABLE_FILE, index=False)
        (staging / FEATURES_DIR).mkdir()
        for name, matrix in features.items():
            np.save(staging / FEATURES_DIR / f"{name}.npy", np.asarray(matrix, dtype=np.float32))
        (staging / META_FILE).write_text(json.dumps(meta_out, indent=2, sort_keys=True))
        mark(staging, KIND)
    return path


def read_predictions(path: str | os.PathLike, *, mmap: bool = True) -> Predictions:
    """Read a predictions artifact folder, or a single Parquet file with list-valued features."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such predictions artifact")
    if path.is_file():
        return _read_single_parquet(path)
    table_file = path / TABLE_FILE
    if not table_file.exists():
        raise InputError(f"{path}: not a predictions artifact (no {TABLE_FILE})")
    meta = read_meta(path)
    table = read_table(table_file)
    features = {
        npy.stem: read_matrix(npy, mmap=mmap) for npy in sorted((path / FEATURES_DIR).glob("*.npy"))
    }
    _check(table, features, source=str(path))
    return Predictions(table=table, features=features, meta=meta)


def read_meta(folder: str | os.PathLike) -> dict[str, Any]:
    """A predictions folder's ``meta.json`` ({} when absent); an unknown schema is refused."""
    meta_file = Path(folder) / META_FILE
    if not meta_file.exists():
        return {}
    meta = read_json_object(meta_file)
    check_schema_version(meta_file, meta.get("schema_version"), PREDICTIONS_SCHEMA_VERSIONS)
    return meta


def _read_single_parquet(path: Path) -> Predictions:
    table = read_table(path)
    vector_columns = [
        column
        for column in table.columns
        if len(table) and isinstance(table[column].iloc[0], (list, np.ndarray))
    ]
    features = {}
    for column in vector_columns:
        try:
            features[column] = np.stack(table[column].to_numpy()).astype(np.float32)
        except (ValueError, TypeError) as error:
            raise InputError(
                f"{path}: column {column!r} holds vectors of unequal length or non-numbers"
            ) from error
    table = table.drop(columns=vector_columns)
    _check(table, features, source=str(path))
    return Predictions(table=table, features=features, meta={})


def _check(table: pd.DataFrame, features: Mapping[str, np.ndarray], *, source: str) -> None:
    missing = [column for column in REQUIRED_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(f"{source}: predictions table lacks required column(s) {missing}")
    for column in ("clip_id", DURATION_COLUMN):
        unhashable = table[column].map(lambda value: not isinstance(value, Hashable))
        if unhashable.any():
            row = int(np.flatnonzero(unhashable.to_numpy())[0])
            raise InputError(
                f"{source}: row {row}, column {column!r}: {table[column].iloc[row]!r} is not "
                "a single value"
            )
    duplicated = table.duplicated(subset=["clip_id", DURATION_COLUMN])
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InputError(
            f"{source}: row {row}: clip_id {table['clip_id'].iloc[row]!r} appears twice "
            f"for {DURATION_COLUMN} {table[DURATION_COLUMN].iloc[row]}"
        )
    for name, matrix in features.items():
        if np.ndim(matrix) < 1 or len(matrix) != len(table):
            raise InputError(
                f"{source}: feature {name!r} has {len(matrix)} rows, the table has {len(table)}"
            )
    widths = {name: np.shape(features[name])[1:] for name in PAIRED_FEATURES if name in features}
    if len(set(widths.values())) > 1:
        shown = ", ".join(f"{name} {width}" for name, width in widths.items())
        raise InputError(f"{source}: predicted and true features differ in width ({shown})")
