"""EER, AUC and minDCF equal a brute force on scikit-learn's roc_curve / roc_auc_score."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score, roc_curve

from audit._bootstrap import speaker_weights
from audit._trial_metrics import OperatingPoint, cell_metrics, sort_cell
from audit._trial_weights import TwoWayWeights, face_seed, two_way
from audit.simulate_trials import simulate_trials
from audit.trials import audit_trials

OPERATING_POINT = OperatingPoint(p_target=0.05, c_miss=1.0, c_fa=1.0)


def brute_force(target, score, weight=None):
    """EER (linear interpolation where FMR − FNMR changes sign), AUC and minDCF."""
    fmr, tpr, _ = roc_curve(target, score, sample_weight=weight)
    fnmr = 1 - tpr
    k = int(np.argmax(fmr >= fnmr))
    before, after = fmr[k - 1] - fnmr[k - 1], fmr[k] - fnmr[k]
    eer = fmr[k - 1] + before / (before - after) * (fmr[k] - fmr[k - 1])
    op = OPERATING_POINT
    cost = op.c_miss * op.p_target * fnmr + op.c_fa * (1 - op.p_target) * fmr
    auc = roc_auc_score(target, score, sample_weight=weight)
    return np.array([eer, auc, cost.min() / op.normaliser])


def random_trials(rng):
    n = int(rng.integers(5, 400))
    target = rng.random(n) < rng.uniform(0.1, 0.9)
    target[:2] = [True, False]
    score = np.round(rng.normal(size=n) + target * rng.uniform(0, 2), int(rng.integers(0, 3)))
    return target, score, rng.integers(7, size=n), rng.integers(7, size=n)


def test_point_and_weighted_metrics_equal_sklearn_with_ties():
    rng = np.random.default_rng(1)
    worst = 0.0
    for _ in range(300):
        target, score, voice, face = random_trials(rng)
        cell = sort_cell(score, target, voice, face, threshold=0.3)
        ones = (np.ones((1, target.sum())), np.ones((1, (~target).sum())))
        got = cell_metrics(cell, *ones, OPERATING_POINT)[0]
        fixed = [np.mean(score[~target] >= 0.3), np.mean(score[target] < 0.3)]
        worst = max(worst, np.abs(got - np.r_[brute_force(target, score), fixed]).max())
        voice_w, face_w = rng.poisson(1, (3, 7)) * 1.0, rng.poisson(1, (3, 7)) * 1.0
        targets = two_way(voice_w, face_w, cell.target_voice, cell.target_face)[0]
        impostors = two_way(voice_w, face_w, cell.impostor_voice, cell.impostor_face)[0]
        replicates = cell_metrics(cell, targets, impostors, OPERATING_POINT)
        for row in range(3):
            weight = voice_w[row, voice] * face_w[row, face]
            if weight[target].sum() == 0 or weight[~target].sum() == 0:
                assert np.isnan(replicates[row]).all()
                continue
            expected = brute_force(target, score, weight)
            worst = max(worst, np.abs(replicates[row, :3] - expected).max())
    assert worst < 1e-9


def test_audit_point_estimates_are_the_unweighted_metrics():
    table = simulate_trials(n_speakers=80, seed=3)
    groups = audit_trials(table, slices=["gender"], n_boot=20).groups.set_index(
        ["metric", "slice", "group"]
    )
    for (column, group), part in [(("overall", "overall"), table)] + [
        (("gender", g), table[table["gender"] == g]) for g in ("female", "male")
    ]:
        expected = brute_force(part["target"].to_numpy(), part["score"].to_numpy())
        for metric, value in zip(("eer", "auc", "min_dcf"), expected, strict=True):
            assert groups.loc[(metric, column, group), "value"] == pytest.approx(value, abs=1e-9)


def test_two_way_weights_are_products_of_per_speaker_weights_shared_across_groups():
    voices, faces = ["a", "b", "c"], ["c", "a", "d"]
    voice_w, face_w = TwoWayWeights(voices, faces, seed=5).block(10, 4)
    assert np.array_equal(voice_w, speaker_weights(voices, n_boot=4, seed=5, first=10))
    assert np.array_equal(face_w, speaker_weights(faces, n_boot=4, seed=face_seed(5), first=10))
    # a speaker's weight does not depend on which other speakers (groups) are drawn
    alone, _ = TwoWayWeights(["b"], ["d"], seed=5).block(10, 4)
    assert np.array_equal(alone[:, 0], voice_w[:, 1])
    product, _ = two_way(voice_w, face_w, np.array([0, 1, 1]), np.array([2, 2, 0]))
    assert np.array_equal(product[:, 1], voice_w[:, 1] * face_w[:, 2])
    assert not np.array_equal(voice_w[:, 0], face_w[:, 1])  # "a" voice and face differ


def test_heard_unheard_gap_is_paired_and_differences_have_intervals():
    table = simulate_trials(n_speakers=120, seed=4)
    audit = audit_trials(table, slices=["gender"], heard_languages=["en"], n_boot=100)
    languages = audit.languages.set_index(["metric", "slice", "group"])
    row = languages.loc[("eer", "overall", "overall")]
    assert row["gap"] == pytest.approx(row["unheard"] - row["heard"])
    assert row["gap_ci_low"] <= row["gap"] <= row["gap_ci_high"]
    groups = audit.groups
    tested = groups[groups["slice"] != "overall"]
    assert tested["p_value"].notna().all() and (tested["p_value"] > 0).all()
    assert (tested["diff_ci_low"] <= tested["diff_ci_high"]).all()
    assert set(audit.fmr_matrix["voice_group"]) == {"female", "male"}
    assert len(audit.fmr_matrix) == 4


def test_named_reference_group():
    table = simulate_trials(n_speakers=80, seed=6)
    groups = audit_trials(table, slices=["gender"], reference={"gender": "female"}, n_boot=20)
    rows = groups.groups[(groups.groups.metric == "eer") & (groups.groups.slice == "gender")]
    male = rows[rows.group == "male"].iloc[0]
    female = rows[rows.group == "female"].iloc[0]
    assert male["reference"] == "female"
    assert male["difference"] == pytest.approx(male["value"] - female["value"])
    assert np.isnan(female["difference"])


def test_one_of_two_pairs_target_and_impostor_of_one_clip():
    table = pd.DataFrame(
        {
            "trial_id": ["1", "2", "3", "4"],
            "voice_clip_id": ["c1", "c1", "c1", "c2"],
            "voice_speaker_id": ["a", "a", "a", "b"],
            "face_id": ["fa", "fb", "fc", "fb"],
            "face_speaker_id": ["a", "b", "c", "b"],
            "score": [0.5, 0.2, 0.5, 0.9],
            "target": [True, False, False, True],
        }
    )
    groups = audit_trials(table, slices=[], n_boot=10, min_speakers=1).groups
    assert groups.loc[groups.metric == "match_1of2", "value"].item() == pytest.approx(0.75)
