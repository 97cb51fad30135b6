"""The audit's statistical building blocks against closed forms and scipy."""

import numpy as np
import pytest
from scipy import stats

from audit._bootstrap import speaker_sums, speaker_weights
from audit._intervals import (
    BH,
    HOLM,
    adjust_pvalues,
    bootstrap_z_pvalue,
    fisher_z_interval,
    percentile_interval,
    wilson_interval,
)
from audit._metrics import MEAN, PEARSON, MetricSpec, metric_moments, metric_values


def test_speaker_weights_are_poisson_one_and_keyed_by_speaker():
    ids = [f"spk{i}" for i in range(400)]
    weights = speaker_weights(ids, n_boot=500, seed=3)
    assert weights.shape == (500, 400)
    assert abs(weights.mean() - 1) < 0.01
    assert abs(weights.var() - 1) < 0.02
    # P(w = 0) = e^-1 for Poisson(1)
    assert abs((weights == 0).mean() - np.exp(-1)) < 0.01
    subset = speaker_weights(ids[100:150][::-1], n_boot=500, seed=3)
    np.testing.assert_array_equal(subset, weights[:, 100:150][:, ::-1])
    assert not np.array_equal(speaker_weights(ids, n_boot=500, seed=4), weights)
    block = speaker_weights(ids, n_boot=100, seed=3, first=250)
    np.testing.assert_array_equal(block, weights[250:350])


def test_speaker_weights_are_independent_across_speakers_and_replicates():
    weights = speaker_weights([f"s{i}" for i in range(300)], n_boot=300, seed=0)
    correlations = np.corrcoef(weights)[np.triu_indices(300, 1)]
    assert np.abs(correlations).max() < 0.3
    assert abs(correlations.mean()) < 0.01


@pytest.mark.parametrize("n_groups", [3, 40])
def test_group_sums_match_an_explicit_loop(n_groups):
    rng = np.random.default_rng(0)
    n_clips, n_speakers = 600, 70
    speakers = rng.integers(n_speakers, size=n_clips)
    groups = rng.integers(n_groups, size=n_clips)
    moments = rng.normal(size=(n_clips, 3))
    weights = rng.poisson(1.0, size=(25, n_speakers)).astype(np.float32)
    sums = speaker_sums(speakers, groups, moments, n_groups=n_groups, n_speakers=n_speakers)
    replicates = sums.replicates(weights)
    expected = np.zeros((25, n_groups, 3))
    for clip in range(n_clips):
        expected[:, groups[clip]] += weights[:, speakers[clip], None] * moments[clip]
    np.testing.assert_allclose(replicates, expected, rtol=1e-5, atol=1e-4)
    for g in range(n_groups):
        np.testing.assert_allclose(sums.point[g], moments[groups == g].sum(0), atol=1e-12)


def test_pearson_metric_from_moments_equals_numpy_corrcoef():
    rng = np.random.default_rng(1)
    x = rng.normal(50, 10, 300)
    y = 0.6 * x + rng.normal(0, 8, 300)
    y[::17] = np.nan
    spec = MetricSpec("r", PEARSON, ("x", "y"), (), higher_is_better=True, family="cf")
    moments = metric_moments(spec, {"x": x, "y": y})
    valid = np.isfinite(y)
    assert metric_values(spec, moments.sum(0)) == pytest.approx(
        np.corrcoef(x[valid], y[valid])[0, 1], abs=1e-12
    )


def test_mean_metric_ignores_missing_components():
    spec = MetricSpec("m", MEAN, ("v",), (), higher_is_better=True, family="f")
    moments = metric_moments(spec, {"v": np.array([1.0, np.nan, 0.0, 1.0])})
    assert metric_values(spec, moments.sum(0)) == pytest.approx(2 / 3)
    assert np.isnan(metric_values(spec, np.zeros(2)))


def test_holm_by_hand_and_bh_against_scipy():
    p = np.array([0.01, 0.04, 0.03, 0.005, np.nan])
    holm = adjust_pvalues(p, method=HOLM)
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1 -> max so far 0.06
    np.testing.assert_allclose(holm[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(holm[4])
    rng = np.random.default_rng(2)
    many = rng.uniform(size=50) ** 3
    np.testing.assert_allclose(
        adjust_pvalues(many, method=BH), stats.false_discovery_control(many), rtol=1e-12
    )


def test_wilson_interval_matches_scipy():
    for k, n in [(0, 10), (7, 30), (45, 50), (120, 400)]:
        expected = stats.binomtest(k, n).proportion_ci(method="wilson")
        low, high = wilson_interval(np.array(k), np.array(n))
        assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-12)


def test_fisher_z_interval_matches_scipy_pearsonr():
    rng = np.random.default_rng(4)
    x = rng.normal(size=60)
    y = 0.5 * x + rng.normal(size=60)
    result = stats.pearsonr(x, y)
    expected = result.confidence_interval(0.95)
    low, high = fisher_z_interval(np.array(result.statistic), np.array(60))
    assert (low, high) == pytest.approx((expected.low, expected.high), abs=1e-10)


def test_percentile_interval_ignores_nan_replicates_and_needs_two():
    replicates = np.column_stack(
        [np.arange(101.0), np.where(np.arange(101) % 2, np.nan, np.arange(101.0))]
    )
    replicates = np.column_stack([replicates, np.r_[1.0, np.full(100, np.nan)]])
    low, high = percentile_interval(replicates, level=0.9)
    assert (low[0], high[0]) == pytest.approx((5, 95))
    assert (low[1], high[1]) == pytest.approx((5, 95))
    assert np.isnan(low[2]) and np.isnan(high[2])


def test_bootstrap_z_pvalue_is_the_normal_test_on_the_bootstrap_se():
    rng = np.random.default_rng(5)
    replicates = rng.normal(0.3, 0.1, size=(4000, 1))
    p = bootstrap_z_pvalue(np.array([0.2]), replicates)
    se = replicates.std(ddof=1)
    assert p[0] == pytest.approx(2 * stats.norm.sf(0.2 / se), rel=1e-12)


def test_bootstrap_standard_error_matches_the_cluster_robust_closed_form():
    rng = np.random.default_rng(6)
    n_speakers = 150
    clips = rng.integers(1, 8, size=n_speakers)
    speaker = np.repeat(np.arange(n_speakers), clips)
    rate = rng.beta(4, 2, size=n_speakers)[speaker]
    value = (rng.random(len(speaker)) < rate).astype(float)
    moments = np.column_stack([value, np.ones_like(value)])
    weights = speaker_weights([f"s{i}" for i in range(n_speakers)], n_boot=4000, seed=1)
    sums = speaker_sums(
        speaker, np.zeros_like(speaker), moments, n_groups=1, n_speakers=n_speakers
    ).replicates(weights)
    replicates = sums[:, 0, 0] / sums[:, 0, 1]
    theta = value.mean()
    # linearised (sandwich) variance of a ratio of cluster totals
    residual = np.bincount(speaker, value - theta)
    closed_form = np.sqrt((residual**2).sum()) / len(value)
    assert replicates.std(ddof=1) == pytest.approx(closed_form, rel=0.05)


def test_distribution_shortcuts_equal_scipy_stats():
    """``_intervals`` calls scipy.special directly (issue 19); the values must be scipy.stats'."""
    from audit import _intervals

    rng = np.random.default_rng(3)
    q = np.concatenate([[0.0, 1.0, 0.5, -0.1, 1.1, np.nan, 1e-300, 1 - 1e-16], rng.random(500)])
    np.testing.assert_array_equal(_intervals._norm_ppf(q), stats.norm.ppf(q))
    assert str(_intervals._norm_ppf(np.array([0.5]))[0]) == str(stats.norm.ppf(0.5))
    x = np.concatenate([[0.0, -0.0, np.inf, -np.inf, np.nan, 40.0, -40.0], rng.normal(0, 5, 500)])
    np.testing.assert_array_equal(_intervals._norm_cdf(x), stats.norm.cdf(x))
    np.testing.assert_array_equal(_intervals._norm_cdf(-x), stats.norm.sf(x))
    tails = np.array([0.025, 0.975, 0.005, 0.995])[:, None]
    df = np.concatenate([[1.0, 2.0, 1e6, np.inf, 0.0, -1.0, np.nan], rng.integers(1, 5000, 200)])
    np.testing.assert_array_equal(_intervals._t_ppf(tails, df), stats.t.ppf(tails, df))


def test_speaker_effects_equal_the_sparse_product():
    """``slice_influence`` forms each speaker's influence without a sparse-sparse product
    (issue 19); with speakers in several groups and zero moments, every sum must be the
    former product's bits (the former path still runs for unsorted indices)."""
    from audit._influence import slice_influence

    rng = np.random.default_rng(11)
    n_clips, n_speakers, n_groups = 3000, 150, 9
    specs = [
        MetricSpec("m", MEAN, ("v",), (), higher_is_better=True, family="f"),
        MetricSpec("r", PEARSON, ("x", "y"), (), higher_is_better=True, family="cf"),
        MetricSpec("b", MEAN, ("w",), (), higher_is_better=True, family="f", binary=True),
    ]
    value = np.where(rng.random(n_clips) < 0.2, np.nan, rng.gamma(2.0, 3.0, n_clips))
    columns = {
        "v": value,
        "x": rng.normal(size=n_clips),
        "y": rng.normal(size=n_clips),
        "w": (rng.random(n_clips) < 0.7).astype(float),
    }
    blocks = [metric_moments(spec, columns) for spec in specs]
    offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
    speakers = rng.integers(n_speakers, size=n_clips)
    groups = rng.integers(n_groups, size=n_clips)  # most speakers in several groups
    moments = np.concatenate(blocks, axis=1)
    overall_sums = speaker_sums(
        speakers, np.zeros(n_clips, int), moments, n_groups=1, n_speakers=n_speakers
    )
    sums = speaker_sums(speakers, groups, moments, n_groups=n_groups, n_speakers=n_speakers)
    _, overall = slice_influence(specs, offsets, overall_sums.point, overall_sums.per_speaker)
    for per_speaker, point, reference in [
        (overall_sums.per_speaker, overall_sums.point, None),
        (sums.per_speaker, sums.point, overall),
    ]:
        assert per_speaker.has_sorted_indices
        former_input = per_speaker.copy()
        former_input.has_sorted_indices = False  # the sparse product path
        new, new_totals = slice_influence(specs, offsets, point, per_speaker, reference)
        old, old_totals = slice_influence(specs, offsets, point, former_input, reference)
        np.testing.assert_array_equal(new_totals, old_totals)
        for a, b in zip(new, old, strict=True):
            for field in ("u2", "u3", "u2_overall", "u3_overall"):
                np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("n_boot", [1, 2, 3, 7, 1000])
def test_column_quantiles_equal_numpy(n_boot):
    """``percentile_interval`` sorts every column once instead of ``np.nanquantile``'s
    Python loop over columns (issue 19); the bounds must be numpy's bits."""
    import warnings

    from audit._intervals import column_quantiles

    rng = np.random.default_rng(n_boot)
    for level in (0.95, 0.9, 0.5, 0.99):
        tails = [(1 - level) / 2, (1 + level) / 2]
        values = rng.normal(size=(n_boot, 40))
        values[:, ::3] = np.round(values[:, ::3], 1)  # ties
        np.testing.assert_array_equal(
            column_quantiles(values, tails), np.quantile(values, tails, axis=0)
        )
        values[rng.random(values.shape) < 0.4] = np.nan
        values[:, 5] = np.nan
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            expected = np.nanquantile(values, tails, axis=0)
        np.testing.assert_array_equal(column_quantiles(values, tails), expected)
        np.testing.assert_array_equal(column_quantiles(values[:, 0], tails), expected[:, 0])
