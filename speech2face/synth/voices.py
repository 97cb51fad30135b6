"""Synthetic speakers' voices: parameters drawn like people's, rendered with espeak-ng.

A voice is an espeak-ng language and variant plus its own pitch, pitch range,
speaking rate, jitter and vocal-tract scale. The vocal-tract scale multiplies
every formant frequency (a shorter tract, higher formants) without changing F0
or speaking rate: espeak-ng speaks at F0/scale (pitch and intonation range)
and rate/scale, and the samples
are then resampled as if recorded at scale × 22,050 Hz, which multiplies every
frequency by the scale and divides the duration by it. A scale of ±300–400
cents changes the timbre the way a different speaker's anatomy would; the rate
alone only changes tempo, never who is speaking.

Parameters depend on gender and age as in people (men speak lower, older
speakers slower and with more jitter; women's F0 falls after menopause, men's
rises in old age) and the vocal-tract scale partly on face size, so voice →
face is learnable but not a lookup.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass

import numpy as np
import soxr

from speech2face.errors import InputError
from speech2face.synth.espeak import ESPEAK_SAMPLE_RATE, EspeakSettings, espeak_synthesize
from speech2face.synth.sentences import LANGUAGES
from speech2face.vocabulary import GENDERS

MALE_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7")
FEMALE_VARIANTS = ("f1", "f2", "f3", "f4", "f5")
"""espeak-ng's human-sounding variants; ``other`` draws from both."""

REFERENCE_FACE_SIZE_CM = 12.1
"""Face size (geometric mean of face width and height) whose voice has scale 1."""
VOCAL_TRACT_EXPONENT = 2.0
"""Formant scale = (reference / face size) ** exponent, before identity noise."""
VOCAL_TRACT_NOISE_CENTS = 90.0
"""Identity noise of the vocal-tract scale that the face does not carry (sd, cents)."""
MAX_VOCAL_TRACT_CENTS = 450.0

PITCH_COMPENSATION = 62.5
"""espeak pitch units that undo one octave of vocal-tract scaling.

espeak's pitch parameter doubles only part of F0 per +50 (its intonation range
adds a share that does not scale), so 1.25 × 50 units per octave, with the
range parameter divided by the scale, keeps the final F0 within ~3 % of the
unscaled voice for scales 0.8–1.25 (measured with an autocorrelation F0 estimate).
"""

JITTER_SEGMENT_S = 0.005
"""Jitter perturbs the playback speed independently every 5 ms (about one glottal cycle)."""

_ESPEAK_MIN_RATE, _ESPEAK_MAX_RATE = 80, 450

UNKNOWN_LANGUAGE = "unknown voice language {value!r}: expected one of {allowed}"
UNKNOWN_GENDER = "unknown gender {value!r}: expected one of {allowed}"
BAD_AGE = "age {value!r} years is not a positive number"
NO_SPEECH = "espeak-ng produced no audio for the text {text!r}"


@dataclass(frozen=True)
class VoiceParams:
    """One synthetic speaker's voice.

    ``pitch`` and ``pitch_range`` are espeak-ng's 0–100 scales (50: the
    variant's own F0 and intonation range; +50 doubles F0); ``rate`` is words
    per minute; ``jitter`` the relative random perturbation of each ~5 ms stretch
    (0.005 = 0.5 %); ``vocal_tract_scale`` the factor applied to every formant
    frequency (above 1: shorter vocal tract, higher formants).
    """

    language: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int
    jitter: float
    vocal_tract_scale: float

    @property
    def vocal_tract_cents(self) -> float:
        """The formant shift in cents (1200 per octave)."""
        return 1200.0 * math.log2(self.vocal_tract_scale)


def sample_voice_params(
    rng: np.random.Generator, *, gender: str, age: float, face_size: float, language: str
) -> VoiceParams:
    """Draw a voice for a speaker of ``gender`` and ``age`` (years) with ``face_size`` (cm)."""
    if language not in LANGUAGES:
        raise InputError(UNKNOWN_LANGUAGE.format(value=language, allowed=", ".join(LANGUAGES)))
    if gender not in GENDERS:
        raise InputError(UNKNOWN_GENDER.format(value=gender, allowed=", ".join(GENDERS)))
    if not age > 0:
        raise InputError(BAD_AGE.format(value=age))
    variants = {"male": MALE_VARIANTS, "female": FEMALE_VARIANTS}.get(
        gender, MALE_VARIANTS + FEMALE_VARIANTS
    )
    variant = str(rng.choice(variants))
    female = variant in FEMALE_VARIANTS
    # F0: children high; women's F0 falls after ~45, men's rises after ~60.
    pitch = 50 + rng.normal(0.0, 7.0) + 25.0 * max(0.0, (14.0 - age) / 14.0)
    pitch += -0.25 * max(0.0, age - 45.0) if female else 0.15 * max(0.0, age - 60.0)
    pitch_range = 50 + rng.normal(0.0, 10.0) + (6.0 if female else 0.0)
    pitch_range -= 0.2 * max(0.0, age - 60.0)
    # Speaking rate slows with age; jitter grows with age.
    rate = 160 + rng.normal(0.0, 12.0) - 0.8 * max(0.0, age - 50.0)
    jitter = 0.004 + 0.00012 * max(0.0, age - 40.0) + abs(rng.normal(0.0, 0.0015))
    cents = -1200.0 * VOCAL_TRACT_EXPONENT * math.log2(face_size / REFERENCE_FACE_SIZE_CM)
    cents += rng.normal(0.0, VOCAL_TRACT_NOISE_CENTS)
    cents = float(np.clip(cents, -MAX_VOCAL_TRACT_CENTS, MAX_VOCAL_TRACT_CENTS))
    return VoiceParams(
        language=language,
        variant=variant,
        pitch=int(np.clip(round(pitch), 0, 100)),
        pitch_range=int(np.clip(round(pitch_range), 15, 90)),
        rate=int(np.clip(round(rate), 115, 205)),
        jitter=round(float(np.clip(jitter, 0.0, 0.03)), 5),
        vocal_tract_scale=round(2.0 ** (cents / 1200.0), 5),
    )


def synthesize(text: str, *, voice: VoiceParams, sample_rate: int = 16000) -> np.ndarray:
    """Speak ``text`` with ``voice``: mono float32 at ``sample_rate``; same input, same samples."""
    scale = voice.vocal_tract_scale
    settings = EspeakSettings(
        voice=f"{voice.language}+{voice.variant}",
        rate=int(np.clip(round(voice.rate / scale), _ESPEAK_MIN_RATE, _ESPEAK_MAX_RATE)),
        pitch=int(np.clip(round(voice.pitch - PITCH_COMPENSATION * math.log2(scale)), 0, 100)),
        pitch_range=int(np.clip(round(voice.pitch_range / scale), 0, 100)),
    )
    samples = espeak_synthesize(text, settings)
    if samples.size == 0:
        raise ValueError(NO_SPEECH.format(text=text))
    seed = zlib.crc32(repr((text, voice)).encode("utf-8"))
    samples = _apply_jitter(samples, voice.jitter, np.random.default_rng(seed))
    resampled = soxr.resample(samples, ESPEAK_SAMPLE_RATE * scale, sample_rate, quality="HQ")
    return np.ascontiguousarray(resampled, dtype=np.float32)


def _apply_jitter(samples: np.ndarray, jitter: float, rng: np.random.Generator) -> np.ndarray:
    """Read ``samples`` at a speed perturbed by ±``jitter`` (relative sd) every 5 ms.

    Each stretch of about one glottal cycle is played slightly faster or slower,
    so consecutive cycle lengths differ by about ``jitter``, as in a real voice.
    """
    if jitter <= 0.0:
        return samples
    segment = round(JITTER_SEGMENT_S * ESPEAK_SAMPLE_RATE)
    speeds = 1.0 + jitter * rng.standard_normal(samples.size // segment + 1)
    step = np.repeat(speeds, segment)[: samples.size]
    positions = np.concatenate([[0.0], np.cumsum(step[:-1])])
    positions = positions[positions <= samples.size - 1]
    return np.interp(positions, np.arange(samples.size), samples).astype(np.float32)
