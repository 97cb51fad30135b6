"""The faces table: one row per image, cached by content hash, written atomically.

Columns: ``image_path``, ``content_sha256``, ``settings_key``, ``status`` (see
:data:`~speech2face.backends.faces.STATUSES`), ``n_faces``, ``box_left``,
``box_top``, ``box_right``, ``box_bottom``, ``age``, ``age_confidence``,
``gender``, ``gender_confidence``, the craniofacial measures
(:data:`~speech2face.craniofacial.CRANIOFACIAL_MEASURES`), ``landmarks`` (136
floats: x0, y0, …, x67, y67) and ``descriptor`` (128 floats). Rows without a
face carry NaN there, never a dropped row.

An image whose bytes and settings are unchanged since the table was last
written is not analysed again. While a run is going, each finished batch is
written once, as its own Parquet part in ``OUT.parts/`` (atomically, never
rewritten); the table is assembled from the earlier table and the parts once,
at the end, and the parts are then removed. A run that is killed leaves its
parts behind, and the next run into the same ``OUT`` reuses them, so it
analyses only the images that had not been finished. The cost per batch is
constant, so a run is linear in the number of images.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.backends.faces import (
    DESCRIPTOR_DIM,
    FaceAnalysis,
    FaceAnalyzer,
    load_rgb,
)
from speech2face.craniofacial import CRANIOFACIAL_MEASURES, N_LANDMARKS, craniofacial_measures
from speech2face.errors import InputError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
KEY_COLUMNS = ("image_path", "content_sha256", "settings_key")
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

NO_SUCH_PATH = "{path}: no such image file or folder"
NO_IMAGES = "no images ({suffixes}) found in {paths}"
NOT_A_FACES_TABLE = "{path}: not a faces table (missing column(s) {columns})"


def find_images(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files named, and the image files under each folder named, in sorted order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(NO_SUCH_PATH.format(path=path))
    if not found:
        raise InputError(NO_IMAGES.format(suffixes=", ".join(IMAGE_SUFFIXES), paths=list(paths)))
    return list(dict.fromkeys(found))


def content_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def analysis_rows(
    paths: Sequence[Path], analyses: Sequence[FaceAnalysis], *, hashes: Sequence[str], key: str
) -> pd.DataFrame:
    """The faces-table rows for analysed images."""
    measures = craniofacial_measures(
        np.stack([a.landmarks for a in analyses]).reshape(len(analyses), N_LANDMARKS, 2)
    )
    boxes = np.array([a.box if a.box is not None else (np.nan,) * 4 for a in analyses])
    table = pd.DataFrame(
        {
            "image_path": [str(p) for p in paths],
            "content_sha256": list(hashes),
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
    table = pd.read_parquet(path)
    missing = [column for column in COLUMNS if column not in table.columns]
    if missing:
        raise InputError(NOT_A_FACES_TABLE.format(path=path, columns=missing))
    descriptors = np.stack([np.asarray(d, dtype=np.float32) for d in table["descriptor"]])
    return table, descriptors.reshape(len(table), DESCRIPTOR_DIM)


def build_faces_table(
    paths: Sequence[Path],
    *,
    analyzer: FaceAnalyzer,
    out: Path,
    batch_size: int = 16,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Analyse ``paths`` into ``out`` (Parquet), reusing rows of an earlier ``out`` or its parts."""
    key = analyzer.settings.key()
    hashes = [content_sha256(p) for p in paths]
    parts = parts_dir(out)
    done = _reusable_rows(out, parts, key)
    finished = set(done["content_sha256"])
    todo = [(p, h) for p, h in zip(paths, hashes, strict=True) if h not in finished]
    if progress is not None:
        progress(len(paths) - len(todo))
    tables = [done] if len(done) else []
    number = _next_part_number(parts)
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        analyses = analyzer.analyze([load_rgb(p) for p, _ in batch])
        fresh = analysis_rows(
            [p for p, _ in batch], analyses, hashes=[h for _, h in batch], key=key
        )
        _write_atomic(fresh, parts / f"part-{number:06d}.parquet")
        number += 1
        tables.append(fresh)
        if progress is not None:
            progress(len(batch))
    table = _assemble(paths, hashes, pd.concat(tables, ignore_index=True))
    _write_atomic(table, out)
    shutil.rmtree(parts, ignore_errors=True)
    return table


def parts_dir(out: Path) -> Path:
    """The folder of a run's per-batch parts: ``OUT.parts`` beside ``out``."""
    return out.with_name(f"{out.name}.parts")


def _reusable_rows(out: Path, parts: Path, key: str) -> pd.DataFrame:
    """Rows analysed with ``key`` in an earlier ``out`` and in leftover parts, one per hash."""
    tables = [read_faces(out)[0]] if out.is_file() else []
    if parts.is_dir():
        tables += [read_faces(part)[0] for part in sorted(parts.glob("part-*.parquet"))]
    tables = [table[table["settings_key"] == key] for table in tables]
    if not tables:
        return pd.DataFrame(columns=list(COLUMNS))
    table = pd.concat(tables, ignore_index=True)
    return table.drop_duplicates("content_sha256", keep="last")[list(COLUMNS)]


def _next_part_number(parts: Path) -> int:
    numbers = [int(p.stem.split("-")[1]) for p in parts.glob("part-*.parquet")]
    return max(numbers, default=-1) + 1


def _assemble(paths: Sequence[Path], hashes: Sequence[str], rows: pd.DataFrame) -> pd.DataFrame:
    """One row per path in ``paths`` order, each with its current path."""
    rows = rows.drop_duplicates("content_sha256", keep="last")
    position = pd.Series(np.arange(len(rows)), index=rows["content_sha256"].to_numpy())
    table = rows.iloc[position.loc[list(hashes)].to_numpy()].reset_index(drop=True)
    table["image_path"] = [str(path) for path in paths]
    return table[list(COLUMNS)]


def _write_atomic(table: pd.DataFrame, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    temporary = out.with_name(f".{out.name}.tmp")
    table.to_parquet(temporary, index=False)
    os.replace(temporary, out)
