"""Procedural, anti-aliased face images with exact 68-point landmarks.

Shapes are built in the face frame (centimetres, see ``face_geometry``),
projected by a camera (pose jitter), drawn with Pillow at 4× the output size
(``face_painter``), box-filtered down, and shaded by a Lambertian head
ellipsoid under one light.
``variation=None`` gives the canonical image: frontal, neutral, evenly lit.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from speech2face.errors import InputError
from speech2face.synth.face_geometry import (
    HEAD_DEPTH_CM,
    Camera,
    FaceVariation,
    face_landmarks,
    landmark_depth_bump,
)
from speech2face.synth.face_painter import FacePainter
from speech2face.synth.face_params import FaceParams

SUPERSAMPLE = 4
MIN_SIZE, MAX_SIZE = 32, 512
IMAGE_SIZE_ERROR = "face image size {size!r} must be an integer in [{low}, {high}]"

_AMBIENT, _DIFFUSE = 0.52, 0.55
"""Lambertian shading: light that reaches every surface, and light that depends on its angle."""


@dataclasses.dataclass(frozen=True)
class RenderedFace:
    """An RGB image (size, size, 3) uint8 and its landmarks (68, 2) float32.

    Landmarks are (x, y) pixel coordinates with the centre of the top-left
    pixel at (0, 0), as dlib and OpenCV report them.
    """

    image: np.ndarray
    landmarks: np.ndarray


def sample_variation(rng: np.random.Generator) -> FaceVariation:
    """Random pose (±20° yaw, ±12° pitch, ±10° roll), framing, light and expression."""
    normal = rng.standard_normal(5)
    uniform = rng.random(9)
    return FaceVariation(
        yaw=float(np.clip(9.0 * normal[0], -20.0, 20.0)),
        pitch=float(np.clip(5.0 * normal[1], -12.0, 12.0)),
        roll=float(np.clip(4.0 * normal[2], -10.0, 10.0)),
        scale=float(0.92 + 0.16 * uniform[0]),
        shift_x=float(np.clip(0.025 * normal[3], -0.06, 0.06)),
        shift_y=float(np.clip(0.025 * normal[4], -0.06, 0.06)),
        light_azimuth=float(-70.0 + 140.0 * uniform[1]),
        light_elevation=float(-15.0 + 55.0 * uniform[2]),
        light_intensity=float(0.75 + 0.5 * uniform[3]),
        smile=float(0.3 + 0.7 * uniform[5]) if uniform[4] < 0.4 else 0.0,
        mouth_open=float(0.2 + 0.8 * uniform[7]) if uniform[6] < 0.3 else 0.0,
    )


def render_face(
    params: FaceParams, *, size: int = 64, variation: FaceVariation | None = None
) -> RenderedFace:
    """Draw this face; the same arguments always give the same bytes."""
    if isinstance(size, bool) or not isinstance(size, int) or not MIN_SIZE <= size <= MAX_SIZE:
        raise InputError(IMAGE_SIZE_ERROR.format(size=size, low=MIN_SIZE, high=MAX_SIZE))
    variation = variation or FaceVariation()
    camera = Camera(
        size=float(size * SUPERSAMPLE),
        pose=variation,
        head_half_width=params.face_width / 2 * 1.05,
        head_centre_y=0.05 * params.face_height,
        head_half_height=0.95 * params.face_height,
    )
    landmarks = face_landmarks(params, smile=variation.smile, mouth_open=variation.mouth_open)
    painter = FacePainter(params, camera, landmarks, light_azimuth=variation.light_azimuth)
    painter.paint()
    image = _shade(painter, variation, size)
    pixels = camera.project(landmarks, landmark_depth_bump()) / SUPERSAMPLE - 0.5
    return RenderedFace(image=image, landmarks=pixels.astype(np.float32))


def _shade(painter: FacePainter, variation: FaceVariation, size: int) -> np.ndarray:
    """Downsample the canvas and light it: Lambertian head ellipsoid, one light."""
    image = np.asarray(painter.image.reduce(SUPERSAMPLE), dtype=np.float32)
    coverage = np.asarray(painter.mask.reduce(SUPERSAMPLE), dtype=np.float32) / 255.0
    camera = painter.camera
    k = camera.pixels_per_cm / SUPERSAMPLE
    centre = (
        camera.project(
            np.array([[0.0, camera.head_centre_y]]),
            -camera.depth(np.array([[0.0, camera.head_centre_y]])),
        )[0]
        / SUPERSAMPLE
    )
    grid = np.arange(size, dtype=np.float32) + 0.5
    x = (grid[None, :] - centre[0]) / k
    y = (grid[:, None] - centre[1]) / k
    roll = math.radians(variation.roll)
    x, y = x * math.cos(roll) + y * math.sin(roll), -x * math.sin(roll) + y * math.cos(roll)
    a, b, c = camera.head_half_width, camera.head_half_height, HEAD_DEPTH_CM
    inside = np.clip(1.0 - (x / a) ** 2 - (y / b) ** 2, 0.0, None)
    normal = np.stack([x / a**2, y / b**2, np.sqrt(inside) / c + 0.02], axis=-1)
    normal /= np.linalg.norm(normal, axis=-1, keepdims=True)
    az, el = math.radians(variation.light_azimuth), math.radians(variation.light_elevation)
    light = np.array([math.sin(az) * math.cos(el), -math.sin(el), math.cos(az) * math.cos(el)])
    lambert = np.clip(normal @ light.astype(np.float32), 0.0, None)
    shade = variation.light_intensity * (_AMBIENT + _DIFFUSE * lambert)
    factor = 1.0 + coverage * (shade - 1.0)
    return np.clip(image * factor[..., None] + 0.5, 0, 255).astype(np.uint8)
