"""Loading a manifest for use: read, validate, fill unknowns, derive age groups."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.manifest.age import AgeBinning, age_to_group
from speech2face.manifest.io import read_manifest
from speech2face.manifest.schema import AGE, AGE_GROUP, LABELLED_COLUMNS, source_column
from speech2face.manifest.validate import validate_manifest
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS, UNKNOWN

INVALID_MANIFEST = "{problem} (and {others} more problem(s); `s2f validate {path}` lists all)"


def load_manifest(
    path: str | os.PathLike,
    *,
    allow_speaker_leakage: bool = False,
    check_files: bool = True,
    age_binning: str | AgeBinning = "paper",
    metadata_only: bool | None = False,
) -> pd.DataFrame:
    """A valid manifest, ready to use, or :class:`~speech2face.errors.InputError`.

    ``metadata_only`` as in :func:`~speech2face.manifest.validate.validate_manifest`:
    by default a manifest of speakers without audio is refused in one line.

    The error names the first problem and how many others there are. In the
    returned table every demographic column exists, a missing value is
    ``unknown``, and ``age_group`` is derived from ``age`` (by ``age_binning``)
    wherever it is missing.
    """
    path = Path(path)
    frame = read_manifest(path)
    problems = validate_manifest(
        frame,
        source=path,
        base_dir=path.parent,
        allow_speaker_leakage=allow_speaker_leakage,
        check_files=check_files,
        metadata_only=metadata_only,
    )
    refuse_metadata_only(path, frame, problems)
    if len(problems) == 1:
        raise InputError(str(problems[0]))
    if problems:
        raise InputError(
            INVALID_MANIFEST.format(problem=problems[0], others=len(problems) - 1, path=path)
        )
    return fill_unknowns(frame, age_binning=age_binning)


def refuse_metadata_only(path: str | os.PathLike, frame: pd.DataFrame, problems=None) -> None:
    """A metadata-only manifest where clips are needed: one line, whatever else is wrong."""
    from speech2face.manifest.schema import METADATA, manifest_kind
    from speech2face.manifest.validate import METADATA_NOT_CLIPS

    if manifest_kind(frame) == METADATA and (
        problems is None or any(p.message == METADATA_NOT_CLIPS for p in problems)
    ):
        raise InputError(f"{path}: {METADATA_NOT_CLIPS}")


def fill_unknowns(frame: pd.DataFrame, *, age_binning: str | AgeBinning = "paper") -> pd.DataFrame:
    """A copy with every demographic column present, missing values ``unknown``.

    ``age_group`` is derived from a numeric ``age`` where it is missing, and then takes
    ``age_source`` as its provenance (an age inferred by ``s2f face-features`` gives an
    inferred age group); a ``<column>_source`` is ``unknown`` where its column has no
    provenance.
    """
    frame = frame.reset_index(drop=True).copy()
    derived_rows = np.zeros(len(frame), dtype=bool)
    if AGE in frame.columns:
        ages = pd.to_numeric(frame[AGE], errors="coerce")
        frame[AGE] = ages.astype(float)
        derived = age_to_group(ages.to_numpy(), binning=age_binning)
        if AGE_GROUP in frame.columns:
            given = frame[AGE_GROUP].astype(object)
            missing = given.isna().to_numpy() | (given.astype(str).str.strip() == "").to_numpy()
            missing |= (given == UNKNOWN).to_numpy()
            frame[AGE_GROUP] = np.where(missing, derived, given)
            derived_rows = missing & frame[AGE].notna().to_numpy()
        else:
            frame[AGE_GROUP] = derived
            derived_rows = frame[AGE].notna().to_numpy()
    for column in DEMOGRAPHIC_COLUMNS:
        frame[column] = _with_unknown(frame[column] if column in frame.columns else None, frame)
    for column in LABELLED_COLUMNS:
        provenance = source_column(column)
        if column in frame.columns or provenance in frame.columns:
            existing = frame[provenance] if provenance in frame.columns else None
            frame[provenance] = _with_unknown(existing, frame)
    age_source, group_source = source_column(AGE), source_column(AGE_GROUP)
    if derived_rows.any() and age_source in frame.columns:
        frame[group_source] = np.where(
            derived_rows, frame[age_source].to_numpy(dtype=object), frame[group_source]
        )
    return frame


def _with_unknown(series: pd.Series | None, frame: pd.DataFrame) -> pd.Series:
    if series is None:
        return pd.Series(UNKNOWN, index=frame.index, dtype=object)
    text = series.astype("string").fillna(UNKNOWN).str.strip()
    return text.where(text != "", UNKNOWN)
