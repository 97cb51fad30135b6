"""The audit-result artifact: a folder that saves and loads symmetrically.

::

    audit.json          what was audited (model id, duration_s, split, predictions and
                        clip-set hashes, config, seed, versions), overall metrics with CIs,
                        slices with n_clips and n_speakers (insufficient and empty cells
                        listed), the test family and its correction, flags, fairlearn
                        views, label caveats, notes
    groups.parquet      the long table: one row per metric, slice and group (GROUP_COLUMNS)
    tests.parquet       every test of the audit with raw and adjusted p-values
    confusion.parquet   row-normalised attribute confusion per group (S2F and F2F vs true face)
    components.parquet  per-clip components and slice labels; a comparison re-aggregates
                        them with the same speaker-keyed bootstrap replicates
    retrieval_confusion.parquet  which groups each query group's top-k retrieval hits come
                        from, against the gallery's composition (chance); empty without
                        retrieval

``report.html`` is rendered by the reports package into the same staging folder, so that
an audit and its report are replaced together (see :meth:`AuditResult.save`).
"""

from __future__ import annotations

import html
import json
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from audit._metrics import MetricSpec
from audit.artifacts import AUDIT_FILE as SUMMARY_FILE
from audit.artifacts import AUDIT_SCHEMA_VERSIONS
from audit.artifacts import AUDIT_TABLE_FILES as TABLE_FILES
from speech2face.artifacts import check_schema_version, read_json_object, read_table
from speech2face.atomic import atomic_folder
from speech2face.errors import InputError
from speech2face.outputs import check_out, mark

Render = Callable[[Path], object]
"""Writes a report into the staging folder it is given (before the folder is swapped in)."""

GROUP_COLUMNS = (
    "metric",
    "slice",
    "group",
    "n_clips",
    "n_speakers",
    "n_evaluated",
    "n_speakers_evaluated",
    "status",
    "value",
    "ci_low",
    "ci_high",
    "ci_method",
    "reference",
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_adjusted",
    "diff_se",
    "detectable_difference",
    "threshold",
    "flag",
    "significant_small",
    "higher_is_better",
    "adjusted_difference",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_p_adjusted",
    "adjusted_flag",
    "outside_support_share",
)
ADJUSTED_GROUP_COLUMNS = GROUP_COLUMNS[-6:]
"""The last six: disparities adjusted for recording conditions (``--adjust-for``; NaN / NA
without it; ``audit._adjustment``)."""
TEST_COLUMNS = (
    "metric",
    "slice",
    "group",
    "versus",
    "p_value",
    "p_adjusted",
    "significant",
    "for_reference",
)
NOT_AN_AUDIT = "{path}: not an audit result (no {file})"
UNKNOWN_METRIC = "metric {metric!r} is not in this audit; it has: {known}"
UNKNOWN_SLICE = "slice {slice!r} is not in this audit; it has: {known}"


_TEXT = pd.StringDtype(na_value=float("nan"))
TEXT_COLUMNS = frozenset({"metric", "slice", "group", "status", "ci_method", "reference", "versus"})
"""Columns that hold text even when every value is missing (others then become numbers)."""


def with_stable_dtypes(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns as ``str`` or numbers, so a table reads back from Parquet unchanged."""
    for column in frame.columns:
        if frame[column].dtype == object:
            inferred = pd.api.types.infer_dtype(frame[column], skipna=True)
            if inferred == "string" or (inferred == "empty" and column in TEXT_COLUMNS):
                frame[column] = frame[column].astype(_TEXT)
            elif inferred == "empty":
                frame[column] = frame[column].astype("float64")
            elif inferred in ("integer", "floating", "mixed-integer-float", "boolean"):
                frame[column] = pd.to_numeric(frame[column])
    return frame


def _json_safe(value: Any) -> Any:
    """JSON-ready copy: NaN/inf become null, numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def save_folder(
    path: str | os.PathLike,
    summary: dict[str, Any],
    tables: dict[str, Any],
    *,
    summary_file: str = SUMMARY_FILE,
    kind: str = "audit",
    render: Render | None = None,
) -> Path:
    """Write JSON + Parquet tables (and ``render``'s report) into a folder, replacing it whole.

    ``path`` must be new, empty or a ``kind`` artifact (:func:`~speech2face.outputs.check_out`);
    until ``render`` returns, the old folder, its report included, is left as it was.
    """
    path = check_out(path, kind)
    with atomic_folder(path) as staging:
        text = json.dumps(_json_safe(summary), indent=2, allow_nan=False)
        (staging / summary_file).write_text(text)
        for name, frame in tables.items():
            frame.to_parquet(staging / name, index=False)
        if render is not None:
            render(staging)
        mark(staging, kind)
    return path


def read_summary(path: Path, known: tuple[int, ...]) -> dict[str, Any]:
    """A folder artifact's JSON summary; one of an unknown ``schema_version`` is refused."""
    summary = read_json_object(path)
    check_schema_version(path, summary.get("schema_version"), known)
    return summary


@dataclass
class AuditResult:
    """An audit: its summary (``audit.json``) and its tables."""

    summary: dict[str, Any]
    groups: pd.DataFrame
    tests: pd.DataFrame
    confusion: pd.DataFrame
    components: pd.DataFrame
    retrieval_confusion: pd.DataFrame

    def save(self, path: str | os.PathLike, *, render: Render | None = None) -> Path:
        """Write the audit folder, and ``render``'s report into it, replacing it whole."""
        tables = {TABLE_FILES[name]: getattr(self, name) for name in TABLE_FILES}
        return save_folder(path, self.summary, tables, render=render)

    @classmethod
    def load(cls, path: str | os.PathLike) -> AuditResult:
        """Read an audit folder written by :meth:`save`."""
        path = Path(path)
        for file in (SUMMARY_FILE, *TABLE_FILES.values()):
            if not (path / file).exists():
                raise InputError(NOT_AN_AUDIT.format(path=path, file=file))
        summary = read_summary(path / SUMMARY_FILE, AUDIT_SCHEMA_VERSIONS)
        tables = {name: read_table(path / file) for name, file in TABLE_FILES.items()}
        for column in ADJUSTED_GROUP_COLUMNS:  # a version-4 audit: no adjustment
            if column not in tables["groups"].columns and len(tables["groups"].columns) > 1:
                tables["groups"][column] = float("nan")
        return cls(summary=summary, **tables)

    @property
    def duration_s(self) -> float | None:
        """Seconds of speech per clip this audit analysed (None for audits before 2)."""
        return self.summary.get("duration_s")

    @property
    def split(self) -> str | None:
        """The split audited (``test``, ``val``, ``train``, ``all``; None: no split column)."""
        return self.summary.get("split")

    @property
    def metrics(self) -> list[str]:
        return [m["name"] for m in self.summary["metrics"]]

    def metric_specs(self) -> list[MetricSpec]:
        """The audited metrics' definitions, as saved in ``audit.json``."""
        return [MetricSpec.from_dict(m) for m in self.summary["metrics"]]

    def spec(self, metric: str) -> dict[str, Any]:
        """One metric's saved spec (``audit.json``): unit, direction, family, headline, …"""
        return next(m for m in self.summary["metrics"] if m["name"] == metric)

    def overall(self) -> pd.DataFrame:
        """One row per metric: the value over every clip with its interval."""
        return pd.DataFrame.from_dict(self.summary["overall"], orient="index")

    def by_group(self, metric: str, slice: str | None = None) -> pd.DataFrame:
        """Values, intervals and disparities of one metric.

        Indexed by (slice, group), or by group when ``slice`` is given.
        """
        if metric not in self.metrics:
            raise InputError(UNKNOWN_METRIC.format(metric=metric, known=", ".join(self.metrics)))
        rows = self.groups[self.groups["metric"] == metric].drop(columns="metric")
        if slice is not None and slice not in set(rows["slice"]):
            known = ", ".join(dict.fromkeys(rows["slice"]))
            raise InputError(UNKNOWN_SLICE.format(slice=slice, known=known))
        if slice is not None:
            return rows[rows["slice"] == slice].drop(columns="slice").set_index("group")
        return rows.set_index(["slice", "group"])

    def disparities(self) -> pd.DataFrame:
        """Every group compared with a reference, largest absolute difference first."""
        compared = self.groups["difference"].notna() & (self.groups["status"] != "reference")
        rows = self.groups[compared]
        order = rows["difference"].abs().sort_values(ascending=False).index
        return rows.loc[order].reset_index(drop=True)

    def flags(self) -> pd.DataFrame:
        """Flagged disparities: significant after correction and beyond the threshold."""
        return self.disparities().loc[lambda frame: frame["flag"]].reset_index(drop=True)

    def _repr_html_(self) -> str:
        model = html.escape(str(self.summary["model"]["model_id"]))
        tests = self.summary["tests"]
        head = (
            f"<h4>Audit of {model}</h4><p>{self.summary['predictions']['n_clips']} clips"
            f"{'' if self.duration_s is None else f' of {self.duration_s:g} s'}, "
            f"{self.summary['predictions']['n_speakers']} speakers; "
            f"{tests['n_tests']} tests, {tests['correction']} correction; "
            f"{len(self.summary['flags'])} flag(s)</p>"
        )
        flags = self.flags()
        shown = flags if len(flags) else self.overall()
        caption = "<p>Flags</p>" if len(flags) else "<p>Overall (no flags)</p>"
        return head + caption + shown.head(20).to_html(float_format=lambda v: f"{v:.3f}")
