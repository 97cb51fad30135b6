"""What every importer shares: warnings, splits by speaker, paths, the output table."""

from __future__ import annotations

import hashlib
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.manifest.schema import (
    AGE,
    AGE_GROUP,
    AUDIO_PATH,
    CLIP_ID,
    END_S,
    ETHNICITY,
    FACE_PATH,
    GENDER,
    LANGUAGE,
    SPEAKER_ID,
    SPLIT,
    START_S,
    original_column,
    source_column,
)
from speech2face.vocabulary import SPLITS

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3")
"""Audio files an importer picks up (what the audio front end decodes)."""

DEFAULT_SPLIT_FRACTIONS = (0.8, 0.1, 0.1)
BAD_FRACTIONS = "split fractions {fractions}: need three non-negative numbers summing to 1"
MISSING_FILES = (
    "{dataset}: {count} of {total} row(s) left out, their {kind} file is not under {root} "
    "(first: {example})"
)
NOTHING_IMPORTED = "{source}: no rows imported ({reason})"
UNREADABLE = "{path}: cannot read: {reason}"

COLUMN_ORDER = (
    CLIP_ID,
    SPEAKER_ID,
    SPLIT,
    AUDIO_PATH,
    FACE_PATH,
    START_S,
    END_S,
    AGE,
    AGE_GROUP,
    GENDER,
    ETHNICITY,
    LANGUAGE,
)


class ImporterWarning(UserWarning):
    """Something an importer changed or left out; the command line prints each one."""


def warn(message: str) -> None:
    """Issue an :class:`ImporterWarning`."""
    warnings.warn(message, ImporterWarning, stacklevel=3)


def read_table(path: str | os.PathLike, **options) -> pd.DataFrame:
    """``pd.read_csv`` of a dataset's file, every value a string; a bad file is an InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    options = {"dtype": str, "keep_default_na": False, "encoding": "utf-8-sig", **options}
    try:
        return pd.read_csv(path, **options)
    except (ValueError, pd.errors.ParserError) as error:
        reason = " ".join(str(error).split())
        raise InputError(UNREADABLE.format(path=path, reason=reason)) from error


def speaker_fraction(speakers: pd.Series) -> np.ndarray:
    """A stable number in [0, 1) per speaker (SHA-1 of the id): same speaker, same number."""
    digest = {
        speaker: int(hashlib.sha1(str(speaker).encode()).hexdigest()[:12], 16) / 16**12
        for speaker in pd.unique(speakers)
    }
    return speakers.map(digest).to_numpy(dtype=float)


def parse_fractions(text: str | Sequence[float]) -> tuple[float, float, float]:
    """``"0.8,0.1,0.1"`` → train, val and test fractions."""
    try:
        parts = [float(part) for part in (text.split(",") if isinstance(text, str) else text)]
    except ValueError:
        raise InputError(BAD_FRACTIONS.format(fractions=text)) from None
    if len(parts) != 3 or min(parts) < 0 or not np.isclose(sum(parts), 1.0):
        raise InputError(BAD_FRACTIONS.format(fractions=text))
    return parts[0], parts[1], parts[2]


def split_by_speaker(
    speakers: pd.Series, fractions: str | Sequence[float] = DEFAULT_SPLIT_FRACTIONS
) -> np.ndarray:
    """Deterministic train/val/test by speaker: all of a speaker's rows share a split."""
    train, val, _ = parse_fractions(fractions)
    position = speaker_fraction(speakers)
    return np.asarray(SPLITS, dtype=object)[np.digitize(position, [train, train + val])]


def move_to_validation(splits: np.ndarray, speakers: pd.Series, fraction: float) -> np.ndarray:
    """Move a stable ``fraction`` of the training speakers (all their rows) to ``val``."""
    if not 0 <= fraction < 1:
        raise InputError(f"validation fraction {fraction}: must be in [0, 1)")
    splits = np.asarray(splits, dtype=object).copy()
    chosen = (splits == "train") & (speaker_fraction(speakers) < fraction)
    splits[chosen] = "val"
    return splits


def assign_splits(
    given: str | Sequence[str] | np.ndarray | None,
    speakers: pd.Series,
    *,
    split: str | None = None,
    fractions: str | Sequence[float] = DEFAULT_SPLIT_FRACTIONS,
    val_fraction: float = 0.0,
) -> np.ndarray:
    """The split of each row: ``split`` for all, else the source's own, else by speaker.

    ``given`` is the source's split of each row, one split for all rows, or None.
    """
    if split is not None:
        if split not in SPLITS:
            raise InputError(f"split {split!r} is not one of {', '.join(SPLITS)}")
        return np.full(len(speakers), split, dtype=object)
    if given is None:
        return split_by_speaker(speakers, fractions)
    if isinstance(given, str):
        given = np.full(len(speakers), given, dtype=object)
    return move_to_validation(np.asarray(given, dtype=object), speakers, val_fraction)


def manifest_path_value(path: Path, manifest_dir: Path) -> str:
    """How a manifest in ``manifest_dir`` stores ``path``: relative when inside, else absolute."""
    path = Path(os.path.abspath(path))
    manifest_dir = Path(os.path.abspath(manifest_dir))
    try:
        return path.relative_to(manifest_dir).as_posix()
    except ValueError:
        return str(path)


def find_with_suffix(
    root: Path, stem: str, suffixes: Sequence[str] = AUDIO_SUFFIXES
) -> Path | None:
    """``root/stem<suffix>`` for the first suffix that exists, else None."""
    for suffix in suffixes:
        candidate = root / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def keep_found(
    frame: pd.DataFrame,
    found: Sequence[Path | None],
    *,
    column: str,
    manifest_dir: str | os.PathLike,
    dataset: str,
    root: Path,
) -> pd.DataFrame:
    """Rows whose file was found, with its path in ``column``.

    The rows left out are counted in a warning, never dropped silently.
    """
    present = np.array([path is not None for path in found], dtype=bool)
    if not present.all():
        example = frame.loc[~present, CLIP_ID].iloc[0]
        warn(
            MISSING_FILES.format(
                dataset=dataset,
                count=int((~present).sum()),
                total=len(frame),
                kind="audio" if column == AUDIO_PATH else "image",
                root=root,
                example=example,
            )
        )
    kept = frame.loc[present].reset_index(drop=True)
    kept[column] = [manifest_path_value(path, Path(manifest_dir)) for path in found if path]
    return kept


def labelled(
    frame: pd.DataFrame,
    column: str,
    values: pd.Series | np.ndarray,
    *,
    original: pd.Series | None,
    source: str,
) -> None:
    """Set ``column`` with its ``<column>_source`` and (when given) ``<column>_original``."""
    frame[column] = np.asarray(values, dtype=float if column == AGE else object)
    frame[source_column(column)] = source
    if original is not None:
        frame[original_column(column)] = np.asarray(original, dtype=object)


CLIP_LEVEL = (AUDIO_PATH, "start_s", "end_s", "video_start_s", "video_end_s")
"""Columns of one clip, dropped from a metadata-only manifest's speaker rows."""


def speaker_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """A metadata-only manifest: one row per speaker of ``frame``, no audio.

    ``clip_id`` is the speaker's id, ``n_clips_listed`` counts the speaker's rows in the
    metadata, ``metadata_only`` marks the table; a column whose value differs between one
    speaker's rows (a clip's own) is dropped, the others keep the speaker's first value.
    """
    from speech2face.manifest.schema import METADATA_ONLY, N_CLIPS_LISTED

    frame = frame.drop(columns=[c for c in (*CLIP_LEVEL, CLIP_ID) if c in frame.columns])
    grouped = frame.groupby(SPEAKER_ID, sort=False)
    varying = grouped.nunique(dropna=False).max()
    kept = [c for c in frame.columns if c != SPEAKER_ID and varying.get(c, 0) <= 1]
    speakers = grouped[kept].first().reset_index()
    speakers[N_CLIPS_LISTED] = grouped.size().to_numpy()
    speakers.insert(0, CLIP_ID, speakers[SPEAKER_ID].astype(str))
    speakers[METADATA_ONLY] = True
    return speakers.reset_index(drop=True)


def ordered(frame: pd.DataFrame, *, source: str | os.PathLike) -> pd.DataFrame:
    """The manifest's columns in a readable order; an empty result is an error."""
    if frame.empty:
        raise InputError(NOTHING_IMPORTED.format(source=source, reason="see the warnings above"))
    first = [column for column in COLUMN_ORDER if column in frame.columns]
    rest = sorted(column for column in frame.columns if column not in first)
    return frame[first + rest].reset_index(drop=True)
