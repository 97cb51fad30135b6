"""Prediction's batching (voice batches of 8, shorter durations cut from the longest's
spectrogram, one F2F reconstruction per distinct face) gives the values of the former path:
each duration's spectrogram in one batch, F2F on every clip."""

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from speech2face.audio import SpectrogramConfig, fit_duration, load_audio, spectrogram
from speech2face.audio.frontend import SHORT_WAVEFORM
from speech2face.craniofacial import CRANIOFACIAL_MEASURES, craniofacial_measures
from speech2face.errors import InputError
from speech2face.models.attribute_classifier import predict_attributes
from speech2face.prediction import PredictionSettings, load_model, predict
from speech2face.prediction.artifact import ATTRIBUTES, read_predictions
from speech2face.prediction.compute import VOICE_BATCH, voice_features

sys.path.insert(0, str(Path(__file__).parent))
from predict_support import tiny_corpus, tiny_run

DURATIONS = (3.0, 6.0)
TIGHT = {"rtol": 1e-5, "atol": 1e-6}


def test_batched_prediction_equals_the_former_clip_by_clip_path(tmp_path):
    torch.set_num_threads(1)
    manifest = tiny_corpus(tmp_path)
    model = load_model(tiny_run(tmp_path / "run"))
    settings = PredictionSettings(durations=DURATIONS, batch_size=32)  # one chunk, one batch
    predict(model, manifest, tmp_path / "pred", settings=settings, progress=False)
    result = read_predictions(tmp_path / "pred", mmap=False)
    table, features = result.table, result.features
    rows = pd.read_parquet(manifest)
    assert VOICE_BATCH < len(rows) <= settings.batch_size  # the voice batches are split
    assert rows["face_path"].nunique() < len(rows)  # clips share faces

    waves = [load_audio(manifest.parent / path) for path in rows["audio_path"]]
    with torch.no_grad():
        for offset, seconds in enumerate(DURATIONS):
            config = SpectrogramConfig(duration_s=seconds)
            batch = np.stack([fit_duration(w, seconds=seconds, sample_rate=16000) for w in waves])
            expected = model.voice_encoder(spectrogram(torch.from_numpy(batch), config)).numpy()
            np.testing.assert_allclose(features["pred_feature"][offset::2], expected, **TIGHT)

    images, landmarks = model.face_decoder.decode(torch.from_numpy(features["true_feature"]))
    f2f = predict_attributes(model.attribute_classifier, images, batch_size=32)
    for attribute in ATTRIBUTES:
        np.testing.assert_allclose(
            features[f"f2f_{attribute}_proba"], f2f[f"{attribute}_proba"], **TIGHT
        )
        assert list(table[f"f2f_{attribute}"]) == list(f2f[attribute])
    np.testing.assert_allclose(table["f2f_age_years"], f2f["age_years"], **TIGHT)
    measures = craniofacial_measures(landmarks.numpy())
    for measure in CRANIOFACIAL_MEASURES:
        np.testing.assert_allclose(table[f"f2f_cf_{measure}"], measures[measure], **TIGHT)


def test_a_duration_shorter_than_one_window_is_refused_as_by_the_front_end(tmp_path):
    model = load_model(tiny_run(tmp_path / "run"))
    waves = [np.random.default_rng(0).standard_normal(16000).astype(np.float32)]
    with pytest.raises(InputError, match=SHORT_WAVEFORM.format(samples=160, window=400)):
        voice_features(model, waves, durations=(0.01, 3.0), batch_size=8)
