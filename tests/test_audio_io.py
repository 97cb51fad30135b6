"""Decoding real WAV/FLAC/OGG files, resampling them, and refusing bad ones."""

import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from speech2face.audio import io
from speech2face.audio.io import load_audio
from speech2face.errors import InputError


def _tone(frequency: float, seconds: float, rate: int, channels: int = 2) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    left = 0.5 * np.sin(2 * np.pi * frequency * t)
    return np.stack([left, 0.8 * left], axis=1)[:, :channels].astype(np.float32)


def _peak_frequency(wave: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(wave.size), n=8 * wave.size))
    return float(np.argmax(spectrum) * rate / (8 * wave.size))


@pytest.mark.parametrize(
    ("extension", "rate", "frequency"),
    [("wav", 44100, 1000.0), ("flac", 48000, 440.0), ("ogg", 8000, 700.0), ("wav", 48000, 3100.0)],
)
def test_stereo_files_decode_to_mono_16k_keeping_the_tone(tmp_path, extension, rate, frequency):
    path = tmp_path / f"tone.{extension}"
    sf.write(path, _tone(frequency, 1.5, rate), rate)
    wave = load_audio(path)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.size - 1.5 * 16000) <= 2
    assert _peak_frequency(wave, 16000) == pytest.approx(frequency, abs=2.0)
    # mono is the channel mean: amplitude (0.5 + 0.4) / 2 in the steady middle
    middle = wave[4000:-4000]
    assert np.abs(middle).max() == pytest.approx(0.45, abs=0.02)


def test_segment_is_read_from_its_own_frames(tmp_path):
    rate = 16000
    samples = np.random.default_rng(0).uniform(-0.5, 0.5, 3 * rate).astype(np.float32)
    path = tmp_path / "noise.wav"
    sf.write(path, samples, rate, subtype="FLOAT")
    np.testing.assert_array_equal(load_audio(path, start_s=1.0, end_s=1.5), samples[16000:24000])
    np.testing.assert_array_equal(load_audio(path, start_s=2.5), samples[40000:])


def _error(path: Path, **kwargs) -> str:
    with pytest.raises(InputError) as caught:
        load_audio(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message and str(path) in message
    return message


def test_missing_and_empty_files(tmp_path):
    assert _error(tmp_path / "nowhere.wav") == io.MISSING_FILE.format(path=tmp_path / "nowhere.wav")
    zero_bytes = tmp_path / "zero.wav"
    zero_bytes.write_bytes(b"")
    assert _error(zero_bytes) == io.EMPTY_FILE.format(path=zero_bytes)
    no_frames = tmp_path / "no_frames.flac"
    sf.write(no_frames, np.zeros(0, np.float32), 16000)
    assert _error(no_frames) == io.EMPTY_FILE.format(path=no_frames)


def test_corrupt_file(tmp_path):
    path = tmp_path / "garbage.wav"
    path.write_bytes(b"this is not audio at all " * 40)
    assert "not a readable audio file" in _error(path)


@pytest.mark.parametrize("extension", ["wav", "flac"])
def test_truncated_file(tmp_path, extension):
    whole = tmp_path / f"whole.{extension}"
    sf.write(whole, _tone(300, 2.0, 16000, channels=1), 16000)
    cut = tmp_path / f"cut.{extension}"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    assert "audio file is truncated" in _error(cut)


@pytest.mark.parametrize(
    ("format_tag", "bits", "described"), [(0x0055, 16, "0x0055"), (3, 24, "IEEE float, 24 bits")]
)
def test_unsupported_sample_format(tmp_path, format_tag, bits, described):
    source = tmp_path / "source.wav"
    sf.write(source, _tone(300, 0.5, 16000, channels=1), 16000, subtype="PCM_16")
    header = bytearray(source.read_bytes())
    header[20:22] = struct.pack("<H", format_tag)
    header[34:36] = struct.pack("<H", bits)
    path = tmp_path / "odd.wav"
    path.write_bytes(bytes(header))
    message = _error(path)
    assert message.startswith(f"{path}: unsupported sample format (")
    assert described in message


@pytest.mark.parametrize("level", [0.0, 3e-5])
def test_silent_file(tmp_path, level):
    path = tmp_path / "quiet.wav"
    sf.write(path, np.full(16000, level, np.float32), 16000, subtype="FLOAT")
    assert "audio is silent" in _error(path)


def test_non_finite_samples(tmp_path):
    samples = _tone(300, 0.5, 16000, channels=1)
    samples[100] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, samples, 16000, subtype="FLOAT")
    assert _error(path) == io.NON_FINITE.format(path=path)


@pytest.mark.parametrize(("start_s", "end_s"), [(-1.0, None), (0.5, 0.2), (0.0, 9.0), (2.0, None)])
def test_segment_outside_the_file(tmp_path, start_s, end_s):
    path = tmp_path / "short.wav"
    sf.write(path, _tone(300, 1.0, 16000, channels=1), 16000)
    assert "outside the 1.00 s file" in _error(path, start_s=start_s, end_s=end_s)
