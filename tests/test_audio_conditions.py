"""Recording conditions of a clip against independent references and real speech."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import butter, sosfilt

from speech2face.audio import conditions
from speech2face.audio.conditions import measure_clip
from speech2face.audio.loudness import integrated_loudness
from tests.backend_fixtures import codec2_wav_dir

CLEAN_SPEECH = ("hts1a.wav", "hts2a.wav", "cross.wav")
"""codec2-examples recordings with pauses between words and a quiet background."""


def _write(tmp_path, name, wave, rate, subtype="FLOAT"):
    path = tmp_path / name
    sf.write(path, wave, rate, subtype=subtype)
    return path


@pytest.mark.parametrize("rate", (16000, 44100))
def test_bandwidth_of_noise_low_passed_at_4_khz(tmp_path, rate):
    noise = np.random.default_rng(0).standard_normal(rate * 6)
    low_passed = sosfilt(butter(16, 4000, fs=rate, output="sos"), noise)
    path = _write(tmp_path, "noise.wav", 0.1 * low_passed, rate)
    assert measure_clip(path).bandwidth_hz == pytest.approx(4000, rel=0.05)


def test_clipping_fraction_counts_samples_at_full_scale(tmp_path):
    rate = 16000
    wave = 0.3 * np.sin(2 * np.pi * 220 * np.arange(rate * 2) / rate)
    wave[::50] = np.where(np.arange(0, wave.size, 50) % 100 == 0, 1.0, -1.0)
    path = _write(tmp_path, "clipped.wav", wave, rate, subtype="PCM_16")
    assert measure_clip(path).clipping_fraction == pytest.approx(1 / 50)


def _with_noise(wave: np.ndarray, rate: int, snr_db: float, seed: int) -> np.ndarray:
    """``wave`` plus white noise ``snr_db`` below the mean power of its speech frames.

    Speech frames here: 30 ms frames within 40 dB of the loudest (not the module's VAD).
    """
    frame = round(0.03 * rate)
    power = np.mean(wave[: wave.size // frame * frame].reshape(-1, frame) ** 2, axis=1)
    speech_power = power[power > power.max() * 1e-4].mean()
    noise = np.random.default_rng(seed).standard_normal(wave.size)
    return wave + noise * np.sqrt(speech_power / 10 ** (snr_db / 10))


@pytest.mark.parametrize("name", CLEAN_SPEECH)
@pytest.mark.parametrize("snr", (10.0, 20.0))
def test_snr_of_noise_added_to_clean_speech_is_recovered(tmp_path, name, snr):
    wave, rate = sf.read(codec2_wav_dir() / name, dtype="float64")
    path = _write(tmp_path, name, _with_noise(wave, rate, snr, seed=int(snr)), rate)
    assert measure_clip(path, vad="webrtcvad").snr_db == pytest.approx(snr, abs=3.0)


def test_energy_vad_when_webrtcvad_is_absent(tmp_path, monkeypatch):
    path = codec2_wav_dir() / "hts1a.wav"
    with_webrtc = measure_clip(path)
    monkeypatch.setitem(sys.modules, "webrtcvad", None)
    assert conditions.default_vad() == "energy"
    fallback = measure_clip(path)
    assert fallback == measure_clip(path, vad="energy")
    assert fallback.speech_s == pytest.approx(with_webrtc.speech_s, rel=0.2)
    wave, rate = sf.read(path, dtype="float64")
    noisy = _write(tmp_path, "noisy.wav", _with_noise(wave, rate, 20.0, seed=1), rate)
    assert measure_clip(noisy).snr_db == pytest.approx(20.0, abs=3.0)


def test_real_speech_is_plausible():
    """codec2-examples: 8 kHz speech (one at 16 kHz), clean studio and codec recordings."""
    folder = codec2_wav_dir()
    for name in (*CLEAN_SPEECH, "big_dog.wav", "f2400.wav", "morig.wav", "wia_16kHz.wav"):
        info = sf.info(str(folder / name))
        measured = measure_clip(folder / name)
        assert measured.reason == ""
        assert measured.sample_rate_original == info.samplerate
        assert 0.5 * info.duration < measured.speech_s <= info.duration
        assert 15 < measured.snr_db < 60
        assert -30 < measured.loudness_lufs < -15
        assert measured.clipping_fraction == 0
        assert 1000 < measured.bandwidth_hz < info.samplerate / 2


def test_loudness_is_measured_at_the_files_own_rate():
    path = codec2_wav_dir() / "hts1a.wav"
    wave, rate = sf.read(path, dtype="float32")
    assert measure_clip(path).loudness_lufs == pytest.approx(integrated_loudness(wave, rate))


def test_a_window_is_measured_alone(tmp_path):
    rate = 16000
    t = np.arange(rate * 4) / rate
    wave = np.where(t < 2, 0.5 * np.sin(2 * np.pi * 440 * t), 0.05 * np.sin(2 * np.pi * 440 * t))
    path = _write(tmp_path, "two_levels.wav", wave, rate)
    loud, quiet = measure_clip(path, end_s=2.0), measure_clip(path, start_s=2.0, end_s=4.0)
    assert loud.loudness_lufs - quiet.loudness_lufs == pytest.approx(20.0, abs=0.1)
    assert quiet.speech_s <= 2.0


def test_undecodable_audio_is_nan_with_a_reason(tmp_path):
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio at all" * 100)
    for path in (garbage, tmp_path / "missing.wav"):
        measured = measure_clip(path)
        assert path.name in measured.reason
        values = [getattr(measured, column) for column in conditions.CONDITION_COLUMNS]
        assert np.isnan(values).all()
