"""Interpretable face parameters and their demographic distributions.

Lengths are physical (centimetres, as anthropometry measures them); the other
continuous parameters lie in [0, 1]. Every parameter's mean depends on gender,
age and the synthetic ethnicity group, and its spread (identity noise, with a
shared head-size factor) is wide enough that the groups overlap.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from speech2face.errors import InputError
from speech2face.vocabulary import GENDERS, SYNTHETIC_ETHNICITIES

HAIR_STYLES = ("bald", "short", "medium", "long", "curly")
"""Hair styles the renderer draws (``bald`` keeps a band of hair around the ears)."""

MIN_AGE = 5.0
MAX_AGE = 100.0

UNKNOWN_GENDER_ERROR = "unknown gender {value!r}: expected one of {allowed}"
UNKNOWN_ETHNICITY_ERROR = "unknown synthetic ethnicity {value!r}: expected one of {allowed}"
AGE_RANGE_ERROR = "age {value!r} is outside the synthetic range [{low}, {high}] years"
UNKNOWN_HAIR_STYLE_ERROR = "unknown hair style {value!r}: expected one of {allowed}"
PARAM_RANGE_ERROR = (
    "face parameter {name} = {value!r} is out of range: lengths must be positive centimetres, "
    "the others in [0, 1]"
)


@dataclasses.dataclass(frozen=True)
class FaceParams:
    """One synthetic identity's face.

    Lengths in centimetres: ``face_width`` (bizygomatic, landmarks 0–16),
    ``face_height`` (eye line to menton), ``jaw_width`` (landmarks 4–12),
    ``eye_size`` (palpebral fissure width), ``eye_spacing`` (between pupils),
    ``nose_width`` (31–35), ``nose_height`` (27–33), ``upper_lip_height`` and
    ``lower_lip_height`` (vermilion), ``mouth_width`` (48–54), ``brow_height``
    (eye line to brow) and ``brow_thickness``. In [0, 1]: ``skin_tone`` (light →
    dark), ``hair_lightness`` (black → blond), ``hair_redness``, ``hair_grey``,
    ``wrinkles`` (age marks), ``beard`` and ``moustache`` (density, 0 = none).
    """

    face_width: float
    face_height: float
    jaw_width: float
    eye_size: float
    eye_spacing: float
    nose_width: float
    nose_height: float
    upper_lip_height: float
    lower_lip_height: float
    mouth_width: float
    brow_height: float
    brow_thickness: float
    skin_tone: float
    hair_lightness: float
    hair_redness: float
    hair_grey: float
    wrinkles: float
    beard: float
    moustache: float
    hair_style: str = "short"

    def __post_init__(self) -> None:
        if self.hair_style not in HAIR_STYLES:
            raise InputError(
                UNKNOWN_HAIR_STYLE_ERROR.format(value=self.hair_style, allowed=HAIR_STYLES)
            )
        for name in FACE_PARAM_NAMES:
            value = getattr(self, name)
            valid = 0.0 < value < math.inf if name in _LENGTHS else 0.0 <= value <= 1.0
            if not valid:  # NaN compares false, so it is refused too
                raise InputError(PARAM_RANGE_ERROR.format(name=name, value=value))

    def to_vector(self) -> np.ndarray:
        """The continuous parameters, in ``FACE_PARAM_NAMES`` order, as float64."""
        return np.array([getattr(self, name) for name in FACE_PARAM_NAMES], dtype=np.float64)

    @property
    def face_size(self) -> float:
        """Head size in centimetres: the geometric mean of face width and height.

        A proxy for vocal-tract length (about 11.6 cm for an average adult woman
        here, 12.6 cm for an average man).
        """
        return math.sqrt(self.face_width * self.face_height)


FACE_PARAM_NAMES = tuple(
    field.name for field in dataclasses.fields(FaceParams) if field.name != "hair_style"
)
"""Names of the continuous parameters, the order of ``FaceParams.to_vector``."""

_LENGTHS = FACE_PARAM_NAMES[:12]

# Adult (30 years) means: (female, male), and the identity spread (sd) of each length.
_LENGTH_MEANS = {
    "face_width": (13.0, 14.0),
    "face_height": (10.4, 11.4),
    "jaw_width": (10.0, 11.2),
    "eye_size": (2.9, 3.0),
    "eye_spacing": (6.1, 6.4),
    "nose_width": (2.7, 3.0),
    "nose_height": (4.5, 4.9),
    "upper_lip_height": (0.75, 0.65),
    "lower_lip_height": (1.0, 0.95),
    "mouth_width": (5.0, 5.3),
    "brow_height": (2.0, 1.75),
    "brow_thickness": (0.45, 0.65),
}
_LENGTH_SDS = {
    "face_width": 0.5,
    "face_height": 0.5,
    "jaw_width": 0.55,
    "eye_size": 0.16,
    "eye_spacing": 0.3,
    "nose_width": 0.22,
    "nose_height": 0.3,
    "upper_lip_height": 0.12,
    "lower_lip_height": 0.13,
    "mouth_width": 0.3,
    "brow_height": 0.2,
    "brow_thickness": 0.1,
}
_HEAD_SIZE_SD = 0.03
"""Relative sd of the size factor shared by all lengths (big heads have big noses)."""

# Synthetic groups: shifts of the length means (cm) and of skin and hair colour.
# Shifts are small against the identity spread, so the groups overlap.
_GROUP_LENGTH_SHIFTS = {
    "group_a": {
        "face_width": -0.2,
        "nose_width": -0.08,
        "nose_height": 0.2,
        "eye_size": 0.06,
        "upper_lip_height": -0.07,
        "lower_lip_height": -0.08,
    },
    "group_b": {
        "face_width": 0.3,
        "face_height": -0.1,
        "nose_height": -0.25,
        "eye_size": -0.14,
        "eye_spacing": 0.15,
        "brow_thickness": -0.05,
    },
    "group_c": {"face_height": 0.15, "nose_width": 0.12, "nose_height": 0.1, "mouth_width": 0.1},
    "group_d": {
        "jaw_width": 0.15,
        "nose_width": 0.25,
        "mouth_width": 0.2,
        "upper_lip_height": 0.15,
        "lower_lip_height": 0.15,
    },
}
_GROUP_SKIN_TONE = {"group_a": 0.2, "group_b": 0.39, "group_c": 0.58, "group_d": 0.77}
_SKIN_TONE_SD = 0.12
_GROUP_HAIR_LIGHTNESS = {"group_a": 0.45, "group_b": 0.08, "group_c": 0.1, "group_d": 0.05}
_HAIR_LIGHTNESS_SD = 0.15
_GROUP_HAIR_STYLE_WEIGHTS = {  # multiplies the gender's style probabilities
    "group_a": (1.0, 1.0, 1.0, 1.0, 0.5),
    "group_b": (1.0, 1.0, 1.2, 1.0, 0.3),
    "group_c": (1.0, 1.0, 1.0, 1.0, 1.0),
    "group_d": (1.0, 1.2, 0.8, 0.7, 3.0),
}
_GENDER_HAIR_STYLE_PROBS = {
    "female": (0.01, 0.12, 0.37, 0.4, 0.1),
    "male": (0.06, 0.7, 0.12, 0.04, 0.08),
}
_FACIAL_HAIR_RATE = 0.45
"""Share of adult men with a beard; a moustache goes with half the beards."""
_BALDING_RATE = 0.5
"""Share of elderly men (about 70 years) who are bald."""


def sample_face_params(
    rng: np.random.Generator, *, gender: str, age: float, ethnicity: str
) -> FaceParams:
    """Draw one identity's face for a speaker of this gender, age and synthetic group.

    ``gender`` "other" takes the midpoint of the female and male means and
    style probabilities. The same generator state gives the same face.
    """
    _check_demographics(gender=gender, age=age, ethnicity=ethnicity)
    male = {"female": 0.0, "male": 1.0, "other": 0.5}[gender]
    noise = rng.standard_normal(len(_LENGTHS) + 6)
    uniform = rng.random(6)
    growth = _growth_factor(age)
    head_size = growth * (1.0 + _HEAD_SIZE_SD * noise[0])
    shifts = _GROUP_LENGTH_SHIFTS[ethnicity]
    values: dict[str, float] = {}
    for i, name in enumerate(_LENGTHS):
        female_mean, male_mean = _LENGTH_MEANS[name]
        mean = female_mean + male * (male_mean - female_mean) + shifts.get(name, 0.0)
        mean += _ageing_shift(name, age)
        values[name] = head_size * (mean + _LENGTH_SDS[name] * noise[i + 1] * 0.9)
    values["jaw_width"] = min(values["jaw_width"], 0.95 * values["face_width"])
    extra = noise[len(_LENGTHS) + 1 :]
    values["skin_tone"] = _clip01(_GROUP_SKIN_TONE[ethnicity] + _SKIN_TONE_SD * extra[0])
    values["hair_lightness"] = _clip01(
        _GROUP_HAIR_LIGHTNESS[ethnicity] + _HAIR_LIGHTNESS_SD * abs(extra[1])
    )
    values["hair_redness"] = _clip01(0.1 * abs(extra[2]))
    values["hair_grey"] = _clip01(_sigmoid((age - 52.0) / 7.0) + 0.12 * extra[3])
    values["wrinkles"] = _clip01(_sigmoid((age - 50.0) / 8.0) + 0.08 * extra[4])
    has_beard = age >= 17 and uniform[0] < _FACIAL_HAIR_RATE * male
    beard = 0.25 + 0.75 * uniform[1] if has_beard else 0.0
    has_moustache = age >= 17 and uniform[2] < (0.5 if has_beard else 0.1) * male
    moustache = 0.3 + 0.7 * uniform[3] if has_moustache else 0.0
    values["beard"] = beard
    values["moustache"] = moustache
    style = _hair_style(male=male, age=age, ethnicity=ethnicity, draw=uniform[4])
    return FaceParams(**{name: float(values[name]) for name in FACE_PARAM_NAMES}, hair_style=style)


def _check_demographics(*, gender: str, age: float, ethnicity: str) -> None:
    if gender not in GENDERS:
        raise InputError(UNKNOWN_GENDER_ERROR.format(value=gender, allowed=GENDERS))
    if ethnicity not in SYNTHETIC_ETHNICITIES:
        raise InputError(
            UNKNOWN_ETHNICITY_ERROR.format(value=ethnicity, allowed=SYNTHETIC_ETHNICITIES)
        )
    if not (MIN_AGE <= age <= MAX_AGE):  # also rejects NaN
        raise InputError(AGE_RANGE_ERROR.format(value=age, low=MIN_AGE, high=MAX_AGE))


def _growth_factor(age: float) -> float:
    """Children's faces are smaller: 0.8 of adult size at 5 years, adult from 18."""
    return 0.8 + 0.2 * min(1.0, (age - MIN_AGE) / (18.0 - MIN_AGE))


def _ageing_shift(name: str, age: float) -> float:
    """Adult ageing: the nose grows, lips thin, brows and soft tissue sag."""
    years = max(0.0, age - 30.0)
    per_year = {
        "nose_height": 0.012,
        "nose_width": 0.006,
        "upper_lip_height": -0.004,
        "lower_lip_height": -0.003,
        "brow_height": -0.005,
        "face_height": 0.008,
        "brow_thickness": 0.002,
    }
    return per_year.get(name, 0.0) * years


def _hair_style(*, male: float, age: float, ethnicity: str, draw: float) -> str:
    female_p = np.array(_GENDER_HAIR_STYLE_PROBS["female"])
    male_p = np.array(_GENDER_HAIR_STYLE_PROBS["male"])
    probs = (1.0 - male) * female_p + male * male_p
    probs = probs * np.array(_GROUP_HAIR_STYLE_WEIGHTS[ethnicity])
    probs[0] += male * _BALDING_RATE * _sigmoid((age - 60.0) / 8.0)
    cumulative = np.cumsum(probs / probs.sum())
    index = min(int(np.searchsorted(cumulative, draw, side="right")), len(HAIR_STYLES) - 1)
    return HAIR_STYLES[index]


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def _clip01(x: float) -> float:
    return min(1.0, max(0.0, float(x)))
