"""An audit analyses one clip duration; 3 s versus 6 s is a paired comparison of two audits."""

import numpy as np
import pandas as pd
import pytest

from audit.compare import compare_audits
from audit.engine import run_audit
from audit.result import AuditResult
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, write_predictions
from tests.test_audit_engine import make_predictions

METRICS = ["s2f_gender_agreement", "feature_l2_error", "recall@2_cosine"]
OPTIONS = {"n_boot": 100, "slices": ["language"], "metrics": METRICS, "fairlearn_views": False}


def two_durations(seed=0) -> tuple[Predictions, Predictions, Predictions]:
    """The same clips at 6 s and at 3 s (noisier), in one table with 3 s rows first."""
    six = make_predictions(seed=seed)
    rng = np.random.default_rng(seed + 1)
    table = six.table.copy()
    table["duration_s"] = 3.0
    wrong = rng.random(len(table)) < 0.3
    table.loc[wrong, "s2f_gender"] = np.where(
        table.loc[wrong, "true_gender"] == "male", "female", "male"
    )
    noise = rng.normal(size=six.features["pred_feature"].shape).astype(np.float32)
    three = Predictions(
        table,
        {
            "pred_feature": six.features["pred_feature"] + noise,
            "true_feature": six.features["true_feature"],
        },
        six.meta,
    )
    both = Predictions(
        pd.concat([three.table, six.table], ignore_index=True),
        {k: np.concatenate([three.features[k], six.features[k]]) for k in six.features},
        six.meta,
    )
    return both, three, six


@pytest.fixture(scope="module")
def data():
    return two_durations()


def test_default_audit_is_the_longest_duration_and_counts_each_clip_once(data):
    both, _, six = data
    mixed = run_audit(both, **OPTIONS)
    alone = run_audit(six, **OPTIONS)
    assert mixed.duration_s == 6.0 and mixed.summary["duration_s"] == 6.0
    assert mixed.summary["predictions"]["n_clips"] == len(six.table) == len(both.table) // 2
    assert mixed.summary["predictions"]["durations_s"] == [3.0, 6.0]
    overall = mixed.by_group("s2f_gender_agreement", "overall").iloc[0]
    assert overall["n_clips"] == six.table["clip_id"].nunique()
    # Same numbers as an audit of the 6 s rows alone: features and retrieval read the right rows.
    pd.testing.assert_frame_equal(mixed.groups, alone.groups)
    assert any("270 row(s) of other durations (3 s) left out" in n for n in mixed.summary["notes"])
    expected = (six.table["s2f_gender"] == six.table["true_gender"]).mean()
    assert overall["value"] == pytest.approx(expected, abs=1e-12)


def test_chosen_duration_and_missing_duration(data):
    both, three, _ = data
    short = run_audit(both, duration=3, **OPTIONS)
    pd.testing.assert_frame_equal(short.groups, run_audit(three, **OPTIONS).groups)
    assert short.duration_s == 3.0 and short.summary["config"]["duration"] == 3.0
    with pytest.raises(
        InputError, match=r"no rows with duration_s = 4; the predictions hold 3 s, 6 s"
    ):
        run_audit(both, duration=4, **OPTIONS)


def test_non_numeric_duration_names_the_row(data):
    both = data[0]
    table = both.table.copy()
    table["duration_s"] = table["duration_s"].astype(object)
    table.loc[7, "duration_s"] = "six"
    with pytest.raises(InputError, match=r"row 7, column 'duration_s': 'six'"):
        run_audit(Predictions(table, both.features), **OPTIONS)


def test_three_versus_six_seconds_is_a_paired_comparison(data, tmp_path):
    both, three, six = data
    short, long = run_audit(both, duration=3, **OPTIONS), run_audit(both, **OPTIONS)
    comparison = compare_audits([short, long])
    assert [m["duration_s"] for m in comparison.summary["models"]] == [3.0, 6.0]
    assert comparison.summary["n_clips"] == len(six.table)
    assert any("durations differ (3 s vs 6 s)" in n for n in comparison.summary["notes"])
    changes = comparison.changes.set_index(["metric", "slice", "group"])
    for language in ("en", "es"):
        rows = six.table["language"] == language
        agree6 = (six.table["s2f_gender"] == six.table["true_gender"])[rows].mean()
        agree3 = (three.table["s2f_gender"] == three.table["true_gender"])[rows].mean()
        delta = changes.loc[("s2f_gender_agreement", "language", language), "delta"]
        assert delta == pytest.approx(agree6 - agree3, abs=1e-12)
    # The commands: two audits of one predictions folder, then compare.
    pred = write_predictions(tmp_path / "pred", both.table, features=both.features)
    common = ["--n-boot", "50", "--slices", "language", "--metrics", "s2f_gender_agreement"]
    for name, extra in (("a3", ["--duration", "3"]), ("a6", [])):
        out = str(tmp_path / name)
        assert main(["audit", str(pred), "--out", out, "--no-report", *common, *extra]) == 0
    assert AuditResult.load(tmp_path / "a3").duration_s == 3.0
    cmp = ["compare", str(tmp_path / "a3"), str(tmp_path / "a6"), "--out", str(tmp_path / "c")]
    assert main([*cmp, "--no-report"]) == 0


def test_bad_number_in_the_audited_duration_names_its_predictions_row(data):
    both = data[0]
    table = both.table.copy()
    table["s2f_age_years"] = table["s2f_age_years"].astype(object)
    table.loc[len(table) // 2 + 5, "s2f_age_years"] = "?"
    with pytest.raises(InputError, match=r"row 275, column 's2f_age_years': '\?'"):
        run_audit(Predictions(table, both.features), metrics=["s2f_age_error"], n_boot=10)


def test_audits_of_one_artifact_share_its_hash_but_not_the_clip_set(data):
    both = data[0]
    short, long = run_audit(both, duration=3, **OPTIONS), run_audit(both, **OPTIONS)
    assert short.summary["predictions"]["n_rows"] == len(both.table)
    assert (
        short.summary["predictions"]["predictions_hash"]
        == long.summary["predictions"]["predictions_hash"]
    )
    assert (
        short.summary["predictions"]["clip_set_hash"]
        != long.summary["predictions"]["clip_set_hash"]
    )
