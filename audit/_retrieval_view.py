"""Retrieval as per-query components: recall@k hits that aggregate like any other metric.

``audit.retrieval`` ranks each predicted feature against a gallery of true faces; here
each query's hit at k becomes a 0/1 component ``recall@<k>_<distance>`` (and
``..._matched`` for the demographically matched gallery), so recall per group, its
speaker-clustered interval and its disparities come from the same engine as every
other metric. The gallery (size, chance K/G, seed) and the cross-group confusion of
the top-k hits are reported beside them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit import retrieval
from audit._components import PRED_FEATURE, RETRIEVAL, TRUE_FEATURE, mean_metric
from audit._metrics import MetricSpec

MATCHED_SUFFIX = "_matched"
MIXED, MATCHED = "mixed", "matched"
PREFERRED_DISTANCE = "cosine"
CONFUSION_K = 10


def retrieval_specs(
    distances: Sequence[str],
    *,
    ks: Sequence[int] = retrieval.KS,
    matched: bool = False,
    match_on: str | None = None,
) -> list[MetricSpec]:
    """recall@k metrics for each distance, mixed gallery and (optionally) matched gallery.

    Mixed-gallery recall is an overall and per-group figure, never tested across groups;
    matched-gallery recall (galleries of ``match_on``'s groups) is tested on that slice.
    The headline is the largest k of the mixed gallery, by cosine (else the first distance).
    """
    galleries = {"": MIXED, MATCHED_SUFFIX: MATCHED} if matched else {"": MIXED}
    features = (f"feature:{PRED_FEATURE}", f"feature:{TRUE_FEATURE}")
    preferred = PREFERRED_DISTANCE if PREFERRED_DISTANCE in distances else next(iter(distances), "")
    return [
        mean_metric(
            f"recall@{k}_{distance}{suffix}",
            RETRIEVAL,
            features,
            higher_is_better=True,
            family="retrieval",
            binary=True,
            subject=distance,
            k=k,
            gallery=gallery,
            match_on=match_on if gallery == MATCHED else None,
            headline=gallery == MIXED and distance == preferred and k == max(ks),
        )
        for suffix, gallery in galleries.items()
        for distance in distances
        for k in ks
    ]


def _gallery_summary(gallery: retrieval.Gallery, ks: Sequence[int]) -> dict[str, Any]:
    summary = {
        "mode": gallery.mode,
        "match_on": gallery.group_column,
        "nominal_size": gallery.nominal_size,
        "seed": gallery.seed,
        "groups": gallery.summary(ks).to_dict(orient="records"),
    }
    if gallery.mode == "matched":
        summary["common_size"] = min((b.size for b in gallery.blocks), default=0)
        summary["excluded_groups"] = [group for group, _, _ in gallery.excluded]
    return summary


def retrieval_evidence(
    table: pd.DataFrame,
    features: Mapping[str, np.ndarray],
    specs: Sequence[MetricSpec],
    *,
    valid: np.ndarray,
    gallery_size: int,
    seed: int,
    match_on: str | None,
    confusion_column: str | None,
    feature_rows: np.ndarray | None = None,
    min_group_speakers: int = 2,
) -> tuple[dict[str, np.ndarray], dict[str, Any], pd.DataFrame]:
    """Per-clip hit components for ``specs``, the galleries used, and the hit confusion.

    Clips whose features are not ``valid`` take part in no gallery and get NaN.
    ``feature_rows[i]`` is the feature row of table row i (default: the same row).
    """
    recall = [spec for spec in specs if spec.component == RETRIEVAL]
    if not recall:
        return {}, {}, pd.DataFrame()
    rows = np.flatnonzero(valid)
    subset = table.iloc[rows].reset_index(drop=True)
    read_rows = rows if feature_rows is None else np.asarray(feature_rows)[rows]
    # The feature matrices stay memory-mapped: retrieval reads the valid rows in chunks.
    predicted, true = features[PRED_FEATURE], features[TRUE_FEATURE]
    components: dict[str, np.ndarray] = {}
    summary: dict[str, Any] = {}
    galleries = {MIXED: None}
    if any(spec.gallery == MATCHED for spec in recall):
        galleries[MATCHED] = match_on
    for mode, column in galleries.items():
        wanted = [spec for spec in recall if spec.gallery == mode]
        distances = sorted({str(spec.subject) for spec in wanted})
        ks = sorted({int(spec.k or 0) for spec in wanted})
        gallery = retrieval.build_gallery(
            subset,
            size=gallery_size,
            seed=seed,
            match_on=column,
            min_group_speakers=min_group_speakers,
        )
        ranked = gallery.sizes() > 0
        smallest = min((block.size for block in gallery.blocks), default=0)
        ks = [k for k in ks if k <= smallest] or ks[:1]
        hits = retrieval.retrieval_components(
            predicted, true, gallery, metrics=distances, ks=ks, feature_rows=read_rows
        )
        for spec in wanted:
            column_name = f"recall@{spec.k}_{spec.subject}"
            values = np.full(len(table), np.nan)
            if column_name in hits.columns:
                hit = hits[column_name].to_numpy(dtype=np.float64)
                values[rows] = np.where(ranked, hit, np.nan)
            components[spec.name] = values
        summary[mode] = _gallery_summary(gallery, ks)
    confusion = pd.DataFrame()
    if confusion_column is not None:
        mixed = retrieval.build_gallery(subset, size=gallery_size, seed=seed)
        k = min(CONFUSION_K, min(block.size for block in mixed.blocks) - 1)
        if k >= 1:
            groups = subset[confusion_column].astype(str).to_numpy()
            confusion = retrieval.retrieval_confusion(
                predicted, true, mixed, groups, k=k, feature_rows=read_rows
            )
            confusion.insert(0, "k", k)
            confusion.insert(0, "slice", confusion_column)
            summary["confusion"] = {"column": confusion_column, "k": k, "distance": "cosine"}
    return components, summary, confusion
