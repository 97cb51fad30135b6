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

import functools
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse, stats

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX_1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX_2 = np.uint64(0x94D049BB133111EB)
_POISSON_CDF = stats.poisson.cdf(np.arange(32), 1.0)
_DENSE_GROUPS = 8
"""Slices with more groups than this sum replicates through a sparse product."""
_CHUNK = 1 << 15
"""Weights drawn per pass: 32,768 uint64 (256 KiB) and their temporaries stay in L2."""
_THRESHOLDS = np.ceil(_POISSON_CDF * 2.0**53).astype(np.uint64)
"""A weight is the number of CDF entries ≤ ``u = k / 2**53`` (``k``: the top 53 bits of a
draw), that is, of thresholds ``ceil(cdf · 2**53) ≤ k``: the same count in integers."""
_TOP_BITS = 16


def _poisson_table() -> np.ndarray:
    """The weight of every draw, indexed by its top 16 bits; NaN where the 2**48 draws
    sharing those bits straddle a threshold (then the draw's own bits decide)."""
    low = np.arange(1 << _TOP_BITS, dtype=np.uint64) << np.uint64(53 - _TOP_BITS)
    high = low + np.uint64((1 << (53 - _TOP_BITS)) - 1)
    first = np.searchsorted(_THRESHOLDS, low, side="right")
    last = np.searchsorted(_THRESHOLDS, high, side="right")
    return np.where(first == last, first, np.nan).astype(np.float32)


_POISSON_TABLE = _poisson_table()


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


class SpeakerStream:
    """The Poisson(1) weights of one set of speakers under one seed, any block of
    replicates at a time; the speaker ids are hashed once, here.

    The weight of speaker ``s`` in replicate ``r`` is a function of ``(seed, id of s, r)``
    only: ``splitmix64(base_s + (r + 1)·γ)``, its top 53 bits a uniform ``u``, the weight
    the Poisson(1) quantile of ``u``. Draws are made in chunks of 32,768 (cache-sized,
    in place); the quantile is a lookup of the top 16 bits, exact where those bits decide
    it and refined from all 53 bits for the few draws next to a CDF step.
    """

    def __init__(self, speaker_ids: Sequence[str], seed: int) -> None:
        self.base = self._base(speaker_keys(speaker_ids), seed)

    @classmethod
    def from_keys(cls, keys: np.ndarray, seed: int) -> SpeakerStream:
        """The stream of speakers already hashed by :func:`speaker_keys`."""
        stream = cls.__new__(cls)
        stream.base = cls._base(keys, seed)
        return stream

    @staticmethod
    def _base(keys: np.ndarray, seed: int) -> np.ndarray:
        with np.errstate(over="ignore"):
            return _splitmix64(keys ^ _splitmix64(np.uint64(seed)))

    @property
    def n_speakers(self) -> int:
        return len(self.base)

    def block(self, first: int, n_boot: int, *, by_speaker: bool = False) -> np.ndarray:
        """``(n_boot, n_speakers)`` float32: replicates ``first .. first + n_boot - 1``;
        ``by_speaker``: the same weights drawn as ``(n_speakers, n_boot)`` (C order), the
        layout the replicate sums read, without a transposing copy."""
        n = len(self.base)
        weights = np.empty((n, n_boot) if by_speaker else (n_boot, n), dtype=np.float32)
        if n == 0 or n_boot == 0:
            return weights
        inner = n_boot if by_speaker else n  # the contiguous axis of ``weights``
        columns = min(inner, _CHUNK)
        rows = max(1, _CHUNK // columns)
        buffer = np.empty(rows * columns, dtype=np.uint64)
        scratch = np.empty_like(buffer)
        # replicate r adds (r + 1)·γ to the key, and splitmix64 its own γ
        offsets = np.arange(first + 2, first + n_boot + 2, dtype=np.uint64) * _GOLDEN
        for r0 in range(0, n_boot if not by_speaker else n, rows):
            r1 = min(r0 + rows, n_boot if not by_speaker else n)
            for c0 in range(0, inner, columns):
                c1 = min(c0 + columns, inner)
                size = (r1 - r0) * (c1 - c0)
                z = buffer[:size].reshape(r1 - r0, c1 - c0)
                t = scratch[:size].reshape(r1 - r0, c1 - c0)
                if by_speaker:  # rows are speakers, columns replicates
                    np.add(self.base[r0:r1, None], offsets[None, c0:c1], out=z)
                else:
                    np.add(self.base[None, c0:c1], offsets[r0:r1, None], out=z)
                np.right_shift(z, np.uint64(30), out=t)
                np.bitwise_xor(z, t, out=z)
                np.multiply(z, _MIX_1, out=z)
                np.right_shift(z, np.uint64(27), out=t)
                np.bitwise_xor(z, t, out=z)
                np.multiply(z, _MIX_2, out=z)
                # the last step, z ^ (z >> 31), leaves the top 16 bits as they are
                np.right_shift(z, np.uint64(64 - _TOP_BITS), out=t)
                target = weights[r0:r1, c0:c1]
                np.take(_POISSON_TABLE, t.view(np.int64), out=target, mode="clip")
                straddle = np.isnan(target)
                if straddle.any():
                    bits = z[straddle]
                    bits ^= bits >> np.uint64(31)
                    target[straddle] = np.searchsorted(
                        _THRESHOLDS, bits >> np.uint64(11), side="right"
                    )
        return weights


def speaker_weights(
    speaker_ids: Sequence[str], *, n_boot: int, seed: int, first: int = 0
) -> np.ndarray:
    """Poisson(1) bootstrap weights, ``(n_boot, n_speakers)`` float32, keyed by speaker id.

    Rows are replicates ``first .. first + n_boot - 1``: any block of replicates can be
    drawn on its own and equals the same rows of the full matrix. To draw several blocks
    of the same speakers, :class:`SpeakerStream` hashes the ids once.
    """
    return SpeakerStream(speaker_ids, seed).block(first, n_boot)


def keyed_weights(keys: np.ndarray, *, n_boot: int, seed: int, first: int = 0) -> np.ndarray:
    """:func:`speaker_weights` of speakers given by their :func:`speaker_keys`."""
    return SpeakerStream.from_keys(keys, seed).block(first, n_boot)


@dataclass(frozen=True)
class SpeakerSums:
    """Sums of every moment per group, over all clips and per speaker."""

    point: np.ndarray
    """``(n_groups, n_moments)`` float64, every clip with weight one."""
    per_speaker: sparse.csr_matrix
    """``(n_speakers, n_groups * n_moments)`` float32: each speaker's sums in each group."""
    n_speakers: np.ndarray | None = None
    """``(n_groups,)`` speakers with at least one clip in each group (None if not counted)."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.point.shape

    def speakers_with(self, moment: int) -> np.ndarray:
        """``(n_groups,)``: speakers whose sum of ``moment`` is positive in each group."""
        n_groups, n_moments = self.shape
        return self._positive[moment : n_groups * n_moments : n_moments]

    @functools.cached_property
    def _positive(self) -> np.ndarray:
        """Speakers with a positive sum in each column of ``per_speaker``, counted once for
        every moment (a column slice of the sparse matrix per metric cost more)."""
        stored = self.per_speaker
        return np.bincount(stored.indices[stored.data > 0], minlength=stored.shape[1]).astype(
            np.int64
        )

    @property
    def is_dense(self) -> bool:
        """Few groups: replicates through a dense (BLAS) product, else a sparse one."""
        return self.shape[0] <= _DENSE_GROUPS

    @functools.cached_property
    def dense(self) -> np.ndarray:
        """``per_speaker`` as a dense array, made once."""
        return self.per_speaker.toarray()

    def replicates(self, weights: np.ndarray) -> np.ndarray:
        """``(n_boot, n_groups, n_moments)`` float32 sums under each row of ``weights``.

        One product ``weights @ per_speaker`` for all groups and replicates: dense for
        few groups, sparse when most (speaker, group) cells are empty. The sparse product
        runs speaker by speaker (``per_speaker.T`` is CSC, no copy): each speaker's row of
        weights is read once and added into every cell it has; each sum still adds its
        speakers in ascending order, the same float32 additions as a CSR product of the
        transpose.
        """
        n_groups, n_moments = self.shape
        if self.is_dense:
            sums = weights @ self.dense
        else:
            sums = np.asarray(self.per_speaker.T @ np.ascontiguousarray(weights.T)).T
        return sums.reshape(-1, n_groups, n_moments)


class ReplicateSums:
    """Replicate sums of many slices from one weight matrix per block of replicates.

    Dense slices each take one BLAS product with their cached dense sums; every sparse
    slice's columns are stacked into one CSC matrix (speakers as columns), so one sparse
    product per block reads each speaker's weights once for all slices.
    """

    def __init__(self, per_slice: dict[str, SpeakerSums]) -> None:
        self.per_slice = per_slice
        sparse_names = [name for name, sums in per_slice.items() if not sums.is_dense]
        self.stacked = (
            sparse.hstack([per_slice[name].per_speaker for name in sparse_names], format="csr").T
            if sparse_names
            else None
        )
        bounds = np.cumsum([0] + [per_slice[name].per_speaker.shape[1] for name in sparse_names])
        self.columns = {
            name: (int(start), int(stop))
            for name, start, stop in zip(sparse_names, bounds[:-1], bounds[1:], strict=True)
        }

    def fill(
        self, weights: np.ndarray, out: dict[str, np.ndarray], start: int, *, by_speaker=False
    ) -> None:
        """Write the sums under ``weights`` (replicates ``start ..``) into ``out[name]``.

        ``weights`` is ``(n_boot, n_speakers)``, or ``(n_speakers, n_boot)`` with
        ``by_speaker`` (as :meth:`SpeakerStream.block` draws it): the sparse product reads
        that layout as it is, and the dense ones pass it to BLAS as a transposed operand
        (the same float32 sums, ``tests/test_audit_bootstrap_exact.py``).
        """
        by_replicate = weights.T if by_speaker else weights
        stop = start + len(by_replicate)
        for name, sums in self.per_slice.items():
            if sums.is_dense:
                out[name][start:stop] = (by_replicate @ sums.dense).reshape(-1, *sums.shape)
        if self.stacked is None:
            return
        per_speaker = weights if by_speaker else np.ascontiguousarray(weights.T)
        stacked = np.asarray(self.stacked @ per_speaker)
        for name, (first, last) in self.columns.items():
            out[name][start:stop] = stacked[first:last].T.reshape(-1, *self.per_slice[name].shape)


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
    cell, cell_of_clip = _cells(
        speaker_codes.astype(np.int64) * n_groups + group_codes, n_speakers * n_groups
    )
    to_cell = sparse.csr_matrix(
        (np.ones(n_clips), (cell_of_clip, np.arange(n_clips))), shape=(len(cell), n_clips)
    )
    cell_sums = np.asarray(to_cell @ moments)
    # per moment, the cells added in the same order as np.add.at would: the same sums
    group_of_cell = cell % n_groups
    point = np.zeros((n_groups, n_moments))
    for moment in range(n_moments):
        point[:, moment] = np.bincount(group_of_cell, cell_sums[:, moment], minlength=n_groups)
    # the cells are sorted by (speaker, group), so their moments are already in CSR order
    indices = (group_of_cell[:, None] * n_moments + np.arange(n_moments)).ravel()
    indptr = np.zeros(n_speakers + 1, dtype=np.int64)
    np.cumsum(np.bincount(cell // n_groups, minlength=n_speakers) * n_moments, out=indptr[1:])
    per_speaker = sparse.csr_matrix(
        (cell_sums.ravel().astype(np.float32), indices, indptr),
        shape=(n_speakers, n_groups * n_moments),
    )
    n_with = np.bincount(group_of_cell, minlength=n_groups)
    return SpeakerSums(point=point, per_speaker=per_speaker, n_speakers=n_with)


_DENSE_CELLS = 8
"""Where there are at most this many possible (speaker, group) cells per clip (and at most
2**25), the occupied ones are found by marking them in a boolean array (O(clips + cells),
a cumsum of 8 bytes per cell) instead of sorting every clip's cell."""


def _cells(keys: np.ndarray, n_cells: int) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(keys, return_inverse=True)`` of keys in ``[0, n_cells)``."""
    if n_cells > min(_DENSE_CELLS * len(keys) + (1 << 16), 1 << 25):
        return np.unique(keys, return_inverse=True)
    present = np.zeros(n_cells, dtype=bool)
    present[keys] = True
    cells = np.flatnonzero(present)
    rank = np.cumsum(present) - 1
    return cells, rank[keys]
