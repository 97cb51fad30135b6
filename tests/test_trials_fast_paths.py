"""The trials bootstrap's fast paths equal the direct computation they replace (to 1e-12)."""

from __future__ import annotations

import numpy as np

from audit import _bootstrap
from audit._trial_metrics import OperatingPoint, cell_metrics, curve_metrics, sort_cell
from audit._trial_prefix import PrefixCell, layout_positions, within
from audit._trial_weights import cell_ratios, two_way


def _direct_metrics(cell, voice_w, face_w) -> np.ndarray:
    """The cell's metrics under both weight schemes, from its trials' two-way weights."""
    return np.concatenate(
        [
            cell_metrics(
                cell,
                two_way(voice_w, face_w, cell.target_voice, cell.target_face)[scheme],
                two_way(voice_w, face_w, cell.impostor_voice, cell.impostor_face)[scheme],
                OperatingPoint(),
            )
            for scheme in range(2)
        ]
    )


def test_prefix_sums_equal_per_cell_cumsum_of_two_way_weights():
    rng = np.random.default_rng(2)
    for _ in range(50):
        n = int(rng.integers(3, 3000))
        target = rng.random(n) < 0.3
        target[:2] = [True, False]
        score = np.round(rng.normal(size=n) + target, int(rng.integers(0, 3)))
        voice, face = rng.integers(40, size=n), rng.integers(40, size=n)
        cell = sort_cell(score, target, voice, face, threshold=0.2)
        voice_w = rng.poisson(1, (4, 40)).astype(np.float32)
        face_w = rng.poisson(1, (4, 40)).astype(np.float32)
        expected = _direct_metrics(cell, voice_w, face_w)
        padded = [np.pad(w, ((0, 0), (0, 1))) for w in (voice_w, face_w)]
        got = curve_metrics(*PrefixCell.of(cell, 40, 40).points(*padded), OperatingPoint())
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)


def test_cell_ratios_equal_item_by_item_weighted_ratios():
    rng = np.random.default_rng(3)
    n = 500
    voice, face = rng.integers(30, size=n), rng.integers(25, size=n)
    numerator = rng.choice([0.0, 0.5, 1.0], n)
    groups = [np.arange(n), np.flatnonzero(voice % 2 == 0), np.flatnonzero(voice % 3 == 1)]
    ratios = cell_ratios(groups, numerator, voice, face)
    voice_w = rng.poisson(1, (5, 30)).astype(np.float32)
    face_w = rng.poisson(1, (5, 25)).astype(np.float32)
    got = ratios.replicates(voice_w, face_w)
    for scheme, weights in enumerate(two_way(voice_w, face_w, voice, face)):
        expected = np.stack(
            [(weights[:, g] * numerator[g]).sum(1) / weights[:, g].sum(1) for g in groups], 1
        )
        np.testing.assert_allclose(got[scheme], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ratios.point, [numerator[g].mean() for g in groups])


def test_poisson_draws_equal_inversion_by_searchsorted():
    ids = [f"s{i}" for i in range(3000)]
    got = _bootstrap.speaker_weights(ids, n_boot=200, seed=7, first=5)
    with np.errstate(over="ignore"):
        base = _bootstrap._splitmix64(
            _bootstrap.speaker_keys(ids) ^ _bootstrap._splitmix64(np.uint64(7))
        )
        rows = np.arange(6, 206, dtype=np.uint64)
        bits = _bootstrap._splitmix64(base[None, :] + rows[:, None] * _bootstrap._GOLDEN)
    uniform = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
    assert np.array_equal(got, np.searchsorted(_bootstrap._POISSON_CDF, uniform, side="right"))
    keyed = _bootstrap.keyed_weights(_bootstrap.speaker_keys(ids), n_boot=200, seed=7, first=5)
    assert np.array_equal(keyed, got)


def test_integer_running_sums_widen_to_int64_before_int32_could_overflow():
    rng = np.random.default_rng(4)
    n = 3000
    target = rng.random(n) < 0.3
    target[:2] = [True, False]
    score = rng.normal(size=n) + target
    voice, face = rng.integers(40, size=n), rng.integers(40, size=n)
    cell = sort_cell(score, target, voice, face, threshold=0.2)
    # products up to 30,000**2: a running sum over 3,000 trials passes 2**31 many times over
    voice_w = rng.integers(0, 30_000, (2, 40)).astype(np.float64)
    face_w = rng.integers(0, 30_000, (2, 40)).astype(np.float64)
    padded = [np.pad(w, ((0, 0), (0, 1))) for w in (voice_w, face_w)]
    prefix = PrefixCell.of(cell, 40, 40)
    assert prefix.weights(*padded).dtype == np.int64
    got = curve_metrics(*prefix.points(*padded), OperatingPoint())
    expected = _direct_metrics(cell, voice_w, face_w)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12)
    small = [np.minimum(w, 1) for w in padded]
    assert prefix.weights(*small).dtype == np.int32


def test_a_cells_weights_gathered_from_the_overall_block_equal_its_own():
    rng = np.random.default_rng(5)
    n = 2000
    target = rng.random(n) < 0.25
    score = np.round(rng.normal(size=n) + target, 1)  # ties
    voice, face = rng.integers(50, size=n), rng.integers(50, size=n)
    order = np.argsort(-score, kind="stable")
    overall = PrefixCell.of(sort_cell(score, target, voice, face, threshold=0.0), 50, 50)
    positions = layout_positions(overall, order, target)
    weights = [np.pad(rng.poisson(1, (3, 50)), ((0, 0), (0, 1))) for _ in range(2)]
    base = overall.weights(*weights)
    for members in (voice % 3 == 0, target | (face < 10), rng.random(n) < 0.1):
        rows = order[members[order]]
        cell = sort_cell(score[rows], target[rows], voice[rows], face[rows], threshold=0.0)
        own = PrefixCell.of(cell, 50, 50).weights(*weights)
        assert np.array_equal(np.take(base, within(positions, target, rows), axis=1), own)
