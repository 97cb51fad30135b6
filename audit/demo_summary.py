"""The demo's three-line summary of what the audits found, from saved results only."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.result import AuditResult

VOICE_METRIC_PREFIXES = ("s2f_", "feature_", "recall@")
VOICE_METRIC_SUFFIX = "_voice_added_error"
DURATION_COLUMN = "duration_s"
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


def summary_from(
    baseline: AuditResult, rebalanced: AuditResult, changes: pd.DataFrame, *, method: str
) -> list[str]:
    """Three lines: the baseline's largest disparity, its change after rebalancing (from the
    paired comparison's ``changes``), and the flag and regression counts."""
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
    cell = changes[
        (changes["metric"] == row["metric"])
        & (changes["slice"] == row["slice"])
        & (changes["group"] == row["group"])
    ]
    if cell.empty:
        second = f"After {method}: {what} is not in the comparison."
    else:
        c = cell.iloc[0]
        second = (
            f"After {method}: that gap went {c['gap_baseline']:+.3f} -> {c['gap']:+.3f} "
            f"(|gap| change {c['gap_change']:+.3f}, "
            f"{_interval(c['gap_change_ci_low'], c['gap_change_ci_high'])}, "
            f"p_adj={c['gap_p_adjusted']:.2g}); the metric itself changed {c['delta']:+.3f} "
            f"({_interval(c['delta_ci_low'], c['delta_ci_high'])})."
        )
    narrowed = int(((changes["gap_p_adjusted"] < ALPHA) & (changes["gap_change"] < 0)).sum())
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
