"""Paired model comparison and the audit / compare commands."""

import json

import numpy as np
import pandas as pd
import pytest

from audit.compare import DIFFERENT_CLIPS, ComparisonResult, compare_audits
from audit.engine import run_audit
from audit.simulate import simulate_predictions
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, write_predictions

RATES = {"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.8}
OPTIONS = {"n_boot": 300, "fairlearn_views": False, "metrics": ["s2f_gender_agreement"]}


def _degraded(predictions, group, share, seed=0):
    """A second model: S2F gender flipped on ``share`` of group's agreeing clips."""
    table = predictions.table.copy()
    rng = np.random.default_rng(seed)
    flip = (
        (table["ethnicity"] == group)
        & (table["s2f_gender"] == table["true_gender"])
        & (rng.random(len(table)) < share)
    )
    table.loc[flip, "s2f_gender"] = np.where(
        table.loc[flip, "true_gender"] == "male", "female", "male"
    )
    return Predictions(table, {}, {"model_id": "retrained"})


@pytest.fixture(scope="module")
def baseline_predictions():
    return simulate_predictions(RATES, speakers_per_group=80, clips_per_speaker=4, seed=3)


@pytest.fixture(scope="module")
def baseline(baseline_predictions):
    return run_audit(baseline_predictions, **OPTIONS)


def test_identical_models_differ_by_exactly_zero_in_every_replicate(baseline):
    comparison = compare_audits([baseline, baseline])
    changes = comparison.changes
    assert (changes["delta"] == 0).all()
    assert (changes["delta_ci_low"] == 0).all() and (changes["delta_ci_high"] == 0).all()
    assert not comparison.has_regression


def test_a_degraded_group_is_a_regression_and_a_wider_gap(baseline, baseline_predictions):
    worse = run_audit(_degraded(baseline_predictions, "d", 0.2), **OPTIONS)
    three = compare_audits([baseline, baseline, worse])
    assert set(three.regressions()["model"]) == {2}
    comparison = compare_audits([baseline, worse])
    regressions = comparison.regressions()
    assert set(regressions.query("slice == 'ethnicity'")["group"]) == {"d"}
    row = regressions.query("slice == 'ethnicity'").iloc[0]
    assert row["delta"] < -0.1 and row["regression"]
    assert row["gap_change_toward_parity_ci_high"] < 0 < row["threshold"]
    assert row["delta_ci_high"] < 0
    untouched = comparison.changes.query("slice == 'ethnicity' and group != 'd'")
    assert (untouched["delta"] == 0).all()


def test_paired_interval_is_narrower_than_unpaired(baseline, baseline_predictions):
    other = run_audit(_degraded(baseline_predictions, "d", 0.05, seed=1), **OPTIONS)
    row = compare_audits([baseline, other]).changes.query("slice == 'ethnicity' and group == 'd'")
    paired_width = float(row["delta_ci_high"].iloc[0] - row["delta_ci_low"].iloc[0])
    a = baseline.by_group("s2f_gender_agreement", "ethnicity").loc["d"]
    b = other.by_group("s2f_gender_agreement", "ethnicity").loc["d"]
    unpaired_width = np.hypot(a["ci_high"] - a["ci_low"], b["ci_high"] - b["ci_low"])
    assert paired_width < 0.5 * unpaired_width


def test_different_clip_sets_are_refused_unless_aligned(baseline, baseline_predictions):
    table = baseline_predictions.table.iloc[40:].reset_index(drop=True)
    fewer = run_audit(Predictions(table, {}, {"model_id": "fewer"}), **OPTIONS)
    with pytest.raises(InputError, match="covers different clips than the baseline"):
        compare_audits([baseline, fewer])
    assert "{only_baseline} only in the baseline" in DIFFERENT_CLIPS
    aligned = compare_audits([baseline, fewer], align="intersection")
    assert aligned.summary["n_clips"] == len(table)
    assert any("clips all audits share" in note for note in aligned.summary["notes"])
    assert (aligned.changes["delta"] == 0).all()


def test_comparison_saves_and_loads(tmp_path, baseline):
    comparison = compare_audits([baseline, baseline])
    path = comparison.save(tmp_path / "cmp")
    loaded = ComparisonResult.load(path)
    pd.testing.assert_frame_equal(loaded.changes, comparison.changes)
    assert json.loads((path / "comparison.json").read_text())["kind"] == "comparison"
    assert "Comparison" in loaded._repr_html_()


def test_audit_and_compare_commands_gate_on_regression(tmp_path, baseline_predictions, capsys):
    write_predictions(tmp_path / "pred_a", baseline_predictions.table, features={})
    worse = _degraded(baseline_predictions, "d", 0.2)
    write_predictions(tmp_path / "pred_b", worse.table, features={})
    common = ["--n-boot", "200", "--slices", "ethnicity", "--metrics", "s2f_gender_agreement"]
    assert main(["audit", str(tmp_path / "pred_a"), "--out", str(tmp_path / "a"), *common]) == 0
    assert main(["audit", str(tmp_path / "pred_b"), "--out", str(tmp_path / "b"), *common]) == 0
    assert "FLAG s2f_gender_agreement ethnicity=d" in capsys.readouterr().out
    assert "s2f_gender_agreement" in (tmp_path / "b" / "report.html").read_text()
    args = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c")]
    assert main(args) == 0
    assert "Comparison" in (tmp_path / "c" / "report.html").read_text()
    assert main([*args, "--fail-on-regression", "--no-report"]) == 1
    same = ["compare", str(tmp_path / "a"), str(tmp_path / "a"), "--out", str(tmp_path / "d")]
    assert main([*same, "--fail-on-regression"]) == 0


def test_commands_print_one_line_errors(tmp_path, baseline_predictions, capsys):
    write_predictions(tmp_path / "pred", baseline_predictions.table, features={})
    status = main(
        ["audit", str(tmp_path / "pred"), "--out", str(tmp_path / "x"), "--slices", "accent"]
    )
    assert status == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("s2f audit: error:") and "'accent'" in error
    status = main(
        ["audit", str(tmp_path / "pred"), "--out", str(tmp_path / "x"), "--reference", "male"]
    )
    assert status == 2
    assert main(["compare", str(tmp_path / "pred"), str(tmp_path / "pred"), "--out", "y"]) == 2
    assert "not an audit result" in capsys.readouterr().err
