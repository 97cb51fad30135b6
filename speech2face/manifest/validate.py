"""Manifest validation: every problem, each with its file, row and column.

Rows are counted as in pandas: row 0 is the first data row (line 2 of a CSV).
"""

from __future__ import annotations

import decimal
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.manifest.io import is_file, resolve_path
from speech2face.manifest.schema import (
    AGE,
    AUDIO_PATH,
    CLIP_ID,
    END_S,
    GENDER,
    LABELLED_COLUMNS,
    LANGUAGE,
    LANGUAGE_PATTERN,
    METADATA,
    METADATA_ONLY,
    PATH_COLUMNS,
    SPEAKER_ID,
    SPLIT,
    START_S,
    TIME_COLUMNS,
    manifest_kind,
    required_columns,
    source_column,
)
from speech2face.progress import progress
from speech2face.vocabulary import GENDERS, LABEL_SOURCES, SPLITS, UNKNOWN

MAX_AGE = 130

MISSING_COLUMN = "missing required column of a {kind} manifest"
MISSING_VALUE = "missing value"
METADATA_NOT_CLIPS = (
    "a metadata-only manifest (s2f import --metadata-only) lists speakers, not audio clips: "
    "import the dataset with its audio to train or predict (s2f validate --metadata-only "
    "checks it as metadata)"
)
NOT_METADATA = "not a metadata-only manifest (s2f import ... --metadata-only writes one)"
DUPLICATE_CLIP_ID = "clip_id {value!r} is already used by row {first}"
UNKNOWN_SPLIT = f"split {{value!r}} is not one of {', '.join(SPLITS)}"
NO_SUCH_FILE = "file {path} does not exist"
NOT_A_NUMBER = "{value!r} is not a number"
NOT_FINITE = "{value} is not a finite number"
NOT_A_CELL = "holds a {type} value; a manifest cell is text or a number"
NEGATIVE_NUMBER = "{value} is negative"
IMPLAUSIBLE_AGE = f"age {{value}} is above {MAX_AGE} years"
UNKNOWN_GENDER = f"gender {{value!r}} is not one of {', '.join((*GENDERS, UNKNOWN))}"
BAD_LANGUAGE = "language {value!r} is not an ISO 639 code (two or three lowercase letters)"
UNKNOWN_SOURCE = f"{{value!r}} is not one of {', '.join(LABEL_SOURCES)}"
START_NOT_BEFORE_END = "start_s {start} is not before end_s {end}"
SPEAKER_LEAKAGE = (
    "speaker {speaker!r} is in splits {splits}, first in {second} here: speaker leakage "
    "between splits is an error unless allowed (--allow-speaker-leakage)"
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a manifest; ``row``/``column`` are None when not about one."""

    file: str
    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        parts = [self.file]
        if self.row is not None:
            parts.append(f"row {self.row}")
        if self.column is not None:
            parts.append(f"column {self.column}")
        return ":".join(parts) + f": {self.message}"


def validate_manifest(
    frame: pd.DataFrame,
    *,
    source: str | os.PathLike,
    base_dir: str | os.PathLike,
    allow_speaker_leakage: bool = False,
    check_files: bool = True,
    metadata_only: bool | None = False,
) -> list[Problem]:
    """Every problem of ``frame`` (read from ``source``; paths relative to ``base_dir``).

    An empty list means the manifest is valid. Problems about a whole column come
    first, then the rest in row order. ``metadata_only``: False refuses a metadata-only
    manifest (speakers without audio), True requires one, None accepts either.
    """
    source = str(source)
    findings: list[tuple[int | None, str | None, str]] = []
    frame, findings = _plain_cells(frame.reset_index(drop=True))
    kind = manifest_kind(frame)
    if kind == METADATA and metadata_only is False:
        findings.append((None, AUDIO_PATH, METADATA_NOT_CLIPS))
    if kind != METADATA and metadata_only is True:
        findings.append((None, METADATA_ONLY, NOT_METADATA))
    for column in required_columns(kind):
        if column not in frame.columns:
            findings.append((None, column, MISSING_COLUMN.format(kind=kind)))
        else:
            findings += _missing_values(frame[column])
    findings += _duplicate_clip_ids(frame)
    findings += _unknown_splits(frame)
    if check_files:
        findings += _missing_files(frame, Path(base_dir))
    findings += _numbers(frame)
    findings += _vocabulary(frame)
    findings += _start_before_end(frame)
    if not allow_speaker_leakage:
        findings += _speaker_leakage(frame)
    findings.sort(key=lambda finding: -1 if finding[0] is None else finding[0])
    return [Problem(source, row, column, message) for row, column, message in findings]


PLAIN = (str, int, float, bool, np.generic, decimal.Decimal, type(None))


def _plain_cells(frame: pd.DataFrame) -> tuple[pd.DataFrame, list]:
    """``frame`` with every cell that is not text or a number (bytes, a list, …) made
    missing, and one problem for each; Decimal values become floats."""
    findings, cleaned = [], {}
    for column in frame.columns:
        values = frame[column]
        if values.dtype != object:
            continue
        odd = values.map(lambda v: not isinstance(v, PLAIN)).to_numpy(dtype=bool)
        findings += [
            (row, str(column), NOT_A_CELL.format(type=type(values.iloc[row]).__name__))
            for row in _rows(odd)
        ]
        decimals = values.map(lambda v: isinstance(v, decimal.Decimal)).to_numpy(dtype=bool)
        if odd.any() or decimals.any():
            plain = values.where(~odd, None)
            cleaned[column] = plain.map(lambda v: float(v) if isinstance(v, decimal.Decimal) else v)
    return (frame.assign(**cleaned) if cleaned else frame), findings


def _is_missing(series: pd.Series) -> np.ndarray:
    missing = series.isna().to_numpy(dtype=bool, copy=True)
    if series.dtype == object or isinstance(series.dtype, pd.StringDtype):
        blank = series.map(lambda value: isinstance(value, str) and not value.strip())
        missing |= blank.to_numpy(dtype=bool)
    return missing


def _rows(mask: np.ndarray) -> Iterator[int]:
    return (int(row) for row in np.flatnonzero(mask))


def _missing_values(series: pd.Series) -> list:
    return [(row, series.name, MISSING_VALUE) for row in _rows(_is_missing(series))]


def _duplicate_clip_ids(frame: pd.DataFrame) -> list:
    if CLIP_ID not in frame.columns:
        return []
    ids = frame[CLIP_ID]
    repeated = ids.duplicated(keep="first").to_numpy() & ~_is_missing(ids)
    if not repeated.any():
        return []
    firsts = ids[~ids.duplicated(keep="first")]
    first_row = pd.Series(firsts.index, index=firsts.to_numpy())
    return [
        (
            row,
            CLIP_ID,
            DUPLICATE_CLIP_ID.format(value=ids.iloc[row], first=first_row[ids.iloc[row]]),
        )
        for row in _rows(repeated)
    ]


def _unknown_splits(frame: pd.DataFrame) -> list:
    if SPLIT not in frame.columns:
        return []
    splits = frame[SPLIT]
    bad = ~splits.isin(SPLITS).to_numpy() & ~_is_missing(splits)
    return [(row, SPLIT, UNKNOWN_SPLIT.format(value=splits.iloc[row])) for row in _rows(bad)]


def _missing_files(frame: pd.DataFrame, base_dir: Path) -> list:
    findings = []
    for column in PATH_COLUMNS:
        if column not in frame.columns:
            continue
        values = frame[column]
        present = ~_is_missing(values)
        text = values.astype(str)
        unique = pd.unique(text[present])
        gone = [
            v
            for v in progress(unique, desc=f"checking {column}")
            if not is_file(resolve_path(base_dir, v))
        ]
        absent = present & text.isin(gone).to_numpy(dtype=bool)
        findings += [
            (row, column, NO_SUCH_FILE.format(path=resolve_path(base_dir, text.iloc[row])))
            for row in _rows(absent)
        ]
    return findings


def _numbers(frame: pd.DataFrame) -> list:
    findings = []
    for column in (AGE, *TIME_COLUMNS):
        if column not in frame.columns:
            continue
        raw = frame[column]
        numbers = pd.to_numeric(raw, errors="coerce")
        present = ~_is_missing(raw)
        for row in _rows(present & numbers.isna().to_numpy()):
            findings.append((row, column, NOT_A_NUMBER.format(value=raw.iloc[row])))
        infinite = present & numbers.map(lambda v: isinstance(v, float) and math.isinf(v))
        for row in _rows(infinite.to_numpy(dtype=bool)):
            findings.append((row, column, NOT_FINITE.format(value=numbers.iloc[row])))
        for row in _rows(present & ~infinite.to_numpy(dtype=bool) & (numbers < 0).to_numpy()):
            findings.append((row, column, NEGATIVE_NUMBER.format(value=numbers.iloc[row])))
        if column == AGE:
            for row in _rows(present & (numbers > MAX_AGE).to_numpy()):
                findings.append((row, column, IMPLAUSIBLE_AGE.format(value=numbers.iloc[row])))
    return findings


def _vocabulary(frame: pd.DataFrame) -> list:
    findings = []
    checks = [(GENDER, UNKNOWN_GENDER, lambda v: v in GENDERS or v == UNKNOWN)]
    checks.append(
        (LANGUAGE, BAD_LANGUAGE, lambda v: v == UNKNOWN or bool(LANGUAGE_PATTERN.match(v)))
    )
    checks += [
        (source_column(column), UNKNOWN_SOURCE, lambda v: v in LABEL_SOURCES or v == UNKNOWN)
        for column in LABELLED_COLUMNS
    ]
    for column, message, allowed in checks:
        if column not in frame.columns:
            continue
        values = frame[column].astype(str)
        present = ~_is_missing(frame[column])
        refused = [value for value in pd.unique(values[present]) if not allowed(value)]
        bad = present & values.isin(refused).to_numpy(dtype=bool)
        findings += [(row, column, message.format(value=values.iloc[row])) for row in _rows(bad)]
    return findings


def _start_before_end(frame: pd.DataFrame) -> list:
    if START_S not in frame.columns or END_S not in frame.columns:
        return []
    start = pd.to_numeric(frame[START_S], errors="coerce")
    end = pd.to_numeric(frame[END_S], errors="coerce")
    bad = (start >= end).to_numpy()
    return [
        (row, START_S, START_NOT_BEFORE_END.format(start=start.iloc[row], end=end.iloc[row]))
        for row in _rows(bad)
    ]


def _speaker_leakage(frame: pd.DataFrame) -> list:
    if SPEAKER_ID not in frame.columns or SPLIT not in frame.columns:
        return []
    known = frame[frame[SPLIT].isin(SPLITS) & ~_is_missing(frame[SPEAKER_ID])]
    n_splits = known.groupby(SPEAKER_ID, sort=False)[SPLIT].nunique()
    leaking = known[known[SPEAKER_ID].isin(n_splits.index[n_splits > 1])]
    order = {split: position for position, split in enumerate(SPLITS)}
    findings = []
    for speaker, rows in leaking.groupby(SPEAKER_ID, sort=False)[SPLIT]:
        splits = sorted(set(rows), key=order.__getitem__)
        row = int(rows.index[rows == splits[1]][0])
        message = SPEAKER_LEAKAGE.format(speaker=speaker, splits="/".join(splits), second=splits[1])
        findings.append((row, SPEAKER_ID, message))
    return findings
