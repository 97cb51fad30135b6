"""Retrieval is compared across groups only on matched galleries (issue 15).

A model equally good for every group, with 200 against 40 test speakers: on the mixed
gallery a query of the big group faces five times as many look-alike faces of its own
group, so its recall@10 is far lower; on galleries of the query's own group, all of one
size (the smallest group's), it is not. Matched galleries are the default for every
sliced column.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit import _retrieval_view, retrieval
from audit.engine import run_audit
from speech2face.prediction.artifact import Predictions

MIXED, MATCHED = "recall@10_cosine", "recall@10_cosine_matched_accent"


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
    """Default galleries: mixed, and matched on the sliced column."""
    return run_audit(
        predictions,
        n_boot=200,
        slices=["accent"],
        metrics=[MIXED, MATCHED],
        retrieval_distances=["cosine"],
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
    assert "depends on the gallery's composition" in result.summary["retrieval"]["mixed"]["note"]


def test_matched_galleries_are_the_default_give_equal_recall_and_no_flag(result):
    matched = result.by_group(MATCHED, "accent")
    assert abs(matched.loc["small", "value"] - matched.loc["big", "value"]) < 0.08
    assert (result.tests["metric"] == MATCHED).any()
    assert matched["p_adjusted"].dropna().gt(0.05).all() and not matched["flag"].any()
    gallery = result.summary["retrieval"]["matched"]["accent"]
    assert gallery["common_size"] == 40
    assert {g["group"]: g["gallery_size"] for g in gallery["groups"]} == {"big": 40, "small": 40}
    assert result.spec(MATCHED)["headline"] and not result.spec(MIXED)["headline"]


def test_matched_recall_is_reported_on_its_own_slice_only():
    table = equally_good_model().table
    predictions = equally_good_model()
    predictions.table["tone"] = np.where(table.index % 2 == 0, "x", "y")  # two per speaker
    result = run_audit(
        predictions,
        n_boot=20,
        slices=["accent", "tone"],
        retrieval_distances=["cosine"],
        fairlearn_views=False,
    )
    assert "recall@10_cosine_matched_tone" not in result.metrics
    assert any("tone: some speakers have clips in two groups" in n for n in result.summary["notes"])
    slices = set(result.groups.query("metric == @MATCHED")["slice"])
    assert slices == {"overall", "accent"}


def test_testing_a_mixed_gallery_as_if_matched_flags_a_false_disparity(monkeypatch):
    """Mutation: rank the 'matched' recall on the mixed gallery, and the gallery's gap is
    flagged as the model's."""

    def mixed_only(table, **options):
        return real(table, **{**options, "match_on": None})

    real = retrieval.build_gallery
    monkeypatch.setattr(_retrieval_view.retrieval, "build_gallery", mixed_only)
    mutated = audit(equally_good_model()).by_group(MATCHED, "accent")
    assert mutated["flag"].any() and (mutated["p_adjusted"] < 1e-3).any()
