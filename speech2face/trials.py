"""The trials table: what a voice–face matching model hands to the trials audit.

One row per trial (a voice clip scored against a face), Parquet or CSV:

- required: ``trial_id`` (unique), ``voice_clip_id``, ``voice_speaker_id``, ``face_id``,
  ``face_speaker_id``, ``score`` (finite, higher = same person) and ``target`` (boolean:
  the voice and the face are of the same person, so a target trial's two speaker ids
  are equal and an impostor trial's differ)
- optional: the voice clip's ``language`` (ISO 639) and ``duration_s``; demographics of
  the voice speaker (``gender``, ``age_group``, ``ethnicity``) and of the face speaker,
  prefixed ``face_`` (``face_gender``, ...)

A model in any framework writes the table with :func:`write_trials` or as a plain file;
:func:`read_trials` validates it with one-line errors naming file, row and column.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from speech2face.atomic import atomic_write
from speech2face.errors import InputError

SCHEMA_VERSION = 1
KIND = "trials"
META_KEY = b"speech2face.trials"
"""Parquet schema-metadata key holding the table's JSON metadata (kind, schema_version, ...)."""

TRIAL_ID = "trial_id"
VOICE_CLIP_ID = "voice_clip_id"
VOICE_SPEAKER_ID = "voice_speaker_id"
FACE_ID = "face_id"
FACE_SPEAKER_ID = "face_speaker_id"
SCORE = "score"
TARGET = "target"
LANGUAGE = "language"
DURATION_S = "duration_s"
FACE_PREFIX = "face_"

ID_COLUMNS = (TRIAL_ID, VOICE_CLIP_ID, VOICE_SPEAKER_ID, FACE_ID, FACE_SPEAKER_ID)
REQUIRED_COLUMNS = (*ID_COLUMNS, SCORE, TARGET)
TRUE_VALUES = frozenset({"true", "1", "yes", "t", "y"})
FALSE_VALUES = frozenset({"false", "0", "no", "f", "n"})

NO_SUCH_FILE = "{path}: no such trials file"
UNKNOWN_FORMAT = "{path}: a trials table is .parquet or .csv"
UNREADABLE = "{path}: cannot read the trials table: {reason}"
WRONG_KIND = "{path}: not a trials table (kind {kind!r})"
UNKNOWN_VERSION = "{path}: trials schema_version {version} is unknown (this toolkit reads {known})"
MISSING_COLUMN = "{path}:column {column}: missing required column of a trials table"
MISSING_VALUE = "{path}:row {row}:column {column}: missing value"
NOT_FINITE = "{path}:row {row}:column score: {value!r} is not a finite number"
NOT_BOOLEAN = "{path}:row {row}:column target: {value!r} is not a boolean"
DUPLICATE_TRIAL = "{path}:row {row}:column trial_id: {value!r} is already used by row {first}"
TARGET_MISMATCH = (
    "{path}:row {row}:column target: {value} but voice_speaker_id {voice!r} and "
    "face_speaker_id {face!r} {relation}"
)


def face_column(column: str) -> str:
    """The face speaker's demographic column: ``gender`` → ``face_gender``."""
    return f"{FACE_PREFIX}{column}"


@dataclass
class Trials:
    """A validated trials table and the metadata written with it."""

    table: pd.DataFrame
    meta: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.table)


def write_trials(
    path: str | os.PathLike, table: pd.DataFrame, meta: Mapping[str, Any] | None = None
) -> Path:
    """Validate ``table`` and write it as Parquet atomically, with ``meta`` in its schema."""
    path = Path(path)
    table = validate_trials(table, source=str(path))
    meta_out = {**dict(meta or {}), "kind": KIND, "schema_version": SCHEMA_VERSION}
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    arrow = arrow.replace_schema_metadata(
        {**(arrow.schema.metadata or {}), META_KEY: json.dumps(meta_out, sort_keys=True)}
    )
    with atomic_write(path) as handle:
        pq.write_table(arrow, handle)
    return path


def read_trials(path: str | os.PathLike) -> Trials:
    """The validated trials table at ``path`` (Parquet, or CSV with a header row)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(NO_SUCH_FILE.format(path=path))
    suffix = path.suffix.lower()
    if suffix not in (".parquet", ".pq", ".csv"):
        raise InputError(UNKNOWN_FORMAT.format(path=path))
    meta: dict[str, Any] = {}
    try:
        if suffix != ".csv":
            arrow = pq.read_table(path)
            raw = (arrow.schema.metadata or {}).get(META_KEY)
            meta = json.loads(raw) if raw else {}
            table = arrow.to_pandas()
        else:
            table = pd.read_csv(
                path,
                dtype={column: str for column in (*ID_COLUMNS, TARGET)},
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8-sig",
            )
    except (OSError, ValueError, pa.ArrowException, pd.errors.ParserError) as error:
        raise InputError(UNREADABLE.format(path=path, reason=error)) from error
    if meta.get("kind", KIND) != KIND:
        raise InputError(WRONG_KIND.format(path=path, kind=meta["kind"]))
    if meta.get("schema_version", SCHEMA_VERSION) != SCHEMA_VERSION:
        raise InputError(
            UNKNOWN_VERSION.format(path=path, version=meta["schema_version"], known=SCHEMA_VERSION)
        )
    return Trials(table=validate_trials(table, source=str(path)), meta=meta)


def validate_trials(table: pd.DataFrame, *, source: str) -> pd.DataFrame:
    """``table`` with ids as strings, ``score`` float64 and ``target`` bool, or the first
    problem as an :class:`InputError` naming ``source``, row and column."""
    table = table.reset_index(drop=True).copy()
    for column in REQUIRED_COLUMNS:
        if column not in table.columns:
            raise InputError(MISSING_COLUMN.format(path=source, column=column))
        missing = table[column].isna().to_numpy()
        if missing.any():
            row = int(np.argmax(missing))
            raise InputError(MISSING_VALUE.format(path=source, row=row, column=column))
    for column in ID_COLUMNS:
        table[column] = table[column].astype(str)
    score = pd.to_numeric(table[SCORE], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(score)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(NOT_FINITE.format(path=source, row=row, value=str(table[SCORE].iloc[row])))
    table[SCORE] = score
    table[TARGET] = _booleans(table[TARGET], source=source)
    repeated = table[TRIAL_ID].duplicated().to_numpy()
    if repeated.any():
        row = int(np.argmax(repeated))
        value = table[TRIAL_ID].iloc[row]
        first = int(np.argmax((table[TRIAL_ID] == value).to_numpy()))
        raise InputError(DUPLICATE_TRIAL.format(path=source, row=row, value=value, first=first))
    same = (table[VOICE_SPEAKER_ID] == table[FACE_SPEAKER_ID]).to_numpy()
    wrong = same != table[TARGET].to_numpy()
    if wrong.any():
        row = int(np.argmax(wrong))
        raise InputError(
            TARGET_MISMATCH.format(
                path=source,
                row=row,
                value=bool(table[TARGET].iloc[row]),
                voice=table[VOICE_SPEAKER_ID].iloc[row],
                face=table[FACE_SPEAKER_ID].iloc[row],
                relation="are the same" if same[row] else "differ",
            )
        )
    return table


def _booleans(values: pd.Series, *, source: str) -> np.ndarray:
    """``values`` as bool: booleans, 0/1, or true/false/yes/no text (any case)."""
    if pd.api.types.is_bool_dtype(values):
        return values.to_numpy(dtype=bool)
    text = values.astype(str).str.strip().str.lower()
    true, false = text.isin(TRUE_VALUES).to_numpy(), text.isin(FALSE_VALUES).to_numpy()
    if pd.api.types.is_numeric_dtype(values):
        number = values.to_numpy(dtype=np.float64)
        true, false = number == 1, number == 0
    bad = ~(true | false)
    if bad.any():
        row = int(np.argmax(bad))
        raise InputError(NOT_BOOLEAN.format(path=source, row=row, value=values.iloc[row]))
    return true
