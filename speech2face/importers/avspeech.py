"""AVSpeech: segment lists joined to downloaded audio and a separate labels file.

``avspeech_train.csv``/``avspeech_test.csv`` have no header; each row is
``YouTube ID, start, end, x, y`` (segment times in seconds, the face centre as
fractions of the frame). A segment's clip id is the name the dataset's own
download script gives it, ``<YouTube ID>_<start:010.6f>-<end:010.6f>``, and its
audio is ``<audio root>/<clip id>.wav`` (or .flac/.ogg/.mp3). AVSpeech has no
speaker identities: the video stands for the speaker. Demographics come from a
separate labels file (the paper labelled faces with a classifier), so they are
marked ``inferred`` unless told otherwise.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.importers._common import (
    assign_splits,
    find_with_suffix,
    keep_found,
    labelled,
    ordered,
    read_table,
    speaker_rows,
)
from speech2face.importers.vocabulary_map import label_from_table, map_age_group
from speech2face.manifest.age import age_to_group
from speech2face.manifest.schema import (
    AGE,
    AGE_GROUP,
    AUDIO_PATH,
    CLIP_ID,
    ETHNICITY,
    GENDER,
    LANGUAGE,
    LANGUAGE_PATTERN,
    SPEAKER_ID,
    SPLIT,
)
from speech2face.progress import progress
from speech2face.vocabulary import UNKNOWN

SEGMENT_COLUMNS = ("youtube_id", "video_start_s", "video_end_s", "face_x", "face_y")
LABEL_ALIASES = {"race": ETHNICITY, "sex": GENDER}
LABEL_KEYS = (CLIP_ID, "youtube_id")
BAD_SEGMENTS = "{path}: row {row}: column {column}: {value!r} is not a number"
BAD_LABELS = "{path}: a labels file needs a clip_id or youtube_id column and one of {columns}"
DUPLICATE_LABELS = "{path}: row {row}: column {column}: {value!r} is labelled twice"
BAD_LABEL_LANGUAGE = "{path}: row {row}: column language: {value!r} is not an ISO 639 code"


def read_avspeech_segments(path: str | os.PathLike) -> pd.DataFrame:
    """The segments of an AVSpeech CSV, with numbers checked row by row."""
    path = Path(path)
    segments = read_table(path, header=None, names=list(SEGMENT_COLUMNS), skipinitialspace=True)
    for column in SEGMENT_COLUMNS[1:]:
        numbers = pd.to_numeric(segments[column], errors="coerce")
        bad = np.flatnonzero(numbers.isna().to_numpy())
        if bad.size:
            row = int(bad[0])
            value = segments[column].iloc[row]
            raise InputError(BAD_SEGMENTS.format(path=path, row=row, column=column, value=value))
        segments[column] = numbers.astype(float)
    return segments


def avspeech_clip_id(youtube_id: str, start: float, end: float) -> str:
    """The clip id of a segment, as the AVSpeech download script names its file."""
    return f"{youtube_id}_{start:010.6f}-{end:010.6f}"


def import_avspeech(
    csv_path: str | os.PathLike,
    *,
    manifest_dir: str | os.PathLike,
    audio_root: str | os.PathLike | None = None,
    labels: str | os.PathLike | None = None,
    labels_source: str = "inferred",
    age_binning="paper",
    split: str | None = None,
    split_fractions="0.8,0.1,0.1",
    val_fraction: float = 0.0,
    metadata_only: bool = False,
) -> pd.DataFrame:
    """A voice manifest of the segments whose audio is under ``audio_root``.

    ``metadata_only``: one row per speaker (YouTube video) of the CSV, no audio looked for.
    """
    csv_path = Path(csv_path)
    frame = read_avspeech_segments(csv_path)
    frame.insert(
        0,
        CLIP_ID,
        [
            avspeech_clip_id(video, start, end)
            for video, start, end in zip(
                frame["youtube_id"], frame["video_start_s"], frame["video_end_s"], strict=True
            )
        ],
    )
    frame[SPEAKER_ID] = frame["youtube_id"]
    if not metadata_only:
        root = Path(audio_root) if audio_root is not None else csv_path.parent
        found = [
            find_with_suffix(root, clip)
            for clip in progress(frame[CLIP_ID], desc="finding audio", unit="clip")
        ]
        frame = keep_found(
            frame,
            found,
            column=AUDIO_PATH,
            manifest_dir=manifest_dir,
            dataset="avspeech",
            root=root,
        )
    name = csv_path.stem.casefold()
    frame[SPLIT] = assign_splits(
        next((s for s in ("train", "test") if s in name), None),
        frame[SPEAKER_ID],
        split=split,
        fractions=split_fractions,
        val_fraction=val_fraction,
    )
    if labels is not None:
        frame = _join_labels(frame, Path(labels), source=labels_source, age_binning=age_binning)
    if metadata_only:
        frame = speaker_rows(frame)
    return ordered(frame, source=csv_path)


def _join_labels(frame: pd.DataFrame, path: Path, *, source: str, age_binning) -> pd.DataFrame:
    table = read_table(path)
    table = table.rename(columns=lambda name: LABEL_ALIASES.get(name.strip().lower(), name.strip()))
    key = next((column for column in LABEL_KEYS if column in table.columns), None)
    demographic = [c for c in (GENDER, AGE, AGE_GROUP, ETHNICITY, LANGUAGE) if c in table.columns]
    if key is None or not demographic:
        raise InputError(BAD_LABELS.format(path=path, columns=[GENDER, AGE, ETHNICITY, LANGUAGE]))
    repeated = np.flatnonzero(table[key].duplicated().to_numpy())
    if repeated.size:
        row = int(repeated[0])
        raise InputError(
            DUPLICATE_LABELS.format(path=path, row=row, column=key, value=table[key].iloc[row])
        )
    if LANGUAGE in demographic:
        table[LANGUAGE] = _language_codes(table[LANGUAGE], path=path)
    joined = frame[[key]].merge(table[[key, *demographic]], on=key, how="left")
    joined = joined.fillna("")
    categories = [column for column in (GENDER, ETHNICITY) if column in demographic]
    label_from_table(
        frame, "labels", {column: joined[column] for column in categories}, source=source
    )
    if AGE in demographic or AGE_GROUP in demographic:
        _label_age(frame, joined, source=source, age_binning=age_binning)
    if LANGUAGE in demographic:
        codes = joined[LANGUAGE].where(joined[LANGUAGE] != "", UNKNOWN)
        labelled(frame, LANGUAGE, codes, original=None, source=source)
    return frame


def _label_age(frame: pd.DataFrame, joined: pd.DataFrame, *, source: str, age_binning) -> None:
    """Ages in years become ``age``; age bins (FairFace's) map through the table."""
    raw = joined[AGE] if AGE in joined.columns else joined[AGE_GROUP]
    years = pd.to_numeric(raw, errors="coerce")
    groups = np.asarray(age_to_group(years.to_numpy(), binning=age_binning), dtype=object)
    bins = years.isna().to_numpy() & (raw.str.strip() != "").to_numpy()
    if bins.any():
        groups[bins] = map_age_group("labels", raw[bins], binning=age_binning).to_numpy()
    labelled(frame, AGE, years.to_numpy(), original=None, source=source)
    labelled(frame, AGE_GROUP, groups, original=raw, source=source)


def _language_codes(values: pd.Series, *, path: Path) -> pd.Series:
    """ISO 639 codes of language tags (``en-US`` → ``en``), each checked."""
    codes = values.str.strip().str.lower().str.split(r"[-_]").str[0]
    for row, code in enumerate(codes):
        if code and not LANGUAGE_PATTERN.match(code):
            raise InputError(BAD_LABEL_LANGUAGE.format(path=path, row=row, value=values.iloc[row]))
    return codes
