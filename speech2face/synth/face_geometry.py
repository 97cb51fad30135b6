"""Face geometry: the 68 landmarks of a parametrised face, its pose and expression
(``FaceVariation``), and the camera that images them.

Coordinates are centimetres in the *face frame*: origin midway between the eye
centres, x towards the image's right, y down. Landmarks follow the iBUG 300-W
68-point order that dlib's predictor uses (jaw 0–16, brows 17–26, nose 27–35,
eyes 36–47, outer lips 48–59, inner lips 60–67), with point 0 on the image's
left. The head is an ellipsoid; features sit on its surface (the nose stands
out of it), so yaw and pitch move near and far points differently.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np

from speech2face.synth.face_params import FaceParams

CANVAS_CM = 25.0
"""Width (and height) of the square image, in centimetres at the face."""
EYE_LINE = 0.44
"""Height of the eye line in a canonical image, as a fraction of the image."""
HEAD_DEPTH_CM = 9.0
"""Front-to-centre depth of the head ellipsoid."""
_LOWER_FACE_FLATTENING = 0.7

# Jaw contour, left half (points 0..8): height as a fraction of face height,
# and how far each point has moved from face width (0) to jaw width (1), then
# from jaw width towards the chin.
_JAW_Y = np.array([0.02, 0.17, 0.32, 0.47, 0.61, 0.74, 0.85, 0.94, 1.0])
_JAW_UPPER_TAPER = np.array([0.0, 0.05, 0.2, 0.5, 1.0])
_JAW_LOWER_SPREAD = np.array([0.8, 0.56, 0.3, 0.0])
_JAW_OPEN_DROP = np.array([0.3, 0.6, 0.9, 1.0, 0.9, 0.6, 0.3])  # points 5..11
_BROW_X = np.array([-1.0, -0.58, -0.1, 0.35, 0.68])  # eye widths from the eye centre
_BROW_Y = np.array([0.6, 0.9, 1.0, 0.92, 0.72])  # fractions of brow height
_NOSE_BUMP = np.array([0.3, 0.6, 1.2, 1.9, 0.7, 1.0, 1.2, 1.0, 0.7])  # points 27..35, cm
MOUTH_OPEN_CM = 1.1
"""How far the lower lip and chin drop at ``mouth_open`` = 1."""
SMILE_RAISE_CM = 0.35
"""How far the mouth corners rise at ``smile`` = 1."""


def face_landmarks(
    params: FaceParams, *, smile: float = 0.0, mouth_open: float = 0.0
) -> np.ndarray:
    """The 68 landmarks (68, 2) of this face in the face frame, in centimetres."""
    points = np.zeros((68, 2))
    points[0:17] = _jaw(params, mouth_open)
    points[17:27] = _brows(params)
    points[27:36] = _nose(params)
    points[36:48] = _eyes(params, smile)
    points[48:68] = _mouth(params, smile, mouth_open)
    return points


def landmark_depth_bump(n_points: int = 68) -> np.ndarray:
    """Extra depth (cm) of each landmark above the head ellipsoid (the nose stands out)."""
    bump = np.zeros(n_points)
    bump[27:36] = _NOSE_BUMP
    bump[48:68] = 0.3
    return bump


def mouth_stomion_y(params: FaceParams) -> float:
    """Height of the closed lips' meeting line (stomion) in the face frame."""
    return _subnasale_y(params) + 0.26 * params.nose_height + params.upper_lip_height


def _subnasale_y(params: FaceParams) -> float:
    return -0.15 + params.nose_height


def _jaw(params: FaceParams, mouth_open: float) -> np.ndarray:
    half_face, half_jaw = params.face_width / 2, params.jaw_width / 2
    half_width = np.concatenate(
        [
            half_face - (half_face - half_jaw) * _JAW_UPPER_TAPER,
            half_jaw * _JAW_LOWER_SPREAD,
        ]
    )
    y = params.face_height * _JAW_Y
    left = np.stack([-half_width, y], axis=1)
    right = np.stack([half_width, y], axis=1)[::-1][1:]
    jaw = np.concatenate([left, right])
    jaw[5:12, 1] += MOUTH_OPEN_CM * mouth_open * _JAW_OPEN_DROP
    return jaw


def _brows(params: FaceParams) -> np.ndarray:
    centre = params.eye_spacing / 2
    left = np.stack([-centre + params.eye_size * _BROW_X, -params.brow_height * _BROW_Y], axis=1)
    right = left[::-1] * np.array([-1.0, 1.0])
    return np.concatenate([left, right])


def _nose(params: FaceParams) -> np.ndarray:
    top, height, half_width = -0.15, params.nose_height, params.nose_width / 2
    base = top + height
    return np.array(
        [
            [0.0, top],
            [0.0, top + 0.25 * height],
            [0.0, top + 0.5 * height],
            [0.0, top + 0.74 * height],
            [-half_width, base - 0.095 * height],
            [-half_width / 2, base - 0.04 * height],
            [0.0, base],
            [half_width / 2, base - 0.04 * height],
            [half_width, base - 0.095 * height],
        ]
    )


def _eyes(params: FaceParams, smile: float) -> np.ndarray:
    width = params.eye_size
    opening = 1.0 - 0.25 * smile
    upper, lower = -0.17 * width * opening, 0.11 * width * opening
    # left eye (image left) from its outer corner, clockwise as dlib orders it
    offsets = np.array(
        [
            [-width / 2, 0.0],
            [-width / 6, upper],
            [width / 6, upper],
            [width / 2, 0.02 * width],
            [width / 6, lower],
            [-width / 6, lower],
        ]
    )
    left = offsets + np.array([-params.eye_spacing / 2, 0.0])
    # right eye: the mirror image, again starting at its inner corner (42)
    mirrored = left * np.array([-1.0, 1.0])
    right = mirrored[[3, 2, 1, 0, 5, 4]]
    return np.concatenate([left, right])


def _mouth(params: FaceParams, smile: float, mouth_open: float) -> np.ndarray:
    width, upper, lower = params.mouth_width, params.upper_lip_height, params.lower_lip_height
    stomion = mouth_stomion_y(params)
    drop = MOUTH_OPEN_CM * mouth_open
    corner_x = width / 2 * (1.0 + 0.08 * smile)
    corner_y = stomion - SMILE_RAISE_CM * smile
    bottom = stomion + drop
    outer_half = [  # 48..51: corner, upper lateral, Cupid's bow peak, upper centre
        [-corner_x, corner_y],
        [-0.3 * width, stomion - 0.78 * upper - 0.15 * smile],
        [-0.12 * width, stomion - 1.1 * upper],
        [0.0, stomion - upper],
    ]
    lower_half = [  # 57..59: lower centre, lateral points
        [0.0, bottom + lower],
        [-0.14 * width, bottom + 0.97 * lower],
        [-0.3 * width, bottom + 0.75 * lower - 0.1 * smile],
    ]
    outer = np.array(
        outer_half + _mirror(outer_half[:3])[::-1] + _mirror(lower_half[1:])[::-1] + lower_half
    )
    inner = np.array(
        [
            [-0.86 * corner_x, corner_y],
            [-0.14 * width, stomion - 0.02],
            [0.0, stomion],
            [0.14 * width, stomion - 0.02],
            [0.86 * corner_x, corner_y],
            [0.14 * width, bottom],
            [0.0, bottom],
            [-0.14 * width, bottom],
        ]
    )
    return np.concatenate([outer, inner])


def _mirror(points: list[list[float]]) -> list[list[float]]:
    return [[-x, y] for x, y in points]


@dataclasses.dataclass(frozen=True)
class FaceVariation:
    """Nuisance factors of one render: pose, framing, light and expression.

    Angles in degrees (``yaw`` > 0 turns the face towards the image's right,
    ``pitch`` > 0 tilts it down); ``shift_x``/``shift_y`` are fractions of the
    image; light azimuth/elevation in degrees (0, 0 = from the camera);
    ``smile`` and ``mouth_open`` in [0, 1]. The defaults are the canonical render.
    """

    yaw: float = 0.0
    pitch: float = 0.0
    roll: float = 0.0
    scale: float = 1.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    light_azimuth: float = 0.0
    light_elevation: float = 0.0
    light_intensity: float = 1.0
    smile: float = 0.0
    mouth_open: float = 0.0


@dataclasses.dataclass(frozen=True)
class Camera:
    """Orthographic camera: face frame (cm, with depth) → image pixels.

    ``pose`` gives the head's rotation, scale and shift (its light and
    expression fields are not the camera's business). ``project`` returns
    continuous pixel coordinates whose origin is the top-left *corner* of the
    image (a pixel's centre sits at +0.5).
    """

    size: float
    pose: FaceVariation = FaceVariation()
    head_half_width: float = 7.0
    head_centre_y: float = 0.5
    head_half_height: float = 10.5

    def without_rotation(self) -> Camera:
        """The same camera for the torso, which does not turn with the head."""
        still = dataclasses.replace(self.pose, yaw=0.0, pitch=0.0, roll=0.0)
        return dataclasses.replace(self, pose=still)

    @property
    def pixels_per_cm(self) -> float:
        return self.size / CANVAS_CM * self.pose.scale

    @functools.cached_property
    def rotation(self) -> np.ndarray:
        pose = self.pose
        yaw, pitch, roll = (math.radians(a) for a in (pose.yaw, pose.pitch, pose.roll))
        cy, sy, cp, sp, cr, sr = (
            math.cos(yaw),
            math.sin(yaw),
            math.cos(pitch),
            math.sin(pitch),
            math.cos(roll),
            math.sin(roll),
        )
        about_y = np.array([[cy, 0.0, sy], [0.0, 1.0, 0.0], [-sy, 0.0, cy]])
        about_x = np.array([[1.0, 0.0, 0.0], [0.0, cp, -sp], [0.0, sp, cp]])
        in_plane = np.array([[cr, -sr, 0.0], [sr, cr, 0.0], [0.0, 0.0, 1.0]])
        return in_plane @ about_x @ about_y

    def depth(self, points: np.ndarray) -> np.ndarray:
        """Height of the head's front surface above its centre plane (cm).

        An ellipsoid above the head's centre; below it the lower face (mouth,
        chin) curves back more slowly, as a jaw does.
        """
        u = points[:, 0] / self.head_half_width
        v = (points[:, 1] - self.head_centre_y) / self.head_half_height
        v = np.where(v > 0.0, _LOWER_FACE_FLATTENING * v, v)
        return HEAD_DEPTH_CM * np.sqrt(np.clip(1.0 - u * u - v * v, 0.0, None))

    def project(self, points: np.ndarray, bump: float | np.ndarray = 0.0) -> np.ndarray:
        """Pixel coordinates (n, 2) of face-frame points lifted ``bump`` cm off the head."""
        points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
        centred = np.column_stack(
            [points[:, 0], points[:, 1] - self.head_centre_y, self.depth(points) + bump]
        )
        if self.pose.yaw or self.pose.pitch or self.pose.roll:
            centred = centred @ self.rotation.T
        k = self.pixels_per_cm
        x = self.size * (0.5 + self.pose.shift_x) + k * centred[:, 0]
        y = self.size * (EYE_LINE + self.pose.shift_y) + k * (centred[:, 1] + self.head_centre_y)
        return np.column_stack([x, y])
