"""One speaker's media: face and voice parameters, clips (WAV) and face renders (PNG).

:func:`render_speaker` runs in a worker process (libespeak-ng is not
thread-safe). It writes the speaker's files into the staging folder, then a
``parts/<speaker_id>.json`` record of every row it contributes to the corpus
tables; that record is written last and atomically, so a speaker with a record
is complete and an interrupted run resumes from the speakers without one.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
from PIL import Image

from speech2face.atomic import write_json
from speech2face.synth.recording import record
from speech2face.synth.sentences import SENTENCES
from speech2face.synth.synthetic_faces import render_face, sample_face_params, sample_variation
from speech2face.synth.voices import sample_voice_params, synthesize

SAMPLE_RATE = 16000
MIN_CLIP_S = 3.0
MAX_CLIP_S = 8.0
SENTENCE_GAP_S = 0.25
FADE_S = 0.02

PARTS_DIR = "parts"
AUDIO_DIR = "audio"
CANONICAL_DIR = "faces/canonical"
VARIED_DIR = "faces/varied"

_FACE_STREAM, _VOICE_STREAM, _TEXT_STREAM, _VARIATION_STREAM, _RECORDING_STREAM = range(5)


@dataclass(frozen=True)
class SpeakerJob:
    """What a worker needs to produce one speaker."""

    speaker: Mapping[str, Any]
    clips: int
    renders: int
    face_size: int
    staging: str
    recording: Mapping[str, float] | None = None
    """The speaker's recording conditions (``speech2face.synth.recording``); None: clean."""


def part_path(staging: str | os.PathLike, speaker_id: str) -> Path:
    """Where a finished speaker's record lives."""
    return Path(staging) / PARTS_DIR / f"{speaker_id}.json"


def _plain(value: Any) -> Any:
    """A JSON-ready copy of a parameter value (numpy scalars and arrays included)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _fields(params: Any) -> dict[str, Any]:
    return {field.name: _plain(getattr(params, field.name)) for field in dataclasses.fields(params)}


def render_speaker(job: SpeakerJob) -> str:
    """Produce one speaker's clips and faces; return its speaker id once its record is written."""
    speaker = job.speaker
    speaker_id = speaker["speaker_id"]
    identity = int(speaker["identity_seed"])
    staging = Path(job.staging)

    face = sample_face_params(
        np.random.default_rng([identity, _FACE_STREAM]),
        gender=speaker["gender"],
        age=speaker["age"],
        ethnicity=speaker["ethnicity"],
    )
    voice = sample_voice_params(
        np.random.default_rng([identity, _VOICE_STREAM]),
        gender=speaker["gender"],
        age=speaker["age"],
        face_size=face.face_size,
        language=speaker["language"],
    )
    clips = _write_clips(
        speaker_id,
        language=speaker["language"],
        voice=voice,
        count=job.clips,
        rng=np.random.default_rng([identity, _TEXT_STREAM]),
        staging=staging,
        recording=job.recording,
        noise=np.random.default_rng([identity, _RECORDING_STREAM]),
    )
    canonical, landmarks, renders = _write_faces(
        speaker_id,
        face=face,
        size=job.face_size,
        count=job.renders,
        rng=np.random.default_rng([identity, _VARIATION_STREAM]),
        staging=staging,
    )
    record_ = {
        "speaker_id": speaker_id,
        "face_size": float(face.face_size),
        "face_params": _fields(face),
        "voice_params": _fields(voice),
        "clips": clips,
        "face_path": canonical,
        "landmarks": landmarks,
        "renders": renders,
    }
    if job.recording is not None:
        record_["recording"] = dict(job.recording)
    write_json(part_path(staging, speaker_id), record_)
    return speaker_id


def _write_clips(
    speaker_id: str,
    *,
    language: str,
    voice: Any,
    count: int,
    rng: np.random.Generator,
    staging: Path,
    recording: Mapping[str, float] | None = None,
    noise: np.random.Generator | None = None,
) -> list[dict[str, Any]]:
    sentences = SENTENCES[language]
    order = rng.permutation(len(sentences))
    folder = staging / AUDIO_DIR / speaker_id
    folder.mkdir(parents=True, exist_ok=True)
    clips, cursor = [], 0
    for index in range(count):
        texts, pieces = [], []
        while sum(len(piece) for piece in pieces) < MIN_CLIP_S * SAMPLE_RATE:
            text = sentences[order[cursor % len(order)]]
            cursor += 1
            if pieces:
                pieces.append(np.zeros(round(SENTENCE_GAP_S * SAMPLE_RATE), dtype=np.float32))
            pieces.append(synthesize(text, voice=voice, sample_rate=SAMPLE_RATE))
            texts.append(text)
        audio = _fit_length(np.concatenate(pieces))
        if recording is not None:
            audio = record(audio, recording, sample_rate=SAMPLE_RATE, rng=noise)
        clip_id = f"{speaker_id}_c{index:02d}"
        relative = f"{AUDIO_DIR}/{speaker_id}/{clip_id}.wav"
        sf.write(staging / relative, audio, SAMPLE_RATE, subtype="PCM_16")
        clips.append(
            {
                "clip_id": clip_id,
                "audio_path": relative,
                "duration_s": len(audio) / SAMPLE_RATE,
                "text": " ".join(texts),
            }
        )
    return clips


def _fit_length(audio: np.ndarray) -> np.ndarray:
    """Cut a clip longer than the maximum, fading out its last samples; scale peaks below 1."""
    limit = round(MAX_CLIP_S * SAMPLE_RATE)
    if len(audio) > limit:
        audio = audio[:limit].copy()
        fade = round(FADE_S * SAMPLE_RATE)
        audio[-fade:] *= np.linspace(1.0, 0.0, fade, dtype=np.float32)
    peak = float(np.max(np.abs(audio))) if len(audio) else 0.0
    if peak > 0.99:
        audio = audio * np.float32(0.99 / peak)
    return audio.astype(np.float32)


def _save_png(image: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path, format="PNG")


def _write_faces(
    speaker_id: str,
    *,
    face: Any,
    size: int,
    count: int,
    rng: np.random.Generator,
    staging: Path,
) -> tuple[str, list[list[float]], list[dict[str, Any]]]:
    canonical = render_face(face, size=size)
    canonical_path = f"{CANONICAL_DIR}/{speaker_id}.png"
    _save_png(canonical.image, staging / canonical_path)
    renders = []
    for index in range(count):
        variation = sample_variation(rng)
        render = render_face(face, size=size, variation=variation)
        path = f"{VARIED_DIR}/{speaker_id}_r{index:02d}.png"
        _save_png(render.image, staging / path)
        renders.append({"path": path, **_fields(variation)})
    landmarks = np.asarray(canonical.landmarks, dtype=np.float32).tolist()
    return canonical_path, landmarks, renders
