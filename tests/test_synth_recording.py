"""``s2f synth --conditions-by``: one group's clips recorded noisier, narrower and shorter,
as ``s2f conditions`` measures them; the other groups' clips untouched."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from s2f.cli import main
from speech2face.synth.recording import RecordingRule, parse_rules, record

TINY = ["--speakers", "8", "--clips-per-speaker", "2", "--renders-per-speaker", "0"]
TINY += ["--test-fraction", "0.75", "--workers", "1", "--seed", "3"]
RULE = "ethnicity=group_b:snr=10,bandwidth=3400,segment=2"


def _digests(corpus, manifest):
    return {
        row.clip_id: hashlib.sha256((corpus / row.audio_path).read_bytes()).hexdigest()
        for row in manifest.itertuples()
    }


def test_a_group_recorded_noisy_narrow_and_short_measures_so(tmp_path, capsys):
    corpus, clean = tmp_path / "corpus", tmp_path / "clean"
    assert main(["synth", "--out", str(corpus), *TINY, "--conditions-by", RULE]) == 0
    assert main(["synth", "--out", str(clean), *TINY]) == 0
    table = tmp_path / "conditions.parquet"
    manifest_path = corpus / "manifest.parquet"
    assert main(["conditions", str(manifest_path), "--out", str(table), "--no-progress"]) == 0
    capsys.readouterr()
    manifest = pd.read_parquet(manifest_path)
    measured = manifest.merge(pd.read_parquet(table), on="clip_id")
    # the speaker's true group: labels are exact in this corpus (no label noise)
    speakers = pd.read_parquet(corpus / "speakers.parquet").set_index("speaker_id")
    noisy = measured["speaker_id"].map(speakers["ethnicity"]).eq("group_b").to_numpy()
    assert 0 < noisy.sum() < len(measured)
    b = measured[noisy]
    assert (b["snr_db"] - 10).abs().max() <= 3, b["snr_db"].tolist()
    assert (b["bandwidth_hz"] < 3400).all(), b["bandwidth_hz"].tolist()
    assert np.allclose(b["duration_s"], 2.0) and (b["speech_s"] <= 2.0).all()
    # every other clip is byte for byte the clip of the same corpus without the rule
    others = manifest[~manifest["speaker_id"].map(speakers["ethnicity"]).eq("group_b")]
    plain = pd.read_parquet(clean / "manifest.parquet")
    plain = plain[plain["clip_id"].isin(others["clip_id"])]
    assert _digests(corpus, others) == _digests(clean, plain)
    # recorded in the ground truth: the settings and each speaker's conditions
    truth = json.loads((corpus / "ground_truth.json").read_text())
    assert truth["settings"]["conditions_by"] == [
        {
            "column": "ethnicity",
            "group": "group_b",
            "snr_db": 10.0,
            "bandwidth_hz": 3400.0,
            "segment_s": 2.0,
        }
    ]
    assert "conditions_by" not in json.loads((clean / "ground_truth.json").read_text())["settings"]
    in_b = speakers["ethnicity"] == "group_b"
    assert (speakers.loc[in_b, "recording_snr_db"] == 10).all()
    assert speakers.loc[~in_b, "recording_snr_db"].isna().all()


def test_stricter_setting_wins_and_noise_hits_its_snr():
    rng = np.random.default_rng(0)
    t = np.arange(16000 * 3) / 16000
    tone = 0.3 * np.sin(2 * np.pi * 220 * t) * (t % 1 < 0.6)
    noisy = record(tone, {"snr_db": 10.0}, sample_rate=16000, rng=rng)
    noise = noisy - tone
    assert (
        abs(
            10
            * np.log10(
                np.mean((0.3 * np.sin(2 * np.pi * 220 * t[t % 1 < 0.6])) ** 2) / np.mean(noise**2)
            )
            - 10
        )
        < 0.2
    )
    rules = parse_rules(["gender=female:snr=20", "ethnicity=group_b:snr=5,segment=3"])
    assert rules[1] == RecordingRule("ethnicity", "group_b", snr_db=5.0, segment_s=3.0)
    from speech2face.synth.recording import speaker_recording

    both = speaker_recording({"gender": "female", "ethnicity": "group_b"}, rules)
    assert both == {"snr_db": 5.0, "segment_s": 3.0}
    assert speaker_recording({"gender": "male", "ethnicity": "group_a"}, rules) is None


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("ethnicity=group_b", "expected COLUMN=GROUP:KEY=VALUE"),
        ("accent=group_b:snr=10", "column 'accent' is not one of"),
        ("ethnicity=group_z:snr=10", "ethnicity has no group 'group_z'"),
        ("ethnicity=group_b:volume=3", "unknown setting 'volume'"),
        ("ethnicity=group_b:snr=loud", "snr must be a number in [-10, 60]"),
        ("ethnicity=group_b:bandwidth=9000", "bandwidth must be a number in [300, 7999]"),
        ("missing.json", "missing.json: cannot read the rules"),
    ],
)
def test_bad_rules_are_one_line_errors_before_writing(tmp_path, capsys, rule, message):
    out = tmp_path / "corpus"
    assert main(["synth", "--out", str(out), *TINY, "--conditions-by", rule]) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1
    assert not out.exists()
