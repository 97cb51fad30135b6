"""The audit as the report sees it: groups with privacy suppression, headline metrics, flags.

Shared by the model-card sections (``_audit_card``) and the figure sections
(``_audit_figures``) of the audit report.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from markupsafe import Markup

from audit.artifacts import SEPARATOR
from audit.privacy import is_suppressed
from audit.result import AuditResult
from reports import _format as fmt
from reports._page import table_html
from speech2face.artifacts import DURATION_COLUMN

PREFERRED_DISTANCE = "cosine"

RELATIVE_COLUMNS = (
    "difference",
    "diff_ci_low",
    "diff_ci_high",
    "ratio",
    "ratio_ci_low",
    "ratio_ci_high",
    "p_value",
    "p_adjusted",
    "diff_se",
    "adjusted_difference",
    "adjusted_ci_low",
    "adjusted_ci_high",
    "adjusted_p_adjusted",
)
"""The numbers of a group relative to its reference (raw and adjusted for recording
conditions): hidden with a hidden reference."""
RELATIVE_FLAGS = ("flag", "significant_small", "adjusted_flag")

UNIT_ORDER = {"proportion": 0, "years": 1}
"""Flag figures of agreement and recall (points) first, then age errors, then the rest."""


@dataclass
class AuditView:
    """A loaded audit with the report's privacy view of its groups table."""

    result: AuditResult
    privacy_k: int
    groups: pd.DataFrame

    @classmethod
    def of(cls, result: AuditResult, privacy_k: int) -> AuditView:
        groups = result.groups.copy()
        groups["suppressed"] = is_suppressed(groups["n_speakers"], privacy_k)
        groups["withheld"] = fmt.protected(
            groups, by=["metric", "slice"], privacy_k=privacy_k
        ) & ~groups["suppressed"].to_numpy(dtype=bool)
        hidden = groups[groups["suppressed"] | groups["withheld"]]
        hidden_keys = set(zip(hidden["metric"], hidden["slice"], hidden["group"], strict=True))
        keys = zip(groups["metric"], groups["slice"], groups["reference"], strict=True)
        groups["reference_hidden"] = [key in hidden_keys for key in keys]
        against = groups["reference_hidden"].to_numpy(dtype=bool)
        groups.loc[against, list(RELATIVE_COLUMNS)] = float("nan")
        groups.loc[against, list(RELATIVE_FLAGS)] = False
        return cls(result=result, privacy_k=privacy_k, groups=groups)

    @functools.cached_property
    def _hidden_references(self) -> set[tuple[str, str, str]]:
        rows = self.groups[self.groups["reference_hidden"]]
        return set(zip(rows["metric"], rows["slice"], rows["group"], strict=True))

    def against_hidden_reference(self, rows: pd.DataFrame) -> pd.Series:
        """Whether each of ``rows`` (metric, slice, group) is compared with a reference the
        report hides: its difference would give the reference's value, so it is not shown."""
        keys = zip(rows["metric"], rows["slice"], rows["group"], strict=True)
        return pd.Series([key in self._hidden_references for key in keys], index=rows.index)

    @functools.cached_property
    def _withheld(self) -> set[tuple[str, str, str]]:
        rows = self.groups[self.groups["withheld"]]
        return set(zip(rows["metric"], rows["slice"], rows["group"], strict=True))

    def shown_counts(self, rows: pd.DataFrame, column: str) -> pd.Series:
        """``rows[column]`` (a count) with :data:`~reports._format.WITHHELD` where the
        (metric, slice, group) is withheld by complementary suppression."""
        keys = zip(rows["metric"], rows["slice"], rows["group"], strict=True)
        withheld = pd.Series([key in self._withheld for key in keys], index=rows.index)
        return rows[column].astype(float).where(~withheld, fmt.WITHHELD)

    @functools.cached_property
    def _visible(self) -> tuple[pd.DataFrame, dict[tuple[str, str], slice | np.ndarray]]:
        """The groups shown (not suppressed, not empty) and each (metric, slice)'s rows in
        them: one pass, then lookups."""
        shown = ~self.groups["suppressed"] & (self.groups["status"] != "empty")
        table = self.groups[shown].reset_index(drop=True)
        return table, _positions(table)

    @property
    def summary(self) -> dict[str, Any]:
        return self.result.summary

    def spec(self, metric: str) -> dict[str, Any]:
        return self.result.spec(metric)

    def unit(self, metric: str) -> str:
        return self.spec(metric)["unit"]

    def find(self, **facets: Any) -> list[str]:
        """Metrics whose spec holds every value of ``facets`` (``family="agreement"``)."""
        return [
            m["name"]
            for m in self.summary["metrics"]
            if all(m[key] == value for key, value in facets.items())
        ]

    def single_slices(self, *, with_duration: bool = True) -> list[str]:
        return [
            s["name"]
            for s in self.summary["slices"]
            if len(s["columns"]) == 1 and (with_duration or s["columns"][0] != DURATION_COLUMN)
        ]

    def rows_of_slices(self, metric: str, slices: Sequence[str]) -> pd.DataFrame:
        """Visible groups of one metric in each of ``slices``, in that order (one lookup,
        as :meth:`rows` per slice concatenated)."""
        table, positions = self._visible
        parts = [positions[(metric, s)] for s in slices if (metric, s) in positions]
        rows = parts[0] if len(parts) == 1 else (np.r_[tuple(parts)] if parts else [])
        return table.iloc[rows].reset_index(drop=True)

    def rows(self, metric: str, slice_name: str) -> pd.DataFrame:
        """Groups of one metric and slice, suppressed and empty groups left out."""
        return self.rows_of_slices(metric, [slice_name])


def _positions(table: pd.DataFrame) -> dict[tuple[str, str], slice | np.ndarray]:
    """Rows of each (metric, slice) of ``table``: a slice where they are contiguous (as an
    audit saves them; slicing costs no copy per column), else their positions."""
    found = table.groupby(["metric", "slice"], sort=False).indices
    return {
        key: slice(rows[0], rows[-1] + 1) if rows[-1] - rows[0] == len(rows) - 1 else rows
        for key, rows in found.items()
    }


def suppressed_flag_count(audit: AuditView) -> int:
    """Flags in groups below the privacy threshold: counted, never shown."""
    flags = audit.result.flags()
    hidden = is_suppressed(flags["n_speakers"], audit.privacy_k)
    return int((hidden | audit.against_hidden_reference(flags)).sum())


def visible_flags(audit: AuditView) -> pd.DataFrame:
    """Flags shown: one-column slices first, points before years before other units (whose
    threshold means less), then by difference relative to the threshold."""
    flags = audit.result.flags()
    hidden = is_suppressed(flags["n_speakers"], audit.privacy_k)
    flags = flags[~(hidden | audit.against_hidden_reference(flags))]
    order = pd.DataFrame(
        {
            "order": flags["slice"].str.count(SEPARATOR),
            "unit": [UNIT_ORDER.get(audit.unit(m), len(UNIT_ORDER)) for m in flags["metric"]],
            "size": -(
                flags["difference"].abs() / flags["threshold"].where(flags["threshold"] > 0, 1)
            ),
        },
        index=flags.index,
    ).sort_values(["order", "unit", "size"], kind="stable")
    return flags.loc[order.index].reset_index(drop=True)


def primary_metrics(audit: AuditView) -> list[str]:
    """Metrics that get a forest plot: the headline metrics of their specs."""
    return audit.find(headline=True)


def recall_metrics(audit: AuditView, match_on: str | None = None) -> dict[int, str]:
    """recall@k of the preferred distance, by k: on the mixed gallery, or on galleries
    matched on ``match_on``."""
    found: dict[str, dict[int, str]] = {}
    gallery = "mixed" if match_on is None else "matched"
    for name in audit.find(family="retrieval", gallery=gallery):
        spec = audit.spec(name)
        if spec.get("match_on") == match_on:
            found.setdefault(spec["subject"], {})[spec["k"]] = name
    if not found:
        return {}
    return found.get(PREFERRED_DISTANCE, next(iter(found.values())))


def metric_table(audit: AuditView, metric: str) -> Markup:
    """Every group of every slice (intersections too) for one metric, folded."""
    rows = audit.groups[(audit.groups["metric"] == metric) & (audit.groups["slice"] != "overall")]
    unit = audit.unit(metric)
    hidden = rows["suppressed"].to_numpy()
    display = pd.DataFrame(
        {
            "slice": rows["slice"],
            "group": rows["group"],
            "speakers": audit.shown_counts(rows, "n_speakers").where(~hidden),
            "clips": audit.shown_counts(rows, "n_clips").where(~hidden),
            "value": rows["value"].where(~hidden),
            "95% CI": [
                "–" if h else fmt.interval(lo, hi, unit)
                for h, lo, hi in zip(hidden, rows["ci_low"], rows["ci_high"], strict=True)
            ],
            "reference": rows["reference"],
            "difference": rows["difference"].where(~hidden),
            "difference 95% CI": [
                "–" if h else fmt.interval(lo, hi, unit, signed=True)
                for h, lo, hi in zip(hidden, rows["diff_ci_low"], rows["diff_ci_high"], strict=True)
            ],
            "p (adjusted)": rows["p_adjusted"].where(~hidden),
            "status": [
                fmt.SUPPRESSED if h else ("flag" if f else s)
                for h, f, s in zip(hidden, rows["flag"], rows["status"], strict=True)
            ],
        }
    )
    table = table_html(
        display,
        formats={
            "speakers": fmt.private_count(audit.privacy_k),
            "clips": fmt.private_count(audit.privacy_k),
            "value": fmt.value_formatter(unit),
            "difference": fmt.difference_formatter(unit),
            "p (adjusted)": fmt.p_value,
        },
        badges={"status": fmt.badge},
        caption=f"groups.parquet rows with metric = {metric}",
    )
    return Markup(
        "<details><summary>Table: {} for every group and intersection ({} rows)"
        "</summary>{}</details>"
    ).format(metric, len(display), table)
