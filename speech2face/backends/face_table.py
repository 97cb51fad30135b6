"""The faces table: one row per image or sampled video frame, cached, written atomically.

Columns: ``image_path`` (for a frame, its video's path), ``frame_index`` and
``frame_time_s`` (the frame's position in presentation order and its time in
seconds; -1 and NaN for a still image or an unreadable video),
``content_sha256`` (of the file), ``settings_key``, ``status`` (see
:data:`~speech2face.backends.photo_faces.STATUSES`), ``n_faces``, ``box_left``,
``box_top``, ``box_right``, ``box_bottom``, ``age``, ``age_confidence``,
``gender``, ``gender_confidence``, the craniofacial measures
(:data:`~speech2face.craniofacial.CRANIOFACIAL_MEASURES`), ``landmarks`` (136
floats: x0, y0, …, x67, y67) and ``descriptor`` (128 floats). Rows without a
face carry NaN there, never a dropped row. Tables written before video input
have no frame columns; :func:`read_faces` gives them -1 and NaN.

An input (:class:`~speech2face.backends.face_inputs.FaceInput`) whose file
bytes, frame index and settings are unchanged since the table was last
written is not analysed again (nor, for a video, decoded). While a run is
going, each finished batch is written once, as its own Parquet part in
``OUT.parts/`` (atomically, never rewritten); the table is assembled from the
earlier table and the parts once, at the end, and the parts are then removed.
A run that is killed leaves its parts behind, and the next run into the same
``OUT`` reuses them, so it analyses only the inputs that had not been
finished. The cost per batch is constant, so a run is linear in the number of
inputs.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.artifacts import read_table
from speech2face.atomic import atomic_write
from speech2face.backends.face_inputs import NOT_A_FRAME, FaceInput
from speech2face.backends.face_pool import FacePool, analyze_batches
from speech2face.backends.photo_faces import (
    DESCRIPTOR_DIM,
    FACE_STATUSES,
    FaceAnalysis,
    FaceAnalyzer,
)
from speech2face.craniofacial import CRANIOFACIAL_MEASURES, N_LANDMARKS, craniofacial_measures
from speech2face.errors import InputError
from speech2face.manifest.io import PARQUET_SUFFIXES, resolve_path

FRAME_COLUMNS = ("frame_index", "frame_time_s")
KEY_COLUMNS = ("image_path", *FRAME_COLUMNS, "content_sha256", "settings_key")
BOX_COLUMNS = ("box_left", "box_top", "box_right", "box_bottom")
COLUMNS = (
    *KEY_COLUMNS,
    "status",
    "n_faces",
    *BOX_COLUMNS,
    "age",
    "age_confidence",
    "gender",
    "gender_confidence",
    *CRANIOFACIAL_MEASURES,
    "landmarks",
    "descriptor",
)
ROW_KEY = ("content_sha256", "frame_index")
"""The columns that name a row's input: the cache key, with ``settings_key``."""
_FRAME_DEFAULTS = {"frame_index": NOT_A_FRAME, "frame_time_s": np.nan}
"""What a table written before video input (still images only) holds in the frame columns."""

NOT_A_FACES_TABLE = "{path}: not a faces table (missing column(s) {columns})"
BAD_BATCH_SIZE = "--batch-size must be at least 1, not {batch_size}"
NO_FACES_TABLE = "{path}: no such faces table (write one with s2f faces)"
BAD_DESCRIPTORS = "{path}: column 'descriptor' must hold {dim} numbers per row"
NOT_PARQUET = "--out {path}: a faces table is written as Parquet; name it *.parquet"


def analysis_rows(
    inputs: Sequence[FaceInput], analyses: Sequence[FaceAnalysis], *, key: str
) -> pd.DataFrame:
    """The faces-table rows of analysed inputs."""
    measures = craniofacial_measures(
        np.stack([a.landmarks for a in analyses]).reshape(len(analyses), N_LANDMARKS, 2)
    )
    boxes = np.array([a.box if a.box is not None else (np.nan,) * 4 for a in analyses])
    table = pd.DataFrame(
        {
            "image_path": [str(item.path) for item in inputs],
            "frame_index": np.array([item.frame_index for item in inputs], dtype=np.int64),
            "frame_time_s": np.array([item.frame_time_s for item in inputs], dtype=np.float64),
            "content_sha256": [item.content_sha256 for item in inputs],
            "settings_key": key,
            "status": [a.status for a in analyses],
            "n_faces": np.array([a.n_faces for a in analyses], dtype=np.int64),
            **{name: boxes[:, i] for i, name in enumerate(BOX_COLUMNS)},
            "age": [a.age for a in analyses],
            "age_confidence": [a.age_confidence for a in analyses],
            "gender": pd.array([a.gender for a in analyses], dtype="string"),
            "gender_confidence": [a.gender_confidence for a in analyses],
        }
    )
    for name in CRANIOFACIAL_MEASURES:
        table[name] = measures[name].to_numpy()
    table["landmarks"] = [a.landmarks.astype(np.float32).ravel() for a in analyses]
    table["descriptor"] = [a.descriptor.astype(np.float32) for a in analyses]
    return table[list(COLUMNS)]


def read_faces(path: str | os.PathLike) -> tuple[pd.DataFrame, np.ndarray]:
    """A faces table and its descriptors as one ``(n, 128)`` float32 array (NaN without a face)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(NO_FACES_TABLE.format(path=path))
    table = read_table(path)
    for column, default in _FRAME_DEFAULTS.items():
        if column not in table.columns:
            table.insert(COLUMNS.index(column), column, default)
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise InputError(NOT_A_FACES_TABLE.format(path=path, columns=missing))
    try:
        descriptors = np.stack([np.asarray(d, dtype=np.float32) for d in table["descriptor"]])
        return table, descriptors.reshape(len(table), DESCRIPTOR_DIM)
    except (TypeError, ValueError):
        raise InputError(BAD_DESCRIPTORS.format(path=path, dim=DESCRIPTOR_DIM)) from None


def rows_by_path(table: pd.DataFrame) -> dict[str, int]:
    """The row that stands for each (resolved) ``image_path`` of a faces table.

    A still image's own row; for a video, its first sampled frame with a face, or its
    first frame if none has one.
    """
    without_face = ~table["status"].isin(FACE_STATUSES).to_numpy()
    order = np.lexsort((table["frame_index"].to_numpy(), without_face))
    paths = [str(Path(p).resolve()) for p in table["image_path"]]
    rows: dict[str, int] = {}
    for row in order.tolist():
        rows.setdefault(paths[row], row)
    return rows


def rows_of_face_paths(
    row_of: dict[str, int], base_dir: Path, face_paths: Iterable[object]
) -> np.ndarray:
    """The faces-table row (:func:`rows_by_path`) of each manifest ``face_path``, resolved
    against ``base_dir``; -1 where the value is missing or the image was not analysed."""
    return np.array(
        [
            row_of.get(str(resolve_path(base_dir, value).resolve()), -1)
            if isinstance(value, str) and value
            else -1
            for value in face_paths
        ],
        dtype=np.int64,
    )


def check_batch_size(batch_size: int) -> None:
    """Refuse a batch size below 1 (before any model is loaded or bar drawn)."""
    if batch_size < 1:
        raise InputError(BAD_BATCH_SIZE.format(batch_size=batch_size))


def build_faces_table(
    inputs: Sequence[FaceInput],
    *,
    analyzer: FaceAnalyzer | FacePool,
    out: Path,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Analyse ``inputs`` into ``out`` (Parquet), reusing rows of an earlier ``out`` or its parts.

    ``analyzer``: a :class:`FaceAnalyzer` analyses batches here, a :class:`FacePool` in its
    worker processes; the rows are the same.
    """
    check_batch_size(batch_size)
    if Path(out).suffix.lower() not in PARQUET_SUFFIXES:
        raise InputError(NOT_PARQUET.format(path=out))
    key = analyzer.settings.key()
    parts = parts_dir(out)
    done = _reusable_rows(out, parts, key)
    finished = set(_row_keys(done))
    todo = list({item.key: item for item in inputs if item.key not in finished}.values())
    if progress is not None:
        progress(len(inputs) - len(todo))
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    tables = [done] if len(done) else []
    number = _next_part_number(parts)
    for batch, analyses in zip(batches, analyze_batches(analyzer, batches), strict=True):
        fresh = analysis_rows(batch, analyses, key=key)
        _write_atomic(fresh, parts / f"part-{number:06d}.parquet")
        number += 1
        tables.append(fresh)
        if progress is not None:
            progress(len(batch))
    table = _assemble(inputs, pd.concat(tables, ignore_index=True))
    _write_atomic(table, out)
    shutil.rmtree(parts, ignore_errors=True)
    return table


def parts_dir(out: Path) -> Path:
    """The folder of a run's per-batch parts: ``OUT.parts`` beside ``out``."""
    return out.with_name(f"{out.name}.parts")


def _reusable_rows(out: Path, parts: Path, key: str) -> pd.DataFrame:
    """Rows analysed with ``key`` in an earlier ``out`` and in leftover parts, one per input."""
    tables = [read_faces(out)[0]] if out.is_file() else []
    if parts.is_dir():
        tables += [read_faces(part)[0] for part in sorted(parts.glob("part-*.parquet"))]
    tables = [table[table["settings_key"] == key] for table in tables]
    if not tables:
        return pd.DataFrame(columns=list(COLUMNS))
    table = pd.concat(tables, ignore_index=True)
    return table.drop_duplicates(list(ROW_KEY), keep="last")[list(COLUMNS)]


def _next_part_number(parts: Path) -> int:
    numbers = [int(p.stem.split("-")[1]) for p in parts.glob("part-*.parquet")]
    return max(numbers, default=-1) + 1


def _assemble(inputs: Sequence[FaceInput], rows: pd.DataFrame) -> pd.DataFrame:
    """One row per input, in ``inputs`` order, each with its input's current path."""
    row_of = {key: row for row, key in enumerate(_row_keys(rows))}  # the last of duplicates
    table = rows.iloc[[row_of[item.key] for item in inputs]].reset_index(drop=True)
    table["image_path"] = [str(item.path) for item in inputs]
    return table[list(COLUMNS)]


def _row_keys(table: pd.DataFrame) -> list[tuple[str, int]]:
    """Each row's :attr:`~speech2face.backends.face_inputs.FaceInput.key`."""
    return list(zip(table["content_sha256"], table["frame_index"].tolist(), strict=True))


def _write_atomic(table: pd.DataFrame, out: Path) -> None:
    with atomic_write(out) as handle:
        table.to_parquet(handle, index=False)
