"""Speaker-clustered Poisson bootstrap as one weight matrix, and weighted group sums.

Every replicate gives each speaker an independent Poisson(1) weight that multiplies
all of that speaker's clips, so clips of one speaker are resampled together and every
group is resampled through its own speakers. A speaker's weights depend only on the
seed and the speaker's id (a counter-based generator), so two audits that share a
speaker share its replicates: comparisons are paired by construction, and a subset
of speakers sees exactly the weights it had in the full set.

Group sums for all replicates are one matrix product ``W @ A``: ``W`` is
``n_boot × n_speakers`` and ``A`` holds per-speaker sums of every metric moment in
every group of a slice. ``W`` can be drawn in blocks of replicates to bound memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_POISSON_CDF = stats.poisson.cdf(np.arange(32), 1.0)
_BLOCK = 128
_DENSE_GROUPS = 8
"""Slices with more groups than this sum replicates through a sparse product."""


def _splitmix64(x: np.ndarray) -> np.ndarray:
    z = x + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX_1
    z = (z ^ (z >> np.uint64(27))) * _MIX_2
    return z ^ (z >> np.uint64(31))


def speaker_keys(speaker_ids: Sequence[str]) -> np.ndarray:
    """A stable 64-bit key per speaker id (independent of process, platform and order)."""
    return np.array(
        [
            int.from_bytes(hashlib.blake2b(str(s).encode(), digest_size=8).digest(), "little")
            for s in speaker_ids
        ],
        dtype=np.uint64,
    )


def speaker_weights(
    speaker_ids: Sequence[str], *, n_boot: int, seed: int, first: int = 0
) -> np.ndarray:
    """Poisson(1) bootstrap weights, ``(n_boot, n_speakers)`` float32, keyed by speaker id.

    Rows are replicates ``first .. first + n_boot - 1``: any block of replicates can be
    drawn on its own and equals the same rows of the full matrix.
    """
    return keyed_weights(speaker_keys(speaker_ids), n_boot=n_boot, seed=seed, first=first)


def keyed_weights(keys: np.ndarray, *, n_boot: int, seed: int, first: int = 0) -> np.ndarray:
    """:func:`speaker_weights` of speakers given by their :func:`speaker_keys`."""
    with np.errstate(over="ignore"):
        base = _splitmix64(keys ^ _splitmix64(np.uint64(seed)))
        weights = np.empty((n_boot, len(base)), dtype=np.float32)
        for start in range(0, n_boot, _BLOCK):
            stop = min(start + _BLOCK, n_boot)
            rows = np.arange(first + start + 1, first + stop + 1, dtype=np.uint64)
            bits = _splitmix64(base[None, :] + rows[:, None] * _GOLDEN) >> np.uint64(11)
            weights[start:stop] = _poisson(bits)
    return weights


_POISSON_STEPS = np.ceil(_POISSON_CDF[_POISSON_CDF < 1] * 2.0**53).astype(np.uint64)
"""``u >= cdf[k]`` for ``u = m · 2**-53`` is ``m >= ceil(cdf[k] · 2**53)`` (exact)."""
_COMMON = 4
"""Steps compared for every draw; larger counts (P ≈ 0.004) are found among the rest."""


def _poisson(bits: np.ndarray) -> np.ndarray:
    """Poisson(1) draws by inversion of 53-bit uniforms ``bits · 2**-53``: the number of
    CDF values at or below the uniform, as ``searchsorted(cdf, u, side="right")``."""
    count = (bits >= _POISSON_STEPS[0]).astype(np.uint8)
    for step in _POISSON_STEPS[1:_COMMON]:
        count += bits >= step
    rare = np.flatnonzero(bits >= _POISSON_STEPS[_COMMON])
    count.flat[rare] = np.searchsorted(_POISSON_STEPS, bits.flat[rare], side="right")
    return count


@dataclass(frozen=True)
class SpeakerSums:
    """Sums of every moment per group, over all clips and per speaker."""

    point: np.ndarray
    """``(n_groups, n_moments)`` float64, every clip with weight one."""
    per_speaker: sparse.csr_matrix
    """``(n_speakers, n_groups * n_moments)`` float32: each speaker's sums in each group."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.point.shape

    def speakers_with(self, moment: int) -> np.ndarray:
        """``(n_groups,)``: speakers whose sum of ``moment`` is positive in each group."""
        n_groups, n_moments = self.shape
        columns = self.per_speaker[:, moment : n_groups * n_moments : n_moments]
        return np.asarray((columns > 0).sum(axis=0), dtype=np.int64).ravel()

    def replicates(self, weights: np.ndarray) -> np.ndarray:
        """``(n_boot, n_groups, n_moments)`` float32 sums under each row of ``weights``.

        One product ``weights @ per_speaker`` for all groups and replicates: dense for
        few groups, sparse when most (speaker, group) cells are empty.
        """
        n_groups, n_moments = self.shape
        if n_groups <= _DENSE_GROUPS:
            sums = weights @ self.per_speaker.toarray()
        else:
            sums = np.asarray(self.per_speaker.T.tocsr() @ weights.T).T
        return sums.reshape(-1, n_groups, n_moments)


def speaker_sums(
    speaker_codes: np.ndarray,
    group_codes: np.ndarray,
    moments: np.ndarray,
    *,
    n_groups: int,
    n_speakers: int,
) -> SpeakerSums:
    """Sum ``moments`` (clips × moments) per (speaker, group) cell by one sparse product.

    ``speaker_codes`` lie in ``[0, n_speakers)`` (columns of the weight matrix) and
    ``group_codes`` in ``[0, n_groups)``. No loop runs over groups.
    """
    n_clips, n_moments = moments.shape
    cell, cell_of_clip = np.unique(
        speaker_codes.astype(np.int64) * n_groups + group_codes, return_inverse=True
    )
    to_cell = sparse.csr_matrix(
        (np.ones(n_clips), (cell_of_clip, np.arange(n_clips))), shape=(len(cell), n_clips)
    )
    cell_sums = np.asarray(to_cell @ moments)
    point = np.zeros((n_groups, n_moments))
    np.add.at(point, cell % n_groups, cell_sums)
    rows = np.repeat(cell // n_groups, n_moments)
    columns = ((cell % n_groups)[:, None] * n_moments + np.arange(n_moments)).ravel()
    per_speaker = sparse.csr_matrix(
        (cell_sums.ravel().astype(np.float32), (rows, columns)),
        shape=(n_speakers, n_groups * n_moments),
    )
    return SpeakerSums(point=point, per_speaker=per_speaker)
