"""What ``s2f faces`` analyses: still images and sampled video frames, each named by its bytes.

A still image is one input. A video is one input per sampled frame
(:mod:`speech2face.backends.video`), or a single input that loads as unreadable
when it has no decodable stream. An input's :attr:`~FaceInput.key` is its
file's content SHA-256 and its frame index (-1 for a still image or an
unreadable video): the faces table caches rows by it.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from speech2face.backends.face_options import IMAGE_SUFFIXES
from speech2face.backends.photo_faces import load_rgb
from speech2face.backends.video import (
    VIDEO_SUFFIXES,
    VideoFrame,
    VideoSampling,
    decode_frames,
    is_video,
    sample_frames,
)
from speech2face.errors import InputError

NOT_A_FRAME = -1
"""The ``frame_index`` of a still image, or of a video that could not be read."""

NO_SUCH_PATH = "{path}: no such image or video file or folder"
NO_MEDIA = "no images or videos ({suffixes}) found in {paths}"


@dataclass(frozen=True)
class FaceInput:
    """One image to analyse: a still image, or one frame of a video."""

    path: Path
    content_sha256: str
    frame: VideoFrame | None = None

    @property
    def frame_index(self) -> int:
        return NOT_A_FRAME if self.frame is None else self.frame.index

    @property
    def frame_time_s(self) -> float:
        return float("nan") if self.frame is None else self.frame.time_s

    @property
    def key(self) -> tuple[str, int]:
        """What the faces table caches this input's row by."""
        return self.content_sha256, self.frame_index


def find_media(paths: Iterable[str | os.PathLike]) -> list[Path]:
    """The files named, and the image and video files under each folder named, in sorted order."""
    paths = [Path(raw) for raw in paths]
    suffixes = (*IMAGE_SUFFIXES, *VIDEO_SUFFIXES)
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.suffix.lower() in suffixes)
        elif path.is_file():
            found.append(path)
        else:
            raise InputError(NO_SUCH_PATH.format(path=path))
    if not found:
        raise InputError(NO_MEDIA.format(suffixes=", ".join(suffixes), paths=paths))
    return list(dict.fromkeys(found))


def face_inputs(paths: Iterable[Path], *, sampling: VideoSampling | None = None) -> list[FaceInput]:
    """Each path hashed; each video expanded into its sampled frames (no frame is decoded)."""
    sampling = sampling or VideoSampling()
    inputs: list[FaceInput] = []
    for path in paths:
        digest = content_sha256(path)
        frames = sample_frames(path, sampling) if is_video(path) else None
        if frames:
            inputs += [FaceInput(path, digest, frame) for frame in frames]
        else:
            inputs.append(FaceInput(path, digest))
    return inputs


def load_pixels(inputs: Sequence[FaceInput]) -> list[np.ndarray | None]:
    """Each input as an RGB uint8 array, or None if unreadable; each video is opened once."""
    wanted: dict[Path, list[int]] = defaultdict(list)
    for item in inputs:
        if item.frame is not None:
            wanted[item.path].append(item.frame.pts)
    frames = {path: decode_frames(path, stamps) for path, stamps in wanted.items()}
    return [_pixels(item, frames) for item in inputs]


def _pixels(item: FaceInput, frames: dict[Path, dict[int, np.ndarray]]) -> np.ndarray | None:
    if item.frame is not None:
        return frames[item.path].get(item.frame.pts)
    return None if is_video(item.path) else load_rgb(item.path)


def content_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
