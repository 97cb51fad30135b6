"""Draws one face, back to front: Pillow shapes on a supersampled canvas plus a head mask.

Every shape is built in the face frame (centimetres), recorded, and projected
with all the others in one camera call; torso shapes (neck, clothes) use a
camera without the head's rotation. Colours are albedo: lighting comes later.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw

from speech2face.synth.face_geometry import (
    CANVAS_CM,
    Camera,
    landmark_depth_bump,
    mouth_stomion_y,
)
from speech2face.synth.face_params import FaceParams

_BACKGROUND = (212, 212, 208)
_CLOTHES = (64, 78, 104)
_SKIN_PALETTE = np.array(
    [
        (246, 219, 198),
        (228, 186, 152),
        (201, 150, 111),
        (160, 110, 76),
        (114, 76, 52),
        (78, 53, 38),
    ],
    dtype=np.float64,
)
_HAIR_PALETTE = np.array([(22, 18, 16), (70, 46, 30), (140, 100, 60), (214, 180, 116)], float)
_HAIR_RED = np.array((150, 62, 30), float)
_HAIR_GREY = np.array((200, 198, 194), float)
_IRIS_DARK, _IRIS_LIGHT = np.array((62, 40, 26), float), np.array((92, 124, 150), float)
_LIP_TINT = np.array((170, 66, 74), float)


def skin_colour(tone: float) -> np.ndarray:
    """Skin albedo (RGB, 0–255) for a tone in [0, 1], light to dark."""
    return _interpolate(_SKIN_PALETTE, tone)


def hair_colour(params: FaceParams) -> np.ndarray:
    """Hair albedo (RGB, 0–255): black to blond, then towards red, then towards grey."""
    base = _interpolate(_HAIR_PALETTE, params.hair_lightness)
    base = base + params.hair_redness * (_HAIR_RED - base)
    return base + params.hair_grey * (_HAIR_GREY - base)


def _interpolate(palette: np.ndarray, t: float) -> np.ndarray:
    position = min(max(t, 0.0), 1.0) * (len(palette) - 1)
    low = min(int(position), len(palette) - 2)
    return palette[low] + (position - low) * (palette[low + 1] - palette[low])


def _rgba(colour: np.ndarray, alpha: float = 255.0) -> tuple[int, int, int, int]:
    r, g, b = (min(255, max(0, round(c))) for c in np.asarray(colour, dtype=float).tolist())
    return r, g, b, min(255, max(0, round(float(alpha))))


_CIRCLE = np.stack(
    [
        np.cos(np.linspace(0, 2 * np.pi, 24, endpoint=False)),
        np.sin(np.linspace(0, 2 * np.pi, 24, endpoint=False)),
    ],
    axis=1,
)


def _ellipse(cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    return _CIRCLE * np.array([rx, ry]) + np.array([cx, cy])


def _spline(points: np.ndarray, samples: int = 4) -> np.ndarray:
    """Open Catmull–Rom curve through ``points`` (ends kept), ``samples`` per segment."""
    return _spline_matrix(len(points), samples) @ points


@functools.cache
def _spline_matrix(n_points: int, samples: int) -> np.ndarray:
    """The linear map from control points to an open Catmull–Rom curve's samples."""
    # end tangents from reflected phantom points: p[-1] = 2 p[0] - p[1], likewise at the end
    phantom = np.zeros((n_points + 2, n_points))
    phantom[1:-1] = np.eye(n_points)
    phantom[0, :2] = (2.0, -1.0)
    phantom[-1, -2:] = (-1.0, 2.0)
    t = np.linspace(0.0, 1.0, samples, endpoint=False)
    basis = 0.5 * np.stack(
        [-t + 2 * t**2 - t**3, 2 - 5 * t**2 + 3 * t**3, t + 4 * t**2 - 3 * t**3, -(t**2) + t**3],
        axis=1,
    )
    rows = [basis @ phantom[i : i + 4] for i in range(n_points - 1)]
    rows.append(np.eye(n_points)[-1:])
    return np.concatenate(rows)


class _Op(NamedTuple):
    """One recorded drawing operation, waiting for its points to be projected."""

    kind: str  # "polygon", "line" or "clipped"
    shapes: list[np.ndarray]  # face-frame points (cm), one array per shape
    bump: float | np.ndarray  # depth above the head surface (cm), per op or per point
    style: tuple  # fill, and the mask flag (polygon), width (line) or fills (clipped)
    torso: bool  # projected without the head's rotation


class FacePainter:
    """Draws one face, back to front, on a supersampled canvas and a head mask."""

    def __init__(
        self, params: FaceParams, camera: Camera, landmarks: np.ndarray, *, light_azimuth: float
    ) -> None:
        self.p, self.camera, self.lm = params, camera, landmarks
        self.light_azimuth = light_azimuth
        side = int(camera.size)
        self.image = Image.new("RGB", (side, side), _BACKGROUND)
        self.mask = Image.new("L", (side, side), 0)
        self.draw = ImageDraw.Draw(self.image, "RGBA")
        self.draw_mask = ImageDraw.Draw(self.mask)
        self.px_per_cm = camera.pixels_per_cm
        self.skin = skin_colour(params.skin_tone)
        self.hair = hair_colour(params)
        self.shadow = self.skin * 0.55
        self.lip = self.skin * 0.7 + 0.3 * _LIP_TINT * (0.55 + 0.45 * (1 - params.skin_tone))
        self.stomion = mouth_stomion_y(params)
        self.mouth_drop = self.lm[66, 1] - self.lm[62, 1]
        self._ops: list[_Op] = []

    # -- primitives: recorded in face-frame centimetres, projected at once by ``paint`` --

    def polygon(self, points, colour, alpha=255.0, *, bump=0.0, mask=False, torso=False) -> None:
        """A filled polygon; ``torso`` ones keep still when the head turns."""
        self._ops.append(_Op("polygon", [points], bump, (_rgba(colour, alpha), mask), torso))

    def line(self, points, colour, alpha, width_cm, *, bump=0.0) -> None:
        width = max(1, round(width_cm * self.px_per_cm))
        self._ops.append(_Op("line", [points], bump, (_rgba(colour, alpha), width), False))

    def _execute(self, kind: str, shapes: list[np.ndarray], style: tuple) -> None:
        if kind == "polygon":
            xy = shapes[0].ravel().tolist()
            self.draw.polygon(xy, fill=style[0])
            if style[1]:
                self.draw_mask.polygon(xy, fill=255)
        elif kind == "line":
            self.draw.line(shapes[0].ravel().tolist(), fill=style[0], width=style[1], joint="curve")
        else:
            self._draw_clipped(shapes, style)

    def _draw_clipped(self, shapes: list[np.ndarray], fills: tuple) -> None:
        """Fill ``shapes[1:]`` clipped to the polygon ``shapes[0]`` (an iris in its eye)."""
        outline = shapes[0]
        left, top = np.floor(outline.min(0)).astype(int) - 1
        right, bottom = np.ceil(outline.max(0)).astype(int) + 2
        box = (int(left), int(top), int(right), int(bottom))
        offset = np.array([left, top], dtype=np.float64)
        patch = self.image.crop(box)
        clip = Image.new("L", patch.size, 0)
        ImageDraw.Draw(clip).polygon((outline - offset).ravel().tolist(), fill=255)
        draw = ImageDraw.Draw(patch)
        for shape, fill in zip(shapes[1:], fills, strict=True):
            draw.polygon((shape - offset).ravel().tolist(), fill=fill)
        self.image.paste(patch, box, clip)

    # -- layers, back to front ---------------------------------------------

    def paint(self) -> None:
        """Record every layer, project all their points in one go, then draw them in order."""
        self.back_hair()
        self.clothes_and_neck()
        self.ears()
        self.head()
        self.skin_relief()
        self.nose()
        self.age_marks()
        self.eyes()
        self.brows()
        self.lips()
        self.facial_hair()
        self.front_hair()
        shapes = [shape for op in self._ops for shape in op.shapes]
        bumps = [
            np.full(len(shape), op.bump) if np.ndim(op.bump) == 0 else op.bump
            for op in self._ops
            for shape in op.shapes
        ]
        points, bumps = np.concatenate(shapes), np.concatenate(bumps)
        ends = np.cumsum([len(shape) for shape in shapes])[:-1]
        pieces = {
            torso: np.split(camera.project(points, bumps) - 0.5, ends)  # Pillow: centres at .0
            for torso, camera in ((False, self.camera), (True, self.camera.without_rotation()))
        }
        start = 0
        for op in self._ops:
            self._execute(op.kind, pieces[op.torso][start : start + len(op.shapes)], op.style)
            start += len(op.shapes)

    def _cranium(self, grow: float, bottom_y: float, n: int = 25) -> np.ndarray:
        """Arc over the top of the head, ``grow`` cm outside the skull, from right to left."""
        cam = self.camera
        half_w = self.p.face_width / 2 * 1.04 + grow
        half_h = 0.88 * cam.head_half_height + grow
        sin_start = np.clip((cam.head_centre_y - bottom_y) / half_h, -1.0, 1.0)
        start = math.asin(sin_start)
        theta = np.linspace(start, math.pi - start, n)
        cos, sin = np.cos(theta), np.sin(theta)
        # a superellipse: a rounder, fuller skull than an ellipse
        x = half_w * np.sign(cos) * np.abs(cos) ** 0.8
        y = cam.head_centre_y - half_h * np.sign(sin) * np.abs(sin) ** 0.8
        return np.stack([x, y], axis=1)

    def _curls(self, arc: np.ndarray) -> np.ndarray:
        """Scallop an outline: each point pushed out from the head centre by up to 0.6 cm."""
        centre = np.array([0.0, self.camera.head_centre_y])
        offset = arc - centre
        radius = np.linalg.norm(offset, axis=1, keepdims=True)
        bumps = 0.6 * np.abs(np.sin(np.linspace(0.0, 11.0 * np.pi, len(arc))))[:, None]
        return centre + offset * (1.0 + bumps / radius)

    def back_hair(self) -> None:
        style, height, width = self.p.hair_style, self.p.face_height, self.p.face_width
        if style == "medium":
            arc, bottom, flare = self._cranium(1.3, 0.3 * height), 0.62 * height, 1.4
        elif style == "long":
            arc, bottom, flare = self._cranium(1.2, 0.3 * height), height + 5.0, 2.2
        elif style == "curly":
            arc, bottom, flare = self._curls(self._cranium(2.6, 0.2 * height)), 0.55 * height, 2.6
        else:
            return
        right_x = width / 2 + flare
        tail = np.array(
            [
                [-right_x, bottom],
                [-0.4 * width, bottom + 0.6],
                [0.4 * width, bottom + 0.6],
                [right_x, bottom],
            ]
        )
        self.polygon(np.concatenate([arc, tail]), self.hair * 0.8, mask=True)

    def clothes_and_neck(self) -> None:
        p = self.p
        half_neck = 0.34 * p.jaw_width
        neck_top, chin = 0.5 * p.face_height, p.face_height
        clothes = np.array(
            [
                [-half_neck - 0.3, chin + 3.0],
                [-0.55 * CANVAS_CM, chin + 5.5],
                [-0.55 * CANVAS_CM, chin + 20.0],
                [0.55 * CANVAS_CM, chin + 20.0],
                [0.55 * CANVAS_CM, chin + 5.5],
                [half_neck + 0.3, chin + 3.0],
                [0.0, chin + 4.6],
            ],
        )
        self.polygon(clothes, np.array(_CLOTHES, float), torso=True)
        neck = np.array(
            [
                [-half_neck, neck_top],
                [half_neck, neck_top],
                [half_neck * 1.08, chin + 4.2],
                [-half_neck * 1.08, chin + 4.2],
            ]
        )
        self.polygon(neck, self.skin * 0.93, mask=True, torso=True)
        for depth, alpha in ((2.6, 45), (1.6, 55)):  # a soft shadow under the jaw
            shadow = _ellipse(0.0, chin - 0.1, 0.97 * half_neck, depth)
            self.polygon(shadow, self.shadow, alpha, torso=True)

    def ears(self) -> None:
        for side in (-1.0, 1.0):
            x = side * (self.p.face_width / 2 + 0.05)
            self.polygon(_ellipse(x, 1.6, 0.85, 2.7), self.skin * 0.96, mask=True)
            self.polygon(_ellipse(x + side * 0.1, 1.7, 0.45, 1.8), self.shadow, 70)
        if self.p.hair_style == "bald":
            for side in (-1.0, 1.0):
                band = _ellipse(side * (self.p.face_width / 2 - 0.15), -1.6, 0.75, 1.9)
                self.polygon(band, self.hair, 150 + 80 * (1 - self.p.hair_grey))

    def head(self) -> None:
        jaw = self.lm[0:17]
        outline = np.concatenate([_spline(jaw, 3), self._cranium(0.0, jaw[0, 1])[1:-1]])
        self.polygon(outline, self.skin, mask=True)
        self.line(_spline(jaw[2:15], 3), self.shadow, 40, 0.14)

    def skin_relief(self) -> None:
        """Soft shadows and blush that make the flat face read as a face."""
        p, lm = self.p, self.lm
        for eye in (lm[36:42], lm[42:48]):
            cx = eye[:, 0].mean()
            self.polygon(_ellipse(cx, -0.55, 0.72 * p.eye_size, 0.95), self.shadow, 30)
        for side in (-1.0, 1.0):
            cheek = _ellipse(side * (p.eye_spacing / 2 + 0.4), 2.9, 1.4, 1.0)
            self.polygon(cheek, np.array((205.0, 90.0, 90.0)), 16)
        lower = self.stomion + self.mouth_drop + p.lower_lip_height
        self.polygon(_ellipse(0.0, lower + 0.3, 0.22 * p.mouth_width, 0.3), self.shadow, 40)

    def nose(self) -> None:
        p, lm = self.p, self.lm
        bump = landmark_depth_bump()[27:36]
        nose = lm[27:36]
        base_y = nose[6, 1]
        light_x = math.sin(math.radians(self.light_azimuth))
        for side in (-1.0, 1.0):
            dark = 38 + 45 * max(0.0, -side * light_x)
            flank = np.array(
                [
                    [side * 0.3, nose[0, 1] + 0.4],
                    [side * 0.55, nose[0, 1] + 0.4],
                    [side * 0.5 * p.nose_width * 0.95, nose[3, 1]],
                    [side * 0.3 * p.nose_width, nose[3, 1] + 0.2],
                ]
            )
            self.polygon(flank, self.shadow, dark, bump=np.array([0.6, 0.4, 0.6, 1.2]))
            wing = _ellipse(side * 0.4 * p.nose_width, base_y - 0.32, 0.45, 0.38)
            self.polygon(wing, self.skin * 0.9, 200, bump=0.8)
            self.line(
                _spline(
                    np.array(
                        [
                            [side * 0.5 * p.nose_width, base_y - 0.7],
                            [side * 0.56 * p.nose_width, base_y - 0.35],
                            [side * 0.3 * p.nose_width, base_y - 0.05],
                        ]
                    ),
                    3,
                ),
                self.shadow,
                110,
                0.1,
                bump=0.9,
            )
        self.polygon(
            _ellipse(0.0, base_y + 0.28, 0.33 * p.nose_width, 0.22), self.shadow, 55, bump=0.4
        )
        self.polygon(
            _ellipse(0.0, nose[3, 1] + 0.1, 0.42, 0.45), self.skin * 0.97, 255, bump=bump[3]
        )
        self.polygon(
            _ellipse(0.0, nose[3, 1] - 0.05, 0.22, 0.22), np.full(3, 255.0), 45, bump=bump[3] + 0.05
        )
        for side in (-1.0, 1.0):
            nostril = _ellipse(side * 0.2 * p.nose_width, base_y - 0.1, 0.27, 0.12)
            self.polygon(nostril, self.skin * 0.25, 170, bump=1.0)

    def age_marks(self) -> None:
        p, lm = self.p, self.lm
        w = p.wrinkles
        base_y = lm[33, 1]
        for side in (-1.0, 1.0):
            fold = np.array(
                [
                    [side * (0.5 * p.nose_width + 0.3), base_y - 0.55],
                    [side * (0.5 * p.nose_width + 0.75), base_y + 0.5],
                    [side * (0.5 * p.mouth_width + 0.45), self.stomion + 0.45],
                ]
            )
            self.line(_spline(fold, 3), self.shadow, 22 + 120 * w, 0.15)
            if w < 0.05:
                continue
            corner = np.array([side * (p.eye_spacing / 2 + p.eye_size / 2 + 0.25), 0.0])
            for angle in (-25.0, 0.0, 25.0):
                rad = math.radians(angle)
                tip = corner + 0.75 * np.array([side * math.cos(rad), math.sin(rad)])
                self.line(np.stack([corner, tip]), self.shadow, 120 * w, 0.11)
            cx = side * p.eye_spacing / 2
            bag = np.array(
                [
                    [cx - 0.35 * p.eye_size, 0.22 * p.eye_size + 0.25],
                    [cx, 0.22 * p.eye_size + 0.45],
                    [cx + 0.35 * p.eye_size, 0.22 * p.eye_size + 0.25],
                ]
            )
            self.line(_spline(bag, 3), self.shadow, 110 * w, 0.12)
            mouth_corner = lm[54] if side > 0 else lm[48]
            marionette = mouth_corner + np.array([[side * 0.1, 0.2], [side * 0.35, 1.5]])
            self.line(marionette, self.shadow, 110 * w, 0.13)
        if w >= 0.05:
            for row in range(3):
                y = -(p.brow_height + 1.2 + 0.75 * row)
                span = 0.27 * p.face_width
                forehead = np.array([[-span, y + 0.2], [0.0, y], [span, y + 0.2]])
                self.line(_spline(forehead, 4), self.shadow, 100 * w, 0.12)

    def eyes(self) -> None:
        iris = _IRIS_DARK + max(0.0, self.p.hair_lightness - self.p.skin_tone) * (
            _IRIS_LIGHT - _IRIS_DARK
        )
        for eye in (self.lm[36:42], self.lm[42:48][[3, 2, 1, 0, 5, 4]]):
            # rows: outer corner, upper lid (outer, inner), inner corner, lower lid (inner, outer)
            ordered = eye
            upper = _spline(ordered[[0, 1, 2, 3]], 4)
            lower = _spline(ordered[[3, 4, 5, 0]], 4)
            self.polygon(
                np.concatenate([upper, lower[1:-1]]), np.array((236.0, 232, 226)), bump=-0.2
            )
            self._iris(np.concatenate([upper, lower[1:-1]]), ordered, iris)
            crease = upper * np.array([1.0, 1.0]) + np.array([0.0, -0.2 * self.p.eye_size])
            self.line(crease, self.shadow, 60, 0.08, bump=-0.2)
            self.line(upper, np.array((30.0, 22, 20)), 235, 0.12, bump=-0.15)
            self.line(lower, self.shadow, 90, 0.05, bump=-0.2)

    def _iris(self, outline: np.ndarray, eye: np.ndarray, colour: np.ndarray) -> None:
        """Iris, pupil and catch-light, clipped to the eye opening."""
        width = self.p.eye_size
        cx, cy = eye[[0, 3], 0].mean(), eye[[1, 2, 4, 5], 1].mean() - 0.01 * width
        shapes = [
            outline,
            _ellipse(cx, cy, 0.21 * width, 0.21 * width),
            _ellipse(cx, cy, 0.09 * width, 0.09 * width),
            _ellipse(cx + 0.06 * width, cy - 0.06 * width, 0.035 * width, 0.035 * width),
        ]
        fills = (_rgba(colour), (12, 10, 10, 255), (250, 250, 250, 255))
        self._ops.append(_Op("clipped", shapes, -0.2, fills, False))

    def brows(self) -> None:
        p = self.p
        colour = self.hair * 0.75 + 0.25 * np.array((20.0, 16, 14))
        profile = np.array([0.45, 0.75, 0.95, 1.0, 0.95])
        for brow in (self.lm[17:22], self.lm[22:27][::-1]):
            centre = _spline(brow, 3)
            half = np.interp(np.linspace(0, 4, len(centre)), np.arange(5), profile)
            half = half * p.brow_thickness / 2
            top = centre - np.column_stack([np.zeros_like(half), half])
            bottom = centre + np.column_stack([np.zeros_like(half), half])
            self.polygon(np.concatenate([top, bottom[::-1]]), colour, 235)

    def lips(self) -> None:
        lm = self.lm
        bump = 0.3
        inner_upper = _spline(lm[[60, 61, 62, 63, 64]], 4)
        inner_lower = _spline(lm[[64, 65, 66, 67, 60]], 4)
        if self.mouth_drop > 0.05:
            self.polygon(
                np.concatenate([inner_upper, inner_lower[1:-1]]),
                np.array((72.0, 26, 32)),
                bump=bump,
            )
            teeth = inner_upper + np.array([0.0, min(0.35, 0.5 * self.mouth_drop)])
            self.polygon(
                np.concatenate([inner_upper, teeth[::-1]]), np.array((232.0, 228, 218)), bump=bump
            )
        outer_upper = _spline(lm[48:55], 4)
        outer_lower = _spline(lm[[54, 55, 56, 57, 58, 59, 48]], 4)
        self.polygon(np.concatenate([outer_upper, inner_upper[::-1]]), self.lip * 0.9, bump=bump)
        self.polygon(np.concatenate([outer_lower, inner_lower[::-1]]), self.lip, bump=bump)
        self.line(inner_upper, self.lip * 0.45, 210, 0.07, bump=bump)
        shine = _ellipse(
            0.0,
            lm[57, 1] - 0.55 * self.p.lower_lip_height,
            0.18 * self.p.mouth_width,
            0.16 * self.p.lower_lip_height,
        )
        self.polygon(shine, np.full(3, 255.0), 40, bump=bump)

    def facial_hair(self) -> None:
        p, lm = self.p, self.lm
        colour = self.hair * 0.7  # dense hair reads darker than the scalp's
        lip_bottom = lm[57, 1]
        half_mouth = p.mouth_width / 2
        if p.beard > 0:
            jaw = lm[2:15] * np.array([1.02, 1.0]) + np.array([0.0, 0.25])
            cheek = np.array(
                [
                    [half_mouth + 1.3, self.stomion - 1.1],
                    [half_mouth + 0.35, self.stomion + 0.25],
                    [0.5 * half_mouth, lip_bottom + 0.3],
                    [0.0, lip_bottom + 0.4],
                    [-0.5 * half_mouth, lip_bottom + 0.3],
                    [-half_mouth - 0.35, self.stomion + 0.25],
                    [-half_mouth - 1.3, self.stomion - 1.1],
                ],
            )
            self.polygon(np.concatenate([_spline(jaw, 2), cheek]), colour, 60 + 180 * p.beard)
        if p.moustache > 0:
            top = lm[33, 1] + 0.3
            shape = np.array(
                [
                    [-half_mouth - 0.15, self.stomion + 0.2],
                    [-0.3 * p.mouth_width, lm[49, 1] - 0.1],
                    [0.0, lm[51, 1] - 0.12],
                    [0.3 * p.mouth_width, lm[53, 1] - 0.1],
                    [half_mouth + 0.15, self.stomion + 0.2],
                    [0.3 * p.mouth_width, top + 0.25],
                    [0.12, top],
                    [-0.12, top],
                    [-0.3 * p.mouth_width, top + 0.25],
                ],
            )
            self.polygon(shape, colour, 70 + 180 * p.moustache, bump=0.4)

    def front_hair(self) -> None:
        p = self.p
        style = p.hair_style
        if style == "bald":
            return
        # grow (cm), side bottom (× face height), side band (cm), hairline (cm),
        # temple roundness, sweep (cm the fringe drops from the image's left to its right)
        settings = {
            "short": (0.7, 0.02, 0.5, -(p.brow_height + 3.6), 2.5, 0.0),
            "medium": (1.3, 0.42, 0.8, -(p.brow_height + 1.6), 4.0, 1.6),
            "long": (1.2, 0.8, 0.75, -(p.brow_height + 3.3), 4.0, 0.0),
            "curly": (2.6, 0.05, 0.9, -(p.brow_height + 3.0), 3.0, 0.0),
        }
        grow, side_bottom, band, hairline, roundness, sweep = settings[style]
        side_y = side_bottom * p.face_height
        arc = self._cranium(grow, side_y, n=49)
        if style == "curly":
            arc = self._curls(arc)
        half = p.face_width / 2
        across = np.linspace(-1.0, 1.0, 9)
        fringe_y = hairline + 2.0 * np.abs(across) ** roundness + 0.5 * sweep * across
        fringe = np.stack([0.9 * half * across, fringe_y], axis=1)
        if style == "long":  # centre parting
            fringe[4, 1] -= 0.5
        inner = np.concatenate([[[-half + band, side_y]], fringe, [[half - band, side_y]]])
        self.polygon(np.concatenate([arc, inner]), self.hair, mask=True)
        sheen = _ellipse(-0.25 * half, hairline - 2.4, 0.4 * half, 0.7)
        self.polygon(sheen, np.full(3, 255.0), 26)
        for x in (-0.5, -0.15, 0.2, 0.55):
            strand = np.array(
                [
                    [x * half * 0.6, (arc[:, 1].min() + hairline) / 2],
                    [x * half, hairline - 1.2],
                    [x * half * 1.1, hairline + 0.3],
                ]
            )
            self.line(_spline(strand, 3), self.hair * 0.6, 60, 0.1)
