"""From aggregated metrics to the audit's tables: intervals, disparities, tests, flags.

``evaluate`` takes every metric's per-group values and replicates (``_aggregate``) and
returns the long groups table and the tests table: closed-form or bootstrap intervals,
each group's disparity against its slice's reference, one multiple-testing correction
over every test of the audit, and the flags.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit._aggregate import Aggregates, MetricCells
from audit._disparities import (
    Disparities,
    choose_best,
    no_disparities,
    slice_disparities,
    with_best_family,
)
from audit._influence import acceleration
from audit._intervals import (
    DETECTION_POWER,
    adjust_pvalues,
    bca_interval,
    detectable_difference,
    fisher_z_interval,
    wilson_interval,
)
from audit._metrics import MEAN
from audit._slices import OVERALL, SEPARATOR
from audit.config import BEST, FAMILY_METRIC, OVERALL_REFERENCE, AuditConfig
from audit.result import GROUP_COLUMNS, TEST_COLUMNS, with_stable_dtypes
from speech2face.errors import InputError
from speech2face.vocabulary import UNKNOWN

EMPTY_REFERENCE = "reference group {group!r} of slice {slice!r} has no clips"

FLAG_FIELDS = (
    "metric",
    "slice",
    "group",
    "reference",
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "p_adjusted",
)
BEST_CAVEAT = (
    "the reference of each slice is its best group, chosen from these same data: its "
    "differences carry simultaneous intervals over every pair of groups (max-|t| bootstrap) "
    "and are tested among every pair, which is wider and less powerful than a reference "
    "fixed in advance (overall, or a named group)"
)
DERIVED_COLUMNS = ("p_adjusted", "detectable_difference", "flag", "significant_small")
"""Groups columns set after the correction, from the whole family of tests."""
STATUS_OK = "ok"
STATUS_REFERENCE = "reference"
STATUS_INSUFFICIENT = "insufficient"
STATUS_SINGLE_SPEAKER = "single_speaker"
STATUS_NO_VALUES = "no_values"
"""A group with clips none of which has a valid value of the metric (an all-NaN column)."""
STATUS_EMPTY = "empty"
STATUS_CIRCULAR = "circular"
"""A metric scored against labels inferred from the same face (``audit._circular``)."""


def _reference_index(
    cells: MetricCells, config: AuditConfig, eligible: np.ndarray, notes: list[str]
) -> int | str | None:
    """The slice's reference: a named group's index, ``overall``, or the best group's index
    (None when fewer than two groups can be the best)."""
    slice_ = cells.slice
    reference = config.reference
    if isinstance(reference, dict) and all(c in reference for c in slice_.columns):
        label = SEPARATOR.join(reference[c] for c in slice_.columns)
        if label in slice_.labels:
            return slice_.labels.index(label)
        if len(slice_.columns) == 1:
            raise InputError(EMPTY_REFERENCE.format(group=label, slice=slice_.name))
        notes.append(f"reference {label!r} of {slice_.name!r} is empty; overall is used")
        return OVERALL_REFERENCE
    if reference != BEST:
        return OVERALL_REFERENCE
    not_unknown = np.array([UNKNOWN not in label.split(SEPARATOR) for label in slice_.labels])
    return choose_best(
        cells.value, eligible & not_unknown, higher_is_better=cells.spec.higher_is_better
    )


def _disparities(
    cells: MetricCells,
    overall: MetricCells,
    testable: np.ndarray,
    config: AuditConfig,
    notes: list[str],
) -> tuple[Disparities, int | str | None]:
    reference = _reference_index(cells, config, testable, notes)
    if reference is None:
        return no_disparities(cells.slice.n_groups), None
    best = config.reference == BEST
    found = slice_disparities(
        cells, overall, testable=testable, reference=reference, level=config.level, best=best
    )
    if not isinstance(reference, str) and not testable[reference]:
        notes.append(
            f"{cells.spec.name} in {cells.slice.name!r}: reference "
            f"{found.reference!r} has too few speakers; its differences are not tested"
        )
        found = no_disparities(cells.slice.n_groups)
        return found, None
    if best:
        found = with_best_family(found, cells, testable=testable)
    return found, reference


def _intervals(cells: MetricCells, level: float, min_speakers: int) -> tuple[np.ndarray, list]:
    """BCa intervals, replaced by Wilson / Fisher-z where each speaker has one clip; none
    for a cell under ``min_speakers`` (a thin cell's interval would not cover)."""
    accel = acceleration(cells.influence.u2, cells.influence.u3)
    n_speakers = cells.n_speakers_evaluated
    interval = bca_interval(cells.replicates, cells.value, accel, n_speakers, level=level)
    method = np.full(cells.slice.n_groups, "cluster_bootstrap_bca", dtype=object)
    independent = (cells.n_evaluated == n_speakers) & (n_speakers > 0)
    if cells.spec.kind == MEAN and cells.spec.binary:
        closed = wilson_interval(cells.point_sums[:, 0], cells.point_sums[:, 1], level=level)
        interval = np.where(independent, closed, interval)
        method[independent] = "wilson"
    elif cells.spec.kind != MEAN:
        closed = fisher_z_interval(cells.value, cells.n_evaluated, level=level)
        interval = np.where(independent, closed, interval)
        method[independent] = "fisher_z"
    interval = np.where(n_speakers >= min_speakers, interval, np.nan)
    return interval, list(method)


def evaluate(
    aggregates: Aggregates, config: AuditConfig, *, untested: Collection[str] = ()
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The long groups table and the tests table, with corrected p-values and flags.

    Metrics in ``untested`` (circular ones) get values and intervals but no disparity,
    test or flag; their groups' status is ``circular``.
    """
    notes: list[str] = []
    blocks, test_blocks = [], []
    for (metric, slice_name), cells in aggregates.cells.items():
        n_clips = aggregates.n_clips[slice_name]
        evaluated = cells.n_speakers_evaluated
        interval, method = _intervals(cells, config.level, config.min_speakers)
        testable = (evaluated >= config.min_speakers) & np.isfinite(cells.value)
        circular = metric in untested
        if slice_name == OVERALL or circular or not cells.spec.compared_on(cells.slice.columns):
            found, reference = no_disparities(cells.slice.n_groups), None
        else:
            overall = aggregates.cells[metric, OVERALL]
            found, reference = _disparities(cells, overall, testable, config, notes)
        status = np.select(
            [cells.n_evaluated == 0, evaluated < 2, evaluated < config.min_speakers],
            [STATUS_NO_VALUES, STATUS_SINGLE_SPEAKER, STATUS_INSUFFICIENT],
            STATUS_OK,
        ).astype(object)
        if slice_name == OVERALL and cells.n_evaluated[0] == 0 and n_clips[0] > 0:
            notes.append(f"{metric}: no valid values (no audited clip has one)")
        if isinstance(reference, int | np.integer):
            status[reference] = STATUS_REFERENCE
        if circular:
            status[status == STATUS_OK] = STATUS_CIRCULAR
        blocks.append(
            {
                "metric": metric,
                "slice": slice_name,
                "group": np.asarray(cells.slice.labels, dtype=object),
                "n_clips": n_clips,
                "n_speakers": aggregates.n_speakers[slice_name],
                "n_evaluated": cells.n_evaluated,
                "n_speakers_evaluated": evaluated,
                "status": status,
                "value": cells.value,
                "ci_low": interval[0],
                "ci_high": interval[1],
                "ci_method": method,
                "reference": found.reference,
                "difference": found.difference,
                "diff_ci_low": found.difference_interval[0],
                "diff_ci_high": found.difference_interval[1],
                "ratio": found.ratio,
                "ratio_ci_low": found.ratio_interval[0],
                "ratio_ci_high": found.ratio_interval[1],
                "p_value": found.p_value,
                "diff_se": np.where(np.isfinite(found.p_value), found.standard_error, np.nan),
                "threshold": config.threshold_for(
                    cells.spec, aggregates.cells[metric, OVERALL].value[0]
                ),
                "higher_is_better": cells.spec.higher_is_better,
            }
        )
        if cells.slice.empty:
            blocks.append(_empty_block(metric, cells))
        test_blocks.append(_tests(metric, cells, found, reference))
    groups = _stack(
        blocks,
        [c for c in GROUP_COLUMNS if c not in DERIVED_COLUMNS],
    )
    tests = _stack(test_blocks, [c for c in TEST_COLUMNS if c not in ("p_adjusted", "significant")])
    tests["p_adjusted"] = correct(tests, config)
    tests["significant"] = tests["p_adjusted"] < 1 - config.level
    groups = _attach_adjusted(groups, tests)
    family_size = family_sizes(tests, config)
    groups["detectable_difference"] = detectable_difference(
        groups["diff_se"].to_numpy(),
        groups["metric"].map(family_size).fillna(1).to_numpy(),
        alpha=1 - config.level,
        power=DETECTION_POWER,
    )
    significant = (groups["p_adjusted"] < 1 - config.level) & (groups["status"] == STATUS_OK)
    beyond = (groups["diff_ci_low"] >= groups["threshold"]) | (
        groups["diff_ci_high"] <= -groups["threshold"]
    )
    groups["flag"] = significant & beyond
    groups["significant_small"] = significant & ~beyond
    return groups[list(GROUP_COLUMNS)], tests[list(TEST_COLUMNS)], list(dict.fromkeys(notes))


def family_sizes(tests: pd.DataFrame, config: AuditConfig) -> dict[str, int]:
    """The number of tests in each metric's correction family."""
    tested = tests[tests["p_value"].notna()]
    if config.family == FAMILY_METRIC:
        return {str(m): int(n) for m, n in tested.groupby("metric").size().items()}
    return {str(m): len(tested) for m in tests["metric"].unique()}


def correct(tests: pd.DataFrame, config: AuditConfig, column: str = "p_value") -> np.ndarray:
    """Adjusted p-values: one family of every test, or one family per metric."""
    return adjust_family(tests, correction=config.correction, family=config.family, column=column)


def adjust_family(
    tests: pd.DataFrame, *, correction: str, family: str, column: str = "p_value"
) -> np.ndarray:
    """``tests[column]`` adjusted by ``correction``: as one family, or one per ``metric``."""
    p = tests[column].to_numpy(dtype=np.float64)
    if family != FAMILY_METRIC:
        return adjust_pvalues(p, method=correction)
    adjusted = np.full_like(p, np.nan)
    for _, index in tests.groupby("metric", sort=False).indices.items():
        adjusted[index] = adjust_pvalues(p[index], method=correction)
    return adjusted


def _stack(blocks: list[dict[str, Any]], columns: Sequence[str]) -> pd.DataFrame:
    """One frame from column blocks; scalars repeat, absent columns are NaN, text is ``str``."""
    sizes = [len(block["group"]) for block in blocks]
    data = {}
    for column in columns:
        parts = []
        for block, size in zip(blocks, sizes, strict=True):
            value = block.get(column, np.nan)
            parts.append(np.asarray(value) if np.ndim(value) else np.full(size, value, object))
        data[column] = np.concatenate(parts) if parts else np.empty(0)
    return with_stable_dtypes(pd.DataFrame(data))


def _empty_block(metric: str, cells: MetricCells) -> dict[str, Any]:
    """Rows for the slice's empty intersections: listed, with no value."""
    return {
        "metric": metric,
        "slice": cells.slice.name,
        "group": np.asarray(cells.slice.empty, dtype=object),
        "n_clips": 0,
        "n_speakers": 0,
        "n_evaluated": 0,
        "n_speakers_evaluated": 0,
        "status": STATUS_EMPTY,
        "threshold": np.nan,
        "higher_is_better": cells.spec.higher_is_better,
    }


def _tests(
    metric: str, cells: MetricCells, found: Disparities, reference: int | str | None
) -> dict[str, Any]:
    """One row per test; ``for_reference`` marks a group's comparison with the reference."""
    labels = np.asarray(cells.slice.labels, dtype=object)
    first, second = found.tests[:, 0], found.tests[:, 1]
    ref = reference if isinstance(reference, int | np.integer) else -2
    flipped = first == ref
    group = np.where(flipped, labels[np.maximum(second, 0)], labels[first])
    versus = np.where(
        second == -1, OVERALL_REFERENCE, np.where(flipped, labels[first], labels[second])
    )
    return {
        "metric": metric,
        "slice": cells.slice.name,
        "group": group,
        "versus": versus,
        "p_value": found.test_p_values,
        "for_reference": (second == -1) | (second == ref) | flipped,
    }


def _attach_adjusted(groups: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    keyed = tests[tests["for_reference"]].set_index(["metric", "slice", "group"])["p_adjusted"]
    index = pd.MultiIndex.from_frame(groups[["metric", "slice", "group"]])
    groups["p_adjusted"] = keyed.reindex(index).to_numpy()
    return groups
