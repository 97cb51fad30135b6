"""Quality of the whole pipeline with the small presets: the voice predicts the face's gender.

A 300-speaker synthetic corpus (210 train speakers: with fewer, as the 36 of this test's
earlier version, the voice encoder memorises identities and the reading of its
reconstructions' gender is near chance), its face stage, a ``small`` voice encoder (200
steps of 32 at 6 s, weights averaged), then ``predict`` on the test
split: the S2F reconstruction's gender agrees with the true face's far above chance, and
the F2F reconstruction (decoder on the true feature, the pseudo upper bound) agrees at
least as well. Minutes of CPU (about 3 on 2 cores), so ``slow``; ``bench/bench_predict.py``
runs the full-size version (600 train speakers), where the issue's ≥ 0.90 target applies,
and prints every attribute.
"""

import pandas as pd
import pytest
import torch

from s2f.cli import main
from speech2face.prediction import PredictionSettings, load_model, predict
from speech2face.prediction.artifact import read_predictions
from speech2face.synth.corpus import generate_corpus
from speech2face.training.face_config import (
    AttributeTrainingConfig,
    FaceDecoderTrainingConfig,
    FaceEncoderTrainingConfig,
    FaceStageConfig,
)
from speech2face.training.face_stage import prepare_face_stage


@pytest.mark.slow
def test_small_presets_recover_gender_from_the_voice(tmp_path):
    torch.set_num_threads(2)
    manifest = generate_corpus(
        tmp_path / "corpus", speakers=300, clips_per_speaker=4, test_fraction=0.3, progress=False
    )
    run = tmp_path / "run"
    prepare_face_stage(
        manifest,
        run,
        config=FaceStageConfig(
            encoder=FaceEncoderTrainingConfig(epochs=6),
            decoder=FaceDecoderTrainingConfig(epochs=12),
            attributes=AttributeTrainingConfig(epochs=6),
            extra_identities=100,
        ),
    )
    argv = ["train", "--manifest", str(manifest), "--out", str(run), "--steps", "200"]
    argv += ["--batch-size", "32", "--average-weights", "0.99", "--duration", "6"]
    assert main([*argv, "--no-progress"]) == 0
    out = tmp_path / "pred"
    settings = PredictionSettings(durations=(6.0,), split="test")
    predict(load_model(run), manifest, out, settings=settings, progress=False)
    table = read_predictions(out).table
    s2f = float((table["s2f_gender"] == table["true_gender"]).mean())
    f2f = float((table["f2f_gender"] == table["true_gender"]).mean())
    majority = float(table["true_gender"].value_counts(normalize=True).max())
    assert majority <= 0.65 and s2f >= 0.8  # measured: majority 0.600, S2F 0.864, F2F 0.944
    assert f2f >= s2f - 0.02
    assert pd.Series(table["true_gender"] == table["gender"]).mean() >= 0.8
