"""Disparities of each group against a reference, with the CI of the difference itself.

The difference and ratio of every group against the reference are computed in every
bootstrap replicate, so their intervals and p-values come from the joint resampling
of both groups (not from two overlapping group intervals).

When the reference is the *best* group it is chosen from the data, and testing the
others against the observed maximum alone would inflate false flags (the range of k
noisy equal values is large). The family therefore holds every pairwise comparison
among the slice's sufficient groups; the p-value reported for a group is that of its
comparison with the reference. Holm over a superset of hypotheses still controls
the family-wise error rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from audit._intervals import bootstrap_se, bootstrap_z_pvalue, percentile_interval
from audit.config import OVERALL_REFERENCE


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
    """Bootstrap standard error of each difference."""
    tests: np.ndarray
    """``(n_tests, 2)`` group indices of each test (the second is -1 against ``overall``)."""
    test_p_values: np.ndarray


def choose_best(values: np.ndarray, eligible: np.ndarray, *, higher_is_better: bool) -> int | None:
    """Index of the best eligible group, or None when fewer than two groups are eligible."""
    candidates = np.flatnonzero(eligible & np.isfinite(values))
    if len(candidates) < 2:
        return None
    scores = values[candidates] if higher_is_better else -values[candidates]
    return int(candidates[np.argmax(scores)])


def slice_disparities(
    values: np.ndarray,
    replicates: np.ndarray,
    *,
    testable: np.ndarray,
    reference: int | str,
    labels: tuple[str, ...],
    overall: tuple[float, np.ndarray] | None = None,
    level: float = 0.95,
) -> Disparities:
    """Disparities of ``values`` (groups) against a group index or ``"overall"``.

    ``reference`` is a group index (the chosen or best group) or ``OVERALL_REFERENCE``
    with ``overall`` = (point value, replicates). ``testable`` marks groups with enough
    speakers to be tested. When ``reference`` is the best group, widen the tests with
    :func:`with_best_family`.
    """
    if reference == OVERALL_REFERENCE:
        assert overall is not None
        ref_value, ref_replicates = overall
        ref_label = OVERALL_REFERENCE
    else:
        ref_value, ref_replicates = values[reference], replicates[:, reference]
        ref_label = labels[int(reference)]
    difference = values - ref_value
    diff_replicates = replicates - ref_replicates[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = values / ref_value
        ratio_replicates = replicates / ref_replicates[:, None]
    p_value = bootstrap_z_pvalue(difference, diff_replicates)
    standard_error = bootstrap_se(diff_replicates)
    testable = testable.copy()
    if reference != OVERALL_REFERENCE:
        testable[int(reference)] = False
    p_value = np.where(testable, p_value, np.nan)
    tested = np.flatnonzero(testable & np.isfinite(p_value))
    second = -1 if reference == OVERALL_REFERENCE else int(reference)
    return Disparities(
        reference=ref_label,
        difference=difference,
        difference_interval=percentile_interval(diff_replicates, level=level),
        ratio=ratio,
        ratio_interval=percentile_interval(ratio_replicates, level=level),
        p_value=p_value,
        standard_error=standard_error,
        tests=np.column_stack([tested, np.full(len(tested), second)]).astype(np.int64),
        test_p_values=p_value[tested],
    )


def all_pairs_family(values: np.ndarray, replicates: np.ndarray, *, testable: np.ndarray):
    """Every pairwise test among testable groups: ``(pairs (n, 2), p-values (n,))``."""
    groups = np.flatnonzero(testable & np.isfinite(values))
    first, second = np.triu_indices(len(groups), k=1)
    first, second = groups[first], groups[second]
    difference = values[first] - values[second]
    p = bootstrap_z_pvalue(difference, replicates[:, first] - replicates[:, second])
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


def with_best_family(
    disparities: Disparities, values: np.ndarray, replicates: np.ndarray, *, testable: np.ndarray
) -> Disparities:
    """Replace the tests of a best-referenced slice by every pairwise test among its groups."""
    pairs, p = all_pairs_family(values, replicates, testable=testable)
    return replace(disparities, tests=pairs, test_p_values=p)
