"""Synthetic faces: interpretable parameters, their demographic distributions, a renderer.

``sample_face_params`` draws an identity for a speaker; ``render_face`` draws
it (canonical with ``variation=None``, varied with ``sample_variation``) and
returns the image with its 68 landmarks, from which
``speech2face.craniofacial.craniofacial_measures`` computes exact measures.

``python -m speech2face.synth.synthetic_faces --out grid.png`` writes a contact sheet
(``face_grid``) to look at.
"""

from __future__ import annotations

import argparse

import numpy as np
from PIL import Image

from speech2face.atomic import atomic_write
from speech2face.synth.face_geometry import FaceVariation
from speech2face.synth.face_params import (
    FACE_PARAM_NAMES,
    HAIR_STYLES,
    FaceParams,
    sample_face_params,
)
from speech2face.synth.face_render import (
    RenderedFace,
    render_face,
    sample_variation,
)
from speech2face.vocabulary import SYNTHETIC_ETHNICITIES

__all__ = [
    "FACE_PARAM_NAMES",
    "GRID_AGES",
    "GRID_VARIED_ROWS",
    "HAIR_STYLES",
    "FaceParams",
    "FaceVariation",
    "RenderedFace",
    "face_grid",
    "render_face",
    "sample_face_params",
    "sample_variation",
]

GRID_AGES = (22.0, 35.0, 48.0, 62.0, 76.0)
"""Ages of the contact sheet's canonical rows."""
GRID_VARIED_ROWS = (1, 3, 4)
"""Canonical rows whose identities are shown again, varied, below them."""


def face_grid(*, seed: int = 0, size: int = 64) -> np.ndarray:
    """A contact sheet (8 rows × 8 columns of ``size`` pixels, RGB uint8).

    Columns: the four synthetic groups, each female then male. Rows: one
    canonical face per age in ``GRID_AGES``, then varied renders (pose,
    light, expression) of the identities in rows ``GRID_VARIED_ROWS``.
    """
    rng = np.random.default_rng(seed)
    identities = [
        [
            sample_face_params(rng, gender=gender, age=age, ethnicity=group)
            for group in SYNTHETIC_ETHNICITIES
            for gender in ("female", "male")
        ]
        for age in GRID_AGES
    ]
    rows = [[render_face(face, size=size).image for face in row] for row in identities]
    for index in GRID_VARIED_ROWS:
        rows.append(
            [
                render_face(face, size=size, variation=sample_variation(rng)).image
                for face in identities[index]
            ]
        )
    return np.concatenate([np.concatenate(row, axis=1) for row in rows], axis=0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a contact sheet of synthetic faces.")
    parser.add_argument("--out", required=True, help="PNG file to write")
    parser.add_argument("--size", type=int, default=64, help="face size in pixels (64 or 128)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    grid = face_grid(seed=args.seed, size=args.size)
    with atomic_write(args.out) as handle:  # no half-written image
        Image.fromarray(grid).save(handle, format="PNG")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
