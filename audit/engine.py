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

from audit._aggregate import KEY_COLUMNS, aggregate
from audit._components import compute_components, metric_catalogue, missing_requirements
from audit._disparities import BEST, OVERALL_REFERENCE
from audit._evaluate import AuditConfig, evaluate
from audit._fairness import confusion_tables, fairlearn_summaries
from audit._intervals import CORRECTIONS, FAMILIES, FAMILY_ALL
from audit._manifest_join import join_manifest
from audit._metrics import DEFAULT_THRESHOLDS, THRESHOLD_KEYS, MetricSpec, check_threshold
from audit._retrieval_view import retrieval_evidence, retrieval_specs
from audit._selection import select_rows
from audit._slices import resolve_columns, slice_labels
from audit._summary import audit_summary
from audit.artifacts import SLICE_PREFIX
from audit.result import AuditResult
from audit.retrieval import DEFAULT_GALLERY_SIZE
from audit.retrieval import METRICS as DISTANCES
from speech2face.errors import InputError
from speech2face.predictions import Predictions, read_predictions
from speech2face.vocabulary import MIN_GROUP_SPEAKERS

UNKNOWN_METRIC = "unknown metric {metric!r}; known metrics: {known}"
METRIC_NEEDS_COLUMN = "metric {metric!r} needs column {column!r}, which the predictions lack"
MISSING_SPEAKER = "row {row}: speaker_id is missing (clip_id {clip!r})"
REFERENCE_NOT_SLICED = (
    "reference column {column!r} is not a sliced column of this audit; sliced: {known}"
)
BAD_OPTION = "{option} must be {expected}, got {value!r}"

__all__ = ["AuditConfig", "run_audit"]


def run_audit(
    predictions: Predictions | str | os.PathLike,
    *,
    slices: Sequence[str] | None = None,
    intersections: int = 2,
    metrics: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_speakers: int = MIN_GROUP_SPEAKERS,
    reference: str | Mapping[str, str] = BEST,
    correction: str = "holm",
    threshold: float = 0.05,
    age_threshold: float = 2.0,
    level: float = 0.95,
    exclude_invalid: bool = False,
    gallery_size: int = DEFAULT_GALLERY_SIZE,
    retrieval_distances: Sequence[str] = DISTANCES,
    matched_gallery: str | None = None,
    fairlearn_views: bool = True,
    progress: bool = False,
    duration: float | None = None,
    split: str | None = None,
    thresholds: Mapping[str, float | str] | None = None,
    family: str = FAMILY_ALL,
    manifest: str | os.PathLike | pd.DataFrame | None = None,
) -> AuditResult:
    """Audit a predictions artifact: metrics per group, intervals, disparities, flags.

    ``reference`` is ``"best"`` (the best group of each slice with enough speakers),
    ``"overall"``, or a mapping from slice column to group (``{"gender": "male"}``);
    slices whose columns are not all in the mapping use the best group. ``correction``
    is ``"holm"`` (family-wise) or ``"bh"`` (false discovery rate), applied across every
    test of the audit (``family="all"``) or within each metric (``family="metric"``).
    A disparity is flagged when significant after correction and at least its metric's
    practical threshold away from the reference: ``threshold`` for proportions,
    ``age_threshold`` years for age errors, the unit defaults of
    ``audit._metrics.DEFAULT_THRESHOLDS`` otherwise; ``thresholds`` overrides them by
    metric name, family or unit (a number, or ``"10%"`` of the metric's overall value).
    Retrieval ranks each predicted feature against a gallery of ``gallery_size`` true
    faces (one per speaker) with each of ``retrieval_distances``; ``matched_gallery``
    (a column such as ``"ethnicity"``) adds recall against galleries of the query's own group.
    An audit analyses one clip duration: ``duration`` seconds, by default the longest in
    the predictions (the paper's 6 s); rows of other durations are left out (compare two
    audits with :func:`audit.compare.compare_audits` for 3 s versus 6 s). ``split``
    (``test``, ``val``, ``train`` or ``all``) chooses the rows of a ``split`` column; by
    default only ``test`` rows are audited (and form the retrieval gallery).
    ``manifest`` (a manifest file or table) adds its scalar columns the predictions lack,
    matched on ``clip_id``, so that any of them can be a slice (``slices=["accent"]``).
    ``fairlearn_views=False`` leaves out fairlearn's clip-level summaries (slow on big tables);
    ``progress`` shows a progress bar on stderr.
    """
    config = AuditConfig(
        slices=None if slices is None else list(slices),
        intersections=intersections,
        metrics=None if metrics is None else list(metrics),
        n_boot=n_boot,
        seed=seed,
        min_speakers=min_speakers,
        reference=reference if isinstance(reference, str) else dict(reference),
        correction=correction,
        threshold=threshold,
        age_threshold=age_threshold,
        level=level,
        exclude_invalid=exclude_invalid,
        gallery_size=gallery_size,
        retrieval_distances=list(retrieval_distances),
        matched_gallery=matched_gallery,
        duration=None if duration is None else float(duration),
        split=split,
        family=family,
        manifest=None if manifest is None or isinstance(manifest, pd.DataFrame) else str(manifest),
        thresholds={key: check_threshold(key, value) for key, value in (thresholds or {}).items()},
    )
    _check_config(config)
    loaded = predictions if isinstance(predictions, Predictions) else read_predictions(predictions)
    table = loaded.table.reset_index(drop=True)
    _check_speakers(table)
    joined = None
    if manifest is not None:
        table, joined = join_manifest(table, manifest)
    selection = select_rows(table, duration=config.duration, split=config.split)
    feature_rows = None if selection.is_everything(len(table)) else selection.rows
    table = table.iloc[selection.rows].reset_index(drop=True)
    specs, notes = select_metrics(table, loaded.features, config)
    notes[:0] = selection.notes
    slice_columns, slice_notes = resolve_columns(table, config.slices)
    _check_reference_columns(config.reference, slice_columns)
    frame, valid = component_frame(
        table,
        loaded.features,
        specs,
        slice_columns,
        exclude_invalid=exclude_invalid,
        feature_rows=feature_rows,
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
        gallery_size=gallery_size,
        seed=seed,
        match_on=matched_gallery,
        confusion_column=_confusion_column(
            [c for c in slice_columns if c in table.columns], matched_gallery
        ),
        feature_rows=feature_rows,
        min_group_speakers=min_speakers,
    )
    for name, values in retrieval_components.items():
        frame[name] = values
    aggregates = aggregate(
        frame,
        specs,
        slice_columns=slice_columns,
        intersections=intersections,
        n_boot=n_boot,
        seed=seed,
        progress=progress,
    )
    groups, tests, reference_notes = evaluate(aggregates, config)
    summary = audit_summary(
        loaded, table, config, specs, aggregates, groups, tests, [*notes, *slice_notes]
    )
    if fairlearn_views:
        summary["fairlearn"] = fairlearn_summaries(table, aggregates.slices)
    summary["notes"].extend(reference_notes)
    summary["retrieval"] = retrieval_summary
    matched = retrieval_summary.get("matched", {})
    if matched.get("excluded_groups"):
        summary["notes"].append(
            f"matched-gallery recall leaves out {matched['match_on']} group(s) "
            f"{', '.join(matched['excluded_groups'])}: fewer speakers than the common "
            f"gallery size {matched['common_size']}"
        )
    summary["excluded_clips"] = table["clip_id"].astype(str)[~valid].tolist()
    if joined is not None:
        summary["manifest"] = joined
    summary["duration_s"] = selection.duration_s
    summary["split"] = selection.split
    summary["predictions"]["durations_s"] = selection.durations
    summary["predictions"]["n_rows"] = len(loaded.table)
    return AuditResult(
        summary=summary,
        groups=groups,
        tests=tests,
        confusion=confusion_tables(table, aggregates.slices),
        components=frame,
        retrieval_confusion=retrieval_confusion,
    )


def _confusion_column(slice_columns: Sequence[str], matched: str | None) -> str | None:
    """The column whose groups the cross-group retrieval confusion is shown for."""
    if matched is not None:
        return matched
    preferred = [c for c in ("ethnicity", "gender", "language") if c in slice_columns]
    return (preferred or list(slice_columns) or [None])[0]


def _check_config(config: AuditConfig) -> None:
    checks = [
        ("n_boot", config.n_boot >= 2, "an integer of at least 2", config.n_boot),
        ("intersections", config.intersections >= 1, "at least 1", config.intersections),
        ("min_speakers", config.min_speakers >= 2, "at least 2", config.min_speakers),
        ("correction", config.correction in CORRECTIONS, " or ".join(CORRECTIONS), None),
        ("family", config.family in FAMILIES, " or ".join(FAMILIES), config.family),
        ("level", 0 < config.level < 1, "between 0 and 1", config.level),
        ("threshold", config.threshold >= 0, "non-negative", config.threshold),
        ("age_threshold", config.age_threshold >= 0, "non-negative", config.age_threshold),
        ("gallery_size", config.gallery_size >= 2, "at least 2", config.gallery_size),
    ]
    for option, ok, expected, value in checks:
        if not ok:
            shown = config.correction if option == "correction" else value
            raise InputError(BAD_OPTION.format(option=option, expected=expected, value=shown))
    if isinstance(config.reference, str) and config.reference not in (BEST, OVERALL_REFERENCE):
        raise InputError(
            BAD_OPTION.format(
                option="reference",
                expected="'best', 'overall' or column=group pairs",
                value=config.reference,
            )
        )


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
    table: pd.DataFrame, features: Mapping[str, np.ndarray], config: AuditConfig
) -> tuple[list[MetricSpec], list[str]]:
    """The metrics to compute and notes on those skipped for lack of columns.

    A requested metric whose column is missing is an error naming both; an unrequested
    one is skipped with a note.
    """
    columns = set(table.columns)
    catalogue = {spec.name: spec for spec in metric_catalogue(columns)}
    matched = config.matched_gallery is not None
    for spec in retrieval_specs(config.retrieval_distances, matched=matched):
        catalogue[spec.name] = spec
    if matched and config.matched_gallery not in columns:
        raise InputError(
            METRIC_NEEDS_COLUMN.format(
                metric="matched-gallery recall", column=config.matched_gallery
            )
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
    return chosen, notes


def component_frame(
    table: pd.DataFrame,
    features: Mapping[str, np.ndarray],
    specs: Sequence[MetricSpec],
    slice_columns: Sequence[str],
    *,
    exclude_invalid: bool,
    feature_rows: np.ndarray | None = None,
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per clip: keys, slice labels and every component ``specs`` read; and the
    mask of clips whose features are valid (``feature_rows`` as in ``compute_components``)."""
    components, valid = compute_components(
        table, features, list(specs), exclude_invalid=exclude_invalid, feature_rows=feature_rows
    )
    columns: dict[str, Any] = {key: table[key].to_numpy() for key in KEY_COLUMNS}
    columns["speaker_id"] = table["speaker_id"].astype(str).to_numpy()
    for column in slice_columns:
        columns[SLICE_PREFIX + column] = slice_labels(table, column).to_numpy(dtype=object)
    columns.update(components)
    return pd.DataFrame(columns), valid
