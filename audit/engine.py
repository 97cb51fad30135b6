"""``run_audit``: every metric per group, with speaker-clustered intervals and corrected tests.

The engine computes per-clip components once (``_components``), groups clips into
slices (``_slices``), sums moments per group for the full sample and every replicate
of one speaker-keyed Poisson bootstrap (``_bootstrap``, ``_aggregate``), and turns the
sums into values, intervals, disparities and tests (``_evaluate``); ``_summary`` writes
what was audited into ``audit.json``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit._adjustment import (
    adjusted_disparities,
    conditions_strata,
    join_conditions,
    no_adjustment,
)
from audit._aggregate import KEY_COLUMNS, aggregate
from audit._circular import circular_metrics
from audit._components import (
    Labels,
    compute_components,
    metric_catalogue,
    missing_requirements,
)
from audit._evaluate import evaluate
from audit._fairness import confusion_tables, fairlearn_summaries
from audit._manifest_join import join_manifest
from audit._metrics import DEFAULT_THRESHOLDS, THRESHOLD_KEYS, MetricSpec
from audit._retrieval_view import matched_columns, retrieval_evidence, retrieval_specs
from audit._selection import select_rows
from audit._slices import resolve_columns, slice_labels
from audit._summary import audit_summary
from audit.artifacts import SLICE_PREFIX
from audit.config import AuditConfig
from audit.result import AuditResult
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, read_predictions

NO_METRIC = (
    "no metric can be computed from these predictions (columns: {columns}); "
    "see docs/predict.md for the columns each metric needs"
)
UNKNOWN_METRIC = "unknown metric {metric!r}; known metrics: {known}"
METRIC_NEEDS_COLUMN = "metric {metric!r} needs column {column!r}, which the predictions lack"
MISSING_SPEAKER = "row {row}: speaker_id is missing (clip_id {clip!r})"
REFERENCE_NOT_SLICED = (
    "reference column {column!r} is not a sliced column of this audit; sliced: {known}"
)

__all__ = ["AuditConfig", "run_audit"]


def run_audit(
    predictions: Predictions | str | os.PathLike,
    config: AuditConfig | None = None,
    *,
    manifest: str | os.PathLike | pd.DataFrame | None = None,
    fairlearn_views: bool = True,
    progress: bool = False,
    **options: Any,
) -> AuditResult:
    """Audit a predictions artifact: metrics per group, intervals, disparities, flags.

    What is computed is an :class:`~audit.config.AuditConfig`: pass one as ``config``, or
    its fields as keywords (``run_audit(pred, n_boot=200, seed=1)``), which override
    ``config``'s; the fields' help says what each does. ``reference`` is ``"overall"``
    (default: each group against the whole population), a mapping from slice column to
    group (``{"gender": "male"}``; slices whose columns are not all in the mapping use
    overall), or ``"best"`` (the best group of each slice, chosen from the data:
    simultaneous intervals and every pair tested). A disparity is flagged when significant
    after correction and its interval lies wholly beyond its metric's practical threshold;
    a significant one whose interval does not is ``significant_small``.
    An audit analyses one clip duration (``duration``, by default the longest in the
    predictions) and, where there is a ``split`` column, the ``test`` rows.
    ``manifest`` (a manifest file or table; a file is ``config.manifest``) adds its
    scalar columns the predictions lack, matched on ``clip_id``, so that any of them can
    be a slice (``slices=["accent"]``). ``fairlearn_views=False`` leaves out fairlearn's
    clip-level summaries (slow on big tables); ``progress`` shows a progress bar on stderr.
    """
    if manifest is not None:  # a table is joined but not recorded
        options["manifest"] = None if isinstance(manifest, pd.DataFrame) else manifest
    config = AuditConfig.from_options(config, **options)
    if manifest is None and config.manifest is not None:
        manifest = config.manifest
    loaded = predictions if isinstance(predictions, Predictions) else read_predictions(predictions)
    table = loaded.table.reset_index(drop=True)
    _check_speakers(table)
    joined = None
    if manifest is not None:
        table, joined = join_manifest(table, manifest)
    conditions_joined = None
    if config.conditions is not None:
        table, conditions_joined = join_conditions(table, config.conditions)
    selection = select_rows(
        table,
        duration=config.duration,
        split=config.split,
        include_training_speakers=config.include_training_speakers,
    )
    feature_rows = None if selection.is_everything(len(table)) else selection.rows
    table = table.iloc[selection.rows].reset_index(drop=True)
    slice_columns, slice_notes = resolve_columns(table, config.slices)
    matched, matched_notes = matched_columns(table, config.matched_gallery, slice_columns)
    specs, notes = select_metrics(table, loaded.features, config, matched=matched)
    notes[:0] = [*selection.notes, *matched_notes]
    _check_reference_columns(config.reference, slice_columns)
    labels = Labels(table)  # label columns converted once for components, confusion, views
    frame, valid = component_frame(
        table,
        loaded.features,
        specs,
        slice_columns,
        exclude_invalid=config.exclude_invalid,
        feature_rows=feature_rows,
        labels=labels,
    )
    if not valid.all():
        notes.append(
            f"{int((~valid).sum())} clip(s) with non-finite features left out of feature "
            "and retrieval metrics"
        )
    retrieval_components, retrieval_summary, retrieval_confusion = retrieval_evidence(
        table,
        loaded.features,
        specs,
        valid=valid,
        gallery_size=config.gallery_size,
        seed=config.seed,
        confusion_column=_confusion_column([c for c in slice_columns if c in table.columns]),
        feature_rows=feature_rows,
        min_group_speakers=config.min_speakers,
    )
    degenerate = retrieval_summary.get("not_computed", {})
    specs = [spec for spec in specs if spec.name not in degenerate]
    notes.extend(degenerate.values())
    if not specs:
        raise InputError(NO_METRIC.format(columns=", ".join(map(str, table.columns))))
    for name, values in retrieval_components.items():
        if name not in degenerate:
            frame[name] = values
    aggregates = aggregate(
        frame,
        specs,
        slice_columns=slice_columns,
        intersections=config.intersections,
        n_boot=config.n_boot,
        seed=config.seed,
        progress=progress,
    )
    circular = circular_metrics(table, specs)
    groups, tests, reference_notes = evaluate(aggregates, config, untested=circular)
    adjustment = None
    if config.adjust_for:
        strata = conditions_strata(table, config.adjust_for, bins=config.adjust_bins)
        groups, adjustment = adjusted_disparities(frame, specs, aggregates, groups, strata, config)
    else:
        groups = no_adjustment(groups)
    summary = audit_summary(
        loaded, table, config, specs, aggregates, groups, tests, [*notes, *slice_notes]
    )
    summary["circular"] = circular
    summary["caveats"].extend(circular.values())
    for spec in summary["metrics"]:
        spec["circular"] = spec["name"] in circular
    if fairlearn_views:
        summary["fairlearn"] = fairlearn_summaries(table, aggregates.slices, labels=labels)
    summary["notes"].extend(reference_notes)
    summary["retrieval"] = retrieval_summary
    for column, matched_summary in retrieval_summary.get("matched", {}).items():
        if matched_summary.get("excluded_groups"):
            summary["notes"].append(
                f"matched-gallery recall leaves out {column} group(s) "
                f"{', '.join(matched_summary['excluded_groups'])}: fewer speakers than the "
                f"common gallery size {matched_summary['common_size']}"
            )
    summary["excluded_clips"] = table["clip_id"].astype(str)[~valid].tolist()
    if joined is not None:
        summary["manifest"] = joined
    if adjustment is not None:
        adjustment["conditions"] = conditions_joined
        summary["adjustment"] = adjustment
    summary["duration_s"] = selection.duration_s
    summary["split"] = selection.split
    summary["training_speakers"] = selection.training_speakers
    summary["face_domain"] = loaded.meta.get("face_domain")
    summary["reconstructions"] = loaded.meta.get("reconstructions", "unknown")
    summary["caveats"][:0] = [
        warning.removeprefix("warning: ")
        for warning in (summary["face_domain"] or {}).get("warnings", [])
    ]
    if selection.training_speakers.get("banner"):
        summary["caveats"].insert(0, selection.training_speakers["banner"])
    summary["predictions"]["durations_s"] = selection.durations
    summary["predictions"]["n_rows"] = len(loaded.table)
    return AuditResult(
        summary=summary,
        groups=groups,
        tests=tests,
        confusion=confusion_tables(table, aggregates.slices, notes=summary["notes"], labels=labels),
        components=frame,
        retrieval_confusion=retrieval_confusion,
    )


def _confusion_column(slice_columns: Sequence[str]) -> str | None:
    """The column whose groups the cross-group retrieval confusion is shown for."""
    preferred = [c for c in ("ethnicity", "gender", "language") if c in slice_columns]
    return (preferred or list(slice_columns) or [None])[0]


def _check_reference_columns(reference: str | dict[str, str], slice_columns: Sequence[str]) -> None:
    """A named reference group must name columns that the audit slices on."""
    for column in reference if isinstance(reference, dict) else ():
        if column not in slice_columns:
            known = ", ".join(slice_columns)
            raise InputError(REFERENCE_NOT_SLICED.format(column=column, known=known))


def _check_speakers(table: pd.DataFrame) -> None:
    missing = table["speaker_id"].isna() | (table["speaker_id"].astype(str) == "")
    if missing.any():
        row = int(np.flatnonzero(missing.to_numpy())[0])
        raise InputError(MISSING_SPEAKER.format(row=row, clip=table["clip_id"].iloc[row]))


def select_metrics(
    table: pd.DataFrame,
    features: Mapping[str, np.ndarray],
    config: AuditConfig,
    *,
    matched: Sequence[str] = (),
) -> tuple[list[MetricSpec], list[str]]:
    """The metrics to compute and notes on those skipped for lack of columns.

    ``matched``: the columns recall@k is also computed on matched galleries of. A
    requested metric whose column is missing is an error naming both; an unrequested
    one is skipped with a note.
    """
    columns = set(table.columns)
    catalogue = {spec.name: spec for spec in metric_catalogue(columns)}
    for spec in retrieval_specs(config.retrieval_distances, matched=matched):
        catalogue[spec.name] = spec
    for column in matched:
        if column not in columns and not (column == "age_group" and "age" in columns):
            raise InputError(
                METRIC_NEEDS_COLUMN.format(metric="matched-gallery recall", column=column)
            )
    known = {*catalogue, *(s.family for s in catalogue.values()), *DEFAULT_THRESHOLDS}
    for key in config.thresholds:
        if key not in known:
            raise InputError(
                f"threshold for {key!r}: not "
                + THRESHOLD_KEYS.format(units=", ".join(DEFAULT_THRESHOLDS))
            )
    requested = config.metrics
    notes: list[str] = []
    if requested is not None:
        for name in requested:
            if name not in catalogue:
                raise InputError(UNKNOWN_METRIC.format(metric=name, known=", ".join(catalogue)))
            missing = missing_requirements(catalogue[name], columns, features)
            if missing:
                raise InputError(METRIC_NEEDS_COLUMN.format(metric=name, column=missing[0]))
        return [catalogue[name] for name in dict.fromkeys(requested)], notes
    chosen = []
    for spec in catalogue.values():
        missing = missing_requirements(spec, columns, features)
        if missing:
            notes.append(f"metric {spec.name} skipped: needs {', '.join(missing)}")
        else:
            chosen.append(spec)
    if not chosen:
        raise InputError(NO_METRIC.format(columns=", ".join(map(str, table.columns))))
    return chosen, notes


def component_frame(
    table: pd.DataFrame,
    features: Mapping[str, np.ndarray],
    specs: Sequence[MetricSpec],
    slice_columns: Sequence[str],
    *,
    exclude_invalid: bool,
    feature_rows: np.ndarray | None = None,
    labels: Labels | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per clip: keys, slice labels and every component ``specs`` read; and the
    mask of clips whose features are valid (``feature_rows`` as in ``compute_components``)."""
    components, valid = compute_components(
        table,
        features,
        list(specs),
        exclude_invalid=exclude_invalid,
        feature_rows=feature_rows,
        labels=labels,
    )
    columns: dict[str, Any] = {key: _as_built(table[key]) for key in KEY_COLUMNS}
    columns["speaker_id"] = _as_built(table["speaker_id"].astype(str))
    for column in slice_columns:
        columns[SLICE_PREFIX + column] = _as_built(slice_labels(table, column))
    columns.update(components)
    return pd.DataFrame(columns), valid


_STR = pd.StringDtype(na_value=np.nan)


def _as_built(series: pd.Series) -> Any:
    """A column of the component frame as it was built from a numpy array (whose text
    the frame stores as ``str``): a ``str`` column's own array, without the round trip
    through Python objects; any other column's numpy values."""
    return series.array if series.dtype == _STR else series.to_numpy()
