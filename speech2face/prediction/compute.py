"""One chunk of prediction: a block of manifest clips → predictions rows and features.

For every clip the speaker's true face gives ``true_feature`` (the face encoder on the face
image, or the manifest's precomputed ``face_feature_path``), attributes of the true image,
and the F2F reconstruction (decoder on ``true_feature``); for every duration the clip,
repeated or cut to that length, gives ``pred_feature`` (the voice encoder) and the S2F
reconstruction (decoder on ``pred_feature``). Attributes of every face come from the run's
attribute classifier; craniofacial measures from the renderer's landmarks (true faces of a
synthetic corpus; NaN where none exist) or the decoder's predicted landmarks.

A chunk is computed the same way whatever else runs (same batches in the same order), so a
resumed or sharded run reproduces a single run exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from PIL import Image

from speech2face.audio import (
    PAPER_CONFIG,
    SpectrogramConfig,
    fit_duration,
    load_audio,
    spectrogram,
)
from speech2face.audio.dataset import BadClip
from speech2face.audio.frontend import check_window
from speech2face.craniofacial import CRANIOFACIAL_MEASURES, N_LANDMARKS, craniofacial_measures
from speech2face.errors import InputError
from speech2face.manifest import resolve_path
from speech2face.models.attribute_classifier import predict_attributes
from speech2face.models.face_encoder import encode_images
from speech2face.prediction.artifact import ATTRIBUTES
from speech2face.prediction.model import Speech2FaceModel
from speech2face.prediction.true_faces import FaceReadings
from speech2face.vocabulary import AGE_DECADES, UNKNOWN

AUDIO_ERROR = "{manifest}: row {row} (clip {clip_id}): {reason}"
UNREADABLE_FACE = "{manifest}: row {row} (clip {clip_id}): cannot read face image {path} ({reason})"
BAD_FEATURE = (
    "{manifest}: row {row} (clip {clip_id}): face feature {path} has shape {shape}, "
    "expected ({dim},)"
)
UNREADABLE_FEATURE = (
    "{manifest}: row {row} (clip {clip_id}): cannot read face feature {path} ({reason})"
)
NON_FINITE_FEATURE = "{manifest}: row {row} (clip {clip_id}): {what} contains NaN or infinity"

LANDMARKS_RENDERER = "renderer"
"""``true_landmarks_source`` of a true face whose landmarks the synthetic renderer recorded."""


@dataclass(frozen=True)
class ClipRows:
    """The manifest rows of one chunk and what is needed to read their files."""

    rows: pd.DataFrame
    """Manifest rows; the index is the manifest row number (named in errors)."""
    manifest: Path
    landmarks: Mapping[str, np.ndarray]
    """Renderer landmarks ``(68, 2)`` of each speaker's true face, where known."""
    readings: FaceReadings | None = None
    """A faces table's readings of the true face images (runs without a decoder)."""
    waves: tuple[np.ndarray, ...] | None = None
    """Each row's decoded audio where already read (`decodable_clips`), so it is read once."""

    @property
    def base_dir(self) -> Path:
        """The folder relative paths resolve against."""
        return self.manifest.parent

    def where(self, position: int) -> dict[str, object]:
        """The manifest, row number and clip id of row ``position``, for error messages."""
        return {
            "manifest": self.manifest,
            "row": self.rows.index[position],
            "clip_id": self.rows["clip_id"].iloc[position],
        }

    def subset(self, positions: slice | np.ndarray) -> ClipRows:
        """The same clips' rows at ``positions``."""
        waves = None
        if self.waves is not None:
            waves = tuple(self.waves[i] for i in np.arange(len(self.rows))[positions])
        return ClipRows(
            self.rows.iloc[positions], self.manifest, self.landmarks, self.readings, waves
        )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _read_wave(clips: ClipRows, record: dict, sample_rate: int) -> np.ndarray:
    start, end = record.get("start_s"), record.get("end_s")
    return load_audio(
        resolve_path(clips.base_dir, record["audio_path"]),
        sample_rate=sample_rate,
        start_s=None if start is None or pd.isna(start) else float(start),
        end_s=None if end is None or pd.isna(end) else float(end),
    )


def _load_waves(clips: ClipRows, sample_rate: int) -> list[np.ndarray]:
    if clips.waves is not None:
        return list(clips.waves)
    waves = []
    for position, record in enumerate(clips.rows.to_dict("records")):
        try:
            waves.append(_read_wave(clips, record, sample_rate))
        except InputError as error:
            raise InputError(AUDIO_ERROR.format(**clips.where(position), reason=error)) from error
    return waves


def decodable_clips(clips: ClipRows, sample_rate: int) -> tuple[ClipRows, list[BadClip]]:
    """The clips whose audio decodes (their waves kept), and a `BadClip` for every other."""
    waves, keep, bad = [], [], []
    for position, record in enumerate(clips.rows.to_dict("records")):
        try:
            waves.append(_read_wave(clips, record, sample_rate))
        except InputError as error:
            path = resolve_path(clips.base_dir, record["audio_path"])
            bad.append(BadClip(str(record["clip_id"]), str(path), str(error)))
            continue
        keep.append(position)
    good = clips.subset(np.asarray(keep, dtype=np.int64))
    return replace(good, waves=tuple(waves)), bad


VOICE_BATCH = 8
"""Most clips of 6 s per voice encoder pass: on CPU the activations of 32 clips of 6 s
outgrow the cache, and 8 run faster per clip (docs/performance.md)."""

VOICE_FRAMES = VOICE_BATCH * PAPER_CONFIG.num_frames
"""Most spectrogram frames per voice encoder pass: :data:`VOICE_BATCH` clips of 6 s, twice
as many of 3 s (which run faster per clip than 8)."""


@torch.inference_mode()
def voice_features(
    model: Speech2FaceModel,
    waves: Sequence[np.ndarray],
    *,
    durations: Sequence[float],
    batch_size: int,
) -> np.ndarray:
    """``pred_feature`` of each wave repeated or cut to each of ``durations``, clip-major:
    ``(N × len(durations), D)`` float32 (passes of at most :data:`VOICE_FRAMES` frames).

    One front end pass per group of clips, at the longest duration: a shorter duration's
    clip is a prefix of the longer one's (``fit_duration``), so its spectrogram is the
    first frames.
    """
    configs = [SpectrogramConfig(duration_s=duration) for duration in durations]
    for config in configs:  # a shorter duration's frames are cut, not computed: check here
        check_window(config.num_samples, config)
    longest = max(configs, key=lambda config: config.num_samples)
    sizes = [max(1, min(batch_size, VOICE_FRAMES // config.num_frames)) for config in configs]
    step = max(sizes)
    outputs = []
    for start in range(0, len(waves), step):
        chunk = waves[start : start + step]
        batch = np.stack(
            [
                fit_duration(wave, seconds=longest.duration_s, sample_rate=longest.sample_rate)
                for wave in chunk
            ]
        )
        frames = spectrogram(torch.from_numpy(batch), longest)
        per_duration = [
            torch.cat(
                [
                    model.voice_encoder(frames[first : first + size, : config.num_frames])
                    for first in range(0, len(chunk), size)
                ]
            ).numpy()
            for config, size in zip(configs, sizes, strict=True)
        ]
        outputs.append(np.stack(per_duration, axis=1).reshape(len(chunk) * len(configs), -1))
    return np.concatenate(outputs).astype(np.float32, copy=False)


def _read_image(clips: ClipRows, position: int, value: str, *, size: int) -> np.ndarray:
    path = resolve_path(clips.base_dir, value)
    try:
        with Image.open(path) as opened:
            rgb = opened.convert("RGB").resize((size, size), Image.Resampling.BILINEAR)
    except (OSError, ValueError) as error:
        raise InputError(
            UNREADABLE_FACE.format(**clips.where(position), path=path, reason=error)
        ) from error
    return np.asarray(rgb)


def _read_feature(clips: ClipRows, position: int, value: str, *, dim: int) -> np.ndarray:
    path = resolve_path(clips.base_dir, value)
    try:
        feature = np.load(path).astype(np.float32)
    except (OSError, ValueError) as error:
        raise InputError(
            UNREADABLE_FEATURE.format(**clips.where(position), path=path, reason=error)
        ) from error
    if feature.shape != (dim,):
        raise InputError(
            BAD_FEATURE.format(**clips.where(position), path=path, shape=feature.shape, dim=dim)
        )
    return feature


@dataclass(frozen=True)
class TrueFaces:
    """The distinct true faces of a chunk's clips (each read and encoded once)."""

    features: np.ndarray
    """``true_feature`` of each distinct face."""
    of_clip: np.ndarray
    """Each clip's face (index into ``features``)."""
    images: np.ndarray | None
    """The faces that have an image, stacked (None: none has)."""
    image_of_face: np.ndarray
    """Each face's row of ``images`` (-1: no image)."""


def _true_faces(model: Speech2FaceModel, clips: ClipRows, *, batch_size: int) -> TrueFaces:
    """The clips' distinct true faces: the manifest's ``face_feature_path`` vector where
    given, else the face encoder's feature of ``face_path``."""
    rows = clips.rows
    columns = [c if c in rows.columns else None for c in ("face_path", "face_feature_path")]
    distinct: dict[tuple[str | None, str | None], int] = {}
    images: list[np.ndarray | None] = []
    features: list[np.ndarray | None] = []
    face_of_clip = np.zeros(len(rows), dtype=np.int64)
    for position in range(len(rows)):
        image_path, feature_path = (
            _text(rows[column].iloc[position]) if column else None for column in columns
        )
        key = (image_path, feature_path)
        if key not in distinct:
            distinct[key] = len(images)
            images.append(
                None
                if image_path is None
                else _read_image(clips, position, image_path, size=model.face_encoder.input_size)
            )
            features.append(
                None
                if feature_path is None
                else _read_feature(clips, position, feature_path, dim=model.feature_dim)
            )
        face_of_clip[position] = distinct[key]
    with_image = [i for i, image in enumerate(images) if image is not None]
    to_encode = [i for i in with_image if features[i] is None]
    if to_encode:
        encoded = encode_images(
            model.face_encoder, np.stack([images[i] for i in to_encode]), batch_size=batch_size
        )
        for i, feature in zip(to_encode, encoded, strict=True):
            features[i] = feature
    stacked = np.stack(features)
    _check_finite(stacked[face_of_clip], clips, what="the true face feature")
    image_slot = np.full(len(images), -1)
    image_slot[with_image] = np.arange(len(with_image))
    image_stack = np.stack([images[i] for i in with_image]) if with_image else None
    return TrueFaces(stacked, face_of_clip, image_stack, image_slot)


def _check_finite(matrix: np.ndarray, clips: ClipRows, *, what: str) -> None:
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        raise InputError(NON_FINITE_FEATURE.format(**clips.where(position), what=what))


def _image_attributes(
    model: Speech2FaceModel, images: np.ndarray | None, *, batch_size: int
) -> dict[str, np.ndarray]:
    """Labels, ``age_years`` and class probabilities of ``images`` (none: zero rows)."""
    if images is not None:
        return predict_attributes(model.attribute_classifier, images, batch_size=batch_size)
    config = model.attribute_classifier.config
    widths = {
        "gender": len(config.genders),
        "age_decade": len(AGE_DECADES),
        "ethnicity": len(config.ethnicities),
    }
    empty: dict[str, np.ndarray] = {"age_years": np.zeros(0, np.float32)}
    for attribute, width in widths.items():
        empty[attribute] = np.zeros(0, dtype=object)
        empty[f"{attribute}_proba"] = np.zeros((0, width), np.float32)
    return empty


def _face_columns(
    face: str, attributes: Mapping[str, np.ndarray], measures: pd.DataFrame
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    columns = {f"{face}_{attribute}": attributes[attribute] for attribute in ATTRIBUTES}
    columns[f"{face}_age_years"] = attributes["age_years"].astype(np.float64)
    for measure in CRANIOFACIAL_MEASURES:
        columns[f"{face}_cf_{measure}"] = measures[measure].to_numpy()
    features = {
        f"{face}_{attribute}_proba": attributes[f"{attribute}_proba"] for attribute in ATTRIBUTES
    }
    return columns, features


def _decoded_face(
    model: Speech2FaceModel, features: np.ndarray, *, batch_size: int
) -> tuple[dict[str, np.ndarray], pd.DataFrame]:
    """Attributes and craniofacial measures of the decoder's reconstructions of ``features``."""
    images, landmarks = [], []
    for start in range(0, len(features), batch_size):
        image, points = model.face_decoder.decode(
            torch.from_numpy(features[start : start + batch_size])
        )
        images.append(image)
        landmarks.append(points.numpy())
    attributes = predict_attributes(
        model.attribute_classifier, torch.cat(images), batch_size=batch_size
    )
    return attributes, craniofacial_measures(np.concatenate(landmarks))


def predict_clips(
    model: Speech2FaceModel,
    clips: ClipRows,
    *,
    durations: Sequence[float],
    batch_size: int,
    carry: Sequence[str],
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Predictions rows (clip-major, then ``durations``) and their feature matrices.

    ``carry`` names the manifest columns copied into every row (ids, demographics).
    """
    rows = clips.rows
    n_clips, n_durations = len(rows), len(durations)
    faces = _true_faces(model, clips, batch_size=batch_size)
    image_index = faces.image_of_face[faces.of_clip]
    true_attributes = {
        key: _per_clip(value, image_index)
        for key, value in _image_attributes(model, faces.images, batch_size=batch_size).items()
        if key != "classes"
    }
    true_landmarks = np.stack(
        [
            clips.landmarks.get(speaker, np.full((N_LANDMARKS, 2), np.nan))
            for speaker in rows["speaker_id"]
        ]
    )
    true_columns, true_features = _face_columns(
        "true", true_attributes, craniofacial_measures(true_landmarks)
    )
    true_columns["true_landmarks_source"] = np.where(
        np.isfinite(true_landmarks).all(axis=(1, 2)), LANDMARKS_RENDERER, UNKNOWN
    ).astype(object)
    # F2F: one reconstruction per distinct face, which its clips share
    f2f_attributes, f2f_measures = _decoded_face(model, faces.features, batch_size=batch_size)
    f2f_columns, f2f_features = _face_columns("f2f", f2f_attributes, f2f_measures)

    waves = _load_waves(clips, SpectrogramConfig().sample_rate)
    pred = voice_features(model, waves, durations=durations, batch_size=batch_size)
    repeat = np.repeat(np.arange(n_clips), n_durations)
    _check_finite(pred, clips.subset(repeat), what="the voice encoder's feature")
    s2f_attributes, s2f_measures = _decoded_face(model, pred, batch_size=batch_size)
    s2f_columns, s2f_features = _face_columns("s2f", s2f_attributes, s2f_measures)

    table = rows[list(carry)].iloc[repeat].reset_index(drop=True)
    table.insert(2, "duration_s", np.tile(np.asarray(durations, dtype=np.float64), n_clips))
    face_of_row = faces.of_clip[repeat]
    extra = {name: np.asarray(values)[repeat] for name, values in true_columns.items()}
    extra |= {name: np.asarray(values)[face_of_row] for name, values in f2f_columns.items()}
    extra |= s2f_columns
    extra["model_id"] = np.full(len(table), model.model_id, dtype=object)
    extra["config_hash"] = np.full(len(table), model.config_hash, dtype=object)
    table = pd.concat([table, pd.DataFrame(extra)], axis=1)
    features = {"pred_feature": pred, "true_feature": faces.features[face_of_row]}
    features |= {name: matrix[repeat] for name, matrix in true_features.items()}
    features |= {name: matrix[face_of_row] for name, matrix in f2f_features.items()}
    features |= s2f_features
    return table, {name: np.ascontiguousarray(m, dtype=np.float32) for name, m in features.items()}


def _per_clip(values: np.ndarray, image_index: np.ndarray) -> np.ndarray:
    """Rows of per-image ``values`` for each clip; a clip without an image gets NaN/unknown."""
    values = np.asarray(values)
    if len(values) == 0:
        shape = (len(image_index), *values.shape[1:])
        return np.full(shape, UNKNOWN if values.dtype == object else np.nan, dtype=values.dtype)
    picked = values[np.maximum(image_index, 0)].copy()
    missing = image_index < 0
    if missing.any():
        picked[missing] = UNKNOWN if values.dtype == object else np.nan
    return picked
