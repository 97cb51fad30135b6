"""Synthetic faces: interpretable parameters, their demographic distributions, a renderer.

``sample_face_params`` draws an identity for a speaker; ``render_face`` draws
it (canonical with ``variation=None``, varied with ``sample_variation``) and
returns the image with its 68 landmarks, from which
``speech2face.craniofacial.craniofacial_measures`` computes exact measures.
"""

from speech2face.synth.face_params import (
    FACE_PARAM_NAMES,
    HAIR_STYLES,
    FaceParams,
    sample_face_params,
)
from speech2face.synth.face_render import (
    FaceVariation,
    RenderedFace,
    render_face,
    sample_variation,
)

__all__ = [
    "FACE_PARAM_NAMES",
    "HAIR_STYLES",
    "FaceParams",
    "FaceVariation",
    "RenderedFace",
    "render_face",
    "sample_face_params",
    "sample_variation",
]
