"""Decode an audio file into a mono float32 waveform at the front end's sample rate.

Any format libsndfile reads (WAV, FLAC, OGG/Vorbis, …) is accepted; channels are
averaged to mono and the signal is resampled with soxr (high quality). Every way
a file can be unusable raises `InputError` with one line naming the file.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from speech2face.audio._riff import read_wave_header
from speech2face.errors import InputError

DEFAULT_SAMPLE_RATE = 16000
# A clip whose peak stays below this (-80 dBFS) carries no speech; all-zero clips included.
SILENCE_PEAK = 1e-4
# A segment end this far past the file's last sample is read as "to the end".
END_TOLERANCE_S = 0.01

MISSING_FILE = "{path}: audio file not found"
EMPTY_FILE = "{path}: audio file is empty (no samples)"
CORRUPT_FILE = "{path}: not a readable audio file (corrupt or unknown format: {detail})"
TRUNCATED_FILE = "{path}: audio file is truncated ({detail})"
UNSUPPORTED_FORMAT = "{path}: unsupported sample format ({detail})"
SILENT_FILE = "{path}: audio is silent (peak {peak:.1e} below {threshold:.0e})"
NON_FINITE = "{path}: audio contains NaN or infinite samples"
BAD_SEGMENT = "{path}: segment start_s={start} end_s={end} is outside the {duration:.2f} s file"


def load_audio(
    path: str | Path,
    *,
    sample_rate: int = DEFAULT_SAMPLE_RATE,
    start_s: float | None = None,
    end_s: float | None = None,
) -> np.ndarray:
    """Read ``path`` (optionally only ``[start_s, end_s)``) as mono float32 at ``sample_rate``.

    Raises `InputError` for a missing, empty, corrupt, truncated, silent or
    non-finite file, an unsupported sample format, or a segment outside the file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(MISSING_FILE.format(path=path))
    if path.stat().st_size == 0:
        raise InputError(EMPTY_FILE.format(path=path))
    samples, native_rate = _decode(path, start_s=start_s, end_s=end_s)
    if samples.size == 0:
        raise InputError(EMPTY_FILE.format(path=path))
    if not np.isfinite(samples).all():
        raise InputError(NON_FINITE.format(path=path))
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    peak = float(np.abs(mono).max())
    if peak < SILENCE_PEAK:
        raise InputError(SILENT_FILE.format(path=path, peak=peak, threshold=SILENCE_PEAK))
    if native_rate != sample_rate:
        mono = soxr.resample(mono, native_rate, sample_rate, quality="HQ")
    return np.ascontiguousarray(mono, dtype=np.float32)


def _decode(path: Path, *, start_s: float | None, end_s: float | None) -> tuple[np.ndarray, int]:
    """Read the requested frames as float32 (frames, channels), diagnosing failures."""
    header = read_wave_header(path)
    if header is not None and header.is_truncated:
        detail = (
            f"header declares {header.data_bytes_declared} data bytes, "
            f"file holds {header.data_bytes_present}"
        )
        raise InputError(TRUNCATED_FILE.format(path=path, detail=detail))
    try:
        with sf.SoundFile(path) as audio:
            start, stop = _segment_frames(path, audio, start_s=start_s, end_s=end_s)
            audio.seek(start)
            samples = audio.read(stop - start, dtype="float32", always_2d=True)
            native_rate = audio.samplerate
    except sf.LibsndfileError as error:
        if header is not None and header.unsupported_format is not None:
            detail = header.unsupported_format
            raise InputError(UNSUPPORTED_FORMAT.format(path=path, detail=detail)) from error
        detail = str(error.error_string).rstrip(".")
        if "opening" in str(error):
            raise InputError(CORRUPT_FILE.format(path=path, detail=detail)) from error
        raise InputError(TRUNCATED_FILE.format(path=path, detail=detail)) from error
    if len(samples) < stop - start:
        detail = f"expected {stop - start} frames, decoded {len(samples)}"
        raise InputError(TRUNCATED_FILE.format(path=path, detail=detail))
    return samples, native_rate


def _segment_frames(
    path: Path, audio: sf.SoundFile, *, start_s: float | None, end_s: float | None
) -> tuple[int, int]:
    """Frame range of ``[start_s, end_s)`` in ``audio``; the whole file when both are None."""
    total = audio.frames
    if total == 0:
        raise InputError(EMPTY_FILE.format(path=path))
    start = 0 if start_s is None else round(start_s * audio.samplerate)
    stop = total if end_s is None else round(end_s * audio.samplerate)
    if total < stop <= total + audio.samplerate * END_TOLERANCE_S:
        stop = total  # an end time rounded up past the last sample means "to the end"
    invalid = any(v is not None and not math.isfinite(v) for v in (start_s, end_s))
    if invalid or start < 0 or stop > total or start >= stop:
        duration = total / audio.samplerate
        message = BAD_SEGMENT.format(path=path, start=start_s, end=end_s, duration=duration)
        raise InputError(message)
    return start, stop
