"""Tests that can fail: each statistic is checked on the engine and on a mutated engine.

Every mutation (a monkeypatch) removes one thing the statistics rely on: the speaker
clustering, the engine's multiple-testing correction, the adjustment of a reference chosen
from the data. The correct engine must stay within the bound and the mutated one must cross
it, so the bound is shown to detect that error. Simulated worlds (``audit.simulate``) carry
a speaker effect (ICC 0.17–0.3). ``bench/bench_validity.py`` runs the heavier version.
"""

import numpy as np
import pandas as pd
import pytest

import audit._evaluate as evaluate_module
import audit.engine as engine_module
from audit.engine import run_audit
from audit.simulate import (
    SIM_COLUMN,
    SIM_METRIC,
    audit_outcomes,
    concentration_for,
    flag_rates,
    simulate_predictions,
)
from speech2face.prediction.artifact import Predictions

OPTIONS = {"metrics": [SIM_METRIC], "slices": [SIM_COLUMN], "fairlearn_views": False}


def _value_coverage() -> float:
    """Coverage of 400 groups' values (30 speakers × 5 clips, ICC 0.3) in one audit."""
    rng = np.random.default_rng(3)
    rates = {f"g{i}": rng.uniform(0.6, 0.9) for i in range(400)}
    predictions = simulate_predictions(
        rates, speakers_per_group=30, clips_per_speaker=5, concentration=concentration_for(0.3)
    )
    rows = run_audit(predictions, n_boot=300, **OPTIONS).by_group(SIM_METRIC, SIM_COLUMN)
    truth = rows.index.map(rates)
    return float(((rows["ci_low"] <= truth) & (truth <= rows["ci_high"])).mean())


def test_coverage_fails_when_clustering_is_ignored(monkeypatch):
    assert 0.92 <= _value_coverage() <= 0.98
    original = engine_module.component_frame

    def clips_as_speakers(*args, **kwargs):
        frame, valid = original(*args, **kwargs)
        return frame.assign(speaker_id=frame["clip_id"].astype(str)), valid

    monkeypatch.setattr(engine_module, "component_frame", clips_as_speakers)
    assert _value_coverage() < 0.9


NULL_RATES = {f"g{i}": 0.75 for i in range(12)}


def _familywise_significant() -> float:
    """Share of 40 null audits (12 equal groups) with any group significant after correction."""
    return flag_rates(
        NULL_RATES,
        runs=40,
        speakers_per_group=60,
        clips_per_speaker=3,
        concentration=concentration_for(0.17),
        seed=4000,
        decision="significant",
    )[None]


def test_familywise_error_fails_when_the_engine_does_not_correct(monkeypatch):
    assert _familywise_significant() <= 0.15
    raw = lambda tests, config, column="p_value": tests[column].to_numpy(dtype=np.float64)  # noqa: E731
    monkeypatch.setattr(evaluate_module, "correct", raw)
    assert _familywise_significant() > 0.15


def _best_miscoverage() -> float:
    """Share of 40 null audits (six equal groups) where some difference from the best group
    has an interval excluding the true 0."""
    rates = dict.fromkeys([f"g{i}" for i in range(6)], 0.75)
    missed = 0.0
    for run in range(40):
        predictions = simulate_predictions(
            rates,
            speakers_per_group=60,
            clips_per_speaker=3,
            concentration=concentration_for(0.17),
            seed=9000 + run,
        )
        result = run_audit(predictions, n_boot=300, seed=run, reference="best", **OPTIONS)
        missed += 1 - audit_outcomes(result, rates, metric=SIM_METRIC)["all_differences_covered"]
    return missed / 40


def test_best_reference_fails_without_selection_adjustment(monkeypatch):
    assert _best_miscoverage() <= 0.125
    unadjusted = evaluate_module.slice_disparities

    def chosen_after_looking(*args, **kwargs):
        return unadjusted(*args, **{**kwargs, "best": False})

    monkeypatch.setattr(evaluate_module, "slice_disparities", chosen_after_looking)
    monkeypatch.setattr(evaluate_module, "with_best_family", lambda found, *a, **k: found)
    assert _best_miscoverage() > 0.125


def _separated(female_right: int = 0) -> Predictions:
    """40 female speakers with every clip wrong (but ``female_right`` clips), 40 male right."""
    speakers = np.repeat(np.arange(80), 5)
    gender = np.where(speakers < 40, "female", "male")
    wrong = np.where(gender == "female", "male", "female")
    predicted = np.where(speakers < 40, wrong, gender)
    predicted[:female_right] = gender[:female_right]
    table = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(len(speakers))],
            "speaker_id": [f"s{s}" for s in speakers],
            "duration_s": 6.0,
            "gender": gender,
            "true_gender": gender,
            "s2f_gender": predicted,
        }
    )
    return Predictions(table, {}, {"model_id": "separated"})


@pytest.mark.parametrize("female_right", [0, 1])
@pytest.mark.parametrize("reference", ["overall", {"gender": "male"}, "best"])
def test_zero_variance_and_separated_groups_are_tested(female_right, reference):
    options = {"metrics": [SIM_METRIC], "slices": ["gender"], "fairlearn_views": False}
    result = run_audit(_separated(female_right), n_boot=200, reference=reference, **options)
    female = result.by_group(SIM_METRIC, "gender").loc["female"]
    assert result.summary["tests"]["n_tests"] >= 1
    assert np.isfinite(female["p_value"]) and female["p_value"] >= 1e-16
    assert female["p_adjusted"] < 0.05 and female["flag"]
    assert result.summary["tests"]["p_floor"] == 1e-16


def test_cells_under_the_minimum_carry_no_interval():
    predictions = simulate_predictions({"a": 0.8, "b": 0.7}, speakers_per_group=12)
    result = run_audit(predictions, n_boot=50, min_speakers=30, **OPTIONS)
    rows = result.by_group(SIM_METRIC, SIM_COLUMN)
    assert (rows["status"] == "insufficient").all() and rows["value"].notna().all()
    interval_columns = ["ci_low", "ci_high", "diff_ci_low", "diff_ci_high", "ratio_ci_low"]
    assert rows[interval_columns].isna().all().all()
    assert rows["p_value"].isna().all() and not rows["flag"].any()
