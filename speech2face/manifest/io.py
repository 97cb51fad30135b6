"""Reading (Parquet or CSV) and writing (Parquet, atomically) manifests."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pandas as pd

from speech2face.atomic import atomic_write
from speech2face.errors import InputError
from speech2face.manifest.schema import CLIP_ID, SPEAKER_ID, SPLIT

PARQUET_SUFFIXES = (".parquet", ".pq")
TEXT_SEPARATORS = {".csv": ",", ".tsv": "\t"}
STRING_COLUMNS = (CLIP_ID, SPEAKER_ID, SPLIT)

NO_SUCH_FILE = "{path}: no such manifest"
UNKNOWN_FORMAT = "{path}: a manifest is .parquet, .csv or .tsv"
UNREADABLE = "{path}: cannot read the manifest: {reason}"
WRITE_PARQUET_ONLY = "{path}: manifests are written as Parquet; name the file *.parquet"


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """The manifest table at ``path`` (Parquet, or CSV/TSV with a header row), unvalidated.

    In CSV only an empty field is missing, so an id such as ``NA`` stays a string.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(NO_SUCH_FILE.format(path=path))
    suffix = path.suffix.lower()
    try:
        if suffix in PARQUET_SUFFIXES:
            return pd.read_parquet(path)
        if suffix in TEXT_SEPARATORS:
            return pd.read_csv(
                path,
                sep=TEXT_SEPARATORS[suffix],
                dtype={column: str for column in STRING_COLUMNS},
                keep_default_na=False,
                na_values=[""],
                encoding="utf-8-sig",
            )
    except (OSError, ValueError, TypeError, NotImplementedError, pd.errors.ParserError) as error:
        reason = " ".join(str(error).split())
        raise InputError(UNREADABLE.format(path=path, reason=reason)) from error
    raise InputError(UNKNOWN_FORMAT.format(path=path))


def write_manifest(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` as Parquet at ``path`` atomically: a good earlier file is replaced whole."""
    path = Path(path)
    if path.suffix.lower() not in PARQUET_SUFFIXES:
        raise InputError(WRITE_PARQUET_ONLY.format(path=path))
    with atomic_write(path) as handle:
        frame.reset_index(drop=True).to_parquet(handle, index=False)
    return path


def resolve_path(manifest_dir: str | os.PathLike, value: str | os.PathLike) -> Path:
    """A path column's value as a path: absolute as given, relative to ``manifest_dir``.

    ``~user`` is expanded when that user exists, else kept as written.
    """
    candidate = Path(value)
    with contextlib.suppress(RuntimeError):  # ~nosuchuser: no home folder to expand to
        candidate = candidate.expanduser()
    return candidate if candidate.is_absolute() else Path(manifest_dir) / candidate


def is_file(path: Path) -> bool:
    """``path.is_file()``, False (not an error) for a name too long or holding a NUL."""
    try:
        return path.is_file()
    except (OSError, ValueError):
        return False
