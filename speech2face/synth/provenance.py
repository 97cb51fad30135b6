"""Which faces a synthetic corpus drew, from the corpus's own record of each face.

A corpus writes, in its ``ground_truth.json``, the path (relative to the corpus folder)
and the SHA-256 of every face image it rendered. A face is synthetic when the nearest
corpus folder above it lists that path with that content hash: a manifest saved beside
a corpus's ``ground_truth.json`` but pointing at photographs, or a photograph copied
into a corpus's ``faces/`` folder, is not synthetic. Synthetic faces may be shown in
reports; anything else is treated as a photograph of a real person.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterable
from pathlib import Path

from speech2face.artifacts import GROUND_TRUTH_FILE
from speech2face.hashing import file_sha256

FACES_RECORD = "faces"
"""Key of ``ground_truth.json`` holding ``{relative face path: sha256}``."""


def faces_record(root: Path, faces: Iterable[Path]) -> dict[str, str]:
    """The record a corpus at ``root`` writes of its ``faces``: relative path → SHA-256."""
    return {path.relative_to(root).as_posix(): file_sha256(path) for path in sorted(faces)}


def is_synthetic_face(path: str | os.PathLike) -> bool:
    """Whether ``path`` is a face the nearest corpus above it recorded, byte for byte."""
    try:
        path = Path(path).resolve()
        if not path.is_file():
            return False
        for root in path.parents:
            truth = root / GROUND_TRUTH_FILE
            if truth.is_file():
                stat = truth.stat()
                recorded = _record(str(truth), stat.st_mtime_ns, stat.st_size)
                expected = recorded.get(path.relative_to(root).as_posix())
                return expected is not None and expected == file_sha256(path)
    except OSError:
        return False
    return False


def all_synthetic(paths: Iterable[str | os.PathLike]) -> bool:
    """Whether there is at least one face and every one is synthetic (each distinct
    path is checked once)."""
    distinct = {str(path) for path in paths}
    return bool(distinct) and all(is_synthetic_face(path) for path in distinct)


@functools.lru_cache(maxsize=16)
def _record(truth: str, mtime_ns: int, size: int) -> dict[str, str]:
    """The faces record of a ``ground_truth.json`` (cached per file version)."""
    try:
        document = json.loads(Path(truth).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    record = document.get(FACES_RECORD) if isinstance(document, dict) else None
    return record if isinstance(record, dict) else {}


def manifest_faces_synthetic(manifest: str | os.PathLike) -> bool:
    """Whether a manifest lists faces and every one is a face a corpus recorded."""
    from speech2face.manifest.io import read_manifest, resolve_path

    manifest = Path(manifest)
    frame = read_manifest(manifest)
    if "face_path" not in frame.columns:
        return False
    paths = frame["face_path"].dropna().astype(str).unique()
    return all_synthetic(resolve_path(manifest.parent, path) for path in paths)
