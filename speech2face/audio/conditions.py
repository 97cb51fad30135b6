"""Recording conditions of one clip, measured from its audio (docs/conditions.md).

``speech_s``: seconds of 30 ms frames a voice activity detector (VAD) calls speech, at
16 kHz: webrtcvad at aggressiveness :data:`WEBRTC_AGGRESSIVENESS` when installed, else an
energy VAD (a frame louder than the clip's quietest tenth by :data:`ENERGY_MARGIN_DB`).
``snr_db``: mean power of speech frames less the noise power, over the noise power, in dB;
the noise is the median power of non-speech frames (without any, the mean of the quietest
tenth of frames).
``loudness_lufs``: ITU-R BS.1770-4 integrated loudness at the file's own rate.
``clipping_fraction``: share of samples at or beyond :data:`CLIP_LEVEL` of full scale.
``bandwidth_hz``: frequency below which :data:`BANDWIDTH_SHARE` of the energy lies, at the
file's own rate. ``sample_rate_original``: that rate. Audio is decoded by
:func:`~speech2face.audio.io.load_audio` (mono: channels averaged).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.fft import next_fast_len, rfft, rfftfreq

from speech2face.audio.io import DEFAULT_SAMPLE_RATE, load_audio
from speech2face.audio.loudness import integrated_loudness
from speech2face.errors import InputError

MEASURE_VERSION = 1
"""Bumped whenever a measure changes, so cached rows of an older version are measured again."""
CONDITION_COLUMNS = (
    "speech_s",
    "snr_db",
    "loudness_lufs",
    "clipping_fraction",
    "bandwidth_hz",
    "sample_rate_original",
)
VADS = ("webrtcvad", "energy")
VAD_RATE = DEFAULT_SAMPLE_RATE
FRAME_S = 0.03
WEBRTC_AGGRESSIVENESS = 3
"""webrtcvad's most aggressive mode (0-3): fewest noise frames taken for speech."""
ENERGY_MARGIN_DB = 6.0
NOISE_SHARE = 0.1
"""Without non-speech frames, this quietest share of frames stands for the noise."""
POWER_FLOOR = 1e-10
"""-100 dBFS: the least power either side of the SNR can have (digital silence stays finite)."""
CLIP_LEVEL = 0.999
BANDWIDTH_SHARE = 0.99

UNKNOWN_VAD = f"vad must be one of {', '.join(VADS)}, not {{vad!r}}"


@dataclass(frozen=True)
class Conditions:
    """The measures of one clip; NaN and a ``reason`` when its audio cannot be decoded."""

    speech_s: float
    snr_db: float
    loudness_lufs: float
    clipping_fraction: float
    bandwidth_hz: float
    sample_rate_original: float
    reason: str = ""


def default_vad() -> str:
    """``"webrtcvad"`` when the module is installed, else ``"energy"``."""
    return "webrtcvad" if importlib.util.find_spec("webrtcvad") is not None else "energy"


def measure_clip(
    path: str | Path,
    *,
    start_s: float | None = None,
    end_s: float | None = None,
    vad: str | None = None,
) -> Conditions:
    """The conditions of ``path`` (or its ``[start_s, end_s)``); never raises for bad audio."""
    path = Path(path)
    try:
        rate = _native_rate(path)
        original = load_audio(path, sample_rate=rate, start_s=start_s, end_s=end_s)
        at_vad_rate = (
            original
            if rate == VAD_RATE
            else load_audio(path, sample_rate=VAD_RATE, start_s=start_s, end_s=end_s)
        )
    except InputError as error:
        return Conditions(*[math.nan] * len(CONDITION_COLUMNS), reason=str(error))
    return measure_wave(original, rate, at_vad_rate, vad=vad)


def measure_wave(
    original: np.ndarray, rate: int, at_vad_rate: np.ndarray, *, vad: str | None = None
) -> Conditions:
    """The conditions of a decoded clip: ``original`` at ``rate`` Hz, and at :data:`VAD_RATE`."""
    frame = round(FRAME_S * VAD_RATE)
    frames = at_vad_rate[: len(at_vad_rate) // frame * frame].reshape(-1, frame)
    power = np.mean(frames.astype(np.float64) ** 2, axis=1)
    speech = speech_frames(frames, power, vad=vad or default_vad()) if len(frames) else power > 0
    return Conditions(
        speech_s=float(speech.sum() * FRAME_S),
        snr_db=snr_db(power, speech),
        loudness_lufs=integrated_loudness(original, rate),
        clipping_fraction=float(np.mean(np.abs(original) >= CLIP_LEVEL)),
        bandwidth_hz=bandwidth_hz(original, rate),
        sample_rate_original=float(rate),
    )


def speech_frames(frames: np.ndarray, power: np.ndarray, *, vad: str) -> np.ndarray:
    """Which 30 ms ``frames`` (rows at :data:`VAD_RATE`, mean squares ``power``) are speech."""
    if vad == "webrtcvad":
        import webrtcvad

        detector = webrtcvad.Vad(WEBRTC_AGGRESSIVENESS)
        pcm = np.clip(np.round(frames * 32768.0), -32768, 32767).astype(np.int16)
        return np.array([detector.is_speech(row.tobytes(), VAD_RATE) for row in pcm], dtype=bool)
    if vad == "energy":
        level = 10.0 * np.log10(np.maximum(power, POWER_FLOOR))
        return level > _quietest(level).mean() + ENERGY_MARGIN_DB
    raise ValueError(UNKNOWN_VAD.format(vad=vad))


def snr_db(power: np.ndarray, speech: np.ndarray) -> float:
    """Speech-frame power less noise power, over noise power, in dB; NaN without speech."""
    if not speech.any():
        return math.nan
    noise = float(np.median(power[~speech])) if (~speech).any() else _quietest(power).mean()
    noise_power = max(noise, POWER_FLOOR)
    excess = max(float(power[speech].mean()) - noise_power, POWER_FLOOR)
    return 10.0 * math.log10(excess / noise_power)


def bandwidth_hz(wave: np.ndarray, rate: int) -> float:
    """The frequency below which :data:`BANDWIDTH_SHARE` of ``wave``'s energy (DC removed) lies.

    From the periodogram of the whole clip (one FFT, zero-padded to a fast length).
    """
    centred = np.asarray(wave, dtype=np.float64) - np.mean(wave)
    length = next_fast_len(len(centred), real=True)
    cumulative = np.cumsum(np.abs(rfft(centred, n=length)) ** 2)
    if cumulative[-1] <= 0:
        return math.nan
    frequencies = rfftfreq(length, d=1.0 / rate)
    return float(frequencies[np.searchsorted(cumulative, BANDWIDTH_SHARE * cumulative[-1])])


def _quietest(values: np.ndarray) -> np.ndarray:
    """The lowest :data:`NOISE_SHARE` of ``values`` (at least one)."""
    count = max(1, math.ceil(NOISE_SHARE * len(values)))
    return np.partition(values, count - 1)[:count]


def _native_rate(path: Path) -> int:
    """The file's own sample rate; the default when libsndfile cannot open it (the loader
    then names the problem)."""
    try:
        return sf.info(str(path)).samplerate
    except (sf.LibsndfileError, RuntimeError, OSError):
        return DEFAULT_SAMPLE_RATE
