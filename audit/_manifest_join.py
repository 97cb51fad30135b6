"""Join a manifest's scalar columns onto the predictions, so any manifest column can be a slice.

A predictions table carries the demographic columns of the schema; a manifest may hold
more (accent, recording device, country). ``join_manifest`` adds every scalar manifest
column the predictions lack, matched on ``clip_id``; the predictions' own columns win.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.manifest.io import read_manifest

NO_CLIP_ID = "{source}: the manifest has no 'clip_id' column to join on"
DUPLICATE_CLIP = "{source}: row {row}: clip_id {clip!r} appears twice in the manifest"
MISSING_CLIPS = (
    "{count} clip(s) of the predictions are not in the manifest {source}, "
    "e.g. clip_id {clip!r} (predictions row {row})"
)
OTHER_SPEAKER = (
    "clip_id {clip!r} (predictions row {row}): speaker {speaker!r} in the predictions, "
    "{other!r} in the manifest {source}"
)


def _is_scalar_column(series: pd.Series) -> bool:
    """True unless the column holds vectors (lists, arrays) or raw bytes."""
    values = series.dropna()
    if values.empty or series.dtype != object:
        return True
    return not isinstance(values.iloc[0], list | tuple | np.ndarray | bytes | dict)


def join_manifest(
    table: pd.DataFrame, manifest: str | os.PathLike | pd.DataFrame
) -> tuple[pd.DataFrame, dict]:
    """``table`` with the manifest's scalar columns it lacks, and a record of the join.

    Every clip of ``table`` must be in the manifest (an InputError names the first
    missing one); a clip whose manifest ``speaker_id`` differs is an error too.
    """
    source = "(table)" if isinstance(manifest, pd.DataFrame) else str(Path(manifest))
    frame = manifest if isinstance(manifest, pd.DataFrame) else read_manifest(manifest)
    if "clip_id" not in frame.columns:
        raise InputError(NO_CLIP_ID.format(source=source))
    clip_ids = frame["clip_id"].astype(str)
    duplicated = clip_ids.duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        raise InputError(DUPLICATE_CLIP.format(source=source, row=row, clip=clip_ids.iloc[row]))
    indexed = frame.set_index(clip_ids)
    wanted = table["clip_id"].astype(str)
    missing = ~wanted.isin(indexed.index).to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(
            MISSING_CLIPS.format(
                count=int(missing.sum()), source=source, clip=wanted.iloc[row], row=row
            )
        )
    matched = indexed.loc[wanted.to_numpy()]
    if "speaker_id" in matched.columns:
        theirs = matched["speaker_id"].astype(str).to_numpy()
        ours = table["speaker_id"].astype(str).to_numpy()
        differ = np.flatnonzero(theirs != ours)
        if len(differ):
            row = int(differ[0])
            raise InputError(
                OTHER_SPEAKER.format(
                    clip=wanted.iloc[row],
                    row=row,
                    speaker=ours[row],
                    other=theirs[row],
                    source=source,
                )
            )
    columns = [
        column
        for column in frame.columns
        if column not in table.columns and _is_scalar_column(frame[column])
    ]
    joined = table.copy()
    for column in columns:
        joined[column] = matched[column].to_numpy()
    record = {
        "source": source,
        "joined_columns": columns,
        "kept_from_predictions": [c for c in frame.columns if c in table.columns],
    }
    return joined, record
