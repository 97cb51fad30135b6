"""Trials from our own runs: a predictions artifact scored as a voice–face matcher.

The predictions artifact (``s2f predict``) already holds, per clip, the face feature
predicted from the voice (``pred_feature``) and the true face feature of its speaker
(``true_feature``), so no model is loaded here. The protocol:

- rows of one split (default ``test``: speakers the run never trained on, as the manifest
  splits by speaker) and of the longest duration evaluated;
- one face per speaker: the true face feature of the speaker's first row (``face_id``
  ``face:<speaker>``);
- score = cosine of the clip's predicted feature and the face's feature;
- each clip has one target trial (its speaker's face) and impostor trials against faces
  of other speakers drawn without replacement by a seeded generator, from every other
  speaker (``any``) or from those of the voice speaker's gender (``same-gender``; a clip
  of unknown gender draws from every speaker). ``verification`` draws
  ``impostors_per_clip`` faces, ``1-of-2`` one (a target and an impostor per clip),
  ``1-of-n`` ``faces_per_trial − 1`` (the target among ``faces_per_trial`` faces; a clip
  whose impostor pool is smaller is an error, so every question has the same n).

The metadata records ``heard_languages``, the languages the model heard in training, so
that the trials audit splits heard and unheard languages without a flag: from the run's
record (``training_speakers.json``'s ``languages``, the languages of the rows it trained
on, copied into the predictions' metadata), else from the predictions' own ``train`` rows
(the manifest's split, which may have been re-split since), else not at all.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from speech2face import trials as schema
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, read_predictions
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS, UNKNOWN

PROTOCOLS = ("verification", "1-of-2", "1-of-n")
IMPOSTORS = ("same-gender", "any")
ALL_SPLITS = "all"
NO_FEATURES = "{path}: trials need the predictions' pred_feature and true_feature"
NO_ROWS = "{path}: no rows of split {split!r}"
TOO_FEW_SPEAKERS = "{path}: trials need at least 2 speakers, found {n}"
BAD_COUNT = "--impostors-per-clip must be at least 1, got {n}"
BAD_FACES = "--faces-per-trial must be at least 2, got {n}"
SMALL_POOL = (
    "{path}: clip {clip} has {n} {rule} impostor speaker(s), fewer than the {needed} that "
    "1-of-n with --faces-per-trial {faces} needs"
)


def _unit(matrix: np.ndarray) -> np.ndarray:
    matrix = np.asarray(matrix, dtype=np.float64)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms > 0, norms, 1.0)


def heard_languages(predictions: Predictions) -> tuple[list[str] | None, str | None]:
    """The languages the model heard in training and where they were read (see above)."""
    record = predictions.meta.get("training_speakers") or {}
    if record.get("languages"):
        return sorted(record["languages"]), "the run's training record (training_speakers.json)"
    table = predictions.table
    if {"split", schema.LANGUAGE} <= set(table.columns):
        train = table.loc[table["split"] == "train", schema.LANGUAGE].dropna().astype(str)
        train = train[train != UNKNOWN]
        if len(train):
            return sorted(train.unique()), "the predictions' train rows"
    return None, None


def build_trials(
    path: str | os.PathLike,
    *,
    protocol: str = "verification",
    impostors: str = "any",
    impostors_per_clip: int = 4,
    faces_per_trial: int = 5,
    split: str = "test",
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The trials table of the predictions at ``path``, and its metadata."""
    if impostors_per_clip < 1:
        raise InputError(BAD_COUNT.format(n=impostors_per_clip))
    if faces_per_trial < 2:
        raise InputError(BAD_FACES.format(n=faces_per_trial))
    predictions = read_predictions(path)
    if not {"pred_feature", "true_feature"} <= set(predictions.features):
        raise InputError(NO_FEATURES.format(path=path))
    table = predictions.table
    keep = (table["duration_s"] == table["duration_s"].max()).to_numpy()
    if split != ALL_SPLITS and "split" in table.columns:
        keep = keep & (table["split"] == split).to_numpy()  # to_numpy() may be read-only
    rows = np.flatnonzero(keep)
    if not len(rows):
        raise InputError(NO_ROWS.format(path=path, split=split))
    clips = table.iloc[rows].reset_index(drop=True)
    speakers, speaker_of = np.unique(clips["speaker_id"].astype(str), return_inverse=True)
    if len(speakers) < 2:
        raise InputError(TOO_FEW_SPEAKERS.format(path=path, n=len(speakers)))
    first_row = np.unique(speaker_of, return_index=True)[1]
    voices = _unit(predictions.features["pred_feature"][rows])
    faces = _unit(predictions.features["true_feature"][rows[first_row]])
    gender = (
        clips["gender"].astype("string").fillna("unknown").to_numpy(dtype=object)
        if "gender" in clips.columns
        else np.full(len(clips), "unknown", dtype=object)
    )
    face_gender = gender[first_row]
    count = {"1-of-2": 1, "1-of-n": faces_per_trial - 1}.get(protocol, impostors_per_clip)
    rng = np.random.default_rng(seed)
    voice_rows, face_rows = [], []
    for clip, speaker in enumerate(speaker_of):
        pool = np.flatnonzero(np.arange(len(speakers)) != speaker)
        if impostors == "same-gender" and gender[clip] != "unknown":
            same = pool[face_gender[pool] == gender[clip]]
            pool = same if len(same) else pool
        if protocol == "1-of-n" and len(pool) < count:
            raise InputError(
                SMALL_POOL.format(
                    path=path,
                    clip=clips["clip_id"].iloc[clip],
                    n=len(pool),
                    rule=impostors,
                    needed=count,
                    faces=faces_per_trial,
                )
            )
        drawn = rng.choice(pool, size=min(count, len(pool)), replace=False)
        voice_rows.extend([clip] * (len(drawn) + 1))
        face_rows.extend([speaker, *drawn])
    voice_rows, face_rows = np.array(voice_rows), np.array(face_rows)
    score = np.einsum("ij,ij->i", voices[voice_rows], faces[face_rows])
    out = pd.DataFrame(
        {
            schema.TRIAL_ID: np.arange(len(score)).astype(str),
            schema.VOICE_CLIP_ID: clips["clip_id"].astype(str).to_numpy()[voice_rows],
            schema.VOICE_SPEAKER_ID: speakers[speaker_of[voice_rows]],
            schema.FACE_ID: np.char.add("face:", speakers[face_rows].astype(str)),
            schema.FACE_SPEAKER_ID: speakers[face_rows],
            schema.SCORE: score,
            schema.TARGET: speaker_of[voice_rows] == face_rows,
            schema.DURATION_S: clips["duration_s"].to_numpy()[voice_rows],
        }
    )
    for column in (*DEMOGRAPHIC_COLUMNS, schema.LANGUAGE):
        if column in clips.columns and column not in out.columns:
            values = clips[column].to_numpy()
            out[column] = values[voice_rows]
            if column != schema.LANGUAGE:
                out[schema.face_column(column)] = values[first_row][face_rows]
    meta = {
        "model_id": predictions.meta.get("model_id"),
        "source": str(path),
        "protocol": protocol,
        "impostors": impostors,
        "impostors_per_clip": count,
        **({"faces_per_trial": faces_per_trial} if protocol == "1-of-n" else {}),
        "split": split,
        "seed": seed,
        "score": "cosine(pred_feature, true_feature of the face speaker's first row)",
    }
    heard, source = heard_languages(predictions)
    if heard is not None:
        meta |= {"heard_languages": heard, "heard_languages_from": source}
    return out, meta


def trials_from_model(
    run: str | os.PathLike,
    manifest: str | os.PathLike,
    *,
    work: str | os.PathLike,
    split: str = "test",
    duration_s: float = 6.0,
    progress: bool = False,
    **options: Any,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The trials of a trained run on a manifest's clips: the run predicts each clip of
    ``split`` at ``duration_s`` into a predictions artifact under ``work`` (a temporary
    folder the caller removes), which :func:`build_trials` scores with ``options``."""
    from speech2face.prediction import PredictionSettings, load_model, predict

    settings = PredictionSettings(
        durations=(duration_s,), split=None if split == ALL_SPLITS else split
    )
    predictions = predict(
        load_model(run), manifest, Path(work) / "predictions", settings=settings, progress=progress
    )
    table, meta = build_trials(predictions, split=split, **options)
    return table, {**meta, "source": str(run), "manifest": str(manifest)}
