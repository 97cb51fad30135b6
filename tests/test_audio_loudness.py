"""BS.1770-4 loudness against the standard's coefficients and pyloudnorm 0.1.1."""

from __future__ import annotations

import numpy as np
import pyloudnorm
import pytest
import soundfile as sf
import soxr

from speech2face.audio.loudness import integrated_loudness, k_weighting
from tests.backend_fixtures import codec2_wav_dir

RATES = (8000, 16000, 44100)


def test_k_weighting_at_48k_is_the_standards_table():
    (shelf_b, shelf_a), (high_pass_b, high_pass_a) = k_weighting(48000)
    np.testing.assert_allclose(shelf_b, [1.53512485958697, -2.69169618940638, 1.19839281085285])
    np.testing.assert_allclose(shelf_a, [1.0, -1.69065929318241, 0.73248077421585])
    np.testing.assert_allclose(high_pass_b, [1.0, -2.0, 1.0])
    np.testing.assert_allclose(high_pass_a, [1.0, -1.99004745483398, 0.99007225036621])


def test_full_scale_997_hz_sine_reads_minus_3_01_lufs():
    t = np.arange(48000 * 5) / 48000
    assert integrated_loudness(np.sin(2 * np.pi * 997 * t), 48000) == pytest.approx(-3.01, abs=0.01)


def _signals(rate: int) -> dict[str, np.ndarray]:
    t = np.arange(rate * 5) / rate
    speech, speech_rate = sf.read(codec2_wav_dir() / "hts1a.wav", dtype="float64")
    return {
        "sine": 0.5 * np.sin(2 * np.pi * 997 * t),
        "noise": 0.1 * np.random.default_rng(rate).standard_normal(t.size),
        "speech": soxr.resample(speech, speech_rate, rate),
    }


@pytest.mark.parametrize("rate", RATES)
def test_loudness_equals_pyloudnorm_bs1770_filters(rate):
    """pyloudnorm's "DeMan" meter: the standard's filters at any rate, its own gating code."""
    meter = pyloudnorm.Meter(rate, filter_class="DeMan")
    for signal in _signals(rate).values():
        ours = integrated_loudness(signal, rate)
        assert ours == pytest.approx(meter.integrated_loudness(signal), abs=0.1)


@pytest.mark.parametrize("rate", (44100, 48000))
def test_loudness_equals_pyloudnorm_default_meter_at_wideband_rates(rate):
    """pyloudnorm's default meter approximates the shelf (4 dB at 1500 Hz): close at 44.1 kHz+."""
    meter = pyloudnorm.Meter(rate)
    for signal in _signals(rate).values():
        ours = integrated_loudness(signal, rate)
        assert ours == pytest.approx(meter.integrated_loudness(signal), abs=0.1)


def test_gates_drop_silence_and_short_signals_are_nan():
    """Silence as long as the tone is gated out (only the blocks at the edge count)."""
    rate = 16000
    tone = 0.5 * np.sin(2 * np.pi * 997 * np.arange(rate * 4) / rate)
    padded = np.concatenate([tone, np.zeros(rate * 4)])
    assert integrated_loudness(padded, rate) == pytest.approx(
        integrated_loudness(tone, rate), abs=0.3
    )
    assert np.isnan(integrated_loudness(tone[: rate // 4], rate))
    assert integrated_loudness(np.zeros(rate), rate) == -np.inf
