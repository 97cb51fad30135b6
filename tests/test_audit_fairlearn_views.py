"""audit.json's fairlearn views, counted per group, equal fairlearn's own MetricFrame.

``fairlearn_summaries`` used to build one ``MetricFrame`` per slice (72% of a default
audit of 100,000 clips); it now counts per group. ``_fairlearn_reference`` is the former
code, fairlearn calls and all: the two must agree exactly (``==`` on floats), on groups
without positives or negatives, unknown labels and groups without a known clip.
"""

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
)
from sklearn.metrics import accuracy_score

from audit._components import LABEL_COLUMNS, known_labels
from audit._fairness import POSITIVE_GENDER, fairlearn_summaries
from audit._slices import build_slices


def _fairlearn_reference(table, slices):
    """The former ``fairlearn_summaries``: one fairlearn ``MetricFrame`` per slice."""
    if not {"s2f_gender", "true_gender"} <= set(table.columns):
        return {}
    label_column = LABEL_COLUMNS["gender"]
    if label_column not in table.columns:
        label_column = "true_gender"
    truth, truth_known = known_labels(table, label_column)
    true_face, true_face_known = known_labels(table, "true_gender")
    predicted, predicted_known = known_labels(table, "s2f_gender")
    views = {"positive_class": POSITIVE_GENDER, "ground_truth": label_column, "by_slice": {}}
    for slice_ in slices:
        if len(slice_.columns) != 1:
            continue
        labels = np.asarray(slice_.labels, dtype=object)
        agree = true_face_known & predicted_known
        codes = pd.factorize(np.concatenate([true_face[agree], predicted[agree]]))[0]
        frame = MetricFrame(
            metrics=accuracy_score,
            y_true=codes[: agree.sum()],
            y_pred=codes[agree.sum() :],
            sensitive_features=slice_.codes[agree],
        )
        view = {
            "s2f_gender_agreement_by_group": {
                str(labels[k]): float(v) for k, v in frame.by_group.items()
            },
            "s2f_gender_agreement_difference": float(frame.difference()),
        }
        known = truth_known & predicted_known
        y_true = (truth[known] == POSITIVE_GENDER).astype(int)
        y_pred = (predicted[known] == POSITIVE_GENDER).astype(int)
        if known.any() and len(np.unique(y_true)) == 2:
            sensitive = slice_.codes[known]
            view["demographic_parity_difference"] = float(
                demographic_parity_difference(y_true, y_pred, sensitive_features=sensitive)
            )
            view["equalized_odds_difference"] = float(
                equalized_odds_difference(y_true, y_pred, sensitive_features=sensitive)
            )
        views["by_slice"][slice_.name] = view
    return views


def _table(seed, n=3000, *, with_label=True):
    rng = np.random.default_rng(seed)
    genders = np.array(["female", "male", "unknown", None], dtype=object)
    table = pd.DataFrame(
        {
            "true_gender": genders[rng.choice(4, n, p=[0.45, 0.45, 0.05, 0.05])],
            "s2f_gender": genders[rng.choice(4, n, p=[0.45, 0.45, 0.05, 0.05])],
            "ethnicity": rng.choice(["a", "b", "c", "d", "e"], n),
            "language": rng.choice(["en", "es", "fr"], n),
        }
    )
    if with_label:
        table["gender"] = np.where(rng.random(n) < 0.9, table["true_gender"], "unknown")
    # group "e": every known label female (no negatives); group "d": all predicted male
    labels = ["gender", "true_gender"] if with_label else ["true_gender"]
    table.loc[table["ethnicity"] == "e", labels] = "female"
    table.loc[table["ethnicity"] == "d", "s2f_gender"] = "male"
    # language "fr": no clip with a known predicted gender (no agreement rows at all)
    table.loc[table["language"] == "fr", "s2f_gender"] = "unknown"
    return table


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("with_label", [True, False])
def test_counted_views_equal_fairlearn_metricframe(seed, with_label):
    table = _table(seed, with_label=with_label)
    columns = ["ethnicity", "language"] + (["gender"] if with_label else [])
    slices = build_slices(table, columns, intersections=2)
    assert fairlearn_summaries(table, slices) == _fairlearn_reference(table, slices)


def test_counted_views_equal_fairlearn_on_the_bench_table():
    from audit.engine import run_audit
    from tests.test_audit_engine import make_predictions

    predictions = make_predictions(n_speakers=120, clips_per_speaker=4)
    result = run_audit(predictions, n_boot=20, slices=["gender", "ethnicity", "language"])
    table = predictions.table
    slices = build_slices(table, ["gender", "ethnicity", "language"], intersections=2)
    assert result.summary["fairlearn"] == _fairlearn_reference(table, slices)
