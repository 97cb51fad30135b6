"""Recording conditions per group of a dataset: medians, IQRs and the groups that differ.

A dataset whose groups were recorded differently (one language from noisier videos, one
gender from shorter segments) will show gaps that are the recording's, not the group's.
``conditions_by_group`` joins a conditions table (``s2f conditions``) to a manifest on
``clip_id`` and describes each measure per group of each column: clips measured, median,
quartiles, mean, and the standardised mean difference (SMD) of the group from the rest of
the set, ``(mean_g − mean_rest) / pooled s.d.``. A group whose |SMD| exceeds
``CONDITIONS_EFFECT_SIZE`` (0.5, a "medium" effect on Cohen's scale) is a finding. The SMD
is descriptive (clip level, not a test: clips of a speaker share their recording set-up),
which is why the bar is an effect size and not a p-value. Non-finite values (NaN from an
undecodable clip, −inf loudness of a silent one) are not counted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit._slices import slice_labels
from speech2face.audio.conditions import CONDITION_COLUMNS
from speech2face.audio.conditions_table import read_conditions
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS

CONDITIONS_EFFECT_SIZE = 0.5
"""|Standardised mean difference| of a group from the rest above which it is a finding."""
UNITS = {"speech_s": "s", "snr_db": "dB", "loudness_lufs": "LUFS", "bandwidth_hz": "Hz"}
SUMMARY_COLUMNS = (
    "column",
    "group",
    "measure",
    "n_clips",
    "median",
    "q1",
    "q3",
    "mean",
    "smd",
    "finding",
)


def conditions_by_group(
    manifest: pd.DataFrame,
    conditions: str | os.PathLike | pd.DataFrame,
    *,
    columns: Sequence[str] | None = None,
    measures: Sequence[str] = CONDITION_COLUMNS,
    effect_size: float = CONDITIONS_EFFECT_SIZE,
) -> tuple[pd.DataFrame, list[str]]:
    """Per column, group and measure: median, IQR, mean and SMD from the rest; findings.

    ``columns`` defaults to the demographic columns the manifest has (``age_group`` from
    ``age``); clips missing from the conditions table count as unmeasured (NaN).
    """
    table = conditions if isinstance(conditions, pd.DataFrame) else read_conditions(conditions)
    measured = table.set_index(table["clip_id"].astype(str))
    measured = measured[~measured.index.duplicated()]
    clips = manifest["clip_id"].astype(str)
    if columns is None:
        available = set(manifest.columns) | ({"age_group"} if "age" in manifest else set())
        columns = [c for c in DEMOGRAPHIC_COLUMNS if c in available]
    rows, findings = [], []
    for measure in measures:
        values = measured[measure].reindex(clips).to_numpy(dtype=np.float64)
        finite = np.isfinite(values)
        for column in columns:
            labels = slice_labels(manifest, column).to_numpy(dtype=object)
            for group in sorted(set(labels)):
                inside = (labels == group) & finite
                rest = (labels != group) & finite
                row = _describe(values[inside], values[rest])
                row.update(column=column, group=group, measure=measure)
                row["finding"] = bool(abs(row["smd"]) > effect_size)
                rows.append(row)
                if row["finding"]:
                    findings.append(_sentence(row, np.median(values[rest]), effect_size))
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return frame, findings


def _describe(group: np.ndarray, rest: np.ndarray) -> dict[str, float]:
    n, m = len(group), len(rest)
    if n == 0:
        return dict.fromkeys(("median", "q1", "q3", "mean", "smd"), np.nan) | {"n_clips": 0}
    q1, median, q3 = np.quantile(group, [0.25, 0.5, 0.75])
    smd = np.nan
    if n >= 2 and m >= 2:
        pooled = ((n - 1) * group.var(ddof=1) + (m - 1) * rest.var(ddof=1)) / (n + m - 2)
        smd = (group.mean() - rest.mean()) / np.sqrt(pooled) if pooled > 0 else np.nan
    return {
        "n_clips": n,
        "median": float(median),
        "q1": float(q1),
        "q3": float(q3),
        "mean": float(group.mean()),
        "smd": float(smd),
    }


def _sentence(row: dict, rest_median: float, effect_size: float) -> str:
    unit = UNITS.get(row["measure"], "")
    unit = f" {unit}" if unit else ""
    return (
        f"{row['measure']} of {row['column']}={row['group']} clips: median "
        f"{row['median']:.3g}{unit} (IQR {row['q1']:.3g}–{row['q3']:.3g}) against "
        f"{rest_median:.3g}{unit} in the rest; standardised mean difference "
        f"{row['smd']:+.2f} (beyond ±{effect_size:g}): a gap between these groups may be the "
        f"recording's; audit with --adjust-for {row['measure']}"
    )
