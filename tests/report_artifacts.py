"""Real artifacts for the report tests: predictions with planted effects, audited for real.

``planted_predictions`` writes a predictions table whose S2F gender agreement is
lower for ethnicity ``group_c``, whose ethnicity labels are inferred, with one
language group too small to show (privacy) and one group named like an attack.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from speech2face.prediction.artifact import Predictions
from speech2face.synth.provenance import FACES_RECORD, faces_record

HOSTILE = "<script>alert(1)</script>"
ETHNICITY_SPEAKERS = {"group_a": 40, "group_b": 40, "group_c": 40, "group_d": 12}
"""Speakers per ethnicity; group_d has too few to be tested (default minimum 30)."""
LOW_AGREEMENT_GROUP = "group_c"
TINY_LANGUAGE = "sw"
"""A language spoken by 3 speakers: below the default privacy threshold of 5."""
MEASURES = ("nose_width", "jaw_width", "upper_lip_height")
DECADES = ("20-29", "30-39", "40-49", "50-59")


def planted_predictions(*, seed: int = 0, scale: int = 1, dim: int = 16) -> Predictions:
    """Two durations (3 s, 6 s) of two clips per speaker, every attribute and measure."""
    rng = np.random.default_rng(seed)
    ethnicity = np.concatenate(
        [np.full(n * scale, name, dtype=object) for name, n in ETHNICITY_SPEAKERS.items()]
    )
    n_speakers = len(ethnicity)
    gender = rng.choice(np.array(["female", "male"], dtype=object), n_speakers)
    age = rng.uniform(20, 60, n_speakers)
    language = rng.choice(np.array(["en", "es", HOSTILE], dtype=object), n_speakers)
    language[rng.choice(n_speakers, 3, replace=False)] = TINY_LANGUAGE
    speaker_face = rng.normal(size=(n_speakers, dim))
    cf_true = rng.normal(size=(n_speakers, len(MEASURES)))
    rows, predicted, true = [], [], []
    for speaker in range(n_speakers):
        for clip in range(2):
            for duration in (3.0, 6.0):
                noise = 1.6 if duration == 3.0 else 1.0
                rows.append(
                    _row(rng, speaker, clip, duration, gender, age, ethnicity, language, cf_true)
                )
                true.append(speaker_face[speaker])
                predicted.append(speaker_face[speaker] + rng.normal(scale=noise, size=dim))
    table = pd.DataFrame(rows)
    features = {"pred_feature": np.asarray(predicted), "true_feature": np.asarray(true)}
    meta = {"model_id": f"planted-{HOSTILE}", "config_hash": "abc123", "faces": "synthetic"}
    return Predictions(table=table, features=features, meta=meta)


def _row(rng, speaker, clip, duration, gender, age, ethnicity, language, cf_true) -> dict:
    true_gender = gender[speaker]
    agree = 0.55 if ethnicity[speaker] == LOW_AGREEMENT_GROUP else 0.9
    if duration == 3.0:
        agree -= 0.1
    flip = {"female": "male", "male": "female"}
    decade = DECADES[min(int((age[speaker] - 20) // 10), len(DECADES) - 1)]
    row = {
        "clip_id": f"s{speaker}c{clip}",
        "speaker_id": f"s{speaker}",
        "duration_s": duration,
        "age": round(float(age[speaker]), 1),
        "gender": true_gender,
        "ethnicity": ethnicity[speaker],
        "language": language[speaker],
        "gender_source": "self_reported",
        "ethnicity_source": "inferred",
        "true_gender": true_gender,
        "f2f_gender": true_gender if rng.random() < 0.95 else flip[true_gender],
        "s2f_gender": true_gender if rng.random() < agree else flip[true_gender],
        "true_age_decade": decade,
        "f2f_age_decade": decade if rng.random() < 0.7 else rng.choice(DECADES),
        "s2f_age_decade": decade if rng.random() < 0.4 else rng.choice(DECADES),
        "true_ethnicity": ethnicity[speaker],
        "f2f_ethnicity": ethnicity[speaker] if rng.random() < 0.85 else "group_a",
        "s2f_ethnicity": ethnicity[speaker] if rng.random() < 0.6 else "group_b",
        "true_age_years": float(age[speaker]) + rng.normal(scale=3),
        "f2f_age_years": float(age[speaker]) + rng.normal(scale=5),
        "s2f_age_years": float(age[speaker]) + rng.normal(scale=9),
    }
    for index, measure in enumerate(MEASURES):
        value = cf_true[speaker, index]
        row[f"true_cf_{measure}"] = value
        row[f"f2f_cf_{measure}"] = value + rng.normal(scale=0.5)
        row[f"s2f_cf_{measure}"] = 0.4 * value + rng.normal(scale=1.0)
    return row


def planted_manifest(*, seed: int = 0) -> pd.DataFrame:
    """A valid manifest: an under-represented group, a hostile ethnicity name, inferred labels."""
    rng = np.random.default_rng(seed)
    rows = []
    speaker = 0
    for split, per_group in (
        ("train", {"group_a": 90, "group_b": 60, "group_c": 40, "group_d": 8, HOSTILE: 12}),
        ("test", {"group_a": 40, "group_b": 30, "group_c": 20, "group_d": 3, HOSTILE: 6}),
    ):
        for ethnicity, n in per_group.items():
            for _ in range(n):
                gender = rng.choice(["female", "male"], p=[0.4, 0.6])
                language = rng.choice(["en", "es", "de", "sw"], p=[0.5, 0.3, 0.15, 0.05])
                age = float(rng.uniform(18, 75))
                for clip in range(3):
                    rows.append(
                        {
                            "clip_id": f"s{speaker}c{clip}",
                            "speaker_id": f"s{speaker}",
                            "audio_path": f"audio/s{speaker}_{clip}.wav",
                            "split": split,
                            "age": round(age, 1),
                            "gender": gender,
                            "ethnicity": ethnicity,
                            "language": language,
                            "gender_source": "self_reported",
                            "ethnicity_source": "inferred",
                            "age_source": "annotated",
                        }
                    )
                speaker += 1
    return pd.DataFrame(rows)


REGRESSED_GROUP = "group_b"


def retrained_predictions(baseline: Predictions, *, seed: int = 1) -> Predictions:
    """The same clips from a 'retrained' model: S2F gender agreement drops for group_b."""
    rng = np.random.default_rng(seed)
    table = baseline.table.copy()
    flip = {"female": "male", "male": "female"}
    worse = (table["ethnicity"] == REGRESSED_GROUP) & (rng.random(len(table)) < 0.35)
    table.loc[worse, "s2f_gender"] = table.loc[worse, "true_gender"].map(flip)
    meta = {**baseline.meta, "model_id": "retrained"}
    return Predictions(table=table, features=dict(baseline.features), meta=meta)


def face_manifest(folder: Path, predictions: Predictions, *, synthetic: bool) -> Path:
    """A manifest giving each clip of ``predictions`` a face image of its speaker.

    One 128-pixel PNG per speaker, its colour keyed by the speaker; ``synthetic`` writes
    the ``ground_truth.json`` of a corpus made by ``s2f synth``, recording every face.
    """
    folder.mkdir(parents=True, exist_ok=True)
    table = predictions.table.drop_duplicates("clip_id")
    for speaker in table["speaker_id"].unique():
        shade = int(speaker.removeprefix("s")) * 37 % 256
        image = Image.new("RGB", (128, 128), (shade, 255 - shade, 128))
        image.save(folder / f"{speaker}.png")
    manifest = pd.DataFrame(
        {"clip_id": table["clip_id"], "face_path": table["speaker_id"] + ".png"}
    )
    path = folder / "manifest.csv"
    manifest.to_csv(path, index=False)
    if synthetic:
        record = faces_record(folder, sorted(folder.glob("*.png")))
        (folder / "ground_truth.json").write_text(json.dumps({FACES_RECORD: record}))
    return path
