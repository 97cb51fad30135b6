"""Retrieval: exact ranks against a scipy reference, galleries, chance, cross-group confusion."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy.spatial.distance import cdist

from audit import retrieval
from audit.retrieval import (
    build_gallery,
    cross_group_confusion,
    retrieval_components,
    retrieval_confusion,
    retrieval_hits,
    topk_indices,
    true_face_ranks,
)
from speech2face.errors import InputError

SCIPY_METRIC = {"cosine": "cosine", "l2": "euclidean", "l1": "cityblock"}


@pytest.fixture(autouse=True)
def _one_thread():
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def reference_ranks(queries, gallery, true_index, metric):
    """Rank of the true face by float64 scipy distances; ties go to the earlier gallery row."""
    distances = cdist(queries.astype(np.float64), gallery.astype(np.float64), SCIPY_METRIC[metric])
    true_distance = distances[np.arange(len(queries)), true_index][:, None]
    earlier = np.arange(gallery.shape[0])[None, :] < true_index[:, None]
    return ((distances < true_distance) | ((distances == true_distance) & earlier)).sum(1)


def reference_topk(queries, gallery, k, metric):
    distances = cdist(queries.astype(np.float64), gallery.astype(np.float64), SCIPY_METRIC[metric])
    positions = np.arange(gallery.shape[0])
    return np.stack([np.lexsort((positions, row))[:k] for row in distances])


def duplicated_gallery(rng, distinct=40, copies=3, d=12):
    """A gallery whose rows repeat exactly, so true faces tie with their copies."""
    faces = rng.standard_normal((distinct, d)).astype(np.float32)
    return faces[rng.permutation(np.repeat(np.arange(distinct), copies))]


@pytest.mark.parametrize("metric", retrieval.METRICS)
def test_hits_equal_scipy_reference_on_random_features(metric):
    rng = np.random.default_rng(1)
    gallery = rng.standard_normal((200, 24)).astype(np.float32)
    true_index = rng.integers(0, 200, size=150)
    queries = (gallery[true_index] + 1.2 * rng.standard_normal((150, 24))).astype(np.float32)
    ks = (1, 2, 5, 10)
    hits = retrieval_hits(
        queries, gallery, true_index=true_index, ks=ks, metric=metric, chunk_size=37
    )
    expected = reference_ranks(queries, gallery, true_index, metric)[:, None] < np.array(ks)
    assert hits.dtype == bool and hits.shape == (150, 4)
    np.testing.assert_array_equal(hits, expected)
    assert 0.1 < hits[:, 0].mean() < 0.9  # neither trivial nor hopeless


@pytest.mark.parametrize("metric", retrieval.METRICS)
def test_ties_with_duplicated_faces_follow_gallery_order(metric):
    rng = np.random.default_rng(2)
    gallery = duplicated_gallery(rng)
    true_index = rng.integers(0, len(gallery), size=90)
    queries = (gallery[true_index] + 0.3 * rng.standard_normal((90, 12))).astype(np.float32)
    ranks = true_face_ranks(queries, gallery, true_index=true_index, metric=metric, chunk_size=16)
    np.testing.assert_array_equal(ranks, reference_ranks(queries, gallery, true_index, metric))
    # the earliest of three copies ranks 0 at best, the last at least 2
    copies = (gallery[None, :, :] == gallery[true_index][:, None, :]).all(-1)
    first_copy = copies.argmax(1)
    assert (ranks[true_index > first_copy] >= 1).all()


@pytest.mark.parametrize("metric", ["l1", "l2"])
def test_ties_between_different_faces_on_integer_features(metric):
    # small integers make every float32 distance exact, so unequal faces tie too
    rng = np.random.default_rng(3)
    gallery = rng.integers(-2, 3, size=(120, 4)).astype(np.float32)
    queries = rng.integers(-2, 3, size=(200, 4)).astype(np.float32)
    true_index = rng.integers(0, 120, size=200)
    ranks = true_face_ranks(queries, gallery, true_index=true_index, metric=metric, chunk_size=64)
    np.testing.assert_array_equal(ranks, reference_ranks(queries, gallery, true_index, metric))


@pytest.mark.parametrize("metric", retrieval.METRICS)
def test_topk_equals_reference_with_ties(metric):
    rng = np.random.default_rng(4)
    gallery = duplicated_gallery(rng)
    queries = rng.standard_normal((50, 12)).astype(np.float32)
    top = topk_indices(queries, gallery, k=7, metric=metric, chunk_size=20)
    np.testing.assert_array_equal(top, reference_topk(queries, gallery, 7, metric))


def test_topk_excludes_the_given_face():
    rng = np.random.default_rng(5)
    gallery = rng.standard_normal((30, 8)).astype(np.float32)
    true_index = rng.integers(0, 30, size=25)
    top = topk_indices(gallery[true_index], gallery, k=29, exclude_index=true_index)
    assert not (top == true_index[:, None]).any()
    for row, excluded in zip(top, true_index, strict=True):
        assert sorted(row) == [i for i in range(30) if i != excluded]


def test_memory_mapped_queries_with_scattered_rows(tmp_path):
    rng = np.random.default_rng(6)
    queries = rng.standard_normal((500, 16)).astype(np.float32)
    np.save(tmp_path / "q.npy", queries)
    mapped = np.load(tmp_path / "q.npy", mmap_mode="r")
    gallery = rng.standard_normal((40, 16)).astype(np.float32)
    rows = np.concatenate([np.arange(10, 110), rng.choice(500, 60, replace=False)])
    true_index = rng.integers(0, 40, size=len(rows))
    got = true_face_ranks(mapped, gallery, true_index=true_index, rows=rows, chunk_size=32)
    np.testing.assert_array_equal(
        got, reference_ranks(queries[rows], gallery, true_index, "cosine")
    )


def test_feature_rows_map_a_table_subset_onto_full_features():
    rng = np.random.default_rng(16)
    table, pred, true = random_predictions(rng, n_speakers=50, clips_per_speaker=2)
    keep = np.flatnonzero(rng.random(len(table)) < 0.6)
    subset = table.iloc[keep].reset_index(drop=True)
    gallery = build_gallery(subset, size=20, seed=2)
    copied = retrieval_components(pred[keep], true[keep], gallery, metrics=("l2",))
    mapped = retrieval_components(pred, true, gallery, metrics=("l2",), feature_rows=keep)
    pd.testing.assert_frame_equal(mapped, copied)
    groups = np.where(np.arange(len(subset)) % 2, "x", "y")
    pd.testing.assert_frame_equal(
        retrieval_confusion(pred, true, gallery, groups, k=3, feature_rows=keep),
        retrieval_confusion(pred[keep], true[keep], gallery, groups, k=3),
    )


def random_predictions(rng, n_speakers, clips_per_speaker, d=16, groups=None):
    speakers = np.repeat([f"spk{i:04d}" for i in range(n_speakers)], clips_per_speaker)
    table = pd.DataFrame({"speaker_id": speakers, "duration_s": 6.0})
    if groups is not None:
        table["ethnicity"] = np.repeat(rng.choice(groups, size=n_speakers), clips_per_speaker)
    faces = rng.standard_normal((n_speakers, d)).astype(np.float32)
    true_features = np.repeat(faces, clips_per_speaker, axis=0)
    pred_features = rng.standard_normal((len(table), d)).astype(np.float32)
    return table, pred_features, true_features


def test_gallery_holds_each_querys_own_speaker_and_has_size_g():
    rng = np.random.default_rng(7)
    table, _, _ = random_predictions(rng, n_speakers=230, clips_per_speaker=2)
    table = table.sample(frac=1.0, random_state=0).reset_index(drop=True)
    gallery = build_gallery(table, size=100, seed=3)
    covered = np.concatenate([block.query_rows for block in gallery.blocks])
    np.testing.assert_array_equal(np.sort(covered), np.arange(len(table)))
    for block in gallery.blocks:
        assert block.size == 100 and len(set(block.speakers)) == 100
        own = table["speaker_id"].to_numpy()[block.query_rows]
        np.testing.assert_array_equal(block.speakers[block.true_index], own)
        first_rows = table.reset_index().groupby("speaker_id")["index"].min()
        np.testing.assert_array_equal(block.face_rows, first_rows[block.speakers].to_numpy())
    assert (gallery.sizes() == 100).all()
    np.testing.assert_allclose(gallery.chance(5), 0.05)


def test_gallery_is_reproducible_and_seeded():
    rng = np.random.default_rng(8)
    table, _, _ = random_predictions(rng, n_speakers=90, clips_per_speaker=1)
    same = [build_gallery(table, size=40, seed=11).blocks[0].speakers for _ in range(2)]
    np.testing.assert_array_equal(same[0], same[1])
    other = build_gallery(table, size=40, seed=12).blocks[0].speakers
    assert not np.array_equal(same[0], other)


def test_gallery_is_whole_set_when_smaller_than_size():
    rng = np.random.default_rng(9)
    table, _, _ = random_predictions(rng, n_speakers=30, clips_per_speaker=3)
    gallery = build_gallery(table)
    assert len(gallery.blocks) == 1 and gallery.blocks[0].size == 30
    np.testing.assert_allclose(gallery.chance(10), 10 / 30)


def test_matched_gallery_holds_only_the_querys_group():
    rng = np.random.default_rng(10)
    table, _, _ = random_predictions(
        rng, n_speakers=200, clips_per_speaker=2, groups=["group_a", "group_b", "group_c"]
    )
    gallery = build_gallery(table, size=50, seed=1, match_on="ethnicity")
    group_of = table.groupby("speaker_id")["ethnicity"].first()
    speakers_in = table.groupby("ethnicity")["speaker_id"].nunique()
    for block in gallery.blocks:
        assert set(group_of[block.speakers]) == {block.group}
        assert set(table["ethnicity"].to_numpy()[block.query_rows]) == {block.group}
        assert block.size == min(50, speakers_in[block.group])
    assert gallery.mode == "matched"
    summary = gallery.summary(ks=(1, 10)).set_index("group")
    assert summary.index.tolist() == ["group_a", "group_b", "group_c"]
    for group, row in summary.iterrows():
        size = min(50, speakers_in[group])
        assert row["gallery_size"] == size and row["chance@10"] == pytest.approx(10 / size)
        assert row["n_queries"] == (table["ethnicity"] == group).sum()


def test_matched_gallery_refuses_speakers_in_two_groups():
    table = pd.DataFrame({"speaker_id": ["a", "a", "b"], "language": ["en", "fr", "en"]})
    with pytest.raises(InputError, match="more than one 'language' value"):
        build_gallery(table, match_on="language")


def test_recall_of_random_features_is_chance():
    # independent random queries: the true face's rank is uniform on 0..G-1, recall@k = k/G
    rng = np.random.default_rng(11)
    table, pred, true = random_predictions(rng, n_speakers=130, clips_per_speaker=30)
    gallery = build_gallery(table, size=50, seed=0)
    components = retrieval_components(pred, true, gallery, metrics=("cosine", "l2"))
    n = len(table)
    for metric in ("cosine", "l2"):
        assert components[f"rank_{metric}"].between(0, 49).all()
        for k in retrieval.KS:
            recall = components[f"recall@{k}_{metric}"].mean()
            chance = k / 50
            assert abs(recall - chance) < 4 * np.sqrt(chance * (1 - chance) / n)
    assert (components["gallery_size"] == 50).all()


def test_perfect_predictions_rank_first():
    rng = np.random.default_rng(12)
    table, _, true = random_predictions(rng, n_speakers=60, clips_per_speaker=2)
    gallery = build_gallery(table, size=25, seed=0)
    components = retrieval_components(true, true, gallery)
    for metric in retrieval.METRICS:
        assert (components[f"rank_{metric}"] == 0).all()


def test_cross_group_confusion_counts_and_chance_by_hand():
    gallery_groups = np.array(["a", "a", "b", "c"])
    top = np.array([[0, 2], [1, 0], [3, 2]])
    query_groups = np.array(["a", "a", "b"])
    frame = cross_group_confusion(top, query_groups, gallery_groups)
    table = frame.set_index(["query_group", "hit_group"])
    assert table.loc[("a", "a"), "n_hits"] == 3 and table.loc[("a", "b"), "n_hits"] == 1
    assert table.loc[("a", "c"), "n_hits"] == 0
    assert table.loc[("b", "c"), "hit_share"] == 0.5
    assert table.loc[("b", "a"), "chance_share"] == 0.5
    assert table.loc[("a", "c"), "chance_share"] == 0.25
    excluded = cross_group_confusion(
        top, query_groups, gallery_groups, excluded_index=np.array([1, 0, 2])
    ).set_index(["query_group", "hit_group"])
    # each "a" query loses one of the two "a" faces: chance of "a" is 1/3, of "b" 1/3
    assert excluded.loc[("a", "a"), "chance_share"] == pytest.approx(1 / 3)
    assert excluded.loc[("b", "b"), "chance_share"] == 0.0


def test_retrieval_confusion_finds_planted_group_clusters():
    rng = np.random.default_rng(13)
    groups = np.array(["group_a", "group_b"])
    table, _, _ = random_predictions(rng, n_speakers=80, clips_per_speaker=2, groups=groups)
    centre = {"group_a": np.full(8, 3.0), "group_b": np.full(8, -3.0)}
    offsets = np.stack([centre[g] for g in table["ethnicity"]])
    true = (offsets + rng.standard_normal((len(table), 8))).astype(np.float32)
    pred = (offsets + rng.standard_normal((len(table), 8))).astype(np.float32)
    gallery = build_gallery(table, size=40, seed=0)
    frame = retrieval_confusion(pred, true, gallery, table["ethnicity"], k=5, metric="l2")
    own = frame[frame["query_group"] == frame["hit_group"]]
    assert (own["hit_share"] > 0.95).all()
    assert (own["chance_share"] < 0.6).all()


def test_non_finite_query_is_named():
    rng = np.random.default_rng(14)
    queries = rng.standard_normal((20, 4)).astype(np.float32)
    gallery = queries.copy()
    queries[13, 2] = np.nan
    with pytest.raises(InputError, match="query row 13 holds a NaN"):
        true_face_ranks(queries, gallery, true_index=np.arange(20), chunk_size=8)
    with pytest.raises(InputError, match="gallery row 13 holds a NaN"):
        true_face_ranks(gallery, queries, true_index=np.arange(20))


def test_non_finite_true_face_is_named_by_table_row():
    rng = np.random.default_rng(15)
    table, pred, true = random_predictions(rng, n_speakers=10, clips_per_speaker=2)
    true[6] = np.inf  # speaker 3's first row: its gallery face
    with pytest.raises(InputError, match="true_feature row 6 holds a NaN or infinite"):
        retrieval_components(pred, true, build_gallery(table))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"metric": "hamming"}, "unknown retrieval metric 'hamming'"),
        ({"ks": (1, 11)}, "no larger than the gallery"),
        ({"true_index": np.array([0, 10])}, "outside the gallery of 10"),
    ],
)
def test_bad_arguments_raise_input_error(kwargs, message):
    queries = np.zeros((2, 3), dtype=np.float32)
    gallery = np.ones((10, 3), dtype=np.float32)
    arguments = {"true_index": np.array([0, 1]), **kwargs}
    with pytest.raises(InputError, match=message):
        retrieval_hits(queries, gallery, **arguments)


def test_dimension_mismatch_is_named():
    with pytest.raises(InputError, match="queries have 3 dimensions, the gallery has 4"):
        retrieval_hits(np.zeros((2, 3)), np.zeros((12, 4)), true_index=np.array([0, 1]))


def test_matched_galleries_share_one_size_so_chance_is_equal():
    rng = np.random.default_rng(12)
    sizes = {"big": 120, "mid": 60, "small": 35, "tiny": 5}
    groups = np.repeat(list(sizes), list(sizes.values()))
    table, pred, true = random_predictions(rng, n_speakers=len(groups), clips_per_speaker=2)
    table["ethnicity"] = np.repeat(groups, 2)
    gallery = build_gallery(table, seed=2, match_on="ethnicity", min_group_speakers=30)
    assert {block.size for block in gallery.blocks} == {35}  # the smallest group of 30+
    assert gallery.excluded == (("tiny", 5, 10),)
    tiny = (table["ethnicity"] == "tiny").to_numpy()
    assert (gallery.sizes()[tiny] == 0).all() and (gallery.sizes()[~tiny] == 35).all()
    assert np.isnan(gallery.chance(5)[tiny]).all()
    np.testing.assert_allclose(gallery.chance(5)[~tiny], 5 / 35)
    summary = gallery.summary(ks=(5,)).set_index("group")
    assert summary.loc["tiny", "gallery_size"] == 0 and summary.loc["big", "n_galleries"] == 4
    parts = retrieval_components(pred, true, gallery, metrics=("cosine",), ks=(5,))
    assert (parts["rank_cosine"][tiny] == -1).all() and not parts["recall@5_cosine"][tiny].any()
    # Random features: recall@5 is chance 5/35 in every ranked group.
    for name in ("big", "mid", "small"):
        rows = (table["ethnicity"] == name).to_numpy()
        recall, n = parts["recall@5_cosine"][rows].mean(), rows.sum()
        assert abs(recall - 5 / 35) < 4 * np.sqrt(5 / 35 * (1 - 5 / 35) / n)
    # Without a floor the common size is the smallest group of two or more speakers.
    assert {b.size for b in build_gallery(table, seed=2, match_on="ethnicity").blocks} == {5}
