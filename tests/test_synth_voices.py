"""Synthetic voices: real espeak-ng speech whose pitch, timbre and tempo follow the parameters."""

import dataclasses
import itertools
import multiprocessing
import unicodedata
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import numpy as np
import pytest
import scipy.signal

from speech2face.errors import InputError
from speech2face.synth import voices
from speech2face.synth.espeak import EspeakSettings, espeak_synthesize
from speech2face.synth.sentences import LANGUAGES, SENTENCES
from speech2face.synth.voices import VoiceParams, sample_voice_params, synthesize

RATE = 16000
TEXT = SENTENCES["en"][0]
BASE = VoiceParams(
    language="en",
    variant="m3",
    pitch=50,
    pitch_range=50,
    rate=160,
    jitter=0.0,
    vocal_tract_scale=1.0,
)


def _median_f0(wave: np.ndarray, rate: int = RATE) -> float:
    """Median F0 of voiced 40 ms frames by normalised autocorrelation (60–400 Hz)."""
    frame, hop = round(0.04 * rate), round(0.01 * rate)
    low_lag, high_lag = rate // 400, rate // 60
    energy_floor = 0.1 * np.sqrt(np.mean(wave**2))
    estimates = []
    for start in range(0, wave.size - frame, hop):
        chunk = wave[start : start + frame] - wave[start : start + frame].mean()
        if np.sqrt(np.mean(chunk**2)) < energy_floor:
            continue
        correlation = np.correlate(chunk, chunk, mode="full")[frame - 1 :]
        normalised = correlation[low_lag : high_lag + 1] / correlation[0]
        lag = int(np.argmax(normalised))
        if normalised[lag] > 0.6:
            estimates.append(rate / (low_lag + lag))
    assert len(estimates) > 20, "too few voiced frames to estimate F0"
    return float(np.median(estimates))


def _spectral_centroid(wave: np.ndarray, rate: int = RATE) -> float:
    frequencies, power = scipy.signal.welch(wave, fs=rate, nperseg=1024)
    return float(np.sum(frequencies * power) / np.sum(power))


def _speech_seconds(wave: np.ndarray, rate: int) -> float:
    loud = np.nonzero(np.abs(wave) > 1e-3)[0]
    return (loud[-1] - loud[0]) / rate


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_language_speaks_plausible_16k_audio(language):
    voice = sample_voice_params(
        np.random.default_rng(1), gender="female", age=35, face_size=11.8, language=language
    )
    wave = synthesize(SENTENCES[language][1], voice=voice, sample_rate=RATE)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert 2.5 < _speech_seconds(wave, RATE) < 9.0
    assert np.sqrt(np.mean(wave**2)) > 0.02 and np.abs(wave).max() < 1.0
    assert 140 < _median_f0(wave) < 320


def test_same_parameters_give_identical_samples_whatever_came_before():
    first = synthesize(TEXT, voice=BASE)
    synthesize(SENTENCES["de"][3], voice=dataclasses.replace(BASE, language="de", pitch=80))
    assert np.array_equal(first, synthesize(TEXT, voice=BASE))


def test_threads_and_worker_processes_give_the_same_samples():
    texts = SENTENCES["es"][:4]
    voice = dataclasses.replace(BASE, language="es", variant="f2", jitter=0.006)
    serial = [synthesize(text, voice=voice) for text in texts]
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(lambda text: synthesize(text, voice=voice), texts))
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(2, mp_context=context) as pool:
        processed = list(pool.map(_synthesize_es_f2, texts))
    for expected, a, b in zip(serial, threaded, processed, strict=True):
        assert np.array_equal(expected, a) and np.array_equal(expected, b)


def _synthesize_es_f2(text: str) -> np.ndarray:
    voice = dataclasses.replace(BASE, language="es", variant="f2", jitter=0.006)
    return synthesize(text, voice=voice)


def test_men_speak_lower_than_women():
    def f0s(gender):
        rng = np.random.default_rng(7)
        draws = [
            sample_voice_params(rng, gender=gender, age=35, face_size=12.1, language="en")
            for _ in range(5)
        ]
        return [_median_f0(synthesize(SENTENCES["en"][5], voice=voice)) for voice in draws]

    male, female = f0s("male"), f0s("female")
    assert all(70 < f0 < 170 for f0 in male) and all(140 < f0 < 300 for f0 in female)
    assert np.median(male) < 0.75 * np.median(female)


def test_pitch_parameter_raises_f0():
    f0 = [
        _median_f0(synthesize(TEXT, voice=dataclasses.replace(BASE, pitch=p))) for p in (25, 50, 75)
    ]
    assert f0[1] / f0[0] > 1.12 and f0[2] / f0[1] > 1.12


def test_vocal_tract_scale_moves_formants_not_f0_or_tempo():
    cents = 350
    shorter = dataclasses.replace(BASE, vocal_tract_scale=2 ** (cents / 1200))
    longer = dataclasses.replace(BASE, vocal_tract_scale=2 ** (-cents / 1200))
    high, low = synthesize(TEXT, voice=shorter), synthesize(TEXT, voice=longer)
    centroid_ratio = _spectral_centroid(high) / _spectral_centroid(low)
    assert centroid_ratio > 1.25  # formants move with the 700-cent (×1.5) scale difference
    assert _median_f0(high) / _median_f0(low) == pytest.approx(1.0, abs=0.06)
    assert _speech_seconds(high, RATE) / _speech_seconds(low, RATE) == pytest.approx(1.0, abs=0.1)


def test_tempo_alone_keeps_timbre_and_pitch():
    slow = synthesize(TEXT, voice=dataclasses.replace(BASE, rate=120))
    fast = synthesize(TEXT, voice=dataclasses.replace(BASE, rate=200))
    assert _speech_seconds(slow, RATE) / _speech_seconds(fast, RATE) > 1.4
    assert _spectral_centroid(slow) / _spectral_centroid(fast) == pytest.approx(1.0, abs=0.06)
    assert _median_f0(slow) / _median_f0(fast) == pytest.approx(1.0, abs=0.06)


def test_jitter_perturbs_cycle_lengths():
    rng = np.random.default_rng(0)
    samples = np.sin(2 * np.pi * 100 * np.arange(22050) / 22050).astype(np.float32)
    steady = voices._apply_jitter(samples, 0.0, rng)
    shaky = voices._apply_jitter(samples, 0.02, rng)

    def period_spread(wave):
        rising = np.nonzero((wave[:-1] < 0) & (wave[1:] >= 0))[0]
        periods = np.diff(rising)
        return np.mean(np.abs(np.diff(periods))) / np.mean(periods)

    assert period_spread(steady) < 0.005
    assert 0.01 < period_spread(shaky) < 0.05
    assert abs(shaky.size - samples.size) < 0.01 * samples.size


def test_sampled_voices_follow_age_gender_and_face_size():
    rng = np.random.default_rng(3)
    face_sizes = rng.normal(12.1, 0.6, 600)
    young = [
        sample_voice_params(rng, gender="female", age=25, face_size=size, language="sw")
        for size in face_sizes
    ]
    old = [
        sample_voice_params(rng, gender="female", age=78, face_size=size, language="sw")
        for size in face_sizes
    ]
    cents = np.array([voice.vocal_tract_cents for voice in young])
    correlation = np.corrcoef(face_sizes, cents)[0, 1]
    assert -0.95 < correlation < -0.6  # bigger face, lower formants; not a lookup
    assert np.mean([v.jitter for v in old]) > 1.5 * np.mean([v.jitter for v in young])
    assert np.mean([v.rate for v in old]) < np.mean([v.rate for v in young]) - 15
    assert np.mean([v.pitch for v in old]) < np.mean([v.pitch for v in young]) - 5
    assert {v.variant for v in young} <= set(voices.FEMALE_VARIANTS)


def test_bad_speaker_attributes_are_named():
    rng = np.random.default_rng(0)
    with pytest.raises(InputError, match="unknown voice language 'fr'"):
        sample_voice_params(rng, gender="male", age=30, face_size=12.0, language="fr")
    with pytest.raises(InputError, match="unknown gender 'robot'"):
        sample_voice_params(rng, gender="robot", age=30, face_size=12.0, language="en")
    with pytest.raises(InputError, match=r"age -3 years"):
        sample_voice_params(rng, gender="male", age=-3, face_size=12.0, language="en")


def test_unknown_espeak_voice_is_refused():
    with pytest.raises(ValueError, match="no voice 'xx\\+m3'"):
        espeak_synthesize("hello", EspeakSettings("xx+m3"))


def test_sentences_are_many_natural_and_in_their_own_script():
    assert set(LANGUAGES) >= {"en", "es", "de", "hi", "cmn", "sw"}
    for language in LANGUAGES:
        assert len(set(SENTENCES[language])) >= 20
    for sentence in SENTENCES["hi"]:
        letters = [c for c in sentence if c.isalpha()]
        assert all("DEVANAGARI" in unicodedata.name(c) for c in letters)
    for sentence in SENTENCES["cmn"]:
        letters = [c for c in sentence if c.isalpha()]
        assert all("CJK UNIFIED IDEOGRAPH" in unicodedata.name(c) for c in letters)


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_sentence_gives_3_to_8_seconds_of_speech(language):
    for sentence in SENTENCES[language]:
        wave = espeak_synthesize(sentence, EspeakSettings(language, rate=175))
        assert 3.0 <= _speech_seconds(wave, 22050) <= 8.0, sentence


def _long_term_spectrum(voice: VoiceParams, texts) -> np.ndarray:
    """Log power in 24 log-spaced bands (150–7500 Hz), level-normalised: a voice's timbre."""
    wave = np.concatenate([synthesize(text, voice=voice) for text in texts])
    frequencies, power = scipy.signal.welch(wave, fs=RATE, nperseg=2048)
    edges = np.geomspace(150, 7500, 25)
    in_band = [(frequencies >= lo) & (frequencies < hi) for lo, hi in itertools.pairwise(edges)]
    bands = np.log([power[mask].mean() for mask in in_band])
    return bands - bands.mean()


@pytest.mark.parametrize("variant", ["m3", "f2", "m1"])
def test_a_300_cent_vocal_tract_shift_is_another_speaker_a_tempo_change_is_not(variant):
    voice = dataclasses.replace(BASE, variant=variant)
    reference = _long_term_spectrum(voice, SENTENCES["en"][0:3])

    def distance(other: VoiceParams) -> float:
        return float(np.linalg.norm(reference - _long_term_spectrum(other, SENTENCES["en"][3:6])))

    same = distance(voice)
    shifted = [
        distance(dataclasses.replace(voice, vocal_tract_scale=2 ** (cents / 1200)))
        for cents in (-300, 300)
    ]
    tempo = [distance(dataclasses.replace(voice, rate=rate)) for rate in (115, 205)]
    assert min(shifted) > 1.4 * same
    assert min(shifted) > max(tempo)
