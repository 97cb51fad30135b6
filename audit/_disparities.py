"""Disparities of each group against a reference, with the CI of the difference itself.

The difference and ratio of every group against the reference are computed in every
bootstrap replicate, so their intervals and p-values come from the joint resampling
of both groups (not from two overlapping group intervals). A difference's interval is
BCa (its acceleration from the speakers' influence, ``_influence``); its test is normal
on the bootstrap standard error, floored by half the standard error a speaker-level
permutation test would use (``FLOOR_SHARE``), so a group without bootstrap variance is
still tested.

The default reference is fixed before any outcome is seen: the overall value, computed
inside each replicate, or a group the user names. When the reference is the *best* group
it is chosen from the data, and testing the others against the observed maximum alone
would inflate false flags (the range of k noisy equal values is large). The family then
holds every pairwise comparison among the slice's sufficient groups (the p-value reported
for a group is that of its comparison with the reference; Holm over a superset of
hypotheses still controls the family-wise error rate), and the intervals are
simultaneous over all those pairs (a max-|t| bootstrap), so they hold for whichever
group the data made the reference.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from audit._aggregate import MetricCells
from audit._influence import acceleration, permutation_se, pooled_spread
from audit._intervals import (
    bca_interval,
    bootstrap_se,
    max_t_critical,
    percentile_interval,
    z_pvalue,
)
from audit.config import OVERALL_REFERENCE

FLOOR_SHARE = 0.5
"""The test's standard error is at least this share of the permutation standard error.
Where a group's speakers vary as the pool's do the bootstrap SE is close to the
permutation SE and the floor never binds (a full floor would cost power wherever
variances differ, as proportions' do); it binds where the bootstrap sees (almost) no
variance: a group with every speaker wrong, or near-separated groups."""


@dataclass(frozen=True)
class Disparities:
    """Per-group disparities of one metric in one slice, and the tests they contribute."""

    reference: str | None
    difference: np.ndarray
    difference_interval: np.ndarray
    ratio: np.ndarray
    ratio_interval: np.ndarray
    p_value: np.ndarray
    standard_error: np.ndarray
    """Standard error of each difference the test uses (bootstrap, floored by permutation)."""
    tests: np.ndarray
    """``(n_tests, 2)`` group indices of each test (the second is -1 against ``overall``)."""
    test_p_values: np.ndarray
    simultaneous: bool = False
    """Whether the difference intervals hold simultaneously (a best-group reference)."""


def choose_best(values: np.ndarray, eligible: np.ndarray, *, higher_is_better: bool) -> int | None:
    """Index of the best eligible group, or None when fewer than two groups are eligible."""
    candidates = np.flatnonzero(eligible & np.isfinite(values))
    if len(candidates) < 2:
        return None
    scores = values[candidates] if higher_is_better else -values[candidates]
    return int(candidates[np.argmax(scores)])


def _pair_se(cells: MetricCells, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Test standard error of θ(first) − θ(second): bootstrap, floored by permutation."""
    sums, n = cells.point_sums, cells.n_speakers_evaluated
    gram = cells.influence.gram
    pool = sums[first] + sums[second]
    spread = pooled_spread(cells.spec, pool, gram[first] + gram[second])
    floor = permutation_se(
        cells.spec, sums[first], n[first], pool, spread, n[first] + n[second], against_pool=False
    )
    replicates = cells.replicates[:, first] - cells.replicates[:, second]
    return np.fmax(bootstrap_se(replicates), FLOOR_SHARE * floor)


def slice_disparities(
    cells: MetricCells,
    overall: MetricCells,
    *,
    testable: np.ndarray,
    reference: int | str,
    level: float = 0.95,
    best: bool = False,
) -> Disparities:
    """Disparities of ``cells`` (one metric in one slice) against a reference.

    ``reference`` is a group index (a named or the best group) or ``OVERALL_REFERENCE``
    (``overall``: the metric's overall cell). ``testable`` marks groups with enough
    speakers to be tested; the others get no interval and no test. ``best`` (the
    reference was chosen from the data) makes the intervals simultaneous and the family
    every pair of testable groups.
    """
    values, replicates = cells.value, cells.replicates
    n = cells.n_speakers_evaluated.astype(np.float64)
    found = cells.influence
    if reference == OVERALL_REFERENCE:
        ref_value, ref_replicates = float(overall.value[0]), overall.replicates[:, 0]
        ref_label = OVERALL_REFERENCE
        accel = acceleration(found.u2_overall, found.u3_overall)
        permutation = permutation_se(
            cells.spec,
            cells.point_sums,
            n,
            overall.point_sums[0],
            overall.influence.u2[0],  # Σ U² over every speaker: the pool's spread
            overall.n_speakers_evaluated[0],
            against_pool=True,
        )
        spread = bootstrap_se(replicates - ref_replicates[:, None])
        standard_error = np.fmax(spread, FLOOR_SHARE * permutation)
        n_df = n
    else:
        index = int(reference)
        ref_value, ref_replicates = values[index], replicates[:, index]
        ref_label = cells.slice.labels[index]
        accel = acceleration(found.u2 + found.u2[index], found.u3 - found.u3[index])
        standard_error = _pair_se(cells, np.arange(len(values)), np.full(len(values), index))
        n_df = np.minimum(n, n[index])
    difference = values - ref_value
    diff_replicates = replicates - ref_replicates[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / ref_value
        ratio_replicates = replicates / ref_replicates[:, None]
    testable = testable.copy()
    if reference != OVERALL_REFERENCE:
        testable[int(reference)] = False
    p_value = np.where(testable, z_pvalue(difference, standard_error), np.nan)
    if best:
        critical = _critical_over_pairs(cells, testable | _is_reference(reference, values), level)
        half = critical * standard_error
        interval = np.stack([difference - half, difference + half])
    else:
        interval = bca_interval(diff_replicates, difference, accel, n_df, level=level)
    shown = testable[None, :]
    tested = np.flatnonzero(testable & np.isfinite(p_value))
    second = -1 if reference == OVERALL_REFERENCE else int(reference)
    return Disparities(
        reference=ref_label,
        difference=difference,
        difference_interval=np.where(shown, interval, np.nan),
        ratio=ratio,
        ratio_interval=np.where(shown, percentile_interval(ratio_replicates, level=level), np.nan),
        p_value=p_value,
        standard_error=np.where(testable, standard_error, np.nan),
        tests=np.column_stack([tested, np.full(len(tested), second)]).astype(np.int64),
        test_p_values=p_value[tested],
        simultaneous=best,
    )


def _is_reference(reference: int | str, values: np.ndarray) -> np.ndarray:
    mask = np.zeros(len(values), dtype=bool)
    if reference != OVERALL_REFERENCE:
        mask[int(reference)] = True
    return mask


def _pairs(values: np.ndarray, testable: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    groups = np.flatnonzero(testable & np.isfinite(values))
    first, second = np.triu_indices(len(groups), k=1)
    return groups[first], groups[second]


def _critical_over_pairs(cells: MetricCells, eligible: np.ndarray, level: float) -> float:
    """Max-|t| critical value over every pair of eligible groups (Tukey-style, bootstrap)."""
    first, second = _pairs(cells.value, eligible)
    estimates = cells.value[first] - cells.value[second]
    replicates = cells.replicates[:, first] - cells.replicates[:, second]
    return max_t_critical(estimates, replicates, _pair_se(cells, first, second), level=level)


def all_pairs_family(cells: MetricCells, *, testable: np.ndarray):
    """Every pairwise test among testable groups: ``(pairs (n, 2), p-values (n,))``."""
    first, second = _pairs(cells.value, testable)
    difference = cells.value[first] - cells.value[second]
    p = z_pvalue(difference, _pair_se(cells, first, second))
    return np.column_stack([first, second]).astype(np.int64), p


def no_disparities(n_groups: int) -> Disparities:
    """The record of a slice where no reference could be formed (fewer than two groups)."""
    empty = np.full(n_groups, np.nan)
    return Disparities(
        reference=None,
        difference=empty,
        difference_interval=np.full((2, n_groups), np.nan),
        ratio=empty,
        ratio_interval=np.full((2, n_groups), np.nan),
        p_value=empty,
        standard_error=empty,
        tests=np.empty((0, 2), dtype=np.int64),
        test_p_values=np.empty(0),
    )


def with_best_family(disparities: Disparities, cells: MetricCells, *, testable: np.ndarray):
    """Replace the tests of a best-referenced slice by every pairwise test among its groups."""
    pairs, p = all_pairs_family(cells, testable=testable)
    return replace(disparities, tests=pairs, test_p_values=p)
