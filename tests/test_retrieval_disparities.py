"""Retrieval disparities are tested only on matched galleries (issue 15, item 2).

A model equally good for every group, with 200 against 40 test speakers: on the mixed
gallery the big group faces five times as many look-alike distractors, so its recall@10
is far lower; on galleries of the query's own group, of one common size, it is not.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit import _metrics
from audit.engine import run_audit
from speech2face.prediction.artifact import Predictions

MIXED, MATCHED = "recall@10_cosine", "recall@10_cosine_matched"


def equally_good_model(seed: int = 0, dim: int = 16, noise: float = 2.0) -> Predictions:
    """200 'big' and 40 'small' speakers, two clips each; one noise level for all."""
    rng = np.random.default_rng(seed)
    groups = np.array(["big"] * 200 + ["small"] * 40, dtype=object)
    centres = {"big": rng.normal(0, 4, dim), "small": rng.normal(0, 4, dim)}
    faces = np.stack([centres[g] + rng.normal(size=dim) for g in groups]).astype(np.float32)
    speaker = np.repeat(np.arange(len(groups)), 2)
    table = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(len(speaker))],
            "speaker_id": [f"s{s}" for s in speaker],
            "duration_s": 6.0,
            "accent": groups[speaker],
        }
    )
    true = faces[speaker]
    predicted = true + noise * rng.normal(size=true.shape).astype(np.float32)
    return Predictions(table, {"true_feature": true, "pred_feature": predicted})


def audit(predictions: Predictions):
    return run_audit(
        predictions,
        n_boot=200,
        slices=["accent"],
        metrics=[MIXED, MATCHED],
        retrieval_distances=["cosine"],
        matched_gallery="accent",
        fairlearn_views=False,
    )


@pytest.fixture(scope="module")
def result():
    return audit(equally_good_model())


def test_mixed_gallery_gap_is_large_but_never_tested_or_flagged(result):
    mixed = result.by_group(MIXED, "accent")
    assert mixed.loc["small", "value"] - mixed.loc["big", "value"] > 0.15
    assert mixed["p_adjusted"].isna().all() and not mixed["flag"].any()
    assert not (result.tests["metric"] == MIXED).any()
    assert result.spec(MIXED)["gallery"] == "mixed"


def test_matched_galleries_give_equal_recall_and_no_flag(result):
    matched = result.by_group(MATCHED, "accent")
    assert abs(matched.loc["small", "value"] - matched.loc["big", "value"]) < 0.08
    assert (result.tests["metric"] == MATCHED).any()
    assert matched["p_adjusted"].dropna().gt(0.05).all() and not matched["flag"].any()
    assert result.summary["retrieval"]["matched"]["common_size"] == 40


def test_testing_mixed_galleries_would_flag_a_false_disparity(monkeypatch):
    """Mutation: if mixed-gallery rows were tested, the gallery's gap would be flagged."""
    monkeypatch.setattr(_metrics.MetricSpec, "compared_on", lambda self, columns: True)
    mutated = audit(equally_good_model())
    assert mutated.by_group(MIXED, "accent")["flag"].any()
    assert not mutated.by_group(MATCHED, "accent")["flag"].any()
