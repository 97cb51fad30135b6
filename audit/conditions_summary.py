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
from collections.abc import Mapping, Sequence

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
    "n_speakers",
    "n_clips",
    "median",
    "q1",
    "q3",
    "mean",
    "rest_median",
    "smd",
    "finding",
)
"""``n_speakers``: the group's speakers in the manifest (measured or not; NaN without a
``speaker_id`` column), the count a report's privacy rule reads; ``n_clips``: its measured
clips; ``rest_median``: the median of the rest of the set."""


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
    speakers = manifest["speaker_id"].astype(str) if "speaker_id" in manifest else None
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
                members = speakers[labels == group] if speakers is not None else None
                row["n_speakers"] = np.nan if members is None else members.nunique()
                row["finding"] = bool(abs(row["smd"]) > effect_size)
                rows.append(row)
                if row["finding"]:
                    findings.append(finding_sentence(row, effect_size))
    frame = pd.DataFrame(rows, columns=list(SUMMARY_COLUMNS))
    return frame, findings


def _describe(group: np.ndarray, rest: np.ndarray) -> dict[str, float]:
    n, m = len(group), len(rest)
    rest_median = float(np.median(rest)) if m else np.nan
    if n == 0:
        empty = dict.fromkeys(("median", "q1", "q3", "mean", "smd"), np.nan)
        return empty | {"n_clips": 0, "rest_median": rest_median}
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
        "rest_median": rest_median,
        "smd": float(smd),
    }


def format_measure(measure: str, value: float) -> str:
    """A measure's value as reports print it: Hz and rates whole, fractions in 3 significant
    digits, the rest (seconds, dB, LUFS) to one decimal; a dash when not finite."""
    if not np.isfinite(value):
        return "–"
    if measure in ("bandwidth_hz", "sample_rate_original"):
        return f"{value:.0f}"
    if measure == "clipping_fraction":
        return f"{value:.3g}"
    return f"{value:.1f}"


def finding_sentence(row: Mapping[str, object], effect_size: float = CONDITIONS_EFFECT_SIZE) -> str:
    """The finding of one summary row (a group beyond the effect size), in one sentence."""
    measure = str(row["measure"])
    shown = {key: format_measure(measure, float(row[key])) for key in ("median", "q1", "q3")}
    rest = format_measure(measure, float(row["rest_median"]))
    unit = UNITS.get(measure, "")
    unit = f" {unit}" if unit else ""
    return (
        f"{measure} of {row['column']}={row['group']} clips: median "
        f"{shown['median']}{unit} (IQR {shown['q1']}–{shown['q3']}) against "
        f"{rest}{unit} in the rest; standardised mean difference "
        f"{row['smd']:+.2f} (beyond ±{effect_size:g}): a gap between these groups may be the "
        f"recording's; audit with --adjust-for {row['measure']}"
    )
