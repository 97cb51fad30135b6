"""Dataset imbalance: who is in the data, who is missing, and what an audit can detect.

:func:`analyze_dataset` reads a manifest (one row per clip) and returns a
:class:`DatasetAnalysis` of DataFrames, from which ``s2f dataset-report`` and an
audit's data section render without recomputing:

- ``counts``: clips and speakers per group of every column and intersection, per
  split (and ``all``), with shares, a ``status`` (``ok``, ``thin`` below
  ``min_speakers``, ``empty``) and the minimum detectable difference;
- ``imbalance``: 1 − H/log₂k of each column's speaker shares per split;
- ``shift``: train versus test per column (total variation distance, χ² test);
- ``reference``: observed speaker shares against a reference population;
- ``provenance``: where each column's labels come from (``<column>_source``);
- ``language_by_ethnicity``: speakers per language × ethnicity;
- ``conditions``: recording conditions per group (``audit.conditions_summary``), when a
  conditions table (``s2f conditions``) was given; empty otherwise;
- ``findings``: the above in plain sentences.

Speakers, not clips, are the unit of evidence: clips of one speaker are not
independent, so shares, tests and detectable differences count speakers. A
speaker whose clips fall in two groups (e.g. two languages) counts in both.
"""

from __future__ import annotations

import itertools
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy import stats

from audit._components import METRICS
from audit._intervals import detectable_difference
from audit.artifacts import (
    ANALYSIS_FILE,
    ANALYSIS_OPTIONAL_TABLES,
    ANALYSIS_SCHEMA_VERSION,
    ANALYSIS_SCHEMA_VERSIONS,
    ANALYSIS_TABLES,
    SEPARATOR,
)
from audit.conditions_summary import (
    CONDITIONS_EFFECT_SIZE,
    SUMMARY_COLUMNS,
    conditions_by_group,
    finding_sentence,
)
from audit.privacy import is_suppressed
from audit.result import Render, read_summary, save_folder
from speech2face.artifacts import read_table
from speech2face.audio.conditions import CONDITION_COLUMNS
from speech2face.errors import InputError
from speech2face.manifest.load import fill_unknowns
from speech2face.vocabulary import (
    DEMOGRAPHIC_COLUMNS,
    LABEL_SOURCES,
    MIN_GROUP_SPEAKERS,
    SPLITS,
    UNKNOWN,
)

ALL = "all"
SHIFT_SPLITS = ("train", "test")
NOT_RECORDED = "not recorded"
MDD_FORMULA = (
    "(z[1 - alpha/(2m)] + z[power]) * sqrt(p * (1 - p) * (1/n_group - 1/n_split)), "
    "m = groups with at least min_speakers speakers x headline metrics"
)
"""Minimum detectable difference of a proportion between a group and the whole split (the
audit's default reference), Bonferroni (Holm's first step) over the audit's family."""
HEADLINE_METRICS = sum(spec.headline for spec in METRICS) + 1
"""Headline metrics of a default audit: those of the catalogue and one recall@k."""

MISSING_COLUMN = "manifest lacks column {column!r}"
BAD_SPLIT = "row {row}: split {value!r} is not one of {choices}"
BAD_SOURCE = "row {row}: column {column!r} holds {value!r}, not one of {choices}"
BAD_REFERENCE_COLUMN = "reference population names column {column!r}, which is not analysed"
BAD_REFERENCE_SHARES = (
    "reference population for {column!r}: shares must be non-negative and sum to 1, got {total:g}"
)
BAD_PROBABILITY = "{name} must be between 0 and 1 (exclusive), got {value}"
BAD_INTERSECTIONS = "intersections must be at least 1, got {value}"
EMPTY_MANIFEST = "the manifest has no rows"


@dataclass
class DatasetAnalysis:
    """The imbalance analysis of one manifest; saves and loads symmetrically."""

    counts: pd.DataFrame
    imbalance: pd.DataFrame
    shift: pd.DataFrame
    reference: pd.DataFrame
    provenance: pd.DataFrame
    language_by_ethnicity: pd.DataFrame
    findings: list[str] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    conditions: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=list(SUMMARY_COLUMNS))
    )

    TABLES: ClassVar[tuple[str, ...]] = ANALYSIS_TABLES
    OPTIONAL_TABLES: ClassVar[tuple[str, ...]] = ANALYSIS_OPTIONAL_TABLES

    @property
    def cells(self) -> pd.DataFrame:
        """Empty and thin cells (fewer speakers than ``min_speakers``), all splits."""
        return self.counts[self.counts["status"] != "ok"].reset_index(drop=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: settings, findings and each table as a list of records."""
        return {
            "settings": self.settings,
            "findings": list(self.findings),
            **{
                name: json.loads(getattr(self, name).to_json(orient="records"))
                for name in self.TABLES
            },
            "conditions": json.loads(self.conditions.to_json(orient="records")),
        }

    def save(self, path: str | os.PathLike, *, render: Render | None = None) -> Path:
        """Write a folder (``analysis.json``, one Parquet per table, ``render``'s report)."""
        summary = {
            "schema_version": ANALYSIS_SCHEMA_VERSION,
            "settings": self.settings,
            "findings": self.findings,
        }
        tables = {f"{name}.parquet": getattr(self, name) for name in self.TABLES}
        tables |= {
            f"{name}.parquet": getattr(self, name)
            for name in self.OPTIONAL_TABLES
            if len(getattr(self, name))
        }
        return save_folder(
            path, summary, tables, summary_file=ANALYSIS_FILE, kind="dataset-report", render=render
        )

    @classmethod
    def load(cls, path: str | os.PathLike) -> DatasetAnalysis:
        """Read a folder written by :meth:`save`."""
        path = Path(path)
        summary_file = path / ANALYSIS_FILE
        if not summary_file.exists():
            raise InputError(f"{path}: not a dataset analysis (no {ANALYSIS_FILE})")
        summary = read_summary(summary_file, ANALYSIS_SCHEMA_VERSIONS)
        tables = {name: read_table(path / f"{name}.parquet") for name in cls.TABLES}
        tables |= {
            name: read_table(path / f"{name}.parquet")
            for name in cls.OPTIONAL_TABLES
            if (path / f"{name}.parquet").exists()
        }
        return cls(**tables, findings=summary["findings"], settings=summary["settings"])


def analyze_dataset(
    manifest: pd.DataFrame,
    *,
    columns: Sequence[str] = DEMOGRAPHIC_COLUMNS,
    intersections: int = 2,
    reference_population: Mapping[str, Mapping[str, float]] | None = None,
    min_speakers: int = MIN_GROUP_SPEAKERS,
    alpha: float = 0.05,
    power: float = 0.8,
    base_rate: float = 0.5,
    family_metrics: int = HEADLINE_METRICS,
    conditions: pd.DataFrame | None = None,
    conditions_source: Mapping[str, Any] | None = None,
) -> DatasetAnalysis:
    """Counts, shares, imbalance, shift, reference gaps, power and provenance of a manifest.

    ``reference_population`` maps a column to the share of each of its groups in
    the population the data should represent (e.g. ``{"gender": {"female": 0.5,
    "male": 0.5}}``). The minimum detectable difference follows the default audit's
    design: a group against its whole split (``overall``, of which the group is a part),
    tested at ``alpha`` Bonferroni-corrected over the family the audit would test (groups
    with at least ``min_speakers`` speakers in every slice × ``family_metrics``), with
    ``power``, a base rate ``base_rate`` (0.5 is the worst case) and speakers as the unit
    (every clip of a speaker alike: the most a speaker effect can cost).

    ``conditions``, a conditions table (``s2f conditions``; ``clip_id`` and the measures),
    adds the recording conditions per group of every analysed column
    (:func:`audit.conditions_summary.conditions_by_group`); ``conditions_source`` (e.g. the
    table's path and SHA-256) is kept in the settings.
    """
    _check_settings(intersections=intersections, alpha=alpha, power=power, base_rate=base_rate)
    frame = _prepared(manifest, columns)
    splits = _split_order(frame["split"])
    categories = {column: sorted(frame[column].unique()) for column in columns}
    reference = _checked_reference(reference_population, columns)
    counts = _counts(
        frame,
        columns=columns,
        intersections=intersections,
        categories=categories,
        splits=splits,
        min_speakers=min_speakers,
    )
    sufficient = counts["n_speakers"] >= min_speakers
    family = (sufficient.groupby(counts["split"]).sum() * family_metrics).clip(lower=1)
    counts["min_detectable_difference"] = min_detectable_difference(
        counts["n_speakers"].to_numpy(),
        (counts["n_speakers"] + counts["n_rest_speakers"]).to_numpy(),
        n_tests=counts["split"].map(family).to_numpy(),
        alpha=alpha,
        power=power,
        base_rate=base_rate,
    )
    unknown_only = [c for c in columns if set(categories[c]) <= {UNKNOWN}]
    involved = np.array(
        [bool(set(name.split(SEPARATOR)) & set(unknown_only)) for name in counts["slice"]],
        dtype=bool,
    )
    counts.loc[involved, "status"] = ALL_UNKNOWN
    single = counts[counts["order"] == 1]
    analysis = DatasetAnalysis(
        counts=counts,
        imbalance=_imbalance(single, splits=splits),
        shift=_shift(single, columns=columns),
        reference=_reference_gaps(single, reference, splits=splits),
        provenance=_provenance(frame, manifest, columns=columns),
        language_by_ethnicity=_language_by_ethnicity(frame),
        settings={
            "columns": list(columns),
            "unknown_only": unknown_only,
            "intersections": intersections,
            "min_speakers": min_speakers,
            "alpha": alpha,
            "power": power,
            "base_rate": base_rate,
            "family_metrics": family_metrics,
            "family_size": {split: int(size) for split, size in family.items()},
            "min_detectable_difference_formula": MDD_FORMULA,
            "reference_population": {c: dict(s) for c, s in reference.items()},
            "splits": splits,
            "n_clips": len(frame),
            "n_speakers": int(frame["speaker_id"].nunique()),
            "speakers_in_several_splits": _speakers_in_several_splits(frame),
        },
    )
    if conditions is not None:
        analysis.conditions, _ = conditions_by_group(frame, conditions, columns=columns)
        measured = conditions.set_index(conditions["clip_id"].astype(str))
        measures = [c for c in CONDITION_COLUMNS if c in measured.columns]
        finite = np.isfinite(measured[measures].astype(float)).any(axis=1)
        finite = finite[~finite.index.duplicated()]
        unmeasured = ~frame["clip_id"].astype(str).map(finite).fillna(False).astype(bool)
        analysis.settings["conditions"] = {
            **dict(conditions_source or {}),
            "effect_size": CONDITIONS_EFFECT_SIZE,
            "n_clips_unmeasured": int(unmeasured.sum()),
        }
    analysis.findings = findings_for(analysis)
    return analysis


def imbalance_score(counts: Sequence[float] | np.ndarray) -> float:
    """1 − H/log₂k of the shares in ``counts`` (k = len(counts), zeros included).

    0 when all k categories are equally large, 1 when one holds everything; NaN
    for fewer than two categories or no members.
    """
    counts = np.asarray(counts, dtype=float)
    total = counts.sum()
    if len(counts) < 2 or total <= 0:
        return float("nan")
    shares = counts[counts > 0] / total
    entropy = -(shares * np.log2(shares)).sum()
    return float(1.0 - entropy / np.log2(len(counts)))


def min_detectable_difference(
    n_group: np.ndarray | float,
    n_total: np.ndarray | float,
    *,
    n_tests: np.ndarray | int = 1,
    alpha: float = 0.05,
    power: float = 0.8,
    base_rate: float = 0.5,
) -> np.ndarray:
    """Smallest difference of a proportion between a group and the whole (the group's
    ``n_total`` speakers, itself included) that a two-sided test at ``alpha / n_tests``
    finds with ``power``: the audit's :func:`~audit._intervals.detectable_difference` of
    the standard error ``sqrt(p(1−p)(1/n_group − 1/n_total))``, p the base rate. NaN where
    the group is empty or is the whole.
    """
    n_group = np.asarray(n_group, dtype=float)
    n_total = np.asarray(n_total, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        se = np.sqrt(base_rate * (1 - base_rate) * (1 / n_group - 1 / n_total))
    found = detectable_difference(se, n_tests, alpha=alpha, power=power)
    return np.where((n_group > 0) & (n_total > n_group), found, np.nan)


def _check_settings(*, intersections: int, alpha: float, power: float, base_rate: float) -> None:
    if intersections < 1:
        raise InputError(BAD_INTERSECTIONS.format(value=intersections))
    for name, value in (("alpha", alpha), ("power", power), ("base_rate", base_rate)):
        if not 0 < value < 1:
            raise InputError(BAD_PROBABILITY.format(name=name, value=value))


ALL_UNKNOWN = "all_unknown"
"""Status of every group of a slice over a column that is ``unknown`` for every speaker."""
UNKNOWN_EVERYWHERE = "{column}: unknown for every speaker"


def _prepared(manifest: pd.DataFrame, columns: Sequence[str]) -> pd.DataFrame:
    """Manifest with every analysed column as strings, missing values ``unknown``."""
    if len(manifest) == 0:
        raise InputError(EMPTY_MANIFEST)
    for column in ("clip_id", "speaker_id", "split"):
        if column not in manifest.columns:
            raise InputError(MISSING_COLUMN.format(column=column))
    frame = fill_unknowns(manifest)
    for column in columns:
        if column not in frame.columns:
            raise InputError(MISSING_COLUMN.format(column=column))
        text = frame[column].astype(object).where(frame[column].notna(), UNKNOWN).astype(str)
        frame[column] = text.str.strip().replace("", UNKNOWN)
    bad = ~frame["split"].isin(SPLITS)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            BAD_SPLIT.format(row=row, value=frame["split"].iloc[row], choices=", ".join(SPLITS))
        )
    return frame


def _split_order(split: pd.Series) -> list[str]:
    present = set(split)
    return [ALL, *(name for name in SPLITS if name in present)]


def _counts(
    frame: pd.DataFrame,
    *,
    columns: Sequence[str],
    intersections: int,
    categories: Mapping[str, list[str]],
    splits: list[str],
    min_speakers: int,
) -> pd.DataFrame:
    """Clips and speakers of every group of every slice and split, empty cells included."""
    with_all = pd.concat([frame.assign(split=ALL), frame], ignore_index=True)
    totals = with_all.groupby("split", sort=False).agg(
        total_clips=("clip_id", "size"), total_speakers=("speaker_id", "nunique")
    )
    tables = []
    for order in range(1, min(intersections, len(columns)) + 1):
        for combo in itertools.combinations(columns, order):
            keys = ["split", *combo]
            grouped = with_all.groupby(keys, sort=False).agg(
                n_clips=("clip_id", "size"), n_speakers=("speaker_id", "nunique")
            )
            full = pd.MultiIndex.from_product([splits, *(categories[c] for c in combo)], names=keys)
            grouped = grouped.reindex(full, fill_value=0).reset_index()
            tables.append(
                pd.DataFrame(
                    {
                        "split": grouped["split"],
                        "slice": SEPARATOR.join(combo),
                        "order": order,
                        "group": grouped[list(combo)].agg(SEPARATOR.join, axis=1),
                        "n_clips": grouped["n_clips"].astype(np.int64),
                        "n_speakers": grouped["n_speakers"].astype(np.int64),
                    }
                )
            )
    counts = pd.concat(tables, ignore_index=True).join(totals, on="split")
    counts["clip_share"] = counts["n_clips"] / counts["total_clips"]
    counts["speaker_share"] = counts["n_speakers"] / counts["total_speakers"]
    counts["n_rest_speakers"] = (counts["total_speakers"] - counts["n_speakers"]).astype(np.int64)
    counts["status"] = np.select(
        [counts["n_speakers"] == 0, counts["n_speakers"] < min_speakers],
        ["empty", "thin"],
        default="ok",
    )
    return counts.drop(columns=["total_clips", "total_speakers"])


def _imbalance(single: pd.DataFrame, *, splits: list[str]) -> pd.DataFrame:
    """Imbalance score of speakers (and of clips) over each column's known categories."""
    rows = []
    for (split, column), part in single.groupby(["split", "slice"], sort=False):
        known = part[part["group"] != UNKNOWN]
        speakers = known["n_speakers"].to_numpy()
        shares = speakers / speakers.sum() if speakers.sum() else speakers * np.nan
        rows.append(
            {
                "split": split,
                "column": column,
                "n_categories": len(known),
                "unknown_speaker_share": float(
                    part.loc[part["group"] == UNKNOWN, "speaker_share"].sum()
                ),
                "largest_group": known["group"].iloc[int(np.argmax(speakers))]
                if len(known)
                else None,
                "smallest_group": known["group"].iloc[int(np.argmin(speakers))]
                if len(known)
                else None,
                "min_share": float(np.min(shares)) if len(known) else np.nan,
                "max_share": float(np.max(shares)) if len(known) else np.nan,
                "imbalance_score": imbalance_score(speakers),
                "imbalance_score_clips": imbalance_score(known["n_clips"].to_numpy()),
            }
        )
    return pd.DataFrame(rows)


def _shift(single: pd.DataFrame, *, columns: Sequence[str]) -> pd.DataFrame:
    """Train-versus-test difference of each column's speaker distribution."""
    names = ["column", "tv_distance", "chi2", "dof", "p_value", "n_train", "n_test"]
    present = set(single["split"])
    if not set(SHIFT_SPLITS) <= present:
        return pd.DataFrame(columns=names)
    rows = []
    for column in columns:
        part = single[single["slice"] == column]
        table = np.stack(
            [part.loc[part["split"] == s, "n_speakers"].to_numpy() for s in SHIFT_SPLITS]
        )
        table = table[:, table.sum(0) > 0]
        shares = table / table.sum(1, keepdims=True)
        if table.shape[1] > 1:
            test = stats.chi2_contingency(table, correction=False)
            chi2, dof, p_value = float(test.statistic), int(test.dof), float(test.pvalue)
        else:
            chi2, dof, p_value = np.nan, 0, np.nan
        rows.append(
            {
                "column": column,
                "tv_distance": float(0.5 * np.abs(shares[0] - shares[1]).sum()),
                "chi2": chi2,
                "dof": dof,
                "p_value": p_value,
                "n_train": int(table[0].sum()),
                "n_test": int(table[1].sum()),
            }
        )
    return pd.DataFrame(rows, columns=names)


def _checked_reference(
    reference: Mapping[str, Mapping[str, float]] | None, columns: Sequence[str]
) -> dict[str, dict[str, float]]:
    checked = {}
    for column, shares in (reference or {}).items():
        if column not in columns:
            raise InputError(BAD_REFERENCE_COLUMN.format(column=column))
        values = np.array(list(shares.values()), dtype=float)
        if (values < 0).any() or not np.isclose(values.sum(), 1.0, atol=0.01):
            raise InputError(BAD_REFERENCE_SHARES.format(column=column, total=values.sum()))
        checked[column] = {str(g): float(v / values.sum()) for g, v in shares.items()}
    return checked


def _reference_gaps(
    single: pd.DataFrame, reference: Mapping[str, Mapping[str, float]], *, splits: list[str]
) -> pd.DataFrame:
    """Observed speaker shares (over known groups) against the reference population."""
    names = ["split", "column", "group", "observed_share", "reference_share"]
    rows = []
    for column, shares in reference.items():
        for split in splits:
            part = single[(single["slice"] == column) & (single["split"] == split)]
            known = part[part["group"] != UNKNOWN].set_index("group")["n_speakers"]
            total = known.sum()
            for group in sorted(set(known.index) | set(shares)):
                observed = known.get(group, 0) / total if total else np.nan
                rows.append([split, column, group, observed, shares.get(group, np.nan)])
    gaps = pd.DataFrame(rows, columns=names)
    gaps["difference"] = gaps["observed_share"] - gaps["reference_share"]
    with np.errstate(divide="ignore", invalid="ignore"):
        gaps["ratio"] = gaps["observed_share"] / gaps["reference_share"].replace(0, np.nan)
    return gaps


def _provenance(
    frame: pd.DataFrame, manifest: pd.DataFrame, *, columns: Sequence[str]
) -> pd.DataFrame:
    """Clips and speakers per label source of each column."""
    choices = (*LABEL_SOURCES, UNKNOWN)
    tables = []
    for column in columns:
        source = _source_column(column, manifest)
        if source is None:
            sources = pd.Series(NOT_RECORDED, index=frame.index)
        else:
            sources = manifest[source].astype(object).where(manifest[source].notna(), UNKNOWN)
            sources = sources.astype(str).reset_index(drop=True)
            bad = ~sources.isin(choices)
            if bad.any():
                row = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(
                    BAD_SOURCE.format(
                        row=row, column=source, value=sources[row], choices=", ".join(choices)
                    )
                )
        known = frame[column] != UNKNOWN
        grouped = (
            frame[known]
            .assign(source=sources[known])
            .groupby("source")
            .agg(n_clips=("clip_id", "size"), n_speakers=("speaker_id", "nunique"))
            .reset_index()
        )
        grouped.insert(0, "column", column)
        grouped["clip_share"] = grouped["n_clips"] / max(int(known.sum()), 1)
        tables.append(grouped)
    names = ["column", "source", "n_clips", "n_speakers", "clip_share"]
    return pd.concat(tables, ignore_index=True)[names] if tables else pd.DataFrame(columns=names)


def _source_column(column: str, manifest: pd.DataFrame) -> str | None:
    """``<column>_source``; age groups fall back on the provenance of ``age``."""
    candidates = [f"{column}_source", *(["age_source"] if column == "age_group" else [])]
    return next((name for name in candidates if name in manifest.columns), None)


def _language_by_ethnicity(frame: pd.DataFrame) -> pd.DataFrame:
    """Speakers per language (rows) and ethnicity (columns), all splits together."""
    pairs = frame[["language", "ethnicity", "speaker_id"]].drop_duplicates()
    table = pd.crosstab(pairs["language"], pairs["ethnicity"])
    table.columns = [str(c) for c in table.columns]
    return table.rename_axis(None, axis=1).reset_index()


def _speakers_in_several_splits(frame: pd.DataFrame) -> int:
    return int((frame.groupby("speaker_id")["split"].nunique() > 1).sum())


def findings_for(analysis: DatasetAnalysis, *, privacy_k: int = 1) -> list[str]:
    """Plain-language sentences summarising an analysis, most actionable first.

    A group with some but fewer than ``privacy_k`` speakers is named without its
    count, share or detectable difference (a report's privacy threshold; 1 hides none).
    """
    settings = analysis.settings
    counts = analysis.counts
    speakers = _speaker_lookup(counts)
    hidden = _Hidden(speakers, privacy_k)
    out = []
    leaked = settings.get("speakers_in_several_splits", 0)
    if leaked:
        out.append(f"{leaked} speaker(s) appear in more than one split; results may be optimistic.")
    evaluation = "test" if "test" in settings["splits"] else ALL
    representation = "train" if "train" in settings["splits"] else ALL
    single = counts[counts["order"] == 1]
    for column in settings["columns"]:
        if _all_unknown(single, column):
            out.append(f"{column} is unknown for every speaker; it cannot be audited.")
            continue
        train = single[(single["split"] == representation) & (single["slice"] == column)]
        known = train[train["group"] != UNKNOWN]
        smallest = known.loc[known["n_speakers"].idxmin()]
        evaluated = single[
            (single["split"] == evaluation)
            & (single["slice"] == column)
            & (single["group"] == smallest["group"])
        ].iloc[0]
        if hidden(representation, column, smallest["group"]):
            sentence = (
                f"{column} {smallest['group']} has fewer than {privacy_k} {representation} speakers"
            )
        else:
            sentence = (
                f"{column} {smallest['group']} is {_percent(smallest['speaker_share'])} of "
                f"{representation} speakers ({smallest['n_speakers']})"
            )
        clause = _detectable_clause(evaluated, evaluation, settings, privacy_k=privacy_k)
        out.append(sentence + clause + ".")
    unknown_only = [c for c in settings["columns"] if _all_unknown(single, c)]
    out.extend(_cell_findings(counts, evaluation, settings["min_speakers"], unknown_only))
    out.extend(_imbalance_findings(analysis.imbalance, representation, hidden))
    for row in analysis.shift.itertuples():
        if row.p_value < settings["alpha"]:
            out.append(
                f"train and test differ in {row.column} (total variation "
                f"{row.tv_distance:.2f}, chi-square p = {row.p_value:.2g})."
            )
    gaps = analysis.reference
    gaps = gaps[(gaps["split"] == representation) & (gaps["difference"].abs() >= 0.05)]
    for row in gaps.itertuples():
        observed = (
            f"has fewer than {privacy_k} {representation} speakers,"
            if hidden(representation, row.column, row.group)
            else f"is {_percent(row.observed_share)} of {representation} speakers"
        )
        out.append(
            f"{row.column} {row.group} {observed} against {_percent(row.reference_share)} in "
            "the reference population."
        )
    for row in analysis.provenance.itertuples():
        if row.source == "inferred":
            out.append(
                f"{row.column} labels are inferred for {_percent(row.clip_share)} of labelled "
                "clips: groups by it inherit the labelling model's errors and biases."
            )
    out.extend(conditions_findings(analysis, privacy_k=privacy_k))
    return out


def conditions_findings(analysis: DatasetAnalysis, *, privacy_k: int = 1) -> list[str]:
    """The groups recorded differently from the rest (|SMD| beyond the effect size), in
    sentences; a group with some but fewer than ``privacy_k`` speakers is left out."""
    frame = analysis.conditions
    if frame.empty:
        return []
    effect = analysis.settings.get("conditions", {}).get("effect_size", CONDITIONS_EFFECT_SIZE)
    rows = frame[frame["finding"].astype(bool)]
    shown = ~np.asarray(is_suppressed(rows["n_speakers"].astype(float), privacy_k), dtype=bool)
    return [finding_sentence(row, effect) for row in rows[shown].to_dict("records")]


def _speaker_lookup(counts: pd.DataFrame) -> dict[tuple[str, str, str], int]:
    """Speakers per (split, slice, group)."""
    keys = zip(counts["split"], counts["slice"], counts["group"], strict=True)
    return dict(zip(keys, counts["n_speakers"].astype(int), strict=True))


@dataclass(frozen=True)
class _Hidden:
    """Whether a (split, slice, group) has some but fewer than ``privacy_k`` speakers."""

    speakers: Mapping[tuple[str, str, str], int]
    privacy_k: int

    def __call__(self, split: str, slice_name: str, group: str) -> bool:
        return is_suppressed(self.speakers.get((split, slice_name, group), 0), self.privacy_k)


def _detectable_clause(
    evaluated: pd.Series, split: str, settings: Mapping[str, Any], *, privacy_k: int = 1
) -> str:
    """How large a difference the evaluation split can detect for one group.

    Below ``privacy_k`` speakers the group's own count is not shown: the bound is the
    detectable difference of ``privacy_k - 1`` speakers against an unlimited rest, which
    every smaller group exceeds.
    """
    if evaluated["n_speakers"] == 0:
        return f"; {split} has none of them, so they cannot be evaluated"
    if evaluated["n_rest_speakers"] == 0:
        return f"; {split} has no other group to compare them with"
    tests = settings.get("family_size", {}).get(split, 1)
    power = f"(alpha {settings['alpha']:g} over {tests} tests, power {settings['power']:g})"
    if is_suppressed(evaluated["n_speakers"], privacy_k):
        size = f"; with fewer than {privacy_k} {split} speakers"
        mdd = float(
            min_detectable_difference(
                privacy_k - 1,
                np.inf,
                n_tests=settings.get("family_size", {}).get(split, 1),
                alpha=settings["alpha"],
                power=settings["power"],
                base_rate=settings["base_rate"],
            )
        )
    else:
        size = f"; with {evaluated['n_speakers']} {split} speakers"
        mdd = evaluated["min_detectable_difference"]
    if mdd >= 1:
        return f"{size}, no difference is detectable {power}"
    return f"{size}, differences below {mdd * 100:.0f} points cannot be detected {power}"


def _all_unknown(single: pd.DataFrame, column: str) -> bool:
    part = single[(single["split"] == ALL) & (single["slice"] == column)]
    return bool((part.loc[part["group"] != UNKNOWN, "n_speakers"] == 0).all())


def _cell_findings(
    counts: pd.DataFrame, split: str, min_speakers: int, skipped: Sequence[str]
) -> list[str]:
    """Thin and empty groups of each slice, leaving out slices of all-unknown columns."""
    out = []
    part = counts[counts["split"] == split]
    for slice_name, cells in part.groupby("slice", sort=False):
        if set(slice_name.split(SEPARATOR)) & set(skipped):
            continue
        thin = cells[cells["status"] == "thin"]
        empty = cells[cells["status"] == "empty"]
        if thin.empty and empty.empty:
            continue
        sentence = (
            f"{len(thin) + len(empty)} of {len(cells)} {slice_name} groups in {split} have fewer "
            f"than {min_speakers} speakers"
        )
        if len(empty):
            listed = ", ".join(empty["group"].head(5))
            more = f" and {len(empty) - 5} more" if len(empty) > 5 else ""
            sentence += f"; {len(empty)} empty: {listed}{more}"
        out.append(sentence + ".")
    return out


def _imbalance_findings(imbalance: pd.DataFrame, split: str, hidden: _Hidden) -> list[str]:
    out = []
    k = hidden.privacy_k
    for row in imbalance[imbalance["split"] == split].itertuples():
        if row.unknown_speaker_share >= 0.05 and row.unknown_speaker_share < 1:
            unknown = (
                f"fewer than {k}"
                if hidden(split, row.column, UNKNOWN)
                else _percent(row.unknown_speaker_share)
            )
            out.append(f"{row.column} is unknown for {unknown} of {split} speakers.")
        if row.imbalance_score >= 0.1:
            largest, smallest = (
                f"fewer than {k} speakers" if hidden(split, row.column, group) else _percent(share)
                for group, share in (
                    (row.largest_group, row.max_share),
                    (row.smallest_group, row.min_share),
                )
            )
            out.append(
                f"{row.column} is imbalanced in {split} (score {row.imbalance_score:.2f}; "
                f"{row.largest_group} {largest}, {row.smallest_group} {smallest} of known "
                "speakers)."
            )
    return out


def _percent(share: float) -> str:
    return f"{share * 100:.0f}%" if share >= 0.01 or share == 0 else f"{share * 100:.1f}%"
