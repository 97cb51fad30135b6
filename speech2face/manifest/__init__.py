"""The manifest: one row per clip (or face image), with ids, split, paths and demographics.

Public API: :func:`read_manifest`, :func:`write_manifest`, :func:`validate_manifest`
(every :class:`Problem`), :func:`load_manifest` (validated, unknowns filled, age
groups derived), :func:`resolve_path` and :func:`age_to_group`. See
``docs/manifest.md``.
"""

from speech2face.manifest.age import AgeBinning, age_to_group, get_binning, interval_to_group
from speech2face.manifest.io import read_manifest, resolve_path, write_manifest
from speech2face.manifest.load import fill_unknowns, load_manifest
from speech2face.manifest.schema import FACE, VOICE, manifest_kind
from speech2face.manifest.validate import Problem, validate_manifest

__all__ = [
    "FACE",
    "VOICE",
    "AgeBinning",
    "Problem",
    "age_to_group",
    "fill_unknowns",
    "get_binning",
    "interval_to_group",
    "load_manifest",
    "manifest_kind",
    "read_manifest",
    "resolve_path",
    "validate_manifest",
    "write_manifest",
]
