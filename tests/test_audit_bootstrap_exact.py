"""The faster bootstrap (issue 19) gives the same bits as the code it replaced.

Weights: drawn in cache-sized chunks with the speaker ids hashed once and the Poisson
quantile looked up from the top bits; they must equal the former vectorised draw (kept
here as ``_former_weights``) and a checksum of the former code's output. Replicate sums:
one stacked CSC product for all sparse slices; they must equal the former per-slice
``per_speaker.T.tocsr() @ weights.T`` (and the dense slices' ``weights @ dense``).
"""

import hashlib

import numpy as np
import pytest

from audit import _bootstrap
from audit._bootstrap import (
    ReplicateSums,
    SpeakerStream,
    speaker_keys,
    speaker_sums,
    speaker_weights,
)

FORMER_CHECKSUM = "147630d1299b38528f7e059366365aea6ae930a8796392c4ef5e6464e292172f"
"""sha256 of ``speaker_weights(spk0..spk2999, n_boot=300, seed=7, first=40)`` computed with
the code before issue 19."""


def _former_weights(speaker_ids, *, n_boot, seed, first=0):
    """The former ``speaker_weights``: whole blocks of uint64, float uniforms, searchsorted."""
    mix = _bootstrap._splitmix64
    with np.errstate(over="ignore"):
        base = mix(speaker_keys(speaker_ids) ^ mix(np.uint64(seed)))
        weights = np.empty((n_boot, len(base)), dtype=np.float32)
        for start in range(0, n_boot, 128):
            stop = min(start + 128, n_boot)
            rows = np.arange(first + start + 1, first + stop + 1, dtype=np.uint64)
            bits = mix(base[None, :] + rows[:, None] * _bootstrap._GOLDEN)
            uniform = (bits >> np.uint64(11)).astype(np.float64) * 2.0**-53
            weights[start:stop] = np.searchsorted(_bootstrap._POISSON_CDF, uniform, side="right")
    return weights


def test_weights_equal_the_checksum_of_the_former_code():
    weights = speaker_weights([f"spk{i}" for i in range(3000)], n_boot=300, seed=7, first=40)
    assert hashlib.sha256(weights.tobytes()).hexdigest() == FORMER_CHECKSUM


@pytest.mark.parametrize(
    ("n_speakers", "n_boot", "seed", "first"),
    [(1, 50, 0, 0), (7, 300, 3, 11), (2000, 97, 2**32 - 1, 250), (40_000, 3, 5, 999)],
)
def test_weights_equal_the_former_draw(n_speakers, n_boot, seed, first):
    ids = [f"speaker-{i}" for i in range(n_speakers)]
    expected = _former_weights(ids, n_boot=n_boot, seed=seed, first=first)
    np.testing.assert_array_equal(
        speaker_weights(ids, n_boot=n_boot, seed=seed, first=first), expected
    )
    stream = SpeakerStream(ids, seed)
    np.testing.assert_array_equal(stream.block(first, n_boot), expected)
    by_speaker = stream.block(first, n_boot, by_speaker=True)
    assert by_speaker.flags.c_contiguous
    np.testing.assert_array_equal(by_speaker, expected.T)


def test_integer_thresholds_count_the_cdf_steps_like_float_uniforms():
    thresholds = _bootstrap._THRESHOLDS.astype(np.int64)
    near = (thresholds[thresholds < 2**53][:, None] + np.arange(-3, 4)).ravel()
    rng = np.random.default_rng(0)
    k = np.concatenate([near, rng.integers(0, 2**53, 100_000)]).astype(np.uint64)
    former = np.searchsorted(_bootstrap._POISSON_CDF, k.astype(np.float64) * 2.0**-53, "right")
    np.testing.assert_array_equal(np.searchsorted(_bootstrap._THRESHOLDS, k, "right"), former)


def test_replicate_sums_equal_the_former_per_slice_products():
    rng = np.random.default_rng(1)
    n_clips, n_speakers = 5000, 700
    speakers = rng.integers(n_speakers, size=n_clips)
    moments = np.column_stack([np.ones(n_clips), rng.random(n_clips), rng.gamma(2.0, 7.3, n_clips)])
    per_slice = {
        f"slice{n_groups}": speaker_sums(
            speakers,
            rng.integers(n_groups, size=n_clips),
            moments,
            n_groups=n_groups,
            n_speakers=n_speakers,
        )
        for n_groups in (1, 2, 6, 12, 36, 9)
    }
    weights = speaker_weights([f"s{i}" for i in range(n_speakers)], n_boot=130, seed=4)
    out = {name: np.empty((130, *sums.shape), np.float32) for name, sums in per_slice.items()}
    products = ReplicateSums(per_slice)
    products.fill(weights[:100], out, 0)
    products.fill(weights[100:], out, 100)
    by_speaker = {name: np.empty_like(sums) for name, sums in out.items()}
    products.fill(np.ascontiguousarray(weights[:100].T), by_speaker, 0, by_speaker=True)
    products.fill(np.ascontiguousarray(weights[100:].T), by_speaker, 100, by_speaker=True)
    for name, sums in per_slice.items():
        np.testing.assert_array_equal(by_speaker[name], out[name])
        former = np.concatenate(
            [_former_product(sums, weights[:100]), _former_product(sums, weights[100:])]
        )
        np.testing.assert_array_equal(out[name], former)
        np.testing.assert_array_equal(sums.replicates(weights[:100]), former[:100])


def _former_product(sums, weights):
    """The former ``SpeakerSums.replicates`` (dense BLAS sums depend on the block's rows, so
    blocks are compared as the audit draws them, 250 replicates at a time)."""
    if sums.shape[0] <= 8:
        former = weights @ sums.per_speaker.toarray()
    else:
        former = np.asarray(sums.per_speaker.T.tocsr() @ weights.T).T
    return former.reshape(-1, *sums.shape)


@pytest.mark.parametrize(("n_keys", "n_cells"), [(0, 10), (10, 5), (1000, 10**6), (5000, 2**26)])
def test_cells_equal_numpy_unique(n_keys, n_cells):
    """Occupied (speaker, group) cells by marking (few possible cells) or by sorting (many):
    both must be ``np.unique(keys, return_inverse=True)``."""
    keys = np.random.default_rng(n_keys).integers(n_cells, size=n_keys)
    cells, inverse = _bootstrap._cells(keys, n_cells)
    expected_cells, expected_inverse = np.unique(keys, return_inverse=True)
    np.testing.assert_array_equal(cells, expected_cells)
    np.testing.assert_array_equal(inverse, expected_inverse)
    assert inverse.dtype == expected_inverse.dtype
