"""Video frames for face analysis, sampled and decoded with PyAV (the ``faces`` extra).

A video is sampled at ``fps`` frames per second of presentation time: from its
first frame on, the first frame at or after each multiple of ``1 / fps``, so a
video at or below that rate gives every frame. With ``max_frames``, a video
that would give more is sampled at that many of those frames, evenly spaced.

A frame is named by its ``index``, its position in presentation order among
all of the stream's frames, which does not depend on the sampling. The plan
comes from the container's packet timestamps alone (demuxing, no decoding), so
the frames a video gives are known without decoding it, and only the frames
still to analyse are decoded, each run of them from the keyframe before it.
Decoded frames are turned upright by the stream's display matrix (phones
record portrait video sideways and say so there), as photos are by their EXIF
orientation. A video with no decodable stream gives no plan; a planned frame
that fails to decode is missing from :func:`decode_frames`'s answer.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import ModuleType

import numpy as np

from speech2face.backends._extras import require_extra
from speech2face.backends.face_options import DEFAULT_FPS, VIDEO_SUFFIXES
from speech2face.errors import InputError

EXTRA = "faces"

BAD_FPS = "--video-fps must be a positive number of frames per second, not {fps}"
BAD_MAX_FRAMES = "--max-frames-per-video must be at least 1, not {max_frames}"


@dataclass(frozen=True)
class VideoSampling:
    """Which frames of a video are analysed: ``fps`` per second, at most ``max_frames``."""

    fps: float = DEFAULT_FPS
    max_frames: int | None = None

    def __post_init__(self) -> None:
        if not (math.isfinite(self.fps) and self.fps > 0):
            raise InputError(BAD_FPS.format(fps=self.fps))
        if self.max_frames is not None and self.max_frames < 1:
            raise InputError(BAD_MAX_FRAMES.format(max_frames=self.max_frames))


@dataclass(frozen=True)
class VideoFrame:
    """One sampled frame: its position in the stream, its timestamp and its time."""

    index: int
    pts: int
    time_s: float


def is_video(path: str | Path) -> bool:
    """Whether ``path`` is analysed as a video (by its suffix)."""
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def sample_frames(path: str | Path, sampling: VideoSampling) -> list[VideoFrame] | None:
    """The frames ``sampling`` takes from the video at ``path``; None if it cannot be read."""
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                return None
            stream = container.streams.video[0]
            stamps = sorted(set(_packet_stamps(av, container, stream)))
            time_base = stream.time_base
    except (av.FFmpegError, OSError):
        return None
    if not stamps:
        return None
    times = [(pts - stamps[0]) * time_base for pts in stamps]
    return [
        VideoFrame(i, stamps[i], float(stamps[i] * time_base)) for i in _sampled(times, sampling)
    ]


def _sampled(times: list[Fraction], sampling: VideoSampling) -> list[int]:
    """The indices of the frames ``sampling`` takes, given each frame's time since the first."""
    step = 1 / Fraction(sampling.fps)
    chosen: list[int] = []
    due = Fraction(0)
    for index, elapsed in enumerate(times):
        if elapsed >= due:
            chosen.append(index)
            due = (math.floor(elapsed / step) + 1) * step
    if sampling.max_frames is not None and len(chosen) > sampling.max_frames:
        spread = np.linspace(0, len(chosen) - 1, sampling.max_frames).round().astype(int)
        chosen = [chosen[i] for i in spread]
    return chosen


def decode_frames(path: str | Path, stamps: Collection[int]) -> dict[int, np.ndarray]:
    """The frames with these timestamps as upright RGB uint8 arrays, by timestamp.

    A frame that cannot be decoded (a corrupt or truncated stream) is left out.
    """
    av = _av()
    wanted, frames = set(stamps), {}
    start = min(wanted)
    first = _decode(av, path, wanted, frames, seek=start)
    if first is None or first > start:  # nothing decoded, or an inexact seek landed past start
        _decode(av, path, wanted, frames, seek=None)
    return frames


def _decode(
    av: ModuleType, path: str | Path, wanted: set[int], frames: dict[int, np.ndarray], *, seek
) -> int | None:
    """Decode into ``frames`` from the keyframe before ``seek`` (None: the start) until every
    wanted frame is there; the first timestamp decoded."""
    first = None
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            if seek is not None:
                container.seek(seek, stream=stream)
            for packet in container.demux(stream):
                for frame in _decoded(av, packet):
                    first = frame.pts if first is None else first
                    if frame.pts in wanted and frame.pts not in frames:
                        frames[frame.pts] = _upright(frame)
                if wanted <= frames.keys():
                    break
    except (av.FFmpegError, OSError):  # a damaged container: the frames before it stand
        pass
    return first


def _decoded(av: ModuleType, packet) -> list:
    """The frames a packet completes; none if its data is damaged (decoding carries on)."""
    try:
        return [frame for frame in packet.decode() if frame.pts is not None]
    except av.FFmpegError:
        return []


def _packet_stamps(av: ModuleType, container, stream):
    """The packets' presentation timestamps (the final flush packet has none)."""
    try:
        for packet in container.demux(stream):
            if packet.pts is not None:
                yield packet.pts
    except av.FFmpegError:  # a damaged tail: the packets before it stand
        return


def _upright(frame) -> np.ndarray:
    turns = round(frame.rotation / 90) % 4
    return np.ascontiguousarray(np.rot90(frame.to_ndarray(format="rgb24"), k=turns))


def _av() -> ModuleType:
    return require_extra("av", EXTRA, feature="video input")
