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
from audit._slices import slice_labels

MATCHED_SUFFIX = "_matched_"
MIXED, MATCHED = "mixed", "matched"
PREFERRED_DISTANCE = "cosine"
CONFUSION_K = 10
MIXED_GALLERY_NOTE = (
    "mixed gallery: depends on the gallery's composition (a group's recall falls with the "
    "number of look-alike faces of its own group in the gallery), so it is a per-group "
    "figure, never tested across groups; compare groups with the matched recall"
)
SMALL_GALLERY = (
    "{metric} not computed: its smallest gallery holds {size} face(s), and recall@{k} among "
    "{k} faces or fewer is 1 whatever the model does"
)
SEVERAL_GROUPS = "{column}: some speakers have clips in two groups, so no matched gallery"


def retrieval_specs(
    distances: Sequence[str], *, ks: Sequence[int] = retrieval.KS, matched: Sequence[str] = ()
) -> list[MetricSpec]:
    """recall@k for each distance on the mixed gallery and on galleries matched on each
    column of ``matched`` (``recall@10_cosine_matched_gender``).

    Only matched recall is tested across groups, on its own column's slice. The headline
    is the largest k by cosine (else the first distance): matched where there are matched
    galleries, else mixed.
    """
    galleries = [(MIXED, None, ""), *((MATCHED, c, MATCHED_SUFFIX + c) for c in matched)]
    features = (f"feature:{PRED_FEATURE}", f"feature:{TRUE_FEATURE}")
    preferred = PREFERRED_DISTANCE if PREFERRED_DISTANCE in distances else next(iter(distances), "")
    headline = MATCHED if matched else MIXED
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
            match_on=column,
            headline=gallery == headline and distance == preferred and k == max(ks),
        )
        for gallery, column, suffix in galleries
        for distance in distances
        for k in ks
    ]


def matched_columns(
    table: pd.DataFrame, requested: Sequence[str] | None, slice_columns: Sequence[str]
) -> tuple[list[str], list[str]]:
    """The columns to match galleries on, and notes on sliced columns left out.

    ``requested`` None is every sliced column whose speakers each have one group (a
    speaker in two languages cannot be placed in one language's gallery); a requested
    column's mixed speakers are refused by :func:`retrieval.build_gallery`.
    """
    if requested is not None:
        return list(requested), []
    columns, notes = [], []
    speakers, names = pd.factorize(table["speaker_id"].astype(str))
    for column in slice_columns:
        labels = pd.factorize(slice_labels(table, column))[0]
        pairs = np.unique(speakers.astype(np.int64) * (labels.max(initial=0) + 1) + labels)
        if len(pairs) > len(names):  # a speaker with two labels
            notes.append(SEVERAL_GROUPS.format(column=column))
        else:
            columns.append(column)
    return columns, notes


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
    confusion_column: str | None,
    feature_rows: np.ndarray | None = None,
    min_group_speakers: int = 2,
) -> tuple[dict[str, np.ndarray], dict[str, Any], pd.DataFrame]:
    """Per-clip hit components for ``specs``, the galleries used, and the hit confusion.

    One mixed gallery, and one matched gallery per ``match_on`` column of ``specs`` (its
    groups from the column's slice labels). Clips whose features are not ``valid`` take
    part in no gallery and get NaN. ``feature_rows[i]`` is the feature row of table row i
    (default: the same row). The summary holds ``mixed`` and ``matched`` (by column), and
    ``not_computed`` (metric → why): recall@k where a gallery holds k faces or fewer.
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
    summary: dict[str, Any] = {MIXED: {}, MATCHED: {}, "not_computed": {}}
    for column in dict.fromkeys(spec.match_on for spec in recall):
        wanted = [spec for spec in recall if spec.match_on == column]
        distances = sorted({str(spec.subject) for spec in wanted})
        ks = sorted({int(spec.k or 0) for spec in wanted})
        grouped = (
            subset if column is None else subset.assign(**{column: slice_labels(subset, column)})
        )
        gallery = retrieval.build_gallery(
            grouped,
            size=gallery_size,
            seed=seed,
            match_on=column,
            min_group_speakers=min_group_speakers,
        )
        ranked = gallery.sizes() > 0
        smallest = min((block.size for block in gallery.blocks), default=0)
        for spec in wanted:
            if int(spec.k or 0) >= smallest:
                summary["not_computed"][spec.name] = SMALL_GALLERY.format(
                    metric=spec.name, size=smallest, k=spec.k
                )
        ks = [k for k in ks if k < smallest]
        hits = (
            retrieval.retrieval_components(
                predicted, true, gallery, metrics=distances, ks=ks, feature_rows=read_rows
            )
            if ks
            else pd.DataFrame()
        )
        for spec in wanted:
            column_name = f"recall@{spec.k}_{spec.subject}"
            values = np.full(len(table), np.nan)
            if column_name in hits.columns:
                hit = hits[column_name].to_numpy(dtype=np.float64)
                values[rows] = np.where(ranked, hit, np.nan)
            components[spec.name] = values
        if column is None:
            summary[MIXED] = _gallery_summary(gallery, ks) | {"note": MIXED_GALLERY_NOTE}
        else:
            summary[MATCHED][column] = _gallery_summary(gallery, ks)
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
