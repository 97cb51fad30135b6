"""The front end's spectrogram against independent numpy and scipy STFTs."""

import numpy as np
import pytest
import scipy.signal
import torch

from speech2face.audio import PAPER_CONFIG, SpectrogramConfig, fit_duration, spectrogram
from speech2face.audio.frontend import EMPTY_WAVEFORM, SHORT_WAVEFORM
from speech2face.errors import InputError

torch.set_num_threads(1)


def _numpy_reference(wave: np.ndarray, power: float = 0.3) -> np.ndarray:
    """Frames of 400 samples every 160, periodic Hann, each zero-padded to a 512-point rfft."""
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    frames = np.lib.stride_tricks.sliding_window_view(wave, 400)[::160]
    spectrum = np.fft.rfft(frames * window, n=512)
    parts = np.stack([spectrum.real, spectrum.imag], axis=-1)
    return np.sign(parts) * np.abs(parts) ** power


def _speechlike(seconds: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * 16000)) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 140 * t) + 0.1 * np.sin(2 * np.pi * 1200 * t)
    return tone + 0.05 * rng.standard_normal(t.size)


def test_paper_shapes_for_6_and_3_seconds():
    waves = torch.from_numpy(np.stack([_speechlike(6, 0), _speechlike(6, 1)])).float()
    assert spectrogram(waves).shape == (2, 598, 257, 2)
    short = SpectrogramConfig(duration_s=3.0)
    assert spectrogram(waves[:, : short.num_samples], short).shape == (2, 298, 257, 2)
    assert (PAPER_CONFIG.num_frames, PAPER_CONFIG.num_bins) == (598, 257)
    assert short.num_frames == 298


def test_matches_numpy_stft_to_1e_5():
    waves = np.stack([_speechlike(6, 2), _speechlike(6, 3)])
    ours = spectrogram(torch.from_numpy(waves)).numpy()
    reference = np.stack([_numpy_reference(w) for w in waves])
    np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=0)


def test_matches_scipy_stft_to_1e_5():
    wave = _speechlike(3, 4)
    window = scipy.signal.get_window("hann", 400)  # periodic by default
    _, _, spectrum = scipy.signal.stft(
        wave,
        window=window,
        nperseg=400,
        noverlap=240,
        nfft=512,
        boundary=None,
        padded=False,
        detrend=False,
        scaling="spectrum",
    )
    spectrum = spectrum.T * window.sum()  # scipy divides by the window's sum
    parts = np.stack([spectrum.real, spectrum.imag], axis=-1)
    reference = np.sign(parts) * np.abs(parts) ** 0.3
    ours = spectrogram(torch.from_numpy(wave), SpectrogramConfig(duration_s=3.0)).numpy()
    np.testing.assert_allclose(ours, reference, atol=1e-5, rtol=0)


def test_float32_path_agrees_with_float64_away_from_zero():
    wave = _speechlike(6, 5)
    exact = spectrogram(torch.from_numpy(wave)).numpy()
    single = spectrogram(torch.from_numpy(wave).float()).numpy()
    assert single.dtype == np.float32
    # x**0.3 is steep near 0, so float32 rounding matters only for tiny parts.
    large = np.abs(exact) > 0.5
    np.testing.assert_allclose(single[large], exact[large], rtol=1e-4)


def test_batched_equals_one_by_one():
    waves = torch.from_numpy(np.stack([_speechlike(6, s) for s in range(3)]))
    batched = spectrogram(waves)
    for index in range(3):
        torch.testing.assert_close(batched[index], spectrogram(waves[index]))


def test_compression_is_odd_power_law_of_real_and_imaginary_parts():
    wave = _speechlike(6, 6)
    raw = spectrogram(torch.from_numpy(wave), SpectrogramConfig(power=1.0))
    compressed = spectrogram(torch.from_numpy(wave))
    torch.testing.assert_close(compressed, raw.sign() * raw.abs() ** 0.3)
    assert (raw < 0).any() and (raw > 0).any()


def test_fit_duration_cuts_and_repeats():
    wave = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fit_duration(wave, seconds=0.5, sample_rate=10), wave[:5])
    repeated = fit_duration(wave, seconds=2.5, sample_rate=10)
    np.testing.assert_array_equal(repeated, np.concatenate([wave, wave, wave[:5]]))
    exact = fit_duration(wave, seconds=1.0, sample_rate=10)
    np.testing.assert_array_equal(exact, wave)


def test_fit_duration_refuses_empty_and_spectrogram_refuses_short():
    with pytest.raises(InputError, match=EMPTY_WAVEFORM.format(seconds=6.0)):
        fit_duration(np.zeros(0, np.float32), seconds=6.0, sample_rate=16000)
    with pytest.raises(InputError, match=SHORT_WAVEFORM.format(samples=100, window=400)):
        spectrogram(torch.zeros(100))
