"""The audit's statistics checked by simulation with known truth.

Predictions are drawn with set per-group agreement rates and a speaker random effect
(``audit.simulate``). Fast versions run in CI; ``-m slow`` runs the heavier ones.

Coverage uses one audit of many independent simulated datasets side by side: each
speaker's bootstrap weight is independent of every other speaker's, so each
(dataset, group) cell gets exactly the interval a separate audit of that dataset
would give, at a fraction of the cost.
"""

import numpy as np
import pytest
from scipy import stats

from audit._intervals import detectable_difference
from audit.engine import run_audit
from audit.simulate import flag_rates, simulate_predictions

METRIC = "s2f_gender_agreement"


def _coverage(n_datasets, *, groups=4, speakers=60, clips=3, n_boot=400, seed=0):
    rng = np.random.default_rng(seed)
    rates = {f"d{d}_g{g}": rng.uniform(0.55, 0.9) for d in range(n_datasets) for g in range(groups)}
    predictions = simulate_predictions(
        rates, speakers_per_group=speakers, clips_per_speaker=clips, seed=seed
    )
    result = run_audit(
        predictions,
        metrics=[METRIC],
        slices=["ethnicity"],
        n_boot=n_boot,
        seed=seed,
        reference="overall",
        fairlearn_views=False,
    )
    rows = result.by_group(METRIC, "ethnicity")
    truth = rows.index.map(rates)
    covered = (rows["ci_low"] <= truth) & (truth <= rows["ci_high"])
    return covered.mean(), len(covered)


def _flag_rate(rates, runs, *, n_boot=200, seed=0, planted=None, decision="flag"):
    """Share of audits (100 speakers × 5 clips per group) that flag ``planted`` (None: any)."""
    return flag_rates(
        rates, runs=runs, n_boot=n_boot, seed=seed, planted=planted, decision=decision
    )[None]


def test_cluster_bootstrap_95_intervals_cover_the_truth():
    coverage, n = _coverage(200)
    assert n == 800
    assert 0.93 <= coverage <= 0.97


def test_planted_ten_point_disparity_is_found():
    """Found: significant after correction. A flag also needs the difference's interval
    (7.5 points from the overall value here) wholly beyond the 5-point threshold."""
    rates = {"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.7}
    assert _flag_rate(rates, 25, planted="d", decision="significant") >= 0.8


PLANTED = {"a": 0.8, "b": 0.8, "c": 0.8, "d": 0.7}
DEFAULT_FAMILY = 2000
"""Tests in a default audit (37 metrics, 4 columns and their pairs): about 2,000 when few
groups reach 30 speakers, 4,560 measured at 300 speakers, 5,599 at 600."""


def test_power_at_the_default_family_size_is_far_below_the_six_test_family():
    rates = flag_rates(
        PLANTED,
        runs=25,
        family_sizes=(None, DEFAULT_FAMILY),
        planted="d",
        decision="significant",
    )
    assert rates[None] >= 0.8  # the audit's own family: four tests against overall
    assert rates[DEFAULT_FAMILY] <= 0.6  # the same gap among 2,000 tests: mostly missed


def test_detectable_difference_is_the_closed_form_of_the_family():
    predictions = simulate_predictions(PLANTED, speakers_per_group=100, clips_per_speaker=5)
    options = {"metrics": [METRIC], "slices": ["ethnicity"], "n_boot": 300}
    result = run_audit(predictions, fairlearn_views=False, **options)
    rows = result.by_group(METRIC, "ethnicity").dropna(subset=["p_value"])
    m = result.summary["tests"]["n_tests"]
    assert m == 4 and result.summary["tests"]["family_sizes"] == {METRIC: 4}  # each vs overall
    z = stats.norm.isf(0.05 / (2 * m)) + stats.norm.ppf(0.8)
    np.testing.assert_allclose(rows["detectable_difference"], z * rows["diff_se"], rtol=1e-12)
    # The p-value is the normal test on the same standard error.
    se = rows["difference"].abs() / stats.norm.isf(rows["p_value"] / 2)
    np.testing.assert_allclose(se, rows["diff_se"], rtol=1e-6)
    at_default = detectable_difference(rows["diff_se"].to_numpy(), DEFAULT_FAMILY)
    # d's true gap from the overall value is 7.5 points: detectable among the audit's own
    # four tests, not among 2,000.
    d = rows.index.get_loc("d")
    assert rows["detectable_difference"].iloc[d] < 0.075 < at_default[d]


def test_holm_keeps_false_flags_rare_without_disparity():
    assert _flag_rate({"a": 0.75, "b": 0.75, "c": 0.75, "d": 0.75}, 40, seed=1000) <= 0.05


@pytest.mark.slow
def test_coverage_with_1000_replicates_over_1000_audits():
    results = [_coverage(100, n_boot=1000, seed=seed) for seed in range(10)]
    coverage = np.mean([c for c, _ in results])
    assert 0.93 <= coverage <= 0.97


@pytest.mark.slow
def test_planted_disparity_found_over_200_audits_with_1000_replicates():
    assert _flag_rate(PLANTED, 200, n_boot=1000, planted="d", decision="significant") >= 0.8


@pytest.mark.slow
def test_power_at_the_default_family_size_over_200_audits():
    rates = flag_rates(
        PLANTED,
        runs=200,
        family_sizes=(None, DEFAULT_FAMILY),
        seed=500,
        planted="d",
        decision="significant",
    )
    assert rates[None] >= 0.8 and rates[DEFAULT_FAMILY] <= 0.6


@pytest.mark.slow
def test_false_flag_rate_over_600_audits():
    rates = {"a": 0.75, "b": 0.75, "c": 0.75, "d": 0.75}
    assert _flag_rate(rates, 600, n_boot=500, seed=20000) <= 0.05
