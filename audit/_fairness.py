"""Per-group confusion matrices (the paper's Fig. 5, per group) and fairlearn's views.

fairlearn's numbers are point summaries at clip level, reported next to the engine's
own disparities (which carry speaker-clustered intervals) for readers who know them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from audit._components import LABEL_COLUMNS, Labels
from audit._slices import Slice
from speech2face.prediction.artifact import ATTRIBUTES

CONFUSION_KEYS = ("attribute", "face", "slice", "group", "true_class", "predicted_class")
MIN_CONFUSION_SPEAKERS = 2
"""Fewest speakers of a group whose confusion matrix is computed: one speaker's matrix
is that speaker's clips (all one true class), not a rate of the group."""
ONE_SPEAKER_CONFUSION = (
    "confusion matrices not computed for {n} group(s) with fewer than "
    f"{MIN_CONFUSION_SPEAKERS} speakers ({{groups}}): one speaker's clips are not a group's "
    "error rates"
)
POSITIVE_GENDER = "female"
"""The positive class of the binary gender prediction in demographic parity / equalised odds."""


def confusion_tables(
    table: pd.DataFrame,
    slices: Sequence[Slice],
    *,
    notes: list[str] | None = None,
    labels: Labels | None = None,
) -> pd.DataFrame:
    """Row-normalised confusion of S2F and F2F attributes against the true face, per group.

    Long table for ``overall`` and every one-column slice: attribute, face, slice, group,
    true_class, predicted_class, count, share (share of the group's clips of that true
    class predicted as ``predicted_class``). Groups of fewer than
    :data:`MIN_CONFUSION_SPEAKERS` speakers get no matrix; ``notes`` is told which.
    ``labels``: the table's label columns already converted (:class:`~audit._components.Labels`).
    """
    labels = labels or Labels(table)
    parts: list[dict[str, np.ndarray]] = []
    speakers = pd.factorize(table["speaker_id"].astype(str))[0].astype(np.int64)
    one_column = [s for s in slices if len(s.columns) <= 1]
    per_group = {s.name: _SpeakersPerGroup(speakers, s) for s in one_column}
    thin: dict[str, None] = {}
    for attribute in ATTRIBUTES:
        if f"true_{attribute}" not in table.columns:
            continue
        _, true_known = labels(f"true_{attribute}")
        for face in ("s2f", "f2f"):
            if f"{face}_{attribute}" not in table.columns:
                continue
            _, predicted_known = labels(f"{face}_{attribute}")
            valid = true_known & predicted_known
            true_codes, true_classes = labels.codes(f"true_{attribute}", valid)
            pred_codes, pred_classes = labels.codes(f"{face}_{attribute}", valid)
            for slice_ in one_column:
                part = _confusion(
                    slice_.codes[valid],
                    true_codes,
                    pred_codes,
                    shape=(slice_.n_groups, len(true_classes), len(pred_classes)),
                )
                speakers_in = per_group[slice_.name].count(valid)
                enough = np.flatnonzero(speakers_in >= MIN_CONFUSION_SPEAKERS)
                thin_codes = (speakers_in > 0) & (speakers_in < MIN_CONFUSION_SPEAKERS)
                for code in np.flatnonzero(thin_codes):
                    thin[f"{slice_.name} = {slice_.labels[code]}"] = None
                keep = np.isin(part["group"], enough)
                part = {column: values[keep] for column, values in part.items()}
                size = int(keep.sum())
                part["group"] = np.asarray(slice_.labels, dtype=object)[part["group"]]
                part["true_class"] = true_classes[part["true_class"]]
                part["predicted_class"] = pred_classes[part["predicted_class"]]
                part["attribute"] = np.full(size, attribute, dtype=object)
                part["face"] = np.full(size, face, dtype=object)
                part["slice"] = np.full(size, slice_.name, dtype=object)
                parts.append(part)
    if thin and notes is not None:
        notes.append(ONE_SPEAKER_CONFUSION.format(n=len(thin), groups=", ".join(thin)))
    if not parts:
        return pd.DataFrame(columns=[*CONFUSION_KEYS, "count", "share"])
    return _one_frame(parts)


def _one_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """The parts as one frame, built once, with the dtypes the former concatenation of one
    frame per part gave: ``str`` for attribute, face and slice; ``str`` for the labels,
    or ``object`` where a part was empty (pandas concatenates an empty object column
    with ``str`` ones as ``object``)."""
    columns = [*CONFUSION_KEYS, "count", "share"]
    frame = pd.DataFrame({c: np.concatenate([part[c] for part in parts]) for c in columns})
    for column in ("attribute", "face", "slice"):
        frame[column] = frame[column].astype(_STR)
    if any(len(part["count"]) == 0 for part in parts):
        for column in ("group", "true_class", "predicted_class"):
            frame[column] = frame[column].astype(object)
    return frame


_STR = pd.StringDtype(na_value=np.nan)


class _SpeakersPerGroup:
    """Distinct speakers of each group of a slice among any subset of clips: the clips
    sorted once by (group, speaker), then one pass per subset."""

    def __init__(self, speakers: np.ndarray, slice_: Slice) -> None:
        self.n_groups = slice_.n_groups
        pairs = slice_.codes * np.int64(len(speakers) + 1) + speakers
        self.order = np.argsort(pairs, kind="stable")
        self.pairs, self.groups = pairs[self.order], slice_.codes[self.order]

    def count(self, rows: np.ndarray) -> np.ndarray:
        """``(n_groups,)`` speakers with at least one clip where ``rows`` (a mask) is true."""
        kept = rows[self.order]
        pairs, groups = self.pairs[kept], self.groups[kept]
        first = np.ones(len(pairs), dtype=bool)
        first[1:] = pairs[1:] != pairs[:-1]
        return np.bincount(groups[first], minlength=self.n_groups)


def _confusion(
    groups: np.ndarray, true: np.ndarray, predicted: np.ndarray, *, shape: tuple[int, int, int]
) -> dict[str, np.ndarray]:
    counts = np.bincount(
        np.ravel_multi_index((groups, true, predicted), shape), minlength=int(np.prod(shape))
    ).reshape(shape)
    totals = counts.sum(axis=2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts / totals
    group, true_class, predicted_class = np.nonzero(counts)
    return {
        "group": group,
        "true_class": true_class,
        "predicted_class": predicted_class,
        "count": counts[group, true_class, predicted_class],
        "share": share[group, true_class, predicted_class],
    }


def fairlearn_summaries(
    table: pd.DataFrame, slices: Sequence[Slice], *, labels: Labels | None = None
) -> dict[str, Any]:
    """fairlearn summaries of the S2F gender prediction across each one-column slice.

    ``MetricFrame`` of gender agreement (S2F vs true face) by group, and the
    demographic-parity and equalised-odds differences of predicting ``female``
    against the ground-truth gender (the true face's gender where no label exists).

    fairlearn's own ``MetricFrame`` stacks every clip one by one (72% of a default audit
    of 100,000 clips); the same numbers are counts per group, so they are computed here
    from one ``bincount`` per slice, with fairlearn's definitions: by group, the groups
    present in the rows used; a rate is count / n; an equalised-odds rate of a group
    without positives (negatives) is 0, as sklearn's normalised confusion matrix gives;
    a difference is max − min over the groups. ``tests/test_audit_fairlearn_views.py``
    checks them equal to fairlearn's.
    """
    if not {"s2f_gender", "true_gender"} <= set(table.columns):
        return {}
    labels = labels or Labels(table)
    label_column = LABEL_COLUMNS["gender"]
    if label_column not in table.columns:
        label_column = "true_gender"
    truth, truth_known = labels(label_column)
    true_face, true_face_known = labels("true_gender")
    predicted, predicted_known = labels("s2f_gender")
    views: dict[str, Any] = {
        "positive_class": POSITIVE_GENDER,
        "ground_truth": label_column,
        "by_slice": {},
    }
    agree = true_face_known & predicted_known
    same = true_face[agree] == predicted[agree]
    known = truth_known & predicted_known
    y_true = truth[known] == POSITIVE_GENDER
    y_pred = predicted[known] == POSITIVE_GENDER
    binary = bool(known.any()) and len(np.unique(y_true)) == 2
    for slice_ in slices:
        if len(slice_.columns) != 1:
            continue
        labels = np.asarray(slice_.labels, dtype=object)
        n_groups = slice_.n_groups
        codes = slice_.codes[agree]
        totals = np.bincount(codes, minlength=n_groups)
        present = np.flatnonzero(totals)
        rate = np.bincount(codes, weights=same, minlength=n_groups)[present] / totals[present]
        view: dict[str, Any] = {
            "s2f_gender_agreement_by_group": {
                str(labels[k]): float(v) for k, v in zip(present, rate, strict=True)
            },
        }
        if len(present):  # fairlearn raises on no rows at all; the view then has no groups
            view["s2f_gender_agreement_difference"] = _spread(rate)
        if binary:
            codes = slice_.codes[known]
            view["demographic_parity_difference"] = _spread(_rates(codes, y_pred, n_groups))
            positive = _rates(codes[y_true], y_pred[y_true], n_groups, among=codes)
            negative = _rates(codes[~y_true], y_pred[~y_true], n_groups, among=codes)
            view["equalized_odds_difference"] = max(_spread(positive), _spread(negative))
        views["by_slice"][slice_.name] = view
    return views


def _rates(
    codes: np.ndarray, hits: np.ndarray, n_groups: int, *, among: np.ndarray | None = None
) -> np.ndarray:
    """Share of ``hits`` per group, for the groups present in ``among`` (default
    ``codes``); 0 for a present group without rows in ``codes``."""
    totals = np.bincount(codes, minlength=n_groups)
    counts = np.bincount(codes, weights=hits, minlength=n_groups)
    present = np.flatnonzero(np.bincount(codes if among is None else among, minlength=n_groups))
    with np.errstate(invalid="ignore", divide="ignore"):
        share = counts[present] / totals[present]
    return np.where(totals[present] > 0, share, 0.0)


def _spread(values: np.ndarray) -> float:
    """``max − min`` (fairlearn's ``difference(method="between_groups")``)."""
    return float(values.max() - values.min())
