import dataclasses
import itertools

import numpy as np
import pytest

from speech2face.errors import InputError
from speech2face.synth.face_params import (
    AGE_RANGE_ERROR,
    PARAM_RANGE_ERROR,
    UNKNOWN_ETHNICITY_ERROR,
    UNKNOWN_GENDER_ERROR,
    UNKNOWN_HAIR_STYLE_ERROR,
)
from speech2face.synth.synthetic_faces import (
    FACE_PARAM_NAMES,
    HAIR_STYLES,
    sample_face_params,
)
from speech2face.vocabulary import GENDERS, SYNTHETIC_ETHNICITIES


def _draw(n, *, gender="female", age=35.0, ethnicity="group_a", seed=0):
    rng = np.random.default_rng(seed)
    return [sample_face_params(rng, gender=gender, age=age, ethnicity=ethnicity) for _ in range(n)]


def _column(faces, name):
    return np.array([getattr(face, name) for face in faces])


def _overlap(a, b):
    """Share of a's values above b's median (0 = separated, 0.5 = identical)."""
    return float(np.mean(a > np.median(b)))


def test_vector_holds_the_continuous_parameters_in_name_order():
    face = _draw(1)[0]
    vector = face.to_vector()
    assert vector.shape == (len(FACE_PARAM_NAMES),) and vector.dtype == np.float64
    assert "hair_style" not in FACE_PARAM_NAMES
    for value, name in zip(vector, FACE_PARAM_NAMES, strict=True):
        assert value == getattr(face, name)
    assert face.face_size == pytest.approx(np.sqrt(face.face_width * face.face_height))


def test_same_seed_same_face_and_different_seeds_differ():
    assert _draw(3, seed=7) == _draw(3, seed=7)
    assert _draw(1, seed=7) != _draw(1, seed=8)


def test_parameters_stay_in_their_ranges():
    faces = []
    for gender in GENDERS:
        for ethnicity in SYNTHETIC_ETHNICITIES:
            for age in (5.0, 30.0, 90.0):
                faces += _draw(20, gender=gender, age=age, ethnicity=ethnicity)
    table = np.stack([face.to_vector() for face in faces])
    lengths = table[:, : FACE_PARAM_NAMES.index("skin_tone")]
    unit = table[:, FACE_PARAM_NAMES.index("skin_tone") :]
    assert (lengths > 0).all()
    assert ((unit >= 0) & (unit <= 1)).all()
    assert {face.hair_style for face in faces} == set(HAIR_STYLES)
    assert all(face.jaw_width < face.face_width for face in faces)


def test_gender_shifts_means_but_distributions_overlap():
    women, men = _draw(400, gender="female"), _draw(400, gender="male", seed=1)
    women_size, men_size = _column(women, "face_size"), _column(men, "face_size")
    assert men_size.mean() - women_size.mean() > 0.6  # centimetres
    assert 0.02 < _overlap(women_size, men_size) < 0.3
    assert _column(men, "brow_thickness").mean() > _column(women, "brow_thickness").mean()
    assert (_column(women, "beard") == 0).all()
    assert 0.3 < np.mean(_column(men, "beard") > 0) < 0.6
    other = _column(_draw(400, gender="other", seed=2), "face_size")
    assert women_size.mean() < other.mean() < men_size.mean()


def test_age_brings_wrinkles_grey_hair_and_a_longer_nose():
    young, old = _draw(300, age=25.0), _draw(300, age=75.0, seed=1)
    for name in ("wrinkles", "hair_grey", "nose_height"):
        assert _column(old, name).mean() > _column(young, name).mean() + 0.1, name
    assert _overlap(_column(old, "nose_height"), _column(young, "nose_height")) > 0.5
    children = _draw(300, age=8.0, seed=2)
    assert _column(children, "face_size").mean() < 0.9 * _column(young, "face_size").mean()


def test_groups_shift_skin_tone_and_nose_with_overlap():
    groups = {g: _draw(400, ethnicity=g, seed=i) for i, g in enumerate(SYNTHETIC_ETHNICITIES)}
    tone = {g: _column(faces, "skin_tone") for g, faces in groups.items()}
    means = [tone[g].mean() for g in SYNTHETIC_ETHNICITIES]
    assert means == sorted(means)
    for lighter, darker in itertools.pairwise(SYNTHETIC_ETHNICITIES):
        assert 0.01 < _overlap(tone[lighter], tone[darker]) < 0.3
    nose_a, nose_d = (_column(groups[g], "nose_width") for g in ("group_a", "group_d"))
    assert nose_d.mean() > nose_a.mean() + 0.2
    assert _overlap(nose_a, nose_d) > 0.02


def test_lengths_share_a_head_size_factor():
    faces = _draw(500)
    correlation = np.corrcoef(_column(faces, "face_width"), _column(faces, "nose_height"))[0, 1]
    assert correlation > 0.05


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gender": "woman"}, UNKNOWN_GENDER_ERROR.format(value="woman", allowed=GENDERS)),
        (
            {"ethnicity": "asian"},
            UNKNOWN_ETHNICITY_ERROR.format(value="asian", allowed=SYNTHETIC_ETHNICITIES),
        ),
        ({"age": 150.0}, AGE_RANGE_ERROR.format(value=150.0, low=5.0, high=100.0)),
        ({"age": float("nan")}, AGE_RANGE_ERROR.format(value=float("nan"), low=5.0, high=100.0)),
    ],
)
def test_bad_demographics_are_input_errors(kwargs, message):
    arguments = {"gender": "male", "age": 30.0, "ethnicity": "group_a"} | kwargs
    with pytest.raises(InputError) as error:
        sample_face_params(np.random.default_rng(0), **arguments)
    assert str(error.value) == message


def test_unknown_hair_style_is_an_input_error():
    face = _draw(1)[0]
    with pytest.raises(InputError) as error:
        dataclasses.replace(face, hair_style="mohawk")
    assert str(error.value) == UNKNOWN_HAIR_STYLE_ERROR.format(value="mohawk", allowed=HAIR_STYLES)


@pytest.mark.parametrize(
    ("name", "value"),
    [("nose_width", 0.0), ("face_width", float("nan")), ("skin_tone", 1.2), ("beard", -0.1)],
)
def test_out_of_range_parameter_is_an_input_error(name, value):
    with pytest.raises(InputError) as error:
        dataclasses.replace(_draw(1)[0], **{name: value})
    assert str(error.value) == PARAM_RANGE_ERROR.format(name=name, value=value)
