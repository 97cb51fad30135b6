"""VoxCeleb1 and VoxCeleb2: speaker metadata joined to the audio tree.

``vox1_meta.csv`` is tab-separated (``VoxCeleb1 ID, VGGFace1 ID, Gender,
Nationality, Set``); ``vox2_meta.csv`` is comma-separated with values padded by
spaces and sometimes a byte-order mark (``VoxCeleb2 ID, VGGFace2 ID, Gender,
Set``). Mirrors rename the headers (``VoxCeleb1_ID``, ``ID, Class_name``) or
switch separators; columns are recognised by name, else by position. The audio
tree is ``<root>/idXXXXX/<video>/<n>.wav`` (VoxCeleb2's m4a converted to wav or
flac first). ``Set`` ``dev`` is the training split, ``test`` the test split.
"""

from __future__ import annotations

import os
import re
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.importers._common import (
    AUDIO_SUFFIXES,
    assign_splits,
    manifest_path_value,
    ordered,
    speaker_rows,
    warn,
)
from speech2face.importers.vocabulary_map import label_from_table
from speech2face.manifest.schema import (
    AUDIO_PATH,
    CLIP_ID,
    GENDER,
    N_CLIPS_LISTED,
    SPEAKER_ID,
    SPLIT,
)
from speech2face.progress import progress

SPEAKER_PATTERN = re.compile(r"^id\d+$")
SET_TO_SPLIT = {"dev": "train", "train": "train", "val": "val", "test": "test"}
FIELDS = {
    1: ("speaker_id", "vggface_id", "gender", "nationality", "set"),
    2: ("speaker_id", "vggface_id", "gender", "set"),
}
HEADER_ALIASES = {
    "speaker_id": ("voxceleb1id", "voxceleb2id", "id", "speakerid"),
    "vggface_id": ("vggface1id", "vggface2id", "classname", "name"),
    "gender": ("gender", "sex"),
    "nationality": ("nationality", "country"),
    "set": ("set", "split"),
}
BAD_META = "{path}: not a VoxCeleb{version} metadata file: {reason}"
NO_AUDIO_TREE = (
    "{path}: no audio of any of its {count} speakers under {root} "
    "(pass --audio-root, the folder holding idXXXXX/<video>/<n>.wav)"
)
SPEAKERS_WITHOUT_AUDIO = (
    "voxceleb{version}: {count} of {total} speakers have no audio under {root} (first: {example})"
)
VOX1_AS_VOX2 = (
    "{path}: this looks like VoxCeleb1 metadata ({why}); imported as VoxCeleb2, its "
    "Nationality column is dropped: s2f import voxceleb1 keeps it"
)
UNKNOWN_SET = "voxceleb{version}: Set value {value!r} ({count} speakers) is not dev or test"


def read_voxceleb_meta(path: str | os.PathLike, *, version: int) -> pd.DataFrame:
    """The speaker table of ``vox1_meta.csv`` / ``vox2_meta.csv`` with canonical column names."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise InputError(BAD_META.format(path=path, version=version, reason=error.reason)) from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise InputError(BAD_META.format(path=path, version=version, reason="it is empty"))
    separator = "\t" if "\t" in lines[0] else ","
    rows = [[field.strip() for field in line.split(separator)] for line in lines]
    fields = FIELDS[version]
    header, body = (None, rows) if SPEAKER_PATTERN.match(rows[0][0]) else (rows[0], rows[1:])
    columns = _column_positions(header, fields, path=path, version=version)
    if version == 2:
        _warn_if_voxceleb1(header, rows, path=path)
    width = max(columns.values()) + 1
    for number, row in enumerate(body):
        if len(row) < width:
            reason = f"row {number} has {len(row)} fields, expected {len(fields)}"
            raise InputError(BAD_META.format(path=path, version=version, reason=reason))
    return pd.DataFrame(
        {name: [row[position] for row in body] for name, position in columns.items()}
    )


def _warn_if_voxceleb1(header: list[str] | None, rows: list[list[str]], *, path: Path) -> None:
    """VoxCeleb1's file read as VoxCeleb2's would lose Nationality without a word."""
    normalised = [re.sub(r"[^a-z0-9]", "", name.casefold()) for name in header or ()]
    if any(alias in normalised for alias in HEADER_ALIASES["nationality"]):
        warn(VOX1_AS_VOX2.format(path=path, why="it has a Nationality column"))
    elif header is None and rows and len(rows[0]) == len(FIELDS[1]):
        warn(VOX1_AS_VOX2.format(path=path, why=f"its rows have {len(FIELDS[1])} fields"))


def _column_positions(
    header: list[str] | None, fields: tuple[str, ...], *, path: Path, version: int
) -> dict[str, int]:
    if header is not None:
        normalised = [re.sub(r"[^a-z0-9]", "", name.casefold()) for name in header]
        found = {
            field: normalised.index(alias)
            for field in fields
            for alias in HEADER_ALIASES[field]
            if alias in normalised
        }
        if len(found) == len(fields):
            return found
        if len(header) != len(fields):
            reason = f"header {header} does not name the columns {list(fields)}"
            raise InputError(BAD_META.format(path=path, version=version, reason=reason))
    return {field: position for position, field in enumerate(fields)}


def import_voxceleb(
    meta_path: str | os.PathLike,
    *,
    version: int,
    manifest_dir: str | os.PathLike,
    audio_root: str | os.PathLike | None = None,
    split: str | None = None,
    val_fraction: float = 0.0,
    metadata_only: bool = False,
) -> pd.DataFrame:
    """A voice manifest of every clip under ``audio_root`` of a speaker in the metadata.

    ``audio_root`` defaults to the ``wav`` folder beside the metadata file, else
    its folder. Speakers without audio are counted in a warning. ``metadata_only``: one
    row per speaker of the metadata, no audio looked for (``speaker_rows``).
    """
    meta_path = Path(meta_path)
    speakers = read_voxceleb_meta(meta_path, version=version)
    if metadata_only:
        frame = speakers.copy()
    else:
        root = Path(audio_root) if audio_root is not None else _default_root(meta_path)
        clips = _scan_clips(root, speakers["speaker_id"], version=version)
        if clips.empty:
            raise InputError(NO_AUDIO_TREE.format(path=meta_path, count=len(speakers), root=root))
        frame = clips.merge(speakers, on=SPEAKER_ID, how="left", validate="many_to_one")
        frame[AUDIO_PATH] = [
            manifest_path_value(path, Path(manifest_dir)) for path in frame.pop("path")
        ]
    given = frame["set"].str.casefold().map(SET_TO_SPLIT)
    for value, count in frame.loc[given.isna(), "set"].value_counts().items():
        warn(UNKNOWN_SET.format(version=version, value=value, count=count))
    frame[SPLIT] = assign_splits(
        given.to_numpy(), frame[SPEAKER_ID], split=split, val_fraction=val_fraction
    )
    label_from_table(frame, "voxceleb", {GENDER: frame.pop(GENDER)}, source="annotated")
    frame = frame.rename(columns={"set": f"voxceleb{version}_set"})
    if metadata_only:
        frame = speaker_rows(frame).drop(columns=N_CLIPS_LISTED)  # VoxCeleb lists no clips
    return ordered(frame, source=meta_path)


def _default_root(meta_path: Path) -> Path:
    beside = meta_path.parent / "wav"
    return beside if beside.is_dir() else meta_path.parent


def _scan_clips(root: Path, speaker_ids: pd.Series, *, version: int) -> pd.DataFrame:
    records = []
    without_audio = []
    for speaker in progress(speaker_ids, desc="finding audio", unit="speaker"):
        found = sorted(
            path
            for path in (root / speaker).glob("*/*")
            if path.suffix.lower() in AUDIO_SUFFIXES and path.is_file()
        )
        if not found:
            without_audio.append(speaker)
        records += [
            (f"{speaker}/{path.parent.name}/{path.stem}", speaker, path.parent.name, path)
            for path in found
        ]
    if without_audio and len(without_audio) < len(speaker_ids):
        warn(
            SPEAKERS_WITHOUT_AUDIO.format(
                version=version,
                count=len(without_audio),
                total=len(speaker_ids),
                root=root,
                example=without_audio[0],
            )
        )
    return pd.DataFrame(
        np.array(records, dtype=object).reshape(-1, 4),
        columns=[CLIP_ID, SPEAKER_ID, "youtube_id", "path"],
    )


import_voxceleb1 = partial(import_voxceleb, version=1)
"""VoxCeleb1's metadata (``vox1_meta.csv``) → a manifest."""
import_voxceleb2 = partial(import_voxceleb, version=2)
"""VoxCeleb2's metadata (``vox2_meta.csv``) → a manifest."""
