"""The demo's three-line summary of what the audits found, from saved results only."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from audit.artifacts import SEPARATOR
from audit.compare import TOWARD
from audit.result import AuditResult
from speech2face.artifacts import DURATION_COLUMN

VOICE_METRIC_PREFIXES = ("s2f_", "feature_", "recall@")
VOICE_METRIC_SUFFIX = "_voice_added_error"
ALPHA = 0.05


def _interval(low: float, high: float) -> str:
    return f"95% CI [{low:+.3f}, {high:+.3f}]"


def is_voice_metric(metric: str) -> bool:
    """True for metrics of what the voice model predicts (not of the true face alone)."""
    return metric.startswith(VOICE_METRIC_PREFIXES) or metric.endswith(VOICE_METRIC_SUFFIX)


def largest_disparity(disparities: pd.DataFrame) -> tuple[pd.Series, bool] | None:
    """The voice-model disparity between demographic groups (slices without ``duration_s``)
    farthest beyond its threshold among the flagged ones (the largest tested one if none is
    flagged), and whether it was flagged; None when no such disparity could be tested."""
    demographic = ~disparities["slice"].str.contains(DURATION_COLUMN, regex=False)
    voice = disparities["metric"].map(is_voice_metric)
    rows = disparities[(disparities["status"] == "ok") & voice & demographic]
    rows = rows.dropna(subset=["difference", "p_adjusted"])
    if rows.empty:
        return None
    flagged = rows[rows["flag"].astype(bool)]
    pool = flagged if len(flagged) else rows
    scale = pool["difference"].abs() / pool["threshold"].where(pool["threshold"] > 0, 1.0)
    return pool.loc[scale.idxmax()], bool(len(flagged))


def least_represented(rebalance: dict[str, Any]) -> list[tuple[str, str, float, float]]:
    """``(column, group, share before, share after)`` of the least-represented train group of
    each column the demo rebalanced on, from its ``rebalance.json`` (joint-group shares)."""
    columns = list(rebalance.get("columns", []))
    found = []
    for position, column in enumerate(columns):
        marginal = {
            moment: _marginal(rebalance.get(f"shares_{moment}", {}), position)
            for moment in ("before", "after")
        }
        if not marginal["before"]:
            continue
        group = min(sorted(marginal["before"]), key=marginal["before"].get)
        found.append(
            (column, group, marginal["before"][group], marginal["after"].get(group, float("nan")))
        )
    return found


def _marginal(joint: dict[str, float], position: int) -> dict[str, float]:
    shares: dict[str, float] = {}
    for key, share in joint.items():
        group = key.split(SEPARATOR)[position]
        shares[group] = shares.get(group, 0.0) + share
    return shares


def _gap_text(disparities: pd.DataFrame, metric: str, column: str, group: str) -> str:
    """The group's disparity to the reference with its CI, or why there is none."""
    rows = disparities[(disparities["metric"] == metric) & (disparities["slice"] == column)]
    if (rows["reference"] == group).any():
        return "reference (best group)"
    cell = rows[(rows["group"] == group) & (rows["status"] == "ok")].dropna(subset=["difference"])
    if cell.empty:
        return "not tested"
    row = cell.iloc[0]
    return (
        f"{row['difference']:+.3f} [{row['diff_ci_low']:+.3f}, {row['diff_ci_high']:+.3f}] "
        f"vs {row['reference']}"
    )


def _least_represented_gaps(
    metric: str,
    baseline: AuditResult,
    rebalanced: AuditResult,
    changes: pd.DataFrame,
    rebalance: dict[str, Any],
) -> list[str]:
    parts = []
    before_all, after_all = baseline.disparities(), rebalanced.disparities()
    for column, group, share_before, share_after in least_represented(rebalance):
        before, after = (_gap_text(d, metric, column, group) for d in (before_all, after_all))
        paired = changes[
            (changes["metric"] == metric)
            & (changes["slice"] == column)
            & (changes["group"] == group)
        ].dropna(subset=[TOWARD, "gap_p_adjusted"])
        change = ""
        if not paired.empty:
            c = paired.iloc[0]
            change = (
                f"; toward parity {c[TOWARD]:+.3f} "
                f"[{c[f'{TOWARD}_ci_low']:+.3f}, {c[f'{TOWARD}_ci_high']:+.3f}], "
                f"p_adj={c['gap_p_adjusted']:.2g}"
            )
        parts.append(
            f"{column}={group} ({share_before:.0%} -> {share_after:.0%} of train clips): "
            f"{before} -> {after}{change}"
        )
    return parts


def summary_from(
    baseline: AuditResult,
    rebalanced: AuditResult,
    changes: pd.DataFrame,
    *,
    rebalance: dict[str, Any],
) -> list[str]:
    """Three lines: the baseline's largest disparity; the gaps of the least-represented train
    groups in that metric before and after rebalancing (``rebalance``: the demo's
    ``rebalance.json``; paired changes from the comparison's ``changes``); flag and
    regression counts."""
    method = rebalance.get("method", "rebalanced")
    found = largest_disparity(baseline.disparities())
    if found is None:
        return [
            "Baseline: no disparity could be tested (too few speakers per group).",
            f"Rebalanced ({method}): {len(rebalanced.flags())} flag(s).",
            "Comparison: nothing to compare.",
        ]
    row, flagged = found
    what = f"{row['metric']} for {row['slice']}={row['group']}"
    first = (
        f"Baseline: {'largest flagged' if flagged else 'no flagged disparity; largest'} "
        f"disparity: {what} differs from {row['reference']} by {row['difference']:+.3f} "
        f"({_interval(row['diff_ci_low'], row['diff_ci_high'])}, "
        f"p_adj={row['p_adjusted']:.2g}); {len(baseline.flags())} flag(s) in all."
    )
    gaps = _least_represented_gaps(row["metric"], baseline, rebalanced, changes, rebalance)
    second = (
        f"After {method}, {row['metric']} gap (95% CI) of the least-represented train groups: "
        + ("; ".join(gaps) if gaps else "no rebalanced column recorded")
        + "."
    )
    narrowed = int(((changes["gap_p_adjusted"] < ALPHA) & (changes[TOWARD] > 0)).sum())
    improved = (changes["p_adjusted"] < ALPHA) & (
        changes["delta"] * np.where(changes["higher_is_better"], 1.0, -1.0) > 0
    )
    third = (
        f"Rebalanced model: {len(rebalanced.flags())} flag(s) (baseline {len(baseline.flags())}); "
        f"paired over {len(changes)} cells: {int(changes['regression'].sum())} significant "
        f"regression(s), {int(improved.sum())} significant improvement(s), "
        f"{int(changes['gap_widened'].sum())} gap(s) widened, {narrowed} narrowed (Holm)."
    )
    return [first, second, third]


def trials_line(result: Any) -> str:
    """The trials audit's line: overall EER with its interval, the largest tested EER gap
    to the reference, the cross-lingual EER gap (unheard − heard languages) when the audit
    split them, and the flag count (``result``: a :class:`TrialsAuditResult`)."""
    trials = result.summary["trials"]
    eer = result.summary["overall"]["eer"]
    line = (
        f"Trials (baseline as a voice-face matcher, test split): EER {eer['value']:.3f} "
        f"(95% CI [{eer['ci_low']:.3f}, {eer['ci_high']:.3f}]) over {trials['n_trials']} trials of "
        f"{trials['n_voice_speakers']} speakers"
    )
    groups = result.groups
    tested = groups[(groups["metric"] == "eer") & groups["p_value"].notna()]
    if len(tested):
        row = tested.loc[tested["difference"].abs().idxmax()]
        line += (
            f"; largest EER gap {row['slice']}={row['group']} {row['difference']:+.3f} "
            f"{_interval(row['diff_ci_low'], row['diff_ci_high'])} vs {row['reference']}"
        )
    languages = result.languages
    if len(languages):
        gap = languages[(languages["metric"] == "eer") & (languages["slice"] == "overall")]
        if len(gap) and pd.notna(gap["gap"].iloc[0]):
            row = gap.iloc[0]
            line += (
                f"; cross-lingual EER gap (unheard - heard languages) {row['gap']:+.3f} "
                f"{_interval(row['gap_ci_low'], row['gap_ci_high'])}"
            )
    return f"{line}; {len(result.summary['flags'])} flag(s)."
