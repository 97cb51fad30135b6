"""Disparities adjusted for recording conditions, inside the same speaker-clustered bootstrap.

A gap between groups can come from how each group was recorded (noisier videos, shorter
segments) rather than from who they are. ``--adjust-for snr_db,speech_s`` reports, beside
each raw disparity, the disparity *at equal recording conditions*, by direct
standardisation over coarsened strata of the named per-clip columns:

- **Strata.** Each named column is cut into ``adjust_bins`` quantile bins of the whole
  audited set (one clip, one value; a missing or non-finite value is its own bin), and the
  bins of the columns are crossed.
- **Standard population.** The overall population's share of each stratum, ``w_s`` (its
  share of the clips that carry the metric), computed *within each replicate* from the
  same speaker weights, like the ``overall`` reference.
- **Adjusted difference.** Against ``overall``: ``Σ_s w_s (m_gs − m_s) / Σ_s w_s`` over
  the strata ``s`` of the group's *common support* (strata where the group has at least one
  evaluated speaker), ``m_gs`` the group's mean in the stratum and ``m_s`` the whole
  population's. Against a named group ``r``: ``m_rs`` in place of ``m_s``, over the strata
  both groups have. Strata outside the support are not silently dropped: their share is
  ``outside_support_share`` (the larger of the standard population's weight outside the
  support and the share of the group's own clips outside it), and a group whose share is
  above ``support_limit`` gets its adjusted difference and interval (over the strata it
  covers) but no adjusted test and no adjusted flag.
- **Bootstrap.** Per-speaker sums of every (group × stratum) cell go through the engine's
  speaker-keyed Poisson weights (the same replicates as the raw values), and the
  adjusted difference is computed in every replicate. A supported cell that a replicate
  empties (its speakers all drawn 0 times) drops out of that replicate's sums, the rest
  renormalised.
- **Interval and test.** The interval is the engine's bias-corrected expanded percentile
  interval (BCa with acceleration 0: the influence of a standardised difference is not
  derived). The test is the raw difference's: two-sided normal on the larger of the
  adjusted difference's bootstrap standard error and the *raw* difference's speaker
  permutation standard error (a conservative floor: standardising can shrink the spread
  when the conditions explain much of it). The adjusted tests form their own family,
  corrected like the raw ones (Holm or BH; all adjusted tests together, or per metric with
  ``family="metric"``). ``adjusted_flag``: adjusted p < 1 − level, the group sufficient,
  its support within the limit, and the adjusted interval beyond the threshold.

Only ``mean`` metrics (agreement, accuracy, errors, similarities, matched-gallery recall)
are adjusted; Pearson correlations are not (a correlation within strata is another
quantity). Only *measured* conditions are adjusted for: provenance that was not measured
(channel, platform, microphone) remains in the adjusted gap, and conditions coarsened to a
few bins leave residual confounding within each bin.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from audit._aggregate import REPLICATE_BLOCK, Aggregates, MetricCells
from audit._bootstrap import speaker_sums, speaker_weights
from audit._influence import permutation_se, pooled_spread
from audit._intervals import bca_interval, bootstrap_se, z_pvalue
from audit._metrics import MEAN, MetricSpec, metric_moments
from audit._slices import OVERALL
from audit.config import BEST, OVERALL_REFERENCE, AuditConfig
from speech2face.errors import InputError

ADJUSTED_COLUMNS = (
    "adjusted_difference",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_p_adjusted",
    "adjusted_flag",
    "outside_support_share",
)
"""Columns of ``groups.parquet`` set by the adjustment (NaN / NA when none was asked)."""
METHOD = (
    "direct standardisation over crossed quantile bins of the named per-clip columns: "
    "sum over the group's common-support strata of the overall population's stratum share "
    "(computed within each replicate) times the group's minus the reference's mean in the "
    "stratum, renormalised over the support; speaker-clustered bootstrap of the cell sums"
)
CAUTION = (
    "only the measured conditions named are adjusted for, coarsened to quantile bins: "
    "unmeasured provenance (channel, platform, microphone) and residual variation within "
    "each bin remain in the adjusted gap"
)
MISSING_BIN = "missing"
NOT_A_COLUMN = (
    "--adjust-for column {column!r} is neither in the predictions nor in the conditions "
    "table (--conditions); numeric per-clip columns: {known}"
)
NOT_NUMERIC = "--adjust-for column {column!r} is not numeric (dtype {dtype})"
CONDITIONS_NO_CLIP_ID = "{source}: the conditions table has no 'clip_id' column to join on"
CONDITIONS_DUPLICATE = "{source}: row {row}: clip_id {clip!r} appears twice"
CONDITIONS_MISSING = (
    "{count} clip(s) of the predictions are not in the conditions table {source}, "
    "e.g. clip_id {clip!r} (predictions row {row})"
)


@dataclass(frozen=True)
class Strata:
    """Each audited clip's stratum: crossed quantile bins of the adjusted columns."""

    columns: tuple[str, ...]
    codes: np.ndarray
    """``(n_clips,)`` in ``[0, n_strata)``."""
    labels: tuple[str, ...]
    edges: dict[str, list[float]]
    bins: int

    @property
    def n_strata(self) -> int:
        return len(self.labels)


def join_conditions(
    table: pd.DataFrame, conditions: str | os.PathLike | pd.DataFrame
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``table`` with the conditions table's numeric columns it lacks, matched on clip_id.

    Every clip of ``table`` must have a row (``s2f conditions`` writes one per manifest
    clip, NaN where the audio could not be measured); the predictions' own columns win.
    """
    source = "(table)" if isinstance(conditions, pd.DataFrame) else str(conditions)
    if isinstance(conditions, pd.DataFrame):
        frame = conditions
    else:  # only the measures: not the table's window (start_s, end_s) or its keys
        from speech2face.audio.conditions import CONDITION_COLUMNS
        from speech2face.audio.conditions_table import read_conditions

        frame = read_conditions(conditions)[["clip_id", *CONDITION_COLUMNS]]
    if "clip_id" not in frame.columns:
        raise InputError(CONDITIONS_NO_CLIP_ID.format(source=source))
    clip_ids = frame["clip_id"].astype(str)
    duplicated = clip_ids.duplicated().to_numpy()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated)[0])
        raise InputError(
            CONDITIONS_DUPLICATE.format(source=source, row=row, clip=clip_ids.iloc[row])
        )
    indexed = frame.set_index(clip_ids)
    wanted = table["clip_id"].astype(str)
    missing = ~wanted.isin(indexed.index).to_numpy()
    if missing.any():
        row = int(np.flatnonzero(missing)[0])
        raise InputError(
            CONDITIONS_MISSING.format(
                count=int(missing.sum()), source=source, clip=wanted.iloc[row], row=row
            )
        )
    columns = [
        c
        for c in frame.columns
        if c not in table.columns and c != "clip_id" and pd.api.types.is_numeric_dtype(frame[c])
    ]
    joined = table.copy()
    for column in columns:
        joined[column] = indexed[column].reindex(wanted).to_numpy()
    return joined, {"source": source, "columns": columns}


def conditions_strata(table: pd.DataFrame, columns: Sequence[str], *, bins: int) -> Strata:
    """Crossed quantile bins of ``columns`` over the audited clips (non-finite: own bin)."""
    numeric = [c for c in table.columns if pd.api.types.is_numeric_dtype(table[c])]
    per_column, labels_of, edges_of = [], [], {}
    for column in columns:
        if column not in table.columns:
            raise InputError(NOT_A_COLUMN.format(column=column, known=", ".join(numeric)))
        if not pd.api.types.is_numeric_dtype(table[column]) or pd.api.types.is_bool_dtype(
            table[column]
        ):
            raise InputError(NOT_NUMERIC.format(column=column, dtype=table[column].dtype))
        values = table[column].to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        quantiles = np.linspace(0, 1, bins + 1)[1:-1]
        edges = np.unique(np.quantile(values[finite], quantiles)) if finite.any() else []
        edges = np.asarray(edges, dtype=np.float64)
        code = np.where(finite, np.searchsorted(edges, values, side="left"), len(edges) + 1)
        bounds = [-np.inf, *edges, np.inf]
        names = [f"{column} ({lo:g}, {hi:g}]" for lo, hi in itertools.pairwise(bounds)]
        per_column.append(code)
        labels_of.append([*names, f"{column} {MISSING_BIN}"])
        edges_of[column] = [float(e) for e in edges]
    sizes = [len(labels) for labels in labels_of]
    flat = np.ravel_multi_index(per_column, sizes) if per_column else np.zeros(len(table), int)
    observed, codes = np.unique(flat, return_inverse=True)
    labels = tuple(
        " & ".join(labels_of[i][j] for i, j in enumerate(np.unravel_index(int(f), sizes)))
        for f in observed
    )
    return Strata(tuple(columns), codes.astype(np.int64), labels, edges_of, bins)


def _standardised(
    group_v: np.ndarray,
    group_c: np.ndarray,
    ref_v: np.ndarray,
    ref_c: np.ndarray,
    weight: np.ndarray,
    support: np.ndarray,
) -> np.ndarray:
    """``Σ_s w_s (m_gs − m_rs) / Σ_s w_s`` over supported strata with clips in both."""
    valid = support & (group_c > 0) & (ref_c > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = group_v / group_c - ref_v / ref_c
        w = np.where(valid, weight, 0.0)
        total = w.sum(axis=-1)
        return np.where(total > 0, np.where(valid, w * diff, 0.0).sum(axis=-1) / total, np.nan)


def _permutation_floor(
    cells: MetricCells, overall: MetricCells, reference: int | str
) -> np.ndarray:
    """The raw difference's speaker-permutation standard error (the raw test's floor)."""
    n = cells.n_speakers_evaluated.astype(np.float64)
    if reference == OVERALL_REFERENCE:
        return permutation_se(
            cells.spec,
            cells.point_sums,
            n,
            overall.point_sums[0],
            overall.influence.u2[0],
            overall.n_speakers_evaluated[0],
            against_pool=True,
        )
    index = int(reference)
    sums, gram = cells.point_sums, cells.influence.gram
    pool = sums + sums[index]
    spread = pooled_spread(cells.spec, pool, gram + gram[index])
    return permutation_se(cells.spec, sums, n, pool, spread, n + n[index], against_pool=False)


def _reference_of(rows: pd.DataFrame, labels: Sequence[str]) -> int | str | None:
    """The slice's reference as the raw disparities used it: a group index or overall."""
    names = rows["reference"].dropna()
    if names.empty:
        return None
    name = str(names.iloc[0])
    return OVERALL_REFERENCE if name == OVERALL_REFERENCE else list(labels).index(name)


def adjusted_disparities(
    frame: pd.DataFrame,
    specs: Sequence[MetricSpec],
    aggregates: Aggregates,
    groups: pd.DataFrame,
    strata: Strata,
    config: AuditConfig,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """``groups`` with the adjusted columns set, and the record for ``audit.json``."""
    from audit._evaluate import correct  # the raw tests' correction, for the own family

    notes: list[str] = []
    groups = groups.copy()
    for column in ADJUSTED_COLUMNS:
        groups[column] = np.nan
    mean_specs = [s for s in specs if s.kind == MEAN]
    skipped = [s.name for s in specs if s.kind != MEAN]
    if config.reference == BEST:
        notes.append("no adjusted disparities against the best group (chosen from the data)")
        mean_specs = []
    speaker_codes, speakers = pd.factorize(frame["speaker_id"].astype(str), sort=True)
    components = {c: frame[c].to_numpy() for c in frame.columns}
    moments = (
        np.concatenate([metric_moments(s, components) for s in mean_specs], axis=1)
        if mean_specs
        else np.empty((len(frame), 0))
    )
    n_strata = strata.n_strata
    weight_sums = speaker_sums(
        speaker_codes, strata.codes, moments, n_groups=n_strata, n_speakers=len(speakers)
    )
    positions = _positions(groups)
    results: list[dict[str, Any]] = []
    for slice_ in aggregates.slices:
        if slice_.name == OVERALL:
            continue
        wanted = [s for s in mean_specs if (s.name, slice_.name) in aggregates.cells]
        wanted = [s for s in wanted if s.compared_on(slice_.columns)]
        if not wanted:
            continue
        chosen = [mean_specs.index(s) for s in wanted]
        columns = np.concatenate([[2 * j, 2 * j + 1] for j in chosen])
        cell_codes = slice_.codes * n_strata + strata.codes
        sums = speaker_sums(
            speaker_codes,
            cell_codes,
            moments[:, columns],
            n_groups=slice_.n_groups * n_strata,
            n_speakers=len(speakers),
        )
        shape = (slice_.n_groups, n_strata, len(columns))
        point = sums.point.reshape(shape)
        overall_point = weight_sums.point[:, columns]
        replicates = {s.name: np.empty((config.n_boot, slice_.n_groups)) for s in wanted}
        plan = []
        for k, spec in enumerate(wanted):
            rows = groups.iloc[positions[spec.name, slice_.name].to_numpy()]
            reference = _reference_of(rows, slice_.labels)
            gc = point[:, :, 2 * k + 1]
            if reference is None:
                plan.append(None)
                continue
            support = gc > 0
            if reference != OVERALL_REFERENCE:
                support = support & (gc[int(reference)] > 0)[None, :]
            plan.append((reference, support))
        for start in range(0, config.n_boot, REPLICATE_BLOCK):
            size = min(REPLICATE_BLOCK, config.n_boot - start)
            weights = speaker_weights(list(speakers), n_boot=size, seed=config.seed, first=start)
            block = sums.replicates(weights).reshape(size, *shape).astype(np.float64)
            whole = weight_sums.replicates(weights)[:, :, columns].astype(np.float64)
            for k, spec in enumerate(wanted):
                if plan[k] is None:
                    continue
                reference, support = plan[k]
                replicates[spec.name][start : start + size] = _difference(
                    block[..., 2 * k],
                    block[..., 2 * k + 1],
                    whole[..., 2 * k],
                    whole[..., 2 * k + 1],
                    reference,
                    support,
                )
        for k, spec in enumerate(wanted):
            if plan[k] is None:
                continue
            reference, support = plan[k]
            estimate = _difference(
                point[..., 2 * k],
                point[..., 2 * k + 1],
                overall_point[:, 2 * k],
                overall_point[:, 2 * k + 1],
                reference,
                support,
            )
            gc, weight = point[:, :, 2 * k + 1], overall_point[:, 2 * k + 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                outside_weight = 1 - np.where(support, weight, 0).sum(1) / weight.sum()
                outside_own = np.where(support, 0, gc).sum(1) / gc.sum(1)
            outside = np.fmax(outside_weight, outside_own)
            results.append(
                _one_cell(
                    spec,
                    slice_,
                    estimate,
                    replicates[spec.name],
                    outside,
                    reference,
                    aggregates,
                    groups,
                    positions,
                    config,
                )
            )
    tested = [r for r in results if r["tested"].any()]
    family = pd.DataFrame(
        {
            "metric": np.concatenate([np.full(r["tested"].sum(), r["metric"]) for r in tested])
            if tested
            else np.empty(0, dtype=object),
            "p_value": np.concatenate([r["p"][r["tested"]] for r in tested])
            if tested
            else np.empty(0),
        }
    )
    adjusted_p = correct(family, config) if len(family) else np.empty(0)
    offset = 0
    alpha = 1 - config.level
    for result in results:
        rows = result["rows"]
        p_adjusted = np.full(len(rows), np.nan)
        count = int(result["tested"].sum())
        p_adjusted[result["tested"]] = adjusted_p[offset : offset + count]
        offset += count
        groups.loc[rows, "adjusted_difference"] = result["estimate"]
        groups.loc[rows, "adjusted_ci_low"] = result["interval"][0]
        groups.loc[rows, "adjusted_ci_high"] = result["interval"][1]
        groups.loc[rows, "adjusted_p_adjusted"] = p_adjusted
        groups.loc[rows, "outside_support_share"] = result["outside"]
    groups = with_adjusted_flags(groups, alpha)
    for name in skipped:
        notes.append(f"{name} not adjusted for conditions: only mean metrics are")
    record = {
        "columns": list(strata.columns),
        "bins": strata.bins,
        "edges": strata.edges,
        "n_strata": n_strata,
        "strata": list(strata.labels),
        "method": METHOD,
        "standard_population": "overall, stratum shares computed within each replicate",
        "support_limit": config.support_limit,
        "metric_kinds_adjusted": [MEAN],
        "metrics_not_adjusted": skipped,
        "tests": {
            "n_tests": len(family),
            "correction": config.correction,
            "scope": config.family,
            "family": "adjusted tests only (apart from the raw tests)",
        },
        "explained": explained_rows(groups).to_dict(orient="records"),
        "inconclusive": inconclusive_rows(groups).to_dict(orient="records"),
        "caution": CAUTION,
        "notes": notes,
    }
    return groups, record


def _positions(groups: pd.DataFrame) -> dict[tuple[str, str], pd.Series]:
    """Row positions of each (metric, slice) of ``groups``, indexed by group label."""
    found = {}
    for key, index in groups.groupby(["metric", "slice"], sort=False).indices.items():
        found[key] = pd.Series(index, index=groups["group"].to_numpy()[index])
    return found


def _difference(group_v, group_c, whole_v, whole_c, reference, support):
    """Adjusted differences ``(..., n_groups)`` from (group × stratum) and stratum sums."""
    weight = whole_c[..., None, :]
    if reference == OVERALL_REFERENCE:
        ref_v, ref_c = whole_v[..., None, :], whole_c[..., None, :]
    else:
        ref_v, ref_c = group_v[..., [int(reference)], :], group_c[..., [int(reference)], :]
    return _standardised(group_v, group_c, ref_v, ref_c, weight, support)


def _one_cell(
    spec, slice_, estimate, replicates, outside, reference, aggregates, groups, positions, config
) -> dict[str, Any]:
    """Interval and raw p-value of one metric's adjusted differences in one slice."""
    cells = aggregates.cells[spec.name, slice_.name]
    overall = aggregates.cells[spec.name, OVERALL]
    rows = positions[spec.name, slice_.name].reindex(list(slice_.labels)).to_numpy()
    frame = groups.iloc[rows]
    n = cells.n_speakers_evaluated.astype(np.float64)
    n_df = n if reference == OVERALL_REFERENCE else np.minimum(n, n[int(reference)])
    shown = frame["status"].eq("ok").to_numpy() & frame["p_value"].notna().to_numpy()
    interval = bca_interval(replicates, estimate, np.zeros_like(estimate), n_df, level=config.level)
    interval = np.where(shown[None, :], interval, np.nan)
    se = np.fmax(bootstrap_se(replicates), _permutation_floor(cells, overall, reference))
    tested = shown & (outside <= config.support_limit) & np.isfinite(estimate) & np.isfinite(se)
    return {
        "metric": spec.name,
        "rows": groups.index[rows],
        "estimate": np.where(shown, estimate, np.nan),
        "interval": interval,
        "outside": np.where(frame["status"].ne("reference").to_numpy(), outside, np.nan),
        "p": np.where(tested, z_pvalue(estimate, se), np.nan),
        "tested": tested,
    }


def with_adjusted_flags(groups: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """``adjusted_flag``: adjusted p < alpha and the adjusted interval beyond the threshold
    (NA where no adjusted test was made)."""
    p = groups["adjusted_p_adjusted"]
    beyond = (groups["adjusted_ci_low"] >= groups["threshold"]) | (
        groups["adjusted_ci_high"] <= -groups["threshold"]
    )
    flag = pd.array((p < alpha) & beyond, dtype="boolean")
    flag[p.isna().to_numpy()] = pd.NA
    groups["adjusted_flag"] = flag
    return groups


EXPLAINED_SHRINK = 0.5
"""An explained disparity's adjusted estimate is at most this share of the raw one."""
EXPLAINED_COLUMNS = [
    "metric",
    "slice",
    "group",
    "reference",
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "adjusted_difference",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "outside_support_share",
]


def lost_significance(groups: pd.DataFrame) -> pd.Series:
    """Rows whose raw difference's interval excludes 0 while the adjusted one (tested:
    support within the limit) covers it."""
    raw_excludes = (groups["diff_ci_low"] > 0) | (groups["diff_ci_high"] < 0)
    covers = (groups["adjusted_ci_low"] <= 0) & (groups["adjusted_ci_high"] >= 0)
    return raw_excludes & covers & groups["adjusted_p_adjusted"].notna()


def explained(groups: pd.DataFrame) -> pd.Series:
    """Disparities 'explained by recording conditions': significance lost on adjustment
    *and* the estimate moved at least halfway to 0 (or past it). An interval that only
    widened to reach 0, the estimate where it was, is not an explanation."""
    shrunk = groups["adjusted_difference"] * np.sign(groups["difference"]) <= (
        EXPLAINED_SHRINK * groups["difference"].abs()
    )
    return lost_significance(groups) & shrunk


def explained_rows(groups: pd.DataFrame) -> pd.DataFrame:
    """The :func:`explained` rows, with their raw and adjusted differences."""
    return groups.loc[explained(groups), EXPLAINED_COLUMNS].reset_index(drop=True)


def inconclusive_rows(groups: pd.DataFrame) -> pd.DataFrame:
    """Rows whose significance was lost on adjustment with the estimate barely moved:
    less certain at equal conditions, not explained by them."""
    rows = lost_significance(groups) & ~explained(groups)
    return groups.loc[rows, EXPLAINED_COLUMNS].reset_index(drop=True)


def no_adjustment(groups: pd.DataFrame) -> pd.DataFrame:
    """``groups`` with the adjusted columns empty (no ``--adjust-for``)."""
    for column in ADJUSTED_COLUMNS:
        groups[column] = np.nan
    groups["adjusted_flag"] = pd.array([pd.NA] * len(groups), dtype="boolean")
    return groups
