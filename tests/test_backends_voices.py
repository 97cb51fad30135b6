"""The [voices] backend (Resemblyzer GE2E) and the ge2e preset, on real speech.

The speech is Debian's codec2-examples recordings (8 kHz amateur-radio and
studio speech, one speaker per file), resampled to 16 kHz by the toolkit's
loader. Without the extra these tests fail with the one-line message naming it.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest
import torch

from speech2face.audio.frontend import fit_duration, spectrogram
from speech2face.audio.io import load_audio
from speech2face.backends import voices
from speech2face.backends.ge2e import GE2EConfig, GE2EVoiceEncoder, fit_head
from speech2face.errors import InputError
from tests.backend_fixtures import codec2_wav_dir

SPEAKERS = ("ve9qrp", "vk2tpm_004", "vk5qi")
SEGMENT_S = 3
SEGMENTS = 4


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def segments() -> dict[str, list[np.ndarray]]:
    """Four consecutive 3 s segments of each speaker, starting 1 s in."""
    folder = codec2_wav_dir()
    rate = voices.SAMPLE_RATE
    result = {}
    for speaker in SPEAKERS:
        wave = load_audio(folder / f"{speaker}.wav", sample_rate=rate)
        result[speaker] = [
            wave[(1 + SEGMENT_S * i) * rate : (1 + SEGMENT_S * (i + 1)) * rate]
            for i in range(SEGMENTS)
        ]
    return result


@pytest.fixture(scope="module")
def model() -> GE2EVoiceEncoder:
    return GE2EVoiceEncoder(GE2EConfig(hidden=64, out_dim=16, dropout=0.0))


@pytest.fixture(scope="module")
def embedded(segments, model) -> tuple[np.ndarray, np.ndarray]:
    """GE2E embeddings of every segment through the spectrogram path, and speaker indices."""
    waves = [
        fit_duration(w, seconds=6, sample_rate=voices.SAMPLE_RATE)
        for s in SPEAKERS
        for w in segments[s]
    ]
    with torch.no_grad():
        embeddings = model.embedding(spectrogram(torch.from_numpy(np.stack(waves)))).numpy()
    return embeddings, np.repeat(np.arange(len(SPEAKERS)), SEGMENTS)


def test_spectrogram_path_matches_resemblyzer(segments, model):
    waves = [segments["vk5qi"][0], segments["ve9qrp"][1]]
    reference = voices.embed_waveforms(
        waves, sample_rate=voices.SAMPLE_RATE, encoder=model.embedding.encoder
    )
    fitted = [fit_duration(w, seconds=6, sample_rate=voices.SAMPLE_RATE) for w in waves]
    with torch.no_grad():
        ours = model.embedding(spectrogram(torch.from_numpy(np.stack(fitted)))).numpy()
    assert reference.shape == ours.shape == (2, 256)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1, atol=1e-5)
    assert (reference * ours).sum(axis=1).min() > 0.95


def test_same_speaker_is_closer_than_other_speakers(embedded):
    embeddings, speaker = embedded
    similarity = embeddings @ embeddings.T
    same = speaker[:, None] == speaker[None, :]
    off_diagonal = ~np.eye(len(speaker), dtype=bool)
    for i in range(len(speaker)):
        assert similarity[i, same[i] & off_diagonal[i]].min() > similarity[i, ~same[i]].max()


def test_head_learns_speaker_to_face_map_and_ge2e_stays_frozen(embedded, model, segments):
    embeddings, speaker = embedded
    rng = np.random.default_rng(0)
    faces = rng.normal(size=(len(SPEAKERS), model.config.out_dim)).astype(np.float32)
    held_out = np.arange(len(speaker)) % SEGMENTS == SEGMENTS - 1
    frozen = {k: v.clone() for k, v in model.embedding.encoder.state_dict().items()}
    losses = fit_head(model, embeddings[~held_out], faces[speaker[~held_out]], epochs=150)
    assert losses[-1] < 0.25 * losses[0]
    with torch.no_grad():
        predicted = model.head(torch.from_numpy(embeddings[held_out])).numpy()
    predicted /= np.linalg.norm(predicted, axis=1, keepdims=True)
    unit = faces / np.linalg.norm(faces, axis=1, keepdims=True)
    assert ((predicted @ unit.T).argmax(axis=1) == speaker[held_out]).all()
    for key, value in model.embedding.encoder.state_dict().items():
        assert torch.equal(value, frozen[key])
    clip = fit_duration(segments["vk5qi"][0], seconds=6, sample_rate=voices.SAMPLE_RATE)
    output = model(spectrogram(torch.from_numpy(clip[None])))
    assert output.shape == (1, model.config.out_dim)
    assert not any(p.requires_grad for p in model.embedding.parameters())
    assert set(model.trainable_state_dict()) == {f"head.{k}" for k in model.head.state_dict()}


def test_missing_extra_is_one_line(monkeypatch):
    voices._resemblyzer.cache_clear()
    monkeypatch.setitem(sys.modules, "resemblyzer", None)
    try:
        with pytest.raises(
            InputError,
            match=r"install speech2face-audit\[voices\], "
            r"then `pip install --no-deps resemblyzer==0\.1\.4`$",
        ):
            voices.load_ge2e()
    finally:
        voices._resemblyzer.cache_clear()


def test_the_missing_extra_message_names_the_pin_the_setup_installs_without_deps():
    # Makefile/CI install requirements-nodeps.txt with --no-deps after the extras; the
    # one-line message must name that same pin, and no extra may ask for resemblyzer,
    # whose metadata would pull webrtcvad's C build back in
    root = Path(__file__).resolve().parents[1]
    pins = [
        line
        for line in (root / "requirements-nodeps.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert pins == ["resemblyzer==0.1.4"]
    assert f"`pip install --no-deps {pins[0]}`" == voices.RESEMBLYZER_STEP
    extras = tomllib.loads((root / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    named = {
        req.split("=")[0].split(">")[0].split("<")[0] for reqs in extras.values() for req in reqs
    }
    assert not named & {"resemblyzer", "webrtcvad"} and "webrtcvad-wheels" in named
    assert "--no-deps -r requirements-nodeps.txt" in (root / "Makefile").read_text()
