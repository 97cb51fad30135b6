"""Compare audits of two or more models on the same clips, paired.

Each audit saves its per-clip components, so a comparison re-aggregates every model on
the same clips with one speaker-keyed bootstrap: replicate ``b`` gives each speaker the
same weight for every model, and each model-minus-baseline difference is computed inside
the replicate (a paired bootstrap). For every later model against the first (the
baseline) it reports, per metric, slice and group:

- the change of the metric (``delta``), its interval and p-value; a *regression* is the
  model's own value getting worse: significant after correction, with the interval of
  the change beyond the practical threshold (as an audit's flag); another group's
  collapse never makes one;
- the change of the group's gap to a reference fixed by the baseline audit (the group it
  named, else the whole population; never a group chosen by looking at the outcomes,
  whose chance lead would shrink in the next model: regression to the mean), signed:
  ``gap_change_toward_parity`` = |baseline gap| − |gap|, computed in each replicate, so
  positive is a gap that narrowed; ``gap_narrowed`` / ``gap_widened`` mark those
  significant with the interval beyond the threshold.

All tests of the comparison form one family (Holm by default, or the baseline audit's
correction, or the one asked for).
"""

from __future__ import annotations

import dataclasses
import html
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd

from audit._aggregate import KEY_COLUMNS, Aggregates, aggregate
from audit._evaluate import adjust_family, evaluate
from audit._intervals import bootstrap_z_pvalue, percentile_interval
from audit._metrics import MetricSpec
from audit._slices import OVERALL
from audit.artifacts import (
    CHANGES_FILE,
    COMPARISON_FILE,
    COMPARISON_SCHEMA_VERSION,
    COMPARISON_SCHEMA_VERSIONS,
    SLICE_PREFIX,
)
from audit.config import (
    ALIGNMENTS,
    BEST,
    FAMILY_ALL,
    INTERSECTION,
    OVERALL_REFERENCE,
    STRICT,
    AuditConfig,
    CompareConfig,
)
from audit.result import AuditResult, Render, read_summary, save_folder, with_stable_dtypes
from speech2face.artifacts import read_table
from speech2face.errors import InputError

TOO_FEW_AUDITS = "a comparison needs at least two audits, got {count}"
DIFFERENT_CLIPS = (
    "audit {index} ({model}) covers different clips than the baseline: {only_here} clip(s) "
    "only there, {only_baseline} only in the baseline; pass align='intersection' "
    "(--align intersection) to compare on the clips they share"
)
NO_SHARED_CLIPS = "the audits share no clip; nothing to compare"
LABEL_MISMATCH = (
    "{unit} {clip!r}: audit {index} puts it in {column}={value!r}, the baseline in {baseline!r}"
)
NO_SHARED_METRICS = "the audits share no metric; nothing to compare"
NOT_A_COMPARISON = "{path}: not a comparison result (no {file})"
TOWARD = "gap_change_toward_parity"
"""|baseline gap| − |gap| to the baseline's fixed reference: positive is toward parity."""

__all__ = ["ALIGNMENTS", "INTERSECTION", "STRICT", "ComparisonResult", "compare_audits"]


@dataclass
class ComparisonResult:
    """A paired comparison: its summary (``comparison.json``) and its long table."""

    summary: dict[str, Any]
    changes: pd.DataFrame

    KIND: ClassVar[str] = "comparison"
    SCHEMA_VERSIONS: ClassVar[tuple[int, ...]] = COMPARISON_SCHEMA_VERSIONS

    def save(self, path: str | os.PathLike, *, render: Render | None = None) -> Path:
        """Write the comparison folder, and ``render``'s report into it, replacing it whole."""
        tables = {CHANGES_FILE: self.changes}
        return save_folder(
            path,
            self.summary,
            tables,
            summary_file=COMPARISON_FILE,
            kind=self.KIND,
            render=render,
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> Self:
        path = Path(path)
        for file in (COMPARISON_FILE, CHANGES_FILE):
            if not (path / file).exists():
                raise InputError(NOT_A_COMPARISON.format(path=path, file=file))
        summary = read_summary(path / COMPARISON_FILE, cls.SCHEMA_VERSIONS)
        if summary.get("kind", cls.KIND) != cls.KIND:
            raise InputError(f"{path}: a {summary.get('kind')} artifact, not a {cls.KIND}")
        return cls(summary=summary, changes=read_table(path / CHANGES_FILE))

    def metric_specs(self) -> list[MetricSpec]:
        """The compared metrics' definitions, as saved in ``comparison.json``."""
        return [MetricSpec.from_dict(m) for m in self.summary["metrics"]]

    def spec(self, metric: str) -> dict[str, Any]:
        """One metric's saved spec: unit, direction, family, headline, …"""
        return next(m for m in self.summary["metrics"] if m["name"] == metric)

    def regressions(self) -> pd.DataFrame:
        """Cells where a model's own value got significantly worse, beyond the threshold."""
        rows = self.changes[self.changes["regression"]]
        return rows.reset_index(drop=True)

    @property
    def has_regression(self) -> bool:
        return bool(len(self.regressions()))

    def _repr_html_(self) -> str:
        models = " vs ".join(html.escape(str(m["model_id"])) for m in self.summary["models"])
        tests = self.summary["tests"]
        head = (
            f"<h4>Comparison: {models}</h4><p>{self.summary['n_clips']} shared clips; "
            f"{tests['n_tests']} paired tests, {tests['correction']} correction; "
            f"{len(self.regressions())} regression(s)</p>"
        )
        return head + self.regressions().head(20).to_html(float_format=lambda v: f"{v:.3f}")


def compare_audits(
    audits: Sequence[AuditResult | str | os.PathLike],
    config: CompareConfig | None = None,
    **options: Any,
) -> ComparisonResult:
    """Paired comparison of every audit against the first (the baseline).

    ``config`` (:class:`~audit.config.CompareConfig`) or its fields as keywords (which
    override ``config``'s): ``align="strict"`` refuses audits of different clip sets;
    ``"intersection"`` compares on the clips all audits share. ``correction`` and
    ``threshold`` default to the baseline audit's.
    """
    settings = CompareConfig.from_options(config, **options)
    if len(audits) < 2:
        raise InputError(TOO_FEW_AUDITS.format(count=len(audits)))
    results = [a if isinstance(a, AuditResult) else AuditResult.load(a) for a in audits]
    baseline_config = dict(results[0].summary["config"])
    for name in ("correction", "threshold"):
        if getattr(settings, name) is not None:
            baseline_config[name] = getattr(settings, name)
    audit_config = AuditConfig(**baseline_config)
    align = settings.align
    frames, notes = _aligned_frames(results, align=align)
    durations = [r.duration_s for r in results]
    if len(set(durations)) > 1:
        shown = " vs ".join(f"{d:g} s" if d is not None else "mixed" for d in durations)
        notes.append(f"durations differ ({shown}): each change is the effect of the duration")
    metrics = [m for m in results[0].metrics if all(m in r.metrics for r in results[1:])]
    if not metrics:
        raise InputError(NO_SHARED_METRICS)
    dropped = sorted({m for r in results for m in r.metrics} - set(metrics))
    if dropped:
        notes.append(f"metrics not in every audit, left out: {', '.join(dropped)}")
    specs = [spec for spec in results[0].metric_specs() if spec.name in metrics]
    slice_columns = [
        c[len(SLICE_PREFIX) :] for c in frames[0].columns if c.startswith(SLICE_PREFIX)
    ]
    aggregates = [
        aggregate(
            frame,
            specs,
            slice_columns=slice_columns,
            intersections=audit_config.intersections,
            n_boot=audit_config.n_boot,
            seed=audit_config.seed,
        )
        for frame in frames
    ]
    gap_reference = fixed_reference(audit_config.reference)
    if gap_reference != audit_config.reference:
        notes.append(
            "the baseline audit's reference is the best group, chosen from its own data; "
            "gaps are measured against overall instead (a chance leader regresses to the mean)"
        )
    gap_config = dataclasses.replace(audit_config, reference=gap_reference)
    baseline_groups, _, _ = evaluate(aggregates[0], gap_config)
    changes = pd.concat(
        [
            _changes(aggregates[0], aggregates[i], baseline_groups, audit_config, model=i)
            for i in range(1, len(aggregates))
        ],
        ignore_index=True,
    )
    changes = with_stable_dtypes(_correct(changes, audit_config))
    summary = {
        "schema_version": COMPARISON_SCHEMA_VERSION,
        "kind": "comparison",
        "baseline": 0,
        "models": [
            {
                "model_id": r.summary["model"]["model_id"],
                "predictions_hash": r.summary["predictions"]["predictions_hash"],
                "clip_set_hash": r.summary["predictions"]["clip_set_hash"],
                "n_clips": r.summary["predictions"]["n_clips"],
                "duration_s": r.duration_s,
            }
            for r in results
        ],
        "align": align,
        "label_provenance": results[0].summary.get("label_provenance", {}),
        "n_clips": len(frames[0]),
        "n_speakers": aggregates[0].n_speakers_total,
        "metrics": [spec.to_dict() for spec in specs],
        "config": baseline_config,
        "bootstrap": {
            "method": "paired speaker-clustered Poisson bootstrap (weights keyed by speaker id)",
            "n_boot": audit_config.n_boot,
            "seed": audit_config.seed,
        },
        "tests": {
            "correction": audit_config.correction,
            "n_tests": int(changes["p_value"].notna().sum() + changes["gap_p_value"].notna().sum()),
            "alpha": round(1 - audit_config.level, 12),
            "scope": audit_config.family,
            "family": "every metric change and every gap change of every model"
            + (", per metric" if audit_config.family == "metric" else ""),
        },
        "gap_reference": gap_reference,
        "regressions": _records(changes[changes["regression"]]),
        "notes": notes,
    }
    return ComparisonResult(summary=summary, changes=changes)


def _aligned_frames(
    results: Sequence[AuditResult], *, align: str
) -> tuple[list[pd.DataFrame], list[str]]:
    """Each audit's component frame on the same clips in the same order.

    Clips are matched on ``clip_id`` (an audit holds one duration per clip), so audits of
    the same clips at two durations (3 s and 6 s) pair up; audits made before one audit
    held one duration pair on (``clip_id``, ``duration_s``).
    """
    one_duration = all(r.components["clip_id"].is_unique for r in results)
    keys = ["clip_id"] if one_duration else list(KEY_COLUMNS[:2])
    frames, notes = align_frames(
        [r.components for r in results],
        keys,
        align=align,
        models=[r.summary["model"]["model_id"] for r in results],
    )
    baseline = frames[0]
    labels = ["speaker_id", *(c for c in baseline.columns if c.startswith(SLICE_PREFIX))]
    for index, frame in enumerate(frames[1:], start=1):
        for column in labels:
            if column not in frame.columns:
                raise InputError(
                    f"audit {index} was not sliced by {column[len(SLICE_PREFIX) :]!r}; "
                    "audit every model with the same slices"
                )
    check_labels(frames, labels, key="clip_id", unit="clip")
    return frames, notes


def align_frames(
    frames: Sequence[pd.DataFrame],
    keys: list[str],
    *,
    align: str,
    models: Sequence[object],
    unit: str = "clip",
) -> tuple[list[pd.DataFrame], list[str]]:
    """``frames`` on the rows (matched on ``keys``) they all share, in the baseline's order.

    ``strict`` refuses frames whose rows differ; ``intersection`` keeps the shared rows
    and says so in a note. ``unit`` names a row in messages (clip, trial).
    """
    indexed = [frame.set_index(keys) for frame in frames]
    base = indexed[0].index
    shared = base
    notes: list[str] = []
    for i, frame in enumerate(indexed[1:], start=1):
        only_here = frame.index.difference(base)
        only_base = base.difference(frame.index)
        if align == STRICT and (len(only_here) or len(only_base)):
            raise InputError(
                DIFFERENT_CLIPS.format(
                    index=i, model=models[i], only_here=len(only_here), only_baseline=len(only_base)
                ).replace("clip", unit)
            )
        shared = shared.intersection(frame.index, sort=False)
    if len(shared) == 0:
        raise InputError(NO_SHARED_CLIPS.replace("clip", unit))
    if len(shared) < len(base) or any(len(f) > len(shared) for f in indexed):
        notes.append(
            f"compared on the {len(shared)} {unit}s all audits share "
            f"(audits hold {', '.join(str(len(f)) for f in indexed)})"
        )
    return [frame.loc[shared].reset_index() for frame in indexed], notes


def check_labels(
    frames: Sequence[pd.DataFrame], columns: Sequence[str], *, key: str, unit: str
) -> None:
    """Refuse a row that the baseline (``frames[0]``) and a later frame label differently."""
    baseline = frames[0]
    for index, frame in enumerate(frames[1:], start=1):
        for column in columns:
            differ = (frame[column].astype(str) != baseline[column].astype(str)).to_numpy()
            if differ.any():
                row = int(np.flatnonzero(differ)[0])
                raise InputError(
                    LABEL_MISMATCH.format(
                        unit=unit,
                        clip=baseline[key].iloc[row],
                        index=index,
                        column=column.removeprefix(SLICE_PREFIX),
                        value=frame[column].iloc[row],
                        baseline=baseline[column].iloc[row],
                    )
                )


def fixed_reference(reference: str | dict[str, str]) -> str | dict[str, str]:
    """A reference fixed before outcomes are seen: the one given, ``overall`` for ``best``."""
    return OVERALL_REFERENCE if reference == BEST else reference


def _gap(aggregates: Aggregates, metric: str, slice_name: str, reference: str | None):
    """A slice's gaps to the reference: (point (G,), replicates (B, G)), NaN if none."""
    cells = aggregates.cells[metric, slice_name]
    if reference is None or (
        reference != OVERALL_REFERENCE and reference not in cells.slice.labels
    ):
        nan = np.full_like(cells.value, np.nan)
        return nan, np.full_like(cells.replicates, np.nan)
    if reference == OVERALL_REFERENCE:
        ref = aggregates.cells[metric, OVERALL]
        return cells.value - ref.value[0], cells.replicates - ref.replicates[:, :1]
    index = cells.slice.labels.index(reference)
    return cells.value - cells.value[index], cells.replicates - cells.replicates[:, [index]]


def _changes(
    baseline: Aggregates,
    other: Aggregates,
    baseline_groups: pd.DataFrame,
    config: AuditConfig,
    *,
    model: int,
) -> pd.DataFrame:
    """Paired metric and gap changes of one model against the baseline, every cell."""
    references = (
        baseline_groups.dropna(subset=["reference"])
        .groupby(["metric", "slice"], sort=False)["reference"]
        .first()
    )
    blocks = []
    for (metric, slice_name), cells in baseline.cells.items():
        mine = other.cells[metric, slice_name]
        n_speakers = baseline.n_speakers[slice_name]
        evaluated = np.minimum(cells.n_speakers_evaluated, mine.n_speakers_evaluated)
        testable = evaluated >= config.min_speakers
        delta = mine.value - cells.value
        delta_replicates = mine.replicates - cells.replicates
        reference = references.get((metric, slice_name))
        gap_base, gap_base_replicates = _gap(baseline, metric, slice_name, reference)
        gap, gap_replicates = _gap(other, metric, slice_name, reference)
        toward = np.abs(gap_base) - np.abs(gap)
        toward_replicates = np.abs(gap_base_replicates) - np.abs(gap_replicates)
        delta_interval = percentile_interval(delta_replicates, level=config.level)
        toward_interval = percentile_interval(toward_replicates, level=config.level)
        blocks.append(
            pd.DataFrame(
                {
                    "model": model,
                    "metric": metric,
                    "slice": slice_name,
                    "group": list(cells.slice.labels),
                    "n_clips": baseline.n_clips[slice_name],
                    "n_speakers": n_speakers,
                    "n_speakers_evaluated": evaluated,
                    "status": np.where(testable, "ok", "insufficient"),
                    "higher_is_better": cells.spec.higher_is_better,
                    "threshold": config.threshold_for(
                        cells.spec, baseline.cells[metric, OVERALL].value[0]
                    ),
                    "value_baseline": cells.value,
                    "value": mine.value,
                    "delta": delta,
                    "delta_ci_low": delta_interval[0],
                    "delta_ci_high": delta_interval[1],
                    "p_value": np.where(
                        testable, bootstrap_z_pvalue(delta, delta_replicates), np.nan
                    ),
                    "reference": reference,
                    "gap_baseline": gap_base,
                    "gap": gap,
                    TOWARD: toward,
                    f"{TOWARD}_ci_low": toward_interval[0],
                    f"{TOWARD}_ci_high": toward_interval[1],
                    "gap_p_value": np.where(
                        testable, bootstrap_z_pvalue(toward, toward_replicates), np.nan
                    ),
                }
            )
        )
    return pd.concat(blocks, ignore_index=True)


def _correct(changes: pd.DataFrame, config: AuditConfig) -> pd.DataFrame:
    return flag_changes(
        changes, correction=config.correction, level=config.level, family=config.family
    )


def flag_changes(
    changes: pd.DataFrame, *, correction: str, level: float, family: str = FAMILY_ALL
) -> pd.DataFrame:
    """One correction over every metric change and every gap change; then the flags.

    ``changes`` holds, per row, ``metric``, ``higher_is_better``, ``threshold``, the
    change ``delta`` with ``delta_ci_low``/``delta_ci_high`` and ``p_value``, and the gap
    change toward parity with its interval and ``gap_p_value`` (the comparison of audits
    and of trials audits share this rule). Adds ``p_adjusted``, ``gap_p_adjusted``,
    ``regression``, ``improvement``, ``gap_narrowed`` and ``gap_widened``.
    """
    both = pd.DataFrame(
        {
            "metric": np.concatenate([changes["metric"], changes["metric"]]),
            "p_value": np.concatenate([changes["p_value"], changes["gap_p_value"]]),
        }
    )
    adjusted = adjust_family(both, correction=correction, family=family)
    changes["p_adjusted"] = adjusted[: len(changes)]
    changes["gap_p_adjusted"] = adjusted[len(changes) :]
    alpha = 1 - level
    threshold = changes["threshold"]
    better = changes["higher_is_better"].to_numpy(dtype=bool)
    # The change's interval, turned so that positive is better: beyond +threshold is an
    # improvement, beyond -threshold a regression.
    low = np.where(better, changes["delta_ci_low"], -changes["delta_ci_high"])
    high = np.where(better, changes["delta_ci_high"], -changes["delta_ci_low"])
    significant = changes["p_adjusted"] < alpha
    changes["regression"] = significant & (high <= -threshold)
    changes["improvement"] = significant & (low >= threshold)
    gap_significant = changes["gap_p_adjusted"] < alpha
    changes["gap_narrowed"] = gap_significant & (changes[f"{TOWARD}_ci_low"] >= threshold)
    changes["gap_widened"] = gap_significant & (changes[f"{TOWARD}_ci_high"] <= -threshold)
    return changes


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records"))
