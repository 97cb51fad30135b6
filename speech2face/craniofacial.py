"""Craniofacial measures from 68-point facial landmarks (iBUG 300-W / dlib order).

The measures are those of the Speech2Face paper's craniofacial table (Oh et
al. 2019, Table 2, after the anthropometric indices of Farkas). All are
invariant to translation, rotation and scale of the landmarks: lengths and
areas are divided by a face-size reference, ``ref`` = √(face width × face
height) with face width = |0 − 16| and face height = |27 − 8|; indices are
ratios ×100 as anthropometry writes them. Point numbers are 0-based; the
stomion ``sto`` is the midpoint of the inner-lip centres 62 and 66.

======================== ============================================ =========================
measure                  definition (landmarks)                       anthropometric name
======================== ============================================ =========================
upper_lip_height         |33 − sto| / ref                             sn–sto
lateral_upper_lip_height mean(|31 − 48|, |35 − 54|) / ref             sbal–ch
jaw_width                |4 − 12| / ref                               go–go
nose_height              |27 − 33| / ref                              n–sn
nose_width               |31 − 35| / ref                              al–al
labio_oral_region        area(outer lips 48…59) / ref²                labio-oral region
mandibular_index         100 · |sto − 8| / |4 − 12|                   sto–gn / go–go
intercanthal_index       100 · |39 − 42| / |36 − 45|                  en–en / ex–ex
nasal_index              100 · |31 − 35| / |27 − 33|                  al–al / n–sn
vermilion_height_index   100 · |51 − 62| / |66 − 57|                  ls–sto / sto–li
mouth_face_width_index   100 · |48 − 54| / |0 − 16|                   ch–ch / zy–zy
nose_area                area(27, 31, 32, 33, 34, 35) / ref²          nose area
======================== ============================================ =========================

A face whose landmarks are missing (NaN) gets NaN measures; it is not dropped.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from speech2face.errors import InputError

N_LANDMARKS = 68

CRANIOFACIAL_MEASURES = (
    "upper_lip_height",
    "lateral_upper_lip_height",
    "jaw_width",
    "nose_height",
    "nose_width",
    "labio_oral_region",
    "mandibular_index",
    "intercanthal_index",
    "nasal_index",
    "vermilion_height_index",
    "mouth_face_width_index",
    "nose_area",
)
"""Names of the measures, the columns of ``craniofacial_measures``."""

LANDMARK_SHAPE_ERROR = "landmarks must have shape (68, 2) or (n, 68, 2); got {shape}"
LANDMARK_TYPE_ERROR = "landmarks must be numbers: {reason}"

_OUTER_LIPS = list(range(48, 60))
_NOSE_OUTLINE = [27, 31, 32, 33, 34, 35]


def craniofacial_measures(landmarks: np.ndarray) -> pd.DataFrame:
    """One row per face and one column per measure in ``CRANIOFACIAL_MEASURES``."""
    points = _as_landmark_batch(landmarks)
    with np.errstate(invalid="ignore", divide="ignore"):
        face_width = _distance(points, 0, 16)
        reference = np.sqrt(face_width * _distance(points, 27, 8))
        stomion = (points[:, 62] + points[:, 66]) / 2
        jaw_width = _distance(points, 4, 12)
        nose_height = _distance(points, 27, 33)
        nose_width = _distance(points, 31, 35)
        lateral = (_distance(points, 31, 48) + _distance(points, 35, 54)) / 2
        columns = {
            "upper_lip_height": _norm(points[:, 33] - stomion) / reference,
            "lateral_upper_lip_height": lateral / reference,
            "jaw_width": jaw_width / reference,
            "nose_height": nose_height / reference,
            "nose_width": nose_width / reference,
            "labio_oral_region": _area(points[:, _OUTER_LIPS]) / reference**2,
            "mandibular_index": 100 * _norm(stomion - points[:, 8]) / jaw_width,
            "intercanthal_index": 100 * _distance(points, 39, 42) / _distance(points, 36, 45),
            "nasal_index": 100 * nose_width / nose_height,
            "vermilion_height_index": 100 * _distance(points, 51, 62) / _distance(points, 66, 57),
            "mouth_face_width_index": 100 * _distance(points, 48, 54) / face_width,
            "nose_area": _area(points[:, _NOSE_OUTLINE]) / reference**2,
        }
    return pd.DataFrame(columns, columns=list(CRANIOFACIAL_MEASURES))


def _as_landmark_batch(landmarks: np.ndarray) -> np.ndarray:
    try:
        points = np.asarray(landmarks, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise InputError(LANDMARK_TYPE_ERROR.format(reason=error)) from None
    if points.shape == (N_LANDMARKS, 2):
        points = points[None]
    if points.ndim != 3 or points.shape[1:] != (N_LANDMARKS, 2):
        raise InputError(LANDMARK_SHAPE_ERROR.format(shape=tuple(np.shape(landmarks))))
    return points


def _norm(vectors: np.ndarray) -> np.ndarray:
    return np.sqrt((vectors**2).sum(axis=-1))


def _distance(points: np.ndarray, i: int, j: int) -> np.ndarray:
    return _norm(points[:, i] - points[:, j])


def _area(polygons: np.ndarray) -> np.ndarray:
    """Shoelace area of each (n, k, 2) polygon, whatever its orientation."""
    x, y = polygons[..., 0], polygons[..., 1]
    return 0.5 * np.abs((x * np.roll(y, -1, axis=1) - np.roll(x, -1, axis=1) * y).sum(axis=1))
