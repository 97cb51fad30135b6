import math

import numpy as np
import pytest

from speech2face.craniofacial import (
    CRANIOFACIAL_MEASURES,
    LANDMARK_SHAPE_ERROR,
    craniofacial_measures,
)
from speech2face.errors import InputError


def _constructed_face() -> np.ndarray:
    """A simple face whose measures are easy to compute by hand (y down, unit lengths)."""
    points = np.full((68, 2), 5.0)
    points[0], points[16] = (0.0, 2.0), (16.0, 2.0)  # face width 16
    points[27], points[8] = (8.0, 2.0), (8.0, 6.0)  # face height 4 → ref = √(16·4) = 8
    points[4], points[12] = (2.0, 5.0), (14.0, 5.0)  # jaw width 12
    points[31], points[35] = (6.0, 5.0), (10.0, 5.0)  # nose width 4
    points[32], points[34] = (7.0, 5.0), (9.0, 5.0)
    points[33] = (8.0, 5.0)  # nose height 3: nose outline is the triangle 27-31-35
    points[48], points[54] = (3.0, 9.0), (13.0, 9.0)  # mouth width 10
    points[51], points[57] = (8.0, 8.0), (8.0, 11.0)
    points[62], points[66] = (8.0, 9.0), (8.0, 9.0)  # stomion (8, 9)
    outer_lips = [
        (3, 9),
        (4, 8),
        (6, 8),
        (8, 8),
        (10, 8),
        (12, 8),
        (13, 9),
        (13, 11),
        (10, 11),
        (8, 11),
        (6, 11),
        (3, 11),
    ]
    points[48:60] = outer_lips  # a 10 × 3 rectangle minus two corner triangles of area 0.5
    points[36], points[39] = (2.0, 1.0), (6.0, 1.0)
    points[42], points[45] = (10.0, 1.0), (14.0, 1.0)  # en–en 4, ex–ex 12
    return points


def test_hand_computed_values():
    row = craniofacial_measures(_constructed_face()).iloc[0]
    ref = 8.0
    expected = {
        "upper_lip_height": 4.0 / ref,  # |(8,5) − (8,9)|
        "lateral_upper_lip_height": math.hypot(3.0, 4.0) / ref,  # |31 − 48| = |35 − 54| = 5
        "jaw_width": 12.0 / ref,
        "nose_height": 3.0 / ref,
        "nose_width": 4.0 / ref,
        "labio_oral_region": (30.0 - 2 * 0.5) / ref**2,
        "mandibular_index": 100 * 3.0 / 12.0,  # |(8,9) − (8,6)| / jaw width
        "intercanthal_index": 100 * 4.0 / 12.0,
        "nasal_index": 100 * 4.0 / 3.0,
        "vermilion_height_index": 100 * 1.0 / 2.0,  # |51 − 62| = 1, |66 − 57| = 2
        "mouth_face_width_index": 100 * 10.0 / 16.0,
        "nose_area": 0.5 * 4.0 * 3.0 / ref**2,  # 32, 33, 34 lie on the base 31–35
    }
    assert list(row.index) == list(CRANIOFACIAL_MEASURES)
    for name, value in expected.items():
        assert row[name] == pytest.approx(value, rel=1e-12), name


def test_invariant_to_translation_rotation_and_scale():
    rng = np.random.default_rng(0)
    base = _constructed_face() + rng.normal(0.0, 0.1, (68, 2))
    reference = craniofacial_measures(base).to_numpy()
    for _ in range(5):
        angle = rng.uniform(-np.pi, np.pi)
        rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        scale = rng.uniform(0.1, 20.0)
        moved = scale * base @ rotation.T + rng.uniform(-500, 500, 2)
        np.testing.assert_allclose(craniofacial_measures(moved).to_numpy(), reference, rtol=1e-9)


def test_measures_change_with_the_feature_they_name():
    base = _constructed_face()
    wider_nose = base.copy()
    wider_nose[31, 0] -= 1.0
    wider_nose[35, 0] += 1.0
    table = craniofacial_measures(np.stack([base, wider_nose]))
    assert table.loc[1, "nose_width"] == pytest.approx(1.5 * table.loc[0, "nose_width"])
    assert table.loc[1, "nasal_index"] > table.loc[0, "nasal_index"]
    unchanged = ["jaw_width", "mouth_face_width_index", "intercanthal_index", "upper_lip_height"]
    np.testing.assert_allclose(table.loc[1, unchanged], table.loc[0, unchanged])


def test_batch_gives_one_row_per_face_and_missing_landmarks_give_nan():
    face = _constructed_face()
    missing = np.full((68, 2), np.nan)
    table = craniofacial_measures(np.stack([face, missing, 2 * face]))
    assert table.shape == (3, len(CRANIOFACIAL_MEASURES))
    assert table.iloc[1].isna().all()
    np.testing.assert_allclose(table.iloc[0], table.iloc[2])


@pytest.mark.parametrize("shape", [(68,), (67, 2), (2, 68, 3), (68, 2, 1)])
def test_wrong_shape_is_an_input_error(shape):
    with pytest.raises(InputError) as error:
        craniofacial_measures(np.zeros(shape))
    assert str(error.value) == LANDMARK_SHAPE_ERROR.format(shape=shape)


def test_non_numeric_landmarks_are_an_input_error():
    with pytest.raises(InputError, match="landmarks must be numbers"):
        craniofacial_measures([["a", "b"]] * 68)
