"""Training pairs from a manifest: each clip's spectrogram and its face's feature ``v_f``.

``v_f`` comes from the clip's ``face_feature_path`` (a ``.npy`` vector) when the
manifest has one, otherwise from its ``face_path`` image through the frozen
face encoder (each distinct image encoded once). Spectrograms are computed on
the fly by the audio front end, so a corpus never has to fit in memory.

Training clips are random crops: each epoch a clip longer than the training
duration gives a window at a random offset, and a shorter one is repeated from
a random phase, instead of always its first seconds (prediction and
validation keep the first seconds). Offsets are a function of (seed, epoch,
clip), so a run and its resumed copy see the same crops.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch.utils.data import Dataset

from speech2face.audio import ClipDataset, SpectrogramConfig
from speech2face.audio.dataset import ROW_ERROR
from speech2face.audio.frontend import spectrogram
from speech2face.audio.io import load_audio
from speech2face.errors import InputError
from speech2face.hashing import file_sha256
from speech2face.manifest.io import resolve_path
from speech2face.manifest.load import load_manifest
from speech2face.manifest.schema import AUDIO_PATH, CLIP_ID, FACE_FEATURE_PATH, FACE_PATH, SPLIT
from speech2face.models.face_encoder import FaceEncoder, encode_images

NO_FACE = (
    "{manifest}: row {row} (clip {clip_id}) has no face_path or face_feature_path; "
    "training needs every clip's face"
)
NO_TRAIN_ROWS = "{manifest}: no rows with split 'train' to train on"
BAD_FEATURE_SHAPE = "{path}: face feature of shape {shape}, expected ({dim},)"
UNREADABLE_FACE = "{path}: cannot read the face image ({reason})"


def random_window(wave: np.ndarray, *, samples: int, rng: np.random.Generator) -> np.ndarray:
    """``samples`` of ``wave`` from a random offset; a shorter wave repeats from a random phase."""
    if len(wave) >= samples:
        offset = int(rng.integers(0, len(wave) - samples + 1))
        return wave[offset : offset + samples]
    phase = int(rng.integers(0, len(wave)))
    return np.tile(np.roll(wave, -phase), -(-samples // len(wave)))[:samples]


def _seconds(value: object) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


class ManifestPairs(Dataset):
    """``(clip_id, spectrogram, v_f)`` for the rows of a manifest.

    With ``random_crops`` each item is a random window of its clip, drawn from
    (seed, epoch, index) as set by :meth:`set_epoch`; without, the clip's first seconds.
    """

    def __init__(
        self,
        rows: pd.DataFrame,
        face_features: torch.Tensor,
        *,
        base_dir: Path,
        spectrogram_config: SpectrogramConfig,
        random_crops: bool = False,
    ) -> None:
        self.clips = ClipDataset(rows, base_dir=base_dir, config=spectrogram_config)
        self.face_features = face_features
        self.random_crops = random_crops
        self.config = spectrogram_config
        self.base_dir = Path(base_dir)
        self.rows = rows[[CLIP_ID, AUDIO_PATH]].assign(
            start_s=rows.get("start_s"), end_s=rows.get("end_s")
        )
        self.draw = (0, 0)

    def subset(self, positions: list[int]) -> ManifestPairs:
        """The pairs at ``positions``, e.g. without the clips whose audio cannot be decoded."""
        return ManifestPairs(
            self.rows.iloc[positions].reset_index(drop=True),
            self.face_features[positions],
            base_dir=self.base_dir,
            spectrogram_config=self.config,
            random_crops=self.random_crops,
        )

    def set_epoch(self, epoch: int, *, seed: int) -> None:
        """Key the coming epoch's random crops by ``(seed, epoch)``."""
        self.draw = (seed, epoch)

    def __len__(self) -> int:
        return len(self.clips)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, torch.Tensor]:
        if not self.random_crops:
            item = self.clips[index]
            return item["clip_id"], item["features"], self.face_features[index]
        row = self.rows.iloc[index]
        try:
            wave = load_audio(
                self.base_dir / str(row[AUDIO_PATH]),
                sample_rate=self.config.sample_rate,
                start_s=_seconds(row["start_s"]),
                end_s=_seconds(row["end_s"]),
            )
        except InputError as error:
            message = ROW_ERROR.format(row=index, clip_id=row[CLIP_ID], reason=error)
            raise InputError(message) from error
        rng = np.random.default_rng([*self.draw, index])
        wave = random_window(wave, samples=self.config.num_samples, rng=rng)
        features = spectrogram(torch.from_numpy(wave), self.config)
        return str(row[CLIP_ID]), features, self.face_features[index]


@dataclass(frozen=True)
class TrainingData:
    """The manifest's train and validation pairs and the manifest's hash."""

    train: ManifestPairs
    val: ManifestPairs | None
    manifest_hash: str


def _read_image(path: Path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, ValueError) as error:
        raise InputError(UNREADABLE_FACE.format(path=path, reason=error)) from error
    return np.asarray(rgb, dtype=np.uint8)


def _read_feature(path: Path, dim: int) -> np.ndarray:
    feature = np.load(path)
    if feature.shape != (dim,):
        raise InputError(BAD_FEATURE_SHAPE.format(path=path, shape=feature.shape, dim=dim))
    return feature.astype(np.float32)


def face_features(
    rows: pd.DataFrame, *, base_dir: Path, manifest: Path, face_encoder: FaceEncoder
) -> torch.Tensor:
    """``v_f`` for every row, ``(len(rows), face_encoder.feature_dim)``."""
    dim = face_encoder.feature_dim
    features = np.zeros((len(rows), dim), np.float32)
    to_encode: dict[Path, list[int]] = {}
    for position, (row, record) in enumerate(rows.iterrows()):
        feature_path = record.get(FACE_FEATURE_PATH)
        face_path = record.get(FACE_PATH)
        if isinstance(feature_path, str) and feature_path:
            features[position] = _read_feature(resolve_path(base_dir, feature_path), dim)
        elif isinstance(face_path, str) and face_path:
            to_encode.setdefault(resolve_path(base_dir, face_path), []).append(position)
        else:
            raise InputError(NO_FACE.format(manifest=manifest, row=row, clip_id=record[CLIP_ID]))
    paths = list(to_encode)
    for start in range(0, len(paths), 256):
        chunk = paths[start : start + 256]
        images = np.stack([_read_image(path, face_encoder.input_size) for path in chunk])
        for path, feature in zip(chunk, encode_images(face_encoder, images), strict=True):
            features[to_encode[path]] = feature
    return torch.from_numpy(features)


def load_training_data(
    manifest: str | Path,
    *,
    face_encoder: FaceEncoder,
    spectrogram_config: SpectrogramConfig,
    random_crops: bool = True,
) -> TrainingData:
    """Validate ``manifest`` and pair its train and val clips with their faces' features.

    ``random_crops`` applies to the train split only; val clips are their first seconds.
    """
    manifest = Path(manifest)
    frame = load_manifest(manifest)
    base_dir = manifest.parent
    splits = {}
    for split in ("train", "val"):
        rows = frame[frame[SPLIT] == split]
        if rows.empty:
            splits[split] = None
            continue
        targets = face_features(
            rows, base_dir=base_dir, manifest=manifest, face_encoder=face_encoder
        )
        splits[split] = ManifestPairs(
            rows.reset_index(drop=True),
            targets,
            base_dir=base_dir,
            spectrogram_config=spectrogram_config,
            random_crops=random_crops and split == "train",
        )
    if splits["train"] is None:
        raise InputError(NO_TRAIN_ROWS.format(manifest=manifest))
    return TrainingData(
        train=splits["train"], val=splits["val"], manifest_hash=file_sha256(manifest)
    )
