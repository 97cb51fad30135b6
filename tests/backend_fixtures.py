"""Real images and speech for the backend tests, fetched from registry packages into a cache.

Portraits: the ``tests/test_images`` of the ``face-recognition`` 1.3.0 source
distribution (US-government photographs of Barack Obama and Joe Biden, public
domain), from PyPI with ``pip download``. Grace Hopper: matplotlib's sample data.
Speech: the WAVs of Debian's ``codec2-examples`` package, with ``apt-get download``.
Videos: those portraits encoded with PyAV (:func:`encode_video`).
The cache is ``$S2F_FIXTURE_CACHE`` or ``~/.cache/speech2face-audit/fixtures``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np

from speech2face.backends.photo_faces import FaceAnalyzer, load_rgb

CACHE = Path(
    os.environ.get("S2F_FIXTURE_CACHE", Path.home() / ".cache" / "speech2face-audit" / "fixtures")
)
FACE_RECOGNITION_SDIST = "face-recognition==1.3.0"


def portrait_dir() -> Path:
    """The folder of the face-recognition sdist's test portraits (downloaded once)."""
    target = CACHE / "face_recognition_images"
    if not (target / "biden.jpg").is_file():
        download = CACHE / "sdist"
        download.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-deps",
                "--no-binary",
                ":all:",
                "--quiet",
                "-d",
                str(download),
                FACE_RECOGNITION_SDIST,
            ],
            check=True,
        )
        (archive,) = download.glob("face_recognition-1.3.0.tar.gz")
        target.mkdir(parents=True, exist_ok=True)
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                if "/tests/test_images/" in member.name and member.isfile():
                    source = tar.extractfile(member)
                    (target / Path(member.name).name).write_bytes(source.read())
    return target


class CountingAnalyzer(FaceAnalyzer):
    """The real analyzer (models shared with ``inner``), counting the images it analyses."""

    def __init__(self, inner: FaceAnalyzer) -> None:
        self.__dict__.update(inner.__dict__)
        self.images_seen = 0

    def analyze(self, images):
        self.images_seen += len(images)
        return super().analyze(images)


def tight_small_crop(analyzer) -> np.ndarray:
    """A real pre-cropped face that `s2f faces` takes as ``assumed_aligned``.

    obama3's aligned chip with no margin, at 64×64 (``analyzer`` is a
    :class:`~speech2face.backends.photo_faces.FaceAnalyzer`): HOG misses it even upsampled;
    framed by its edge pixels it is found, so the whole crop is taken as the face.
    """
    from PIL import Image

    image = load_rgb(portrait_dir() / "obama3.jpg")
    box = analyzer._rect(analyzer.detect(image)[0])
    chip = analyzer._dlib.get_face_chip(image, analyzer._landmarks5(image, box), padding=0)
    return np.asarray(Image.fromarray(chip).resize((64, 64), Image.Resampling.BICUBIC))


def encode_video(
    path: Path,
    segments: Sequence[tuple[np.ndarray | None, float]],
    *,
    fps: int = 5,
    size: tuple[int, int] = (320, 240),
    codec: str = "libx264",
    rotation: int = 0,
) -> Path:
    """A real video at ``path``: each ``(RGB image or None for blank grey, seconds)`` segment
    letterboxed into ``size`` (width, height) frames at ``fps``, encoded with PyAV.

    ``rotation`` (a multiple of 90): frames are stored turned clockwise by that many degrees,
    with a display matrix telling players to turn them back, as phones record portrait video.
    """
    import av
    from PIL import Image, ImageOps

    turns = rotation // 90
    width, height = size if turns % 2 == 0 else size[::-1]
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for image, seconds in segments:
            canvas = Image.new("RGB", size, (127, 127, 127))
            if image is not None:
                canvas = ImageOps.pad(Image.fromarray(image), size, color=(127, 127, 127))
            stored = np.ascontiguousarray(np.rot90(np.asarray(canvas), k=-turns))
            for _ in range(round(seconds * fps)):
                frame = av.VideoFrame.from_ndarray(stored, format="rgb24")
                container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def grace_hopper() -> Path:
    """matplotlib's sample portrait of Grace Hopper."""
    return Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def codec2_wav_dir() -> Path:
    """The folder of codec2-examples' speech WAVs (8 kHz, one speaker each)."""
    target = CACHE / "codec2"
    wavs = target / "usr" / "share" / "codec2" / "wav"
    if not (wavs / "hts1a.wav").is_file():
        target.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["apt-get", "download", "-q", "codec2-examples"],
            cwd=target,
            check=True,
            capture_output=True,
        )
        (deb,) = target.glob("codec2-examples_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), str(target)], check=True)
    return wavs
