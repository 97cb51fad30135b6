"""1-of-n matching: the audit's accuracy equals a brute force (ties shared), its two-way
weights are the product and the mean of the n speakers' weights, it is left out when clips
differ in impostors, and ``s2f trials --protocol 1-of-n`` draws n − 1 impostors per clip."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from audit._trial_weights import cell_ratios, cgm_replicates
from audit.trials import MATCH_1OFN, NOT_1OFN_COUNTS, audit_trials
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.trial_builder import BAD_FACES, build_trials


def random_questions(rng: np.random.Generator, *, n: int, clips: int) -> pd.DataFrame:
    """``clips`` clips of 12 speakers, each with a target and n − 1 impostor faces; scores
    rounded to one decimal so that ties are common."""
    speaker = rng.integers(12, size=clips)
    rows = []
    for clip, voice in enumerate(speaker):
        others = rng.choice(np.setdiff1d(np.arange(12), [voice]), n - 1, replace=False)
        for face in (voice, *others):
            rows.append((f"c{clip}", f"s{voice}", f"s{face}", round(rng.normal(face == voice), 1)))
    table = pd.DataFrame(
        rows, columns=["voice_clip_id", "voice_speaker_id", "face_speaker_id", "score"]
    )
    return table.assign(
        trial_id=np.arange(len(table)).astype(str),
        face_id="face:" + table["face_speaker_id"],
        target=table["voice_speaker_id"] == table["face_speaker_id"],
        gender=np.where(table["voice_speaker_id"].str[1:].astype(int) % 2, "male", "female"),
    )


def brute_force(table: pd.DataFrame) -> float:
    """Mean over clips of 1 (target above every impostor), 0 (below one) or 1/(1+t) (tied
    with t impostors at the maximum)."""
    scores = []
    for _, clip in table.groupby("voice_clip_id"):
        target = clip.loc[clip["target"], "score"].item()
        impostors = clip.loc[~clip["target"], "score"].to_numpy()
        if (impostors > target).any():
            scores.append(0.0)
        else:
            scores.append(1 / (1 + np.sum(impostors == target)))
    return float(np.mean(scores))


@pytest.mark.parametrize("seed", range(4))
def test_one_of_n_equals_a_brute_force_with_ties_per_group(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 7))
    table = random_questions(rng, n=n, clips=int(rng.integers(20, 60)))
    audit = audit_trials(table, slices=["gender"], n_boot=20, min_speakers=1)
    assert audit.one_of_n["faces"] == n
    rows = audit.groups[audit.groups["metric"] == MATCH_1OFN].set_index("group")
    assert rows.loc["overall", "value"] == pytest.approx(brute_force(table), abs=1e-12)
    for gender, part in table.groupby("gender"):
        assert rows.loc[gender, "value"] == pytest.approx(brute_force(part), abs=1e-12)
    assert (rows["ci_low"] <= rows["ci_high"]).all()


def test_one_of_n_weights_are_the_product_and_mean_of_the_n_speakers_weights():
    rng = np.random.default_rng(5)
    items, n_voice, n_face = 300, 20, 15
    voice = rng.integers(n_voice, size=items)
    face = np.stack([rng.choice(n_face, 3, replace=False) for _ in range(items)])
    numerator = rng.choice([0.0, 1 / 3, 0.5, 1.0], items)
    groups = [np.arange(items), np.flatnonzero(voice % 2 == 0)]
    ratios = cell_ratios(groups, numerator, voice, face)
    assert ratios.clusters == 4
    voice_w = rng.poisson(1, (6, n_voice)).astype(np.float32)
    face_w = rng.poisson(1, (6, n_face)).astype(np.float32)
    weights = (
        voice_w[:, voice] * face_w[:, face].prod(axis=2),
        (voice_w[:, voice] + face_w[:, face].sum(axis=2)) / 4,
    )
    got = ratios.replicates(voice_w, face_w)
    for scheme, weight in enumerate(weights):
        expected = np.stack(
            [(weight[:, g] * numerator[g]).sum(1) / weight[:, g].sum(1) for g in groups], 1
        )
        np.testing.assert_allclose(got[scheme], expected, rtol=0, atol=1e-12)


def test_cgm_rescaling_of_n_clusters_is_the_two_way_one_at_two():
    rng = np.random.default_rng(1)
    point = np.zeros(3)
    product, mean = rng.normal(0, 2, (200, 3)), rng.normal(0, 0.8, (200, 3))
    two = cgm_replicates(point, product, mean)
    np.testing.assert_array_equal(cgm_replicates(point, product, mean, np.array([2, 2, 2])), two)
    n = 5  # target: n²·V_mean − (n − 1)·V_item, V_item = (V_product − n²·V_mean)/(2ⁿ − 1 − n)
    five = cgm_replicates(point, product, mean, np.array([2, 2, n]))
    np.testing.assert_array_equal(five[:, :2], two[:, :2])
    v_product, v_mean = product[:, 2].var(), mean[:, 2].var()
    item = (v_product - n**2 * v_mean) / (2**n - 1 - n)
    assert five[:, 2].var() == pytest.approx(n**2 * v_mean - (n - 1) * item)
    assert np.corrcoef(five[:, 2], mean[:, 2])[0, 1] == pytest.approx(1)  # the mean's shape


def test_one_of_n_is_left_out_with_a_note_when_clips_differ_in_impostors():
    table = random_questions(np.random.default_rng(2), n=4, clips=30)
    table = table.drop(index=table.index[~table["target"]][:1])
    audit = audit_trials(table, slices=[], n_boot=10, min_speakers=1)
    assert MATCH_1OFN not in set(audit.groups["metric"])
    assert audit.one_of_n["faces"] is None
    assert audit.one_of_n["note"] == NOT_1OFN_COUNTS.format(low=2, high=3)


@pytest.fixture(scope="module")
def predictions(tmp_path_factory):
    from speech2face.prediction.artifact import write_predictions
    from tests.report_artifacts import planted_predictions

    planted = planted_predictions()
    folder = tmp_path_factory.mktemp("one_of_n") / "pred"
    write_predictions(folder, planted.table, features=planted.features, meta=planted.meta)
    return folder


def test_one_of_n_trials_have_one_target_and_n_minus_1_distinct_impostors(predictions, tmp_path):
    from speech2face.trials import read_trials

    out = tmp_path / "trials.parquet"
    args = ["trials", "--predictions", str(predictions), "--out", str(out), "--split", "all"]
    assert main([*args, "--protocol", "1-of-n", "--faces-per-trial", "6"]) == 0
    trials = read_trials(out)
    per_clip = trials.table.groupby("voice_clip_id").agg(
        targets=("target", "sum"), faces=("face_speaker_id", "nunique"), trials=("target", "size")
    )
    assert (per_clip["targets"] == 1).all()
    assert (per_clip["faces"] == 6).all() and (per_clip["trials"] == 6).all()
    assert trials.meta["protocol"] == "1-of-n" and trials.meta["faces_per_trial"] == 6
    audit = audit_trials(trials.table, slices=["gender"], n_boot=10, min_speakers=1)
    assert audit.one_of_n["faces"] == 6


def test_one_of_n_refuses_fewer_than_two_faces_or_a_small_pool(predictions, capsys):
    with pytest.raises(InputError, match="--faces-per-trial must be at least 2, got 1"):
        build_trials(predictions, protocol="1-of-n", faces_per_trial=1, split="all")
    assert BAD_FACES.startswith("--faces-per-trial")
    with pytest.raises(InputError, match="fewer than the 999 that 1-of-n"):
        build_trials(predictions, protocol="1-of-n", faces_per_trial=1000, split="all")
    args = ["trials", "--predictions", str(predictions), "--out", "x.parquet", "--split", "all"]
    assert main([*args, "--protocol", "1-of-n", "--faces-per-trial", "0"]) == 2
    assert "--faces-per-trial must be at least 2" in capsys.readouterr().err
