"""``generate_corpus``: the synthetic voice–face corpus on disk, reproducible and cached.

Layout of a corpus folder::

    manifest.parquet       one row per clip (DESIGN.md columns, ``<column>_source`` = synthetic)
    speakers.parquet       one row per speaker: true attributes, recorded labels, every latent
                           face (``face_*``) and voice (``voice_*``) parameter: the ground truth
    renders.parquet        varied face renders: speaker_id, path, variation parameters
    landmarks.parquet      68 iBUG landmarks of each canonical face: speaker_id, point, x, y
    ground_truth.json      generator version, seed, settings (``unheard_languages``: held out
                           of train and val), settings hash, planted imbalance,
                           the path and SHA-256 of every face rendered (``faces``: what
                           makes a face synthetic, speech2face.synth.provenance)
    audio/<speaker>/<clip>.wav    16 kHz mono PCM, 3–8 s
    faces/canonical/<speaker>.png and faces/varied/<speaker>_rNN.png

The corpus is built in a hidden staging folder beside ``out_dir`` and renamed
into place when complete, so a folder at ``out_dir`` is always a whole corpus.
An interrupted run leaves the staging folder; the next run with the same
settings resumes it. A run whose settings hash matches the corpus already at
``out_dir`` returns at once.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, fields
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm import tqdm

from speech2face.artifacts import CORPUS_MANIFEST_FILE as MANIFEST_FILE
from speech2face.artifacts import GROUND_TRUTH_FILE
from speech2face.atomic import hidden_sibling, swap_folder
from speech2face.errors import InputError
from speech2face.limits import SEED_LIMIT
from speech2face.manifest import write_manifest
from speech2face.outputs import check_out, mark
from speech2face.synth.assets import (
    CANONICAL_DIR,
    PARTS_DIR,
    SAMPLE_RATE,
    VARIED_DIR,
    SpeakerJob,
    part_path,
    render_speaker,
)
from speech2face.synth.defaults import (
    DEFAULT_SPEAKERS,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    FACE_SIZES,
)
from speech2face.synth.presets import ImbalanceSpec, resolve_imbalance
from speech2face.synth.provenance import FACES_RECORD, faces_record
from speech2face.synth.recording import RecordingRule, parse_rules, speaker_recording
from speech2face.synth.speakers import sample_speakers
from speech2face.vocabulary import SPLITS

GENERATOR_VERSION = "1.1"
"""Bump whenever the same settings would produce different bytes."""

SPEAKERS_FILE = "speakers.parquet"
RENDERS_FILE = "renders.parquet"
LANDMARKS_FILE = "landmarks.parquet"

LABELLED = ("age", "age_group", "gender", "ethnicity", "language")

NOT_A_POSITIVE_INTEGER = "--{option} must be a positive integer, got {value!r}"
NOT_A_COUNT = "--{option} must be a whole number of at least 0, got {value!r}"
NOT_A_SEED = "--{option} must be an integer in [0, 2**32), got {value!r}"
BAD_FACE_SIZE = f"--face-size must be one of {', '.join(map(str, FACE_SIZES))}, got {{value!r}}"


@dataclass(frozen=True)
class CorpusSettings:
    """Everything that determines a corpus's bytes."""

    speakers: int
    clips_per_speaker: int
    seed: int
    imbalance: ImbalanceSpec
    face_size: int
    renders_per_speaker: int
    test_fraction: float
    val_fraction: float
    conditions_by: tuple[RecordingRule, ...] = ()
    unheard_languages: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        settings = {field.name: getattr(self, field.name) for field in fields(self)}
        settings["imbalance"] = self.imbalance.to_dict()
        # only when set: a corpus without recording conditions keeps its hash
        settings.pop("conditions_by")
        if self.conditions_by:
            settings["conditions_by"] = [rule.to_dict() for rule in self.conditions_by]
        if not self.unheard_languages:
            settings.pop("unheard_languages")
        else:
            settings["unheard_languages"] = list(self.unheard_languages)
        settings["sample_rate"] = SAMPLE_RATE
        settings["generator_version"] = GENERATOR_VERSION
        return settings

    def digest(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`to_dict`."""
        text = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _check_count(option: str, value: Any, *, minimum: int, limit: float = math.inf) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value < limit:
        template = NOT_A_POSITIVE_INTEGER if minimum > 0 else NOT_A_COUNT
        if limit < math.inf:
            template = NOT_A_SEED
        raise InputError(template.format(option=option, value=value))
    return value


def generate_corpus(
    out_dir: str | os.PathLike,
    *,
    speakers: int = DEFAULT_SPEAKERS,
    clips_per_speaker: int = 4,
    seed: int = 0,
    imbalance: str | os.PathLike | ImbalanceSpec = "balanced",
    face_size: int = 64,
    renders_per_speaker: int = 4,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    workers: int = 2,
    progress: bool = True,
    conditions_by: Iterable[str] | Iterable[RecordingRule] = (),
    unheard_languages: Iterable[str] = (),
) -> Path:
    """Generate (or find cached) the synthetic corpus at ``out_dir``; return its manifest path.

    ``conditions_by``: per-group recording conditions (``speech2face.synth.recording``), as
    ``--conditions-by`` values or rules. ``unheard_languages``: every speaker of these
    languages is in the test split (:func:`~speech2face.synth.speakers.sample_speakers`).
    Every option is validated, and the speakers sampled,
    before any file is written.
    """
    given = list(conditions_by)
    rules = tuple(r for r in given if isinstance(r, RecordingRule)) + parse_rules(
        [r for r in given if not isinstance(r, RecordingRule)]
    )
    if face_size not in FACE_SIZES:
        raise InputError(BAD_FACE_SIZE.format(value=face_size))
    spec = imbalance if isinstance(imbalance, ImbalanceSpec) else resolve_imbalance(imbalance)
    settings = CorpusSettings(
        speakers=_check_count("speakers", speakers, minimum=1),
        clips_per_speaker=_check_count("clips-per-speaker", clips_per_speaker, minimum=1),
        seed=_check_count("seed", seed, minimum=0, limit=SEED_LIMIT),
        imbalance=spec,
        face_size=face_size,
        renders_per_speaker=_check_count("renders-per-speaker", renders_per_speaker, minimum=0),
        test_fraction=float(test_fraction),
        val_fraction=float(val_fraction),
        conditions_by=rules,
        unheard_languages=tuple(sorted(set(unheard_languages))),
    )
    _check_count("workers", workers, minimum=1)
    table = sample_speakers(
        n_speakers=settings.speakers,
        spec=spec,
        seed=settings.seed,
        test_fraction=settings.test_fraction,
        val_fraction=settings.val_fraction,
        unheard_languages=settings.unheard_languages,
    )
    out = Path(out_dir)
    digest = settings.digest()
    if _cached_digest(out) == digest:
        return out / MANIFEST_FILE
    check_out(out, "corpus")

    staging = hidden_sibling(out, f"partial-{digest[:16]}")
    staging.mkdir(parents=True, exist_ok=True)
    jobs = [
        SpeakerJob(
            speaker=row,
            clips=settings.clips_per_speaker,
            renders=settings.renders_per_speaker,
            face_size=settings.face_size,
            staging=str(staging),
            recording=speaker_recording(row, rules),
        )
        for row in table.to_dict("records")
        if not part_path(staging, row["speaker_id"]).is_file()
    ]
    _run_jobs(jobs, total=len(table), workers=workers, progress=progress)
    _write_tables(staging, table, settings, digest)
    mark(staging, "corpus")
    swap_folder(staging, out)
    return out / MANIFEST_FILE


def _cached_digest(out: Path) -> str | None:
    """The settings hash of the corpus at ``out``, or None where there is none."""
    try:
        truth = json.loads((out / GROUND_TRUTH_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    complete = isinstance(truth, dict) and (out / MANIFEST_FILE).is_file()
    return truth.get("settings_hash") if complete else None


def _run_jobs(jobs: list[SpeakerJob], *, total: int, workers: int, progress: bool) -> None:
    bar = tqdm(total=total, initial=total - len(jobs), unit="speaker", disable=not progress)
    with bar:
        if workers == 1 or len(jobs) <= 1:
            for job in jobs:
                render_speaker(job)
                bar.update()
            return
        pool = ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"))
        try:
            futures = [pool.submit(render_speaker, job) for job in jobs]
            for future in as_completed(futures):
                future.result()
                bar.update()
        finally:  # on an error or Ctrl-C, finish the running speakers, start no new one
            pool.shutdown(wait=True, cancel_futures=True)


def _read_parts(staging: Path, speaker_ids: Iterable[str]) -> list[dict[str, Any]]:
    return [
        json.loads(part_path(staging, speaker_id).read_text(encoding="utf-8"))
        for speaker_id in speaker_ids
    ]


def _write_tables(
    staging: Path, speakers: pd.DataFrame, settings: CorpusSettings, digest: str
) -> None:
    parts = _read_parts(staging, speakers["speaker_id"])
    truth = speakers.assign(face_size=[part["face_size"] for part in parts])
    for prefix, key in (("face", "face_params"), ("voice", "voice_params")):
        params = pd.DataFrame([part[key] for part in parts]).add_prefix(f"{prefix}_")
        truth = pd.concat([truth, params], axis=1)
    if settings.conditions_by:
        for name in ("snr_db", "bandwidth_hz", "segment_s"):
            truth[f"recording_{name}"] = [
                part.get("recording", {}).get(name, float("nan")) for part in parts
            ]
    truth.to_parquet(staging / SPEAKERS_FILE, index=False)
    write_manifest(_manifest(speakers, parts), staging / MANIFEST_FILE)
    renders = [
        {"speaker_id": part["speaker_id"], **render} for part in parts for render in part["renders"]
    ]
    pd.DataFrame(renders, columns=["speaker_id", "path"] if not renders else None).to_parquet(
        staging / RENDERS_FILE, index=False
    )
    _landmarks(parts).to_parquet(staging / LANDMARKS_FILE, index=False)
    truth_doc = {
        "generator": "speech2face.synth",
        "generator_version": GENERATOR_VERSION,
        "seed": settings.seed,
        "settings_hash": digest,
        "settings": settings.to_dict(),
        "counts": {split: _counts(speakers, split) for split in SPLITS},
        FACES_RECORD: faces_record(
            staging,
            [
                path
                for folder in (CANONICAL_DIR, VARIED_DIR)
                for path in (staging / folder).glob("*.png")
            ],
        ),
    }
    shutil.rmtree(staging / PARTS_DIR)
    (staging / GROUND_TRUTH_FILE).write_text(
        json.dumps(truth_doc, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )


def _manifest(speakers: pd.DataFrame, parts: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per clip; demographic columns carry the recorded labels."""
    by_id = speakers.set_index("speaker_id")
    rows = []
    for part in parts:
        speaker = by_id.loc[part["speaker_id"]]
        for clip in part["clips"]:
            rows.append(
                {
                    "clip_id": clip["clip_id"],
                    "speaker_id": part["speaker_id"],
                    "split": speaker["split"],
                    "audio_path": clip["audio_path"],
                    "face_path": part["face_path"],
                    "duration_s": clip["duration_s"],
                    "text": clip["text"],
                    "age": int(speaker["age"]),
                    "age_group": speaker["age_group"],
                    "gender": speaker["gender_label"],
                    "ethnicity": speaker["ethnicity_label"],
                    "language": speaker["language"],
                }
            )
    manifest = pd.DataFrame(rows)
    for column in LABELLED:
        manifest[f"{column}_source"] = "synthetic"
    return manifest


def _landmarks(parts: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [
        (part["speaker_id"], point, x, y)
        for part in parts
        for point, (x, y) in enumerate(part["landmarks"])
    ]
    frame = pd.DataFrame(rows, columns=["speaker_id", "point", "x", "y"])
    return frame.astype({"point": "int16", "x": "float32", "y": "float32"})


def read_landmarks(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Each speaker's canonical-face landmarks ``(points, 2)`` (float64) from ``path``, a
    corpus's :data:`LANDMARKS_FILE`."""
    points = pd.read_parquet(path).sort_values(["speaker_id", "point"])
    speakers = points["speaker_id"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, speakers[1:] != speakers[:-1]])
    xy = np.split(points[["x", "y"]].to_numpy(np.float64), starts[1:])
    return dict(zip(speakers[starts], xy, strict=True))


def _counts(speakers: pd.DataFrame, split: str) -> dict[str, dict[str, int]]:
    rows = speakers[speakers["split"] == split]
    return {
        attribute: {str(k): int(v) for k, v in rows[attribute].value_counts().sort_index().items()}
        for attribute in ("ethnicity", "gender", "age_group", "language", "language_mismatch")
    }
