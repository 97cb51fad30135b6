"""``run_audit``: every metric per group, with speaker-clustered intervals and corrected tests.

The engine computes per-clip components once (``_components``), groups clips into
slices (``_slices``), sums moments per group for the full sample and every replicate
of one speaker-keyed Poisson bootstrap (``_bootstrap``, ``_aggregate``), and turns the
sums into values, intervals, disparities and tests (``_disparities``, ``_intervals``).
"""

from __future__ import annotations

import hashlib
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from audit._aggregate import KEY_COLUMNS, SLICE_PREFIX, Aggregates, MetricCells, aggregate
from audit._components import compute_components, metric_catalogue, missing_requirements
from audit._disparities import (
    BEST,
    OVERALL_REFERENCE,
    Disparities,
    choose_best,
    no_disparities,
    slice_disparities,
    with_best_family,
)
from audit._fairness import confusion_tables, fairlearn_summaries
from audit._intervals import (
    CORRECTIONS,
    adjust_pvalues,
    fisher_z_interval,
    percentile_interval,
    wilson_interval,
)
from audit._metrics import MEAN, MetricSpec
from audit._retrieval_view import retrieval_evidence, retrieval_specs
from audit._slices import OVERALL, SEPARATOR, resolve_columns, slice_labels
from audit.result import (
    GROUP_COLUMNS,
    SCHEMA_VERSION,
    TEST_COLUMNS,
    AuditResult,
    with_stable_dtypes,
)
from audit.retrieval import DEFAULT_GALLERY_SIZE
from audit.retrieval import METRICS as DISTANCES
from speech2face.errors import InputError
from speech2face.predictions import Predictions, read_predictions
from speech2face.vocabulary import LABEL_SOURCES, UNKNOWN

UNKNOWN_METRIC = "unknown metric {metric!r}; known metrics: {known}"
METRIC_NEEDS_COLUMN = "metric {metric!r} needs column {column!r}, which the predictions lack"
EMPTY_REFERENCE = "reference group {group!r} of slice {slice!r} has no clips"
MISSING_SPEAKER = "row {row}: speaker_id is missing (clip_id {clip!r})"
BAD_OPTION = "{option} must be {expected}, got {value!r}"

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
STATUS_OK = "ok"
STATUS_REFERENCE = "reference"
STATUS_INSUFFICIENT = "insufficient"
STATUS_SINGLE_SPEAKER = "single_speaker"
STATUS_EMPTY = "empty"


@dataclass(frozen=True)
class AuditConfig:
    """What an audit computes; saved in ``audit.json`` so the audit can be repeated."""

    slices: list[str] | None = None
    intersections: int = 2
    metrics: list[str] | None = None
    n_boot: int = 1000
    seed: int = 0
    min_speakers: int = 30
    reference: str | dict[str, str] = BEST
    correction: str = "holm"
    threshold: float = 0.05
    age_threshold: float = 2.0
    level: float = 0.95
    exclude_invalid: bool = False
    gallery_size: int = DEFAULT_GALLERY_SIZE
    retrieval_distances: list[str] = field(default_factory=lambda: list(DISTANCES))
    matched_gallery: str | None = None

    def threshold_for(self, spec: MetricSpec) -> float:
        """The practical threshold of a metric: years for age errors, points otherwise."""
        return self.age_threshold if spec.unit == "years" else self.threshold


def run_audit(
    predictions: Predictions | str | os.PathLike,
    *,
    slices: Sequence[str] | None = None,
    intersections: int = 2,
    metrics: Sequence[str] | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    min_speakers: int = 30,
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
) -> AuditResult:
    """Audit a predictions artifact: metrics per group, intervals, disparities, flags.

    ``reference`` is ``"best"`` (the best group of each slice with enough speakers),
    ``"overall"``, or a mapping from slice column to group (``{"gender": "male"}``);
    slices whose columns are not all in the mapping use the best group. ``correction``
    is ``"holm"`` (family-wise) or ``"bh"`` (false discovery rate), applied across every
    test of the audit. A disparity is flagged when significant after correction and at
    least ``threshold`` (``age_threshold`` years for age errors) away from the reference.
    Retrieval ranks each predicted feature against a gallery of ``gallery_size`` true
    faces (one per speaker) with each of ``retrieval_distances``; ``matched_gallery``
    (a column such as ``"ethnicity"``) adds recall against galleries of the query's own group.
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
    )
    _check_config(config)
    loaded = predictions if isinstance(predictions, Predictions) else read_predictions(predictions)
    table = loaded.table.reset_index(drop=True)
    _check_speakers(table)
    specs, notes = select_metrics(table, loaded.features, config)
    slice_columns, slice_notes = resolve_columns(table, config.slices)
    frame, valid = component_frame(
        table, loaded.features, specs, slice_columns, exclude_invalid=exclude_invalid
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
        confusion_column=_confusion_column(slice_columns, matched_gallery),
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
    summary = _summary(
        loaded, table, config, specs, aggregates, groups, tests, [*notes, *slice_notes]
    )
    if fairlearn_views:
        summary["fairlearn"] = fairlearn_summaries(table, aggregates.slices)
    summary["notes"].extend(reference_notes)
    summary["retrieval"] = retrieval_summary
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
        ("level", 0 < config.level < 1, "between 0 and 1", config.level),
        ("threshold", config.threshold >= 0, "non-negative", config.threshold),
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
) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per clip: keys, slice labels and every component ``specs`` read; and the
    mask of clips whose features are valid."""
    components, valid = compute_components(
        table, features, list(specs), exclude_invalid=exclude_invalid
    )
    columns: dict[str, Any] = {key: table[key].to_numpy() for key in KEY_COLUMNS}
    columns["speaker_id"] = table["speaker_id"].astype(str).to_numpy()
    for column in slice_columns:
        columns[SLICE_PREFIX + column] = slice_labels(table, column).to_numpy(dtype=object)
    columns.update(components)
    return pd.DataFrame(columns), valid


def _reference_index(
    cells: MetricCells, config: AuditConfig, eligible: np.ndarray, notes: list[str]
) -> int | str | None:
    slice_ = cells.slice
    reference = config.reference
    if reference == OVERALL_REFERENCE:
        return OVERALL_REFERENCE
    if isinstance(reference, dict) and all(c in reference for c in slice_.columns):
        label = SEPARATOR.join(reference[c] for c in slice_.columns)
        if label in slice_.labels:
            return slice_.labels.index(label)
        if len(slice_.columns) == 1:
            raise InputError(EMPTY_REFERENCE.format(group=label, slice=slice_.name))
        notes.append(f"reference {label!r} of {slice_.name!r} is empty; the best group is used")
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
    found = slice_disparities(
        cells.value,
        cells.replicates,
        testable=testable,
        reference=reference,
        labels=cells.slice.labels,
        overall=(float(overall.value[0]), overall.replicates[:, 0]),
        level=config.level,
    )
    if not isinstance(reference, str) and not testable[reference]:
        notes.append(
            f"{cells.spec.name} in {cells.slice.name!r}: reference "
            f"{found.reference!r} has too few speakers; its differences are not tested"
        )
        found = no_disparities(cells.slice.n_groups)
        return found, None
    if config.reference == BEST or (
        isinstance(config.reference, dict)
        and not all(c in config.reference for c in cells.slice.columns)
    ):
        found = with_best_family(found, cells.value, cells.replicates, testable=testable)
    return found, reference


def _intervals(cells: MetricCells, n_clips, n_speakers, level: float) -> tuple[np.ndarray, list]:
    """Percentile intervals, replaced by Wilson / Fisher-z where each speaker has one clip."""
    interval = percentile_interval(cells.replicates, level=level)
    method = np.full(cells.slice.n_groups, "cluster_bootstrap", dtype=object)
    independent = (n_clips == n_speakers) & (n_speakers > 0)
    if cells.spec.kind == MEAN and cells.spec.binary:
        closed = wilson_interval(cells.point_sums[:, 0], cells.point_sums[:, 1], level=level)
        interval = np.where(independent, closed, interval)
        method[independent] = "wilson"
    elif cells.spec.kind != MEAN:
        closed = fisher_z_interval(cells.value, cells.n_evaluated, level=level)
        interval = np.where(independent, closed, interval)
        method[independent] = "fisher_z"
    interval = np.where(n_speakers >= 2, interval, np.nan)
    return interval, list(method)


def evaluate(
    aggregates: Aggregates, config: AuditConfig
) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """The long groups table and the tests table, with corrected p-values and flags."""
    notes: list[str] = []
    blocks, test_blocks = [], []
    for (metric, slice_name), cells in aggregates.cells.items():
        n_clips = aggregates.n_clips[slice_name]
        n_speakers = aggregates.n_speakers[slice_name]
        interval, method = _intervals(cells, n_clips, n_speakers, config.level)
        testable = (n_speakers >= config.min_speakers) & np.isfinite(cells.value)
        if slice_name == OVERALL:
            found, reference = no_disparities(1), None
        else:
            overall = aggregates.cells[metric, OVERALL]
            found, reference = _disparities(cells, overall, testable, config, notes)
        status = np.where(
            n_speakers < 2,
            STATUS_SINGLE_SPEAKER,
            np.where(n_speakers < config.min_speakers, STATUS_INSUFFICIENT, STATUS_OK),
        ).astype(object)
        if isinstance(reference, int | np.integer):
            status[reference] = STATUS_REFERENCE
        blocks.append(
            {
                "metric": metric,
                "slice": slice_name,
                "group": np.asarray(cells.slice.labels, dtype=object),
                "n_clips": n_clips,
                "n_speakers": n_speakers,
                "n_evaluated": cells.n_evaluated,
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
                "threshold": config.threshold_for(cells.spec),
                "higher_is_better": cells.spec.higher_is_better,
            }
        )
        if cells.slice.empty:
            blocks.append(_empty_block(metric, cells))
        test_blocks.append(_tests(metric, cells, found, reference))
    groups = _stack(blocks, [c for c in GROUP_COLUMNS if c not in ("p_adjusted", "flag")])
    tests = _stack(test_blocks, [c for c in TEST_COLUMNS if c not in ("p_adjusted", "significant")])
    tests["p_adjusted"] = adjust_pvalues(tests["p_value"].to_numpy(), method=config.correction)
    tests["significant"] = tests["p_adjusted"] < 1 - config.level
    groups = _attach_adjusted(groups, tests)
    groups["flag"] = (
        (groups["p_adjusted"] < 1 - config.level)
        & (groups["difference"].abs() >= groups["threshold"])
        & (groups["status"] == STATUS_OK)
    )
    return groups[list(GROUP_COLUMNS)], tests[list(TEST_COLUMNS)], list(dict.fromkeys(notes))


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


def _versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for package in ("speech2face-audit", "numpy", "scipy", "pandas", "fairlearn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "unknown"
    return versions


def table_hash(table: pd.DataFrame, columns: Sequence[str] | None = None) -> str:
    """SHA-256 of a table's content (row order included), for provenance."""
    subset = table if columns is None else table[list(columns)]
    hashed = pd.util.hash_pandas_object(subset, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes()).hexdigest()


def _label_caveats(table: pd.DataFrame) -> tuple[dict[str, dict[str, int]], list[str]]:
    provenance, caveats = {}, []
    for column in (c for c in table.columns if c.endswith("_source")):
        counts = table[column].astype(str).value_counts().to_dict()
        provenance[column[: -len("_source")]] = {str(k): int(v) for k, v in counts.items()}
        inferred = int(counts.get("inferred", 0))
        if inferred:
            caveats.append(
                f"{column[: -len('_source')]} labels of {inferred} clip(s) are inferred "
                "(by a classifier, not self-reported): group results inherit its errors"
            )
    unknown_sources = {
        s for counts in provenance.values() for s in counts if s not in (*LABEL_SOURCES, "nan")
    }
    if unknown_sources:
        caveats.append(f"unrecognised label sources: {sorted(unknown_sources)}")
    return provenance, caveats


def _summary(
    loaded: Predictions,
    table: pd.DataFrame,
    config: AuditConfig,
    specs: Sequence[MetricSpec],
    aggregates: Aggregates,
    groups: pd.DataFrame,
    tests: pd.DataFrame,
    notes: list[str],
) -> dict[str, Any]:
    overall = groups[groups["slice"] == OVERALL].set_index("metric")
    flags = groups[groups["flag"]]
    provenance, caveats = _label_caveats(table)
    config_dict = asdict(config)
    return {
        "schema_version": SCHEMA_VERSION,
        "kind": "audit",
        "model": {
            "model_id": loaded.meta.get("model_id", "unknown"),
            "config_hash": loaded.meta.get("config_hash", "unknown"),
        },
        "predictions": {
            "n_clips": len(table),
            "n_speakers": aggregates.n_speakers_total,
            "predictions_hash": table_hash(table),
            "clip_set_hash": table_hash(table, ["clip_id", "duration_s", "speaker_id"]),
        },
        "config": config_dict,
        "versions": _versions(),
        "bootstrap": {
            "method": "speaker-clustered Poisson bootstrap (weights keyed by speaker id)",
            "n_boot": config.n_boot,
            "seed": config.seed,
            "level": config.level,
        },
        "metrics": [
            {
                "name": spec.name,
                "family": spec.family,
                "kind": spec.kind,
                "components": list(spec.components),
                "unit": spec.unit,
                "binary": spec.binary,
                "higher_is_better": spec.higher_is_better,
                "threshold": config.threshold_for(spec),
            }
            for spec in specs
        ],
        "overall": {
            metric: {
                "value": _num(row["value"]),
                "ci_low": _num(row["ci_low"]),
                "ci_high": _num(row["ci_high"]),
                "n_clips": int(row["n_clips"]),
                "n_speakers": int(row["n_speakers"]),
            }
            for metric, row in overall.iterrows()
        },
        "slices": [
            {
                "name": slice_.name,
                "columns": list(slice_.columns),
                "groups": list(slice_.labels),
                "n_clips": aggregates.n_clips[slice_.name].tolist(),
                "n_speakers": aggregates.n_speakers[slice_.name].tolist(),
                "insufficient": [
                    label
                    for label, n in zip(
                        slice_.labels, aggregates.n_speakers[slice_.name], strict=True
                    )
                    if n < config.min_speakers
                ],
                "empty": list(slice_.empty),
            }
            for slice_ in aggregates.slices
        ],
        "tests": {
            "correction": config.correction,
            "n_tests": int(tests["p_value"].notna().sum()),
            "alpha": round(1 - config.level, 12),
            "family": "every test of the audit; a best-group reference adds every pair",
            "p_value": "two-sided normal test on the bootstrap standard error",
        },
        "flags": [
            {
                key: _num(row[key]) if isinstance(row[key], float) else row[key]
                for key in FLAG_FIELDS
            }
            for _, row in flags.iterrows()
        ],
        "fairlearn": {},
        "label_provenance": provenance,
        "caveats": caveats,
        "notes": list(notes),
    }


def _num(value: Any) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
