"""``s2f demo``: every stage's output, caching, reruns of what a setting touches; rebalancing."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch

from audit.compare import ComparisonResult
from audit.demo_summary import largest_disparity, least_represented, summary_from
from audit.result import AuditResult
from audit.trials_result import TrialsAuditResult
from s2f.cli import main as s2f
from s2f.demo import (
    MODELS,
    DemoSettings,
    build_stages,
    run_demo,
    stage_keys,
)
from speech2face.errors import InputError
from speech2face.training.face_config import (
    AttributeTrainingConfig,
    FaceDecoderTrainingConfig,
    FaceEncoderTrainingConfig,
    FaceStageConfig,
)
from speech2face.training.rebalance import (
    MISSING_COLUMN,
    RESAMPLE,
    REWEIGHT,
    group_labels,
    group_shares,
    rebalanced_indices,
    resampled_indices,
    reweighted_indices,
)

WIDTHS = (8, 8, 8, 8)
ALL_STAGES = [
    "corpus",
    "dataset_report",
    "face_models",
    *(f"{model}_{step}" for model in MODELS for step in ("train", "predict", "audit")),
    "comparison",
    "baseline_trials",
]
REBALANCED_STAGES = ["rebalanced_train", "rebalanced_predict", "rebalanced_audit", "comparison"]


def tiny_settings(**changes) -> DemoSettings:
    """12 speakers × 2 clips, one-epoch narrow face models, 2 voice steps, 20 replicates."""
    settings = DemoSettings(
        speakers=12,
        clips_per_speaker=2,
        renders_per_speaker=1,
        test_fraction=0.6,
        faces=FaceStageConfig(
            encoder=FaceEncoderTrainingConfig(epochs=1, widths=WIDTHS),
            decoder=FaceDecoderTrainingConfig(epochs=1, hidden_dim=32, texture_channels=WIDTHS),
            attributes=AttributeTrainingConfig(epochs=1, widths=WIDTHS, hidden_dim=16),
            extra_identities=4,
            extra_renders_per_identity=1,
        ),
        voice_steps=2,
        batch_size=2,
        durations=(3.0,),
        n_boot=20,
        min_speakers=2,
        workers=1,
    )
    return replace(settings, **changes)


def test_demo_runs_every_stage_then_caches_and_reruns_only_what_a_setting_touches(tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / "demo"
    first = run_demo(out, tiny_settings())
    assert first.ran == ALL_STAGES and first.skipped == []
    for path in first.reports.values():
        assert path.is_file() and path.read_text().lstrip().lower().startswith("<!doctype html")
    assert (out / "corpus" / "manifest.parquet").is_file()
    assert (out / "faces" / "face_models" / "face_encoder.pt").is_file()
    for model in MODELS:
        assert (out / "runs" / model / "checkpoint.pt").is_file()
        # Both voice models decode through the very same face models.
        assert (out / "runs" / model / "face_models" / "face_decoder.pt").read_bytes() == (
            out / "faces" / "face_models" / "face_decoder.pt"
        ).read_bytes()
        audit = AuditResult.load(out / "audits" / model)
        assert audit.summary["predictions"]["n_speakers"] == 7  # the test split
    comparison = ComparisonResult.load(out / "comparison")
    assert len(comparison.summary["models"]) == 2
    rebalance = json.loads((out / "runs" / "rebalanced" / "rebalance.json").read_text())
    assert rebalance["method"] == REWEIGHT and rebalance["clips_after"] == 2 * 2
    summary = (out / "summary.txt").read_text().splitlines()
    assert summary == first.summary and len(summary) == 4
    assert summary[3].startswith("Trials (baseline as a voice-face matcher, test split): EER ")
    trials = TrialsAuditResult.load(out / "trials" / "baseline" / "audit")
    assert trials.summary["trials"]["n_voice_speakers"] == 7  # the test split
    assert trials.summary["config"]["n_boot"] == 20
    # heard = the languages of the baseline's train rows (its record), hi held out of them
    manifest = pd.read_parquet(out / "corpus" / "manifest.parquet")
    train = sorted(manifest.loc[manifest["split"] == "train", "language"].unique())
    assert "hi" not in train and "hi" in set(manifest["language"])
    assert trials.summary["trials"]["meta"]["heard_languages"] == train
    assert trials.summary["audit"]["heard_languages"] == train
    assert len(trials.languages) and "cross-lingual EER gap (unheard - heard" in summary[3]

    cached = run_demo(out, tiny_settings())
    assert cached.ran == [] and cached.skipped == ALL_STAGES
    assert cached.summary == first.summary

    resampled = run_demo(out, tiny_settings(rebalance=RESAMPLE))
    assert resampled.ran == REBALANCED_STAGES
    rebalance = json.loads((out / "runs" / "rebalanced" / "rebalance.json").read_text())
    shares = list(rebalance["shares_after"].values())
    assert rebalance["method"] == RESAMPLE and max(shares) - min(shares) < 1e-9


def test_stage_keys_change_for_the_changed_setting_and_everything_downstream(tmp_path):
    base = stage_keys(build_stages(tiny_settings(), tmp_path))

    def changed(**changes) -> set[str]:
        keys = stage_keys(build_stages(tiny_settings(**changes), tmp_path))
        return {name for name in keys if keys[name] != base[name]}

    assert changed(n_boot=30) == {
        "baseline_audit",
        "rebalanced_audit",
        "comparison",
        "baseline_trials",
    }
    assert changed(voice_steps=3) == set(ALL_STAGES) - {"corpus", "dataset_report", "face_models"}
    assert changed(rebalance_on=("ethnicity",)) == set(REBALANCED_STAGES)
    assert changed(durations=(6.0,)) == set(ALL_STAGES[4:]) - {"rebalanced_train"}
    assert changed(speakers=13) == set(ALL_STAGES)
    assert changed() == set()


def test_resampling_gives_every_group_the_same_number_of_clips():
    groups = np.array(["a"] * 50 + ["b"] * 7 + ["c"] * 3, dtype=object)
    indices = resampled_indices(groups, seed=1)
    assert len(indices) == 60
    counts = pd.Series(groups[indices]).value_counts()
    assert counts.to_dict() == {"a": 20, "b": 20, "c": 20}
    # Small groups repeat every clip evenly; large ones are subsampled without repeats.
    repeats = pd.Series(indices[groups[indices] == "c"]).value_counts()
    assert set(repeats) == {6, 7}
    assert pd.Series(indices[groups[indices] == "a"]).is_unique


def test_reweighting_draws_groups_in_equal_shares():
    groups = np.array(["a"] * 80 + ["b"] * 15 + ["c"] * 5, dtype=object)
    indices = reweighted_indices(groups, n_draws=60_000, seed=0)
    shares = group_shares(groups, indices)
    # Multinomial draws: each share is 1/3 within 4 standard errors (sqrt(2/9/60000) = 0.0019).
    assert all(abs(share - 1 / 3) < 0.008 for share in shares.values())
    # Within a group every clip is equally likely.
    within_a = np.bincount(indices[indices < 80], minlength=80)
    assert within_a.min() > 0.5 * within_a.mean()


def test_group_labels_and_errors():
    rows = pd.DataFrame({"ethnicity": ["group_a", "group_b"], "gender": ["male", "female"]})
    labels = group_labels(rows, ["ethnicity", "gender"])
    assert list(labels) == ["group_a & male", "group_b & female"]
    with pytest.raises(InputError, match=MISSING_COLUMN.format(column="language")):
        group_labels(rows, ["language"])
    with pytest.raises(InputError, match="rebalance method"):
        rebalanced_indices(labels, method="oversample", n_draws=4, seed=0)


def test_largest_disparity_prefers_flags_in_threshold_units_and_voice_metrics():
    rows = pd.DataFrame(
        {
            "metric": ["s2f_age_error", "s2f_gender_agreement", "true_age_label_error", "x"],
            "slice": ["gender"] * 4,
            "group": ["female"] * 4,
            "status": ["ok"] * 4,
            "difference": [3.0, -0.2, 9.0, 0.5],
            "p_adjusted": [0.01, 0.01, 0.001, 0.5],
            "threshold": [2.0, 0.05, 2.0, 0.05],
            "flag": [True, True, True, False],
        }
    )
    row, flagged = largest_disparity(rows)
    # 0.2 / 0.05 = 4 thresholds beats 3 / 2 = 1.5; the true-face metric is not the model's.
    assert flagged and row["metric"] == "s2f_gender_agreement"
    row, flagged = largest_disparity(rows.assign(flag=False))
    assert not flagged and row["metric"] == "s2f_gender_agreement"
    assert largest_disparity(rows.assign(status="insufficient")) is None
    # Clip duration is not a demographic group: its slices are left out.
    assert largest_disparity(rows.assign(slice="gender & duration_s")) is None


def test_least_represented_groups_from_joint_shares():
    rebalance = {
        "columns": ["ethnicity", "gender"],
        "shares_before": {"a & male": 0.5, "a & female": 0.2, "b & male": 0.2, "b & female": 0.1},
        "shares_after": {
            "a & male": 0.25,
            "a & female": 0.25,
            "b & male": 0.25,
            "b & female": 0.25,
        },
    }
    found = least_represented(rebalance)
    assert [(column, group) for column, group, *_ in found] == [
        ("ethnicity", "b"),
        ("gender", "female"),
    ]
    assert [share for *_, share, _ in found] == pytest.approx([0.3, 0.3])
    assert [share for *_, share in found] == pytest.approx([0.5, 0.5])
    assert least_represented({}) == []


def _audit_with(disparities: pd.DataFrame):
    class Audit:
        def disparities(self) -> pd.DataFrame:
            return disparities

        def flags(self) -> pd.DataFrame:
            return disparities[disparities["flag"]]

    return Audit()


def test_summary_reports_the_least_represented_gaps_with_cis():
    def disparities(gap: float, low: float, high: float) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "metric": ["s2f_gender_agreement"] * 2,
                "slice": ["ethnicity", "gender"],
                "group": ["b", "male"],
                "reference": ["a", "female"],
                "status": ["ok", "ok"],
                "difference": [gap, 0.01],
                "diff_ci_low": [low, -0.02],
                "diff_ci_high": [high, 0.04],
                "p_adjusted": [0.001, 0.9],
                "threshold": [0.05, 0.05],
                "flag": [True, False],
            }
        )

    changes = pd.DataFrame(
        {
            "metric": ["s2f_gender_agreement"],
            "slice": ["ethnicity"],
            "group": ["b"],
            "gap_change_toward_parity": [0.12],
            "gap_change_toward_parity_ci_low": [0.04],
            "gap_change_toward_parity_ci_high": [0.2],
            "gap_p_adjusted": [0.01],
            "p_adjusted": [0.02],
            "delta": [0.1],
            "higher_is_better": [True],
            "regression": [False],
            "gap_widened": [False],
        }
    )
    rebalance = {
        "method": "reweight",
        "columns": ["ethnicity", "gender"],
        "shares_before": {"a & male": 0.6, "a & female": 0.2, "b & male": 0.15, "b & female": 0.05},
        "shares_after": {
            "a & male": 0.25,
            "a & female": 0.25,
            "b & male": 0.25,
            "b & female": 0.25,
        },
    }
    lines = summary_from(
        _audit_with(disparities(-0.2, -0.3, -0.1)),
        _audit_with(disparities(-0.08, -0.15, -0.01)),
        changes,
        rebalance=rebalance,
    )
    assert lines[0].startswith("Baseline: largest flagged disparity: s2f_gender_agreement")
    assert lines[1] == (
        "After reweight, s2f_gender_agreement gap (95% CI) of the least-represented train "
        "groups: ethnicity=b (20% -> 50% of train clips): -0.200 [-0.300, -0.100] vs a -> "
        "-0.080 [-0.150, -0.010] vs a; toward parity +0.120 [+0.040, +0.200], p_adj=0.01; "
        "gender=female (25% -> 50% of train clips): reference (best group) -> reference "
        "(best group)."
    )
    assert "1 significant improvement(s)" in lines[2] and "1 narrowed" in lines[2]


def test_demo_command_refuses_bad_settings_in_one_line(capsys):
    assert s2f(["demo", "--speakers", "0", "--out", "unused"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "s2f demo: error: --speakers must be a positive integer, got 0"
