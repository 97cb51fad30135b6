"""The ``audit.json`` summary: provenance, overall values, slices, tests, flags, caveats."""

from __future__ import annotations

import hashlib
import platform
from collections.abc import Sequence
from importlib import metadata
from typing import Any

import numpy as np
import pandas as pd

from audit._aggregate import Aggregates
from audit._evaluate import BEST_CAVEAT, FLAG_FIELDS, family_sizes
from audit._intervals import DETECTION_POWER, P_FLOOR
from audit._metrics import MetricSpec
from audit._slices import OVERALL
from audit.artifacts import AUDIT_SCHEMA_VERSION
from audit.config import BEST, FAMILY_METRIC, AuditConfig
from speech2face.prediction.artifact import Predictions
from speech2face.vocabulary import LABEL_SOURCES, UNKNOWN


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


NOT_LABEL_PROVENANCE = ("true_landmarks_source",)
"""``*_source`` columns of the predictions schema that say where landmarks came from
(``renderer``, ``dlib``), not where a label came from."""


def _label_caveats(table: pd.DataFrame) -> tuple[dict[str, dict[str, int]], list[str]]:
    provenance, caveats = {}, []
    sources = [c for c in table.columns if c.endswith("_source") and c not in NOT_LABEL_PROVENANCE]
    for column in sources:
        counts = table[column].astype(str).value_counts().to_dict()
        provenance[column[: -len("_source")]] = {str(k): int(v) for k, v in counts.items()}
        inferred = int(counts.get("inferred", 0))
        if inferred:
            caveats.append(
                f"{column[: -len('_source')]} labels of {inferred} clip(s) are inferred "
                "(by a classifier, not self-reported): group results inherit its errors"
            )
    unknown_sources = {
        s
        for counts in provenance.values()
        for s in counts
        if s not in (*LABEL_SOURCES, UNKNOWN, "nan")  # unknown: no label, so no source
    }
    if unknown_sources:
        caveats.append(f"unrecognised label sources: {sorted(unknown_sources)}")
    return provenance, caveats


def audit_summary(
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
    if config.reference == BEST:
        caveats.append(BEST_CAVEAT)
    config_dict = config.to_dict()
    return {
        "schema_version": AUDIT_SCHEMA_VERSION,
        "kind": "audit",
        "model": {
            "model_id": loaded.meta.get("model_id", "unknown"),
            "config_hash": loaded.meta.get("config_hash", "unknown"),
            "weights_sha256": loaded.meta.get("signature", {}).get("weights_sha256"),
        },
        "predictions": {
            "n_clips": len(table),
            "n_speakers": aggregates.n_speakers_total,
            "manifest_sha256": loaded.meta.get("manifest_sha256"),
            "predictions_hash": table_hash(loaded.table),
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
                **spec.to_dict(),
                "threshold": config.threshold_for(spec, overall["value"].get(spec.name, np.nan)),
                "threshold_rule": str(config.threshold_rule(spec)),
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
            "scope": config.family,
            "family": (
                "the tests of each metric apart"
                if config.family == FAMILY_METRIC
                else "every test of the audit"
            )
            + "; a best-group reference adds every pair",
            "family_sizes": family_sizes(tests, config),
            "reference": (
                "each group against the overall value computed in the same replicate"
                if config.reference == "overall"
                else "the named group of each slice (overall where none is named)"
                if isinstance(config.reference, dict)
                else "the best group of each slice, chosen from the data: simultaneous "
                "intervals (max-|t| bootstrap over every pair of groups)"
            ),
            "p_value": (
                "two-sided normal test on the bootstrap standard error of the difference, "
                "floored at half the standard error of a speaker-level permutation test "
                "(so a group without bootstrap variance is still tested)"
            ),
            "p_floor": P_FLOOR,
            "p_floor_note": f"a p-value of {P_FLOOR:g} reads < {P_FLOOR:g}",
            "interval": (
                "BCa over the speaker-clustered bootstrap (acceleration from each speaker's "
                "influence), nominal level widened for the speakers (Hesterberg's expanded "
                "percentile); Wilson or Fisher-z where every speaker has one clip; none "
                "under the minimum of speakers"
            ),
            "flag_rule": (
                "significant after correction and the difference's interval wholly beyond "
                "the metric's practical threshold; significant_small: significant, interval "
                "not wholly beyond it"
            ),
            "n_flags": int(groups["flag"].sum()),
            "n_significant_small": int(groups["significant_small"].sum()),
            "detectable_difference": (
                f"per tested group (groups.parquet): the true gap detected with "
                f"{DETECTION_POWER:.0%} power after correction, "
                "(z(1 - alpha / 2m) + z(power)) x the difference's bootstrap standard error, "
                "m the family size; a gap smaller than this is likely to go unflagged"
            ),
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
