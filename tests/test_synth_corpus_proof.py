"""The synthetic corpus is a useful benchmark: voices identify speakers, gender and, partly, faces.

Features are plain MFCC statistics computed here with numpy/scipy (an
independent front end, not the project's own), and the learners are simple
scikit-learn models evaluated on held-out clips or held-out speakers.
"""

import numpy as np
import pandas as pd
import pytest
import scipy.fft
import scipy.signal
import soundfile as sf
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.metrics import r2_score
from sklearn.model_selection import GroupKFold, KFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from speech2face.synth.corpus import generate_corpus

N_SPEAKERS = 36
CLIPS = 4
SAMPLE_RATE = 16000
HELD_OUT_SPEAKERS = KFold(6, shuffle=True, random_state=0)


def mel_filterbank(n_mels: int, n_fft: int, sample_rate: int) -> np.ndarray:
    """Triangular filters evenly spaced on the mel scale, shape (n_mels, n_fft // 2 + 1)."""
    mel = np.linspace(0, 2595 * np.log10(1 + sample_rate / 2 / 700), n_mels + 2)
    hertz = 700 * (10 ** (mel / 2595) - 1)
    bins = np.fft.rfftfreq(n_fft, 1 / sample_rate)
    low, centre, high = hertz[:-2, None], hertz[1:-1, None], hertz[2:, None]
    rising = (bins - low) / (centre - low)
    falling = (high - bins) / (high - centre)
    return np.clip(np.minimum(rising, falling), 0, None)


FILTERS = mel_filterbank(40, 512, SAMPLE_RATE)


def mfcc_statistics(audio: np.ndarray) -> np.ndarray:
    """Mean and standard deviation of 20 MFCCs over the clip's voiced frames."""
    _, _, spectrum = scipy.signal.stft(
        audio, fs=SAMPLE_RATE, nperseg=400, noverlap=200, nfft=512, boundary=None, padded=False
    )
    log_mel = np.log(FILTERS @ np.abs(spectrum) ** 2 + 1e-10)
    energy = log_mel.mean(axis=0)
    voiced = energy > energy.max() - 6.0
    mfcc = scipy.fft.dct(log_mel, type=2, norm="ortho", axis=0)[:20, voiced]
    return np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("proof") / "corpus"
    manifest_path = generate_corpus(
        out,
        speakers=N_SPEAKERS,
        clips_per_speaker=CLIPS,
        renders_per_speaker=0,
        seed=11,
        test_fraction=0.5,
        val_fraction=0.0,
        workers=1,
        progress=False,
    )
    manifest = pd.read_parquet(manifest_path)
    features = np.stack(
        [mfcc_statistics(sf.read(out / path, dtype="float32")[0]) for path in manifest.audio_path]
    )
    speakers = pd.read_parquet(out / "speakers.parquet").set_index("speaker_id")
    return manifest, features, speakers


def classifier():
    return make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=2000))


def test_distinct_speakers_are_recognised_from_held_out_clips(corpus):
    manifest, features, _ = corpus
    held_out = manifest["clip_id"].str.endswith(f"_c{CLIPS - 1:02d}").to_numpy()
    model = classifier().fit(features[~held_out], manifest["speaker_id"][~held_out])
    accuracy = (model.predict(features[held_out]) == manifest["speaker_id"][held_out]).mean()
    chance = 1 / N_SPEAKERS
    assert accuracy > 0.6, f"speaker identification accuracy {accuracy:.2f} (chance {chance:.2f})"


def test_gender_is_predicted_from_the_voice_of_unseen_speakers(corpus):
    manifest, features, speakers = corpus
    gender = speakers.loc[manifest["speaker_id"], "gender"].to_numpy()
    predicted = cross_val_predict(
        classifier(), features, gender, groups=manifest["speaker_id"], cv=GroupKFold(4)
    )
    accuracy = (predicted == gender).mean()
    assert accuracy > 0.85, f"gender accuracy {accuracy:.2f} on held-out speakers (chance 0.5)"


def test_face_geometry_is_partly_predictable_from_voice_of_unseen_speakers(corpus):
    manifest, features, speakers = corpus
    per_speaker = pd.DataFrame(features).groupby(manifest["speaker_id"].to_numpy()).mean()
    truth = speakers.loc[per_speaker.index]
    model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-2, 3, 12)))
    scores = {}
    for target in ("face_size", "face_face_width", "face_face_height"):
        predicted = cross_val_predict(model, per_speaker, truth[target], cv=HELD_OUT_SPEAKERS)
        scores[target] = r2_score(truth[target], predicted)
    assert 0.2 < scores["face_size"] < 0.98, scores
    assert all(0 < score < 0.98 for score in scores.values()), scores
