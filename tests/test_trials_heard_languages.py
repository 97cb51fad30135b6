"""Heard languages travel from training to the trials audit: a run records the languages of
its train rows, prediction copies them, ``s2f trials`` writes them into the trials' meta
(else the predictions' train rows), and ``s2f audit-trials`` splits heard and unheard."""

from __future__ import annotations

import json
from dataclasses import replace

import pandas as pd
import pytest

from audit.trials_config import TrialsConfig
from audit.trials_result import run_trials_audit
from speech2face.prediction.artifact import write_predictions
from speech2face.training.driver import VoiceRun, record_speakers
from speech2face.training.speakers import read_training_speakers
from speech2face.trial_builder import build_trials, heard_languages
from speech2face.trials import write_trials
from tests.report_artifacts import planted_predictions


def test_a_run_records_the_languages_of_its_train_rows(tmp_path):
    manifest = pd.DataFrame(
        {
            "clip_id": ["a1", "a2", "b1", "c1", "d1"],
            "speaker_id": ["a", "a", "b", "c", "d"],
            "audio_path": "x.wav",
            "split": ["train", "train", "train", "val", "test"],
            "language": ["en", "en", None, "de", "sw"],
        }
    )
    manifest.to_csv(tmp_path / "m.csv", index=False)
    record_speakers(VoiceRun(manifest=tmp_path / "m.csv", out=tmp_path))
    saved = json.loads((tmp_path / "training_speakers.json").read_text())
    assert saved["languages"] == ["en"]  # train rows only; a missing language is none
    assert read_training_speakers(tmp_path).languages == frozenset({"en"})


@pytest.mark.parametrize(
    ("meta", "split", "expected", "source"),
    [
        ({"languages": ["es"]}, None, ["es"], "the run's training record"),
        (None, True, ["en", "es"], "the predictions' train rows"),
        (None, None, None, None),
    ],
)
def test_trials_meta_takes_heard_languages_from_the_record_else_train_rows(
    meta, split, expected, source
):
    planted = planted_predictions()
    table = planted.table
    if split:
        train = table["speaker_id"].isin(table["speaker_id"].unique()[::2])
        table = table.assign(split=train.map({True: "train", False: "test"}))
        table.loc[train & ~table["language"].isin(["en", "es"]), "language"] = "en"
    info = {**planted.meta, "training_speakers": meta and {"recorded": True, **meta}}
    heard, found = heard_languages(replace(planted, table=table, meta=info))
    assert heard == expected
    assert (found or "").startswith(source or "")


def test_audit_trials_splits_heard_and_unheard_from_the_trials_meta(tmp_path):
    planted = planted_predictions()
    meta = {**planted.meta, "training_speakers": {"recorded": True, "languages": ["en"]}}
    folder = tmp_path / "pred"
    write_predictions(folder, planted.table, features=planted.features, meta=meta)
    table, trials_meta = build_trials(folder, split="all")
    assert trials_meta["heard_languages"] == ["en"]
    write_trials(tmp_path / "t.parquet", table, meta=trials_meta)
    result = run_trials_audit(tmp_path / "t.parquet", TrialsConfig(n_boot=20, min_speakers=2))
    assert result.summary["audit"]["heard_languages"] == ["en"]
    overall = result.languages[result.languages["slice"] == "overall"]
    assert len(overall) and overall["n_trials_heard"].gt(0).all()
    assert overall["n_trials_unheard"].gt(0).all()
