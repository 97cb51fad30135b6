"""Simulated trials with speaker effects on both sides, to check the trials audit's intervals.

Speaker effects as in Doddington's menagerie: each speaker has a target effect
``g ~ N(0, target_sd²)`` (how well the model matches the speaker's voice to their own
face: goats and sheep), a voice impostor effect ``a ~ N(0, voice_sd²)`` (wolves) and a
face impostor effect ``b ~ N(0, face_sd²)`` (hub faces that attract every voice). Each
of a speaker's clips is scored against the speaker's own face (a target trial) and
against ``impostors_per_clip`` faces of other speakers drawn at random::

    target:    score = separation + g_speaker + e
    impostor:  score = a_voice + b_face + e,          e ~ N(0, noise_sd²)

so trials of one voice speaker share ``g`` and ``a`` and impostor trials of one face
share ``b``: crossed random effects. (A shift added to both target and impostor
scores of a speaker would largely cancel in the EER.) Target and impostor scores are
normal with standard deviations ``s_t``, ``s_i``, so the population EER is
``Φ(−separation / (s_t + s_i))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from speech2face import trials as schema


def simulate_trials(
    *,
    n_speakers: int,
    clips_per_speaker: int = 2,
    impostors_per_clip: int = 4,
    separation: float = 1.05,
    target_sd: float = 0.45,
    voice_sd: float = 0.45,
    face_sd: float = 0.45,
    noise_sd: float = 0.77,
    languages: tuple[str, ...] = ("en", "ur"),
    seed: int = 0,
) -> pd.DataFrame:
    """A trials table of ``n_speakers`` speakers (voice speaker demographics and ``face_``
    demographics of the face speaker)."""
    rng = np.random.default_rng(seed)
    target_effect = rng.normal(0, target_sd, n_speakers)
    voice_effect = rng.normal(0, voice_sd, n_speakers)
    face_effect = rng.normal(0, face_sd, n_speakers)
    gender = rng.choice(["female", "male"], n_speakers)
    clip_speaker = np.repeat(np.arange(n_speakers), clips_per_speaker)
    n_clips = len(clip_speaker)
    clip_language = rng.choice(list(languages), n_clips)
    offset = rng.integers(1, n_speakers, (n_clips, impostors_per_clip))
    faces = np.column_stack([clip_speaker, (clip_speaker[:, None] + offset) % n_speakers])
    voice = np.repeat(clip_speaker, impostors_per_clip + 1)
    face = faces.ravel()
    clip = np.repeat(np.arange(n_clips), impostors_per_clip + 1)
    target = voice == face
    score = np.where(
        target, separation + target_effect[voice], voice_effect[voice] + face_effect[face]
    ) + rng.normal(0, noise_sd, len(voice))
    speaker = np.char.add("spk", np.arange(n_speakers).astype(str))
    return pd.DataFrame(
        {
            schema.TRIAL_ID: np.arange(len(voice)).astype(str),
            schema.VOICE_CLIP_ID: np.char.add("clip", clip.astype(str)),
            schema.VOICE_SPEAKER_ID: speaker[voice],
            schema.FACE_ID: np.char.add("face", face.astype(str)),
            schema.FACE_SPEAKER_ID: speaker[face],
            schema.SCORE: score,
            schema.TARGET: target,
            schema.LANGUAGE: clip_language[clip],
            schema.DURATION_S: 6.0,
            "gender": gender[voice],
            schema.face_column("gender"): gender[face],
        }
    )


def normal_eer(
    *,
    separation: float = 1.05,
    target_sd: float = 0.45,
    voice_sd: float = 0.45,
    face_sd: float = 0.45,
    noise_sd: float = 0.77,
) -> float:
    """The population EER of :func:`simulate_trials` with the same parameters."""
    target_total = np.hypot(target_sd, noise_sd)
    impostor_total = np.sqrt(voice_sd**2 + face_sd**2 + noise_sd**2)
    return float(stats.norm.cdf(-separation / (target_total + impostor_total)))
