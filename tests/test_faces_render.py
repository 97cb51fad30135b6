import dataclasses
import math

import numpy as np
import pytest

from speech2face.craniofacial import craniofacial_measures
from speech2face.errors import InputError
from speech2face.synth.face_geometry import CANVAS_CM
from speech2face.synth.face_render import IMAGE_SIZE_ERROR
from speech2face.synth.synthetic_faces import (
    FaceVariation,
    render_face,
    sample_face_params,
    sample_variation,
)


@pytest.fixture(scope="module")
def face():
    rng = np.random.default_rng(11)
    return sample_face_params(rng, gender="female", age=35.0, ethnicity="group_b")


def _luminance(image):
    return image.astype(float) @ np.array([0.299, 0.587, 0.114])


def _measures(*rendered):
    return craniofacial_measures(np.stack([r.landmarks for r in rendered]))


@pytest.mark.parametrize("size", [64, 128])
def test_image_and_landmarks_have_the_promised_types(face, size):
    rendered = render_face(face, size=size)
    assert rendered.image.shape == (size, size, 3) and rendered.image.dtype == np.uint8
    assert rendered.landmarks.shape == (68, 2) and rendered.landmarks.dtype == np.float32
    assert (rendered.landmarks > 0).all() and (rendered.landmarks < size - 1).all()


def test_same_input_same_bytes_and_none_is_the_canonical_variation(face):
    variation = sample_variation(np.random.default_rng(3))
    first, second = render_face(face, variation=variation), render_face(face, variation=variation)
    assert first.image.tobytes() == second.image.tobytes()
    assert first.landmarks.tobytes() == second.landmarks.tobytes()
    assert (
        render_face(face).image.tobytes()
        == render_face(face, variation=FaceVariation()).image.tobytes()
    )
    assert render_face(face).image.tobytes() != first.image.tobytes()


def test_landmarks_follow_dlib_order(face):
    lm = render_face(face).landmarks
    assert lm[0, 0] < lm[8, 0] < lm[16, 0]  # jaw from image-left to image-right via the chin
    assert lm[8, 1] == lm[:17, 1].max()
    assert lm[17:27, 1].max() < lm[36:48, 1].min()  # brows above eyes
    assert lm[27, 1] < lm[30, 1] < lm[33, 1]  # nose bridge down to the base
    assert lm[36, 0] < lm[39, 0] < lm[42, 0] < lm[45, 0]  # outer/inner eye corners
    assert lm[48, 0] < lm[51, 0] < lm[54, 0] and lm[51, 1] < lm[57, 1]
    # contours run clockwise on the image: upper lids and lips left to right, lower ones back
    for upper, lower in (([37, 38], [40, 41]), ([43, 44], [46, 47]), ([49, 53], [55, 59])):
        assert lm[upper[0], 0] < lm[upper[1], 0] and lm[lower[0], 0] > lm[lower[1], 0]
    assert lm[61, 0] < lm[63, 0] and lm[65, 0] > lm[67, 0]
    assert np.all(np.diff(lm[17:27, 0]) > 0) and np.all(np.diff(lm[31:36, 0]) > 0)
    assert lm[33, 1] < lm[51, 1] and lm[57, 1] < lm[8, 1]


def test_measures_equal_at_64_and_128(face):
    for variation in (None, sample_variation(np.random.default_rng(5))):
        small, large = (render_face(face, size=s, variation=variation) for s in (64, 128))
        np.testing.assert_allclose(large.landmarks, 2 * small.landmarks + 0.5, atol=1e-3)
        table = _measures(small, large)
        np.testing.assert_allclose(table.iloc[0], table.iloc[1], rtol=1e-4)


@pytest.mark.parametrize(
    ("parameter", "factor", "measure"),
    [
        ("nose_width", 1.3, "nose_width"),
        ("nose_width", 1.3, "nasal_index"),
        ("nose_height", 1.2, "nose_height"),
        ("mouth_width", 1.2, "mouth_face_width_index"),
        ("eye_spacing", 1.15, "intercanthal_index"),
        ("jaw_width", 1.1, "jaw_width"),
        ("upper_lip_height", 1.5, "vermilion_height_index"),
        ("face_width", 0.9, "mouth_face_width_index"),
    ],
)
def test_landmarks_move_with_parameters(face, parameter, factor, measure):
    changed = dataclasses.replace(face, **{parameter: getattr(face, parameter) * factor})
    table = _measures(render_face(face), render_face(changed))
    assert table.loc[1, measure] > table.loc[0, measure] * 1.03


def test_rendered_nose_width_matches_the_parameter(face):
    lm = render_face(face, size=128).landmarks
    pixels_per_cm = np.linalg.norm(lm[0] - lm[16]) / face.face_width
    assert np.linalg.norm(lm[31] - lm[35]) / pixels_per_cm == pytest.approx(face.nose_width)


def test_pupils_are_dark_where_the_eye_landmarks_are(face):
    for variation in (None, FaceVariation(yaw=12.0, roll=6.0, shift_x=0.04)):
        rendered = render_face(face, size=128, variation=variation)
        brightness = _luminance(rendered.image)
        for eye in (rendered.landmarks[36:42], rendered.landmarks[42:48]):
            x0, y0 = np.floor(eye.min(0)).astype(int)
            x1, y1 = np.ceil(eye.max(0)).astype(int)
            window = brightness[y0 : y1 + 1, x0 : x1 + 1]
            darkest = np.unravel_index(np.argmin(window), window.shape)
            centre = eye.mean(0)
            assert abs(x0 + darkest[1] - centre[0]) < 2.5 and abs(y0 + darkest[0] - centre[1]) < 2.5
            assert window.min() < 0.5 * np.median(brightness[int(eye[:, 1].mean()) + 8])


def test_beard_darkens_the_chin_and_nothing_above_the_eyes():
    rng = np.random.default_rng(2)
    man = dataclasses.replace(
        sample_face_params(rng, gender="male", age=40.0, ethnicity="group_a"),
        beard=0.0,
        moustache=0.0,
        hair_lightness=0.0,
        hair_grey=0.0,
    )
    clean, bearded = render_face(man), render_face(dataclasses.replace(man, beard=1.0))
    lm = clean.landmarks
    difference = _luminance(clean.image) - _luminance(bearded.image)
    chin = lm[8] + (lm[57] - lm[8]) / 2
    assert difference[int(chin[1]), int(chin[0])] > 40
    below_eyes = int(lm[36:48, 1].max()) + 2
    assert np.abs(difference[:below_eyes]).max() == 0


def test_roll_rotates_the_landmarks_by_its_angle(face):
    lm = render_face(face, variation=FaceVariation(roll=10.0)).landmarks.astype(float)
    dx, dy = lm[45] - lm[36]
    assert math.degrees(math.atan2(dy, dx)) == pytest.approx(10.0, abs=0.2)


def test_yaw_moves_the_nose_tip_towards_the_turn(face):
    tip_offsets = []
    for yaw in (-15.0, 0.0, 15.0):
        lm = render_face(face, variation=FaceVariation(yaw=yaw)).landmarks
        tip_offsets.append(lm[30, 0] - (lm[0, 0] + lm[16, 0]) / 2)
    assert tip_offsets[0] < -1.0 < 1.0 < tip_offsets[2]
    assert abs(tip_offsets[1]) < 1e-3


def test_expression_opens_the_mouth_and_lifts_its_corners(face):
    neutral = render_face(face).landmarks
    smiling = render_face(face, variation=FaceVariation(smile=1.0, mouth_open=1.0)).landmarks
    assert np.linalg.norm(neutral[66] - neutral[62]) < 1e-4
    assert smiling[66, 1] - smiling[62, 1] > 2.0
    assert smiling[48, 1] < neutral[48, 1] and smiling[54, 1] < neutral[54, 1]


def test_lighting_from_the_side_brightens_that_side(face):
    left_lit = render_face(face, variation=FaceVariation(light_azimuth=-60.0))
    right_lit = render_face(face, variation=FaceVariation(light_azimuth=60.0))
    lm = left_lit.landmarks
    cheek_left = lm[[2, 31]].mean(0).astype(int)
    cheek_right = lm[[14, 35]].mean(0).astype(int)
    left, right = _luminance(left_lit.image), _luminance(right_lit.image)
    assert left[cheek_left[1], cheek_left[0]] > left[cheek_right[1], cheek_right[0]] + 20
    assert right[cheek_right[1], cheek_right[0]] > right[cheek_left[1], cheek_left[0]] + 20


def test_silhouette_fades_gradually_under_sub_pixel_shifts(face):
    bald = dataclasses.replace(face, hair_style="bald")
    landmarks = render_face(bald).landmarks
    forehead_row = int(landmarks[36, 1] - 4.5 * 64 / CANVAS_CM)
    rows = [
        _luminance(render_face(bald, variation=FaceVariation(shift_x=k / 256)).image)[forehead_row]
        for k in range(5)
    ]  # the head moves right by a quarter pixel at a time
    edge = int(np.argmax(np.abs(rows[0] - rows[0][0]) > 1.0))
    values = np.array([row[edge] for row in rows])
    assert values[-1] - values[0] > 60  # the edge pixel turns into background...
    assert np.abs(np.diff(values)).max() < 45  # ...in steps, as its coverage falls


def test_sampled_variations_stay_in_range():
    rng = np.random.default_rng(0)
    variations = [sample_variation(rng) for _ in range(300)]
    assert max(abs(v.yaw) for v in variations) <= 20.0
    assert max(abs(v.pitch) for v in variations) <= 12.0
    assert max(abs(v.roll) for v in variations) <= 10.0
    assert 0.2 < np.mean([v.smile > 0 for v in variations]) < 0.6
    assert all(0.0 <= v.mouth_open <= 1.0 and 0.0 <= v.smile <= 1.0 for v in variations)
    assert len({v.light_azimuth for v in variations}) == 300


@pytest.mark.parametrize("size", [16, 1024, 64.0, True])
def test_bad_size_is_an_input_error(face, size):
    with pytest.raises(InputError) as error:
        render_face(face, size=size)
    assert str(error.value) == IMAGE_SIZE_ERROR.format(size=size, low=32, high=512)


def test_wider_nose_changes_pixels_only_around_nose_and_mouth(face):
    wide = dataclasses.replace(face, nose_width=face.nose_width * 1.3)
    before, after = render_face(face, size=128), render_face(wide, size=128)
    changed = np.argwhere(np.any(before.image != after.image, axis=-1))  # (row, col)
    assert len(changed) > 20
    region = np.concatenate([after.landmarks[27:36], after.landmarks[48:55]])
    low, high = region.min(0) - 4, region.max(0) + 4
    inside = np.all((changed[:, ::-1] >= low) & (changed[:, ::-1] <= high), axis=1)
    assert inside.all()
