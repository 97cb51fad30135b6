"""Two-way clustered Poisson bootstrap weights for trials (voice speaker × face speaker).

A trial belongs to its voice speaker and to its face speaker, two crossed random
effects. Each replicate draws an independent Poisson(1) weight per voice speaker and
per face speaker, and a trial's weight is their product: the product of independent
cluster weights for crossed factors (Owen, 2007, "The pigeonhole bootstrap", Annals of
Applied Statistics 1(2)).

The pigeonhole bootstrap is conservative: linearised, ``w_v·w_f − 1 = δ_v + δ_f +
δ_v·δ_f``, so its variance is ``V_voice + V_face + V_cell`` where the two-way
cluster-robust variance (Cameron, Gelbach & Miller, 2011, "Robust inference with
multiway clustering", JBES 29(2)) is ``V_voice + V_face − V_cell``. With trials sparse
over (voice, face) pairs the excess is large (in the simulations of
``tests/test_trials_coverage.py`` its standard error is 1.8× the true one and its
95 % intervals cover 100 %). The same replicate therefore also weighs every trial by
``(w_v + w_f) / 2``, whose variance is ``(V_voice + V_face) / 4``, and
:func:`cgm_replicates` rescales the product replicates about the point estimate to the
variance ``V_voice + V_face − V_cell = 8·V_mean − V_product`` (floored at ``2·V_mean``,
the mean one-way variance, where the estimate is not positive). Percentile intervals
and p-values are read from the rescaled replicates.

Weights are keyed by speaker id and seed through
:func:`audit._bootstrap.speaker_weights`, with the face side on a seed of its own, so a
speaker has the same weight in every group and every half of a replicate (differences
within a replicate are paired) and any block of replicates can be drawn on its own.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from scipy import sparse

from audit._bootstrap import keyed_weights, speaker_keys


def face_seed(seed: int) -> int:
    """The seed of the face side: a different stream from the voice side's ``seed``."""
    return int(speaker_keys([f"face-side:{seed}"])[0])


@dataclass(frozen=True)
class TwoWayWeights:
    """Draws per-speaker weights of both sides for any block of replicates."""

    voice_speakers: Sequence[str]
    face_speakers: Sequence[str]
    seed: int

    def block(self, first: int, n_boot: int) -> tuple[np.ndarray, np.ndarray]:
        """``(voice (n_boot, n_voice), face (n_boot, n_face))`` weights of replicates
        ``first .. first + n_boot - 1``."""
        voice = keyed_weights(self._keys[0], n_boot=n_boot, seed=self.seed, first=first)
        face = keyed_weights(self._keys[1], n_boot=n_boot, seed=face_seed(self.seed), first=first)
        return voice, face

    @cached_property
    def _keys(self) -> tuple[np.ndarray, np.ndarray]:
        return speaker_keys(self.voice_speakers), speaker_keys(self.face_speakers)


def two_way(
    voice: np.ndarray, face: np.ndarray, voice_codes: np.ndarray, face_codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Trial weights ``(product, mean)`` of both sides' per-speaker weights, each
    ``(n_boot, n_trials)``."""
    voice_side, face_side = voice[:, voice_codes], face[:, face_codes]
    return voice_side * face_side, (voice_side + face_side) * 0.5


def cgm_replicates(
    point: np.ndarray, product: np.ndarray, mean: np.ndarray, clusters: int | np.ndarray = 2
) -> np.ndarray:
    """Product replicates (axis 0) rescaled about ``point`` to the two-way cluster-robust
    variance ``8·V_mean − V_product`` (floored at ``2·V_mean``).

    ``clusters`` (broadcast over the last axis) is the number of speakers an item belongs
    to: 2 for a trial (its voice and its face speaker). An item of ``n > 2`` speakers (a
    1-of-n question: the voice speaker and ``n − 1`` impostor face speakers) is weighed by
    the product of its ``n`` speakers' weights and by their mean; in the sparse limit
    (two items share at most one speaker) ``n²·V_mean`` is the sum of the one-way
    variances, which counts the item-level variance ``V_item`` ``n`` times where the
    multiway variance counts it once, and ``V_product`` exceeds ``n²·V_mean`` by
    ``(2ⁿ − 1 − n)·V_item`` (one term per product of two or more speakers' weights). So
    the target is ``n²·V_mean − (n − 1)·V_item`` with ``V_item`` estimated from the two,
    floored at ``n²·V_mean / 2``; at ``n = 2`` this is ``8·V_mean − V_product``. The
    mean replicates are rescaled there (an ``n``-fold product of Poisson(1) weights is 0
    for most items: 90 % at n = 5, too discrete to give an interval its shape).
    """
    clusters = np.asarray(clusters)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        v_product, v_mean = np.nanvar(product, axis=0), np.nanvar(mean, axis=0)
        target = np.maximum(8 * v_mean - v_product, 2 * v_mean)
        if (clusters == 2).all():
            scale = np.where(v_product > 0, np.sqrt(target / v_product), 0.0)
            return point + (product - point) * scale
        n = clusters.astype(np.float64)
        one_way = n**2 * v_mean
        item = (v_product - one_way) / (2**n - 1 - n)
        target = np.where(n == 2, target, np.maximum(one_way - (n - 1) * item, one_way / 2))
        shape, v_shape = np.where(n == 2, product, mean), np.where(n == 2, v_product, v_mean)
        scale = np.where(v_shape > 0, np.sqrt(target / v_shape), 0.0)
    return point + (shape - point) * scale


@dataclass(frozen=True)
class CellRatios:
    """Weighted ratios ``Σ w·numerator / Σ w·count`` per group, with two-way weights.

    Items are summed per (group, voice speaker, face speaker) once; a replicate weighs
    each distinct speaker pair as :func:`two_way` weighs a trial, and one sparse product
    sums the pairs into every group's numerator and count, for both weightings and a
    block of replicates at once (sums of integer and half-integer weights: exact). An
    item of several face speakers (a 1-of-n question) is weighed by the product of its
    speakers' weights and by their mean (see :func:`cgm_replicates`).
    """

    voice: np.ndarray
    face: np.ndarray
    """Speaker codes of each distinct speaker tuple: ``(n_pairs,)`` voice and
    ``(n_pairs, n_faces)`` face (``n_faces`` is 1 for a trial or a 1-of-2 question)."""
    sums: sparse.csc_matrix
    """``(2 · n_groups, n_pairs)``: numerator sums of each group's pairs, then counts."""
    by_voice: sparse.csc_matrix
    by_face: sparse.csc_matrix
    """The same sums per voice speaker ``(2 · n_groups, n_voice)`` and per face speaker
    (summed over an item's faces): the mean weighting needs no pairs."""

    @property
    def n_groups(self) -> int:
        return self.sums.shape[0] // 2

    @property
    def clusters(self) -> int:
        """Speakers per item: the voice speaker and the face speakers."""
        return 1 + self.face.shape[1]

    @property
    def point(self) -> np.ndarray:
        """``(n_groups,)`` ratio with every weight one (NaN for an empty group)."""
        return self._ratios(np.asarray(self.sums.sum(axis=1)))[0]

    def replicates(self, voice: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n_boot, n_groups)`` ratios under the product and the mean weights."""
        voice_t, face_t = np.ascontiguousarray(voice.T), np.ascontiguousarray(face.T)
        product = np.empty((len(self.voice), voice_t.shape[1]))
        np.multiply(
            np.take(voice_t, self.voice, axis=0),
            np.take(face_t, self.face[:, 0], axis=0),
            out=product,
        )
        for column in self.face.T[1:]:
            product *= np.take(face_t, column, axis=0)
        n_voice, n_face = self.by_voice.shape[1], self.by_face.shape[1]
        mean = np.asarray(self.by_voice @ voice_t[:n_voice]) + np.asarray(
            self.by_face @ face_t[:n_face]
        )
        return self._ratios(np.asarray(self.sums @ product)), self._ratios(mean / self.clusters)

    def _ratios(self, totals: np.ndarray) -> np.ndarray:
        """``(n_boot, n_groups)`` ratios of ``(2 · n_groups, n_boot)`` weighted sums."""
        g = self.n_groups
        return _ratio(np.stack([totals[:g].T, totals[g:].T], axis=-1))


def cell_ratios(
    groups: Sequence[np.ndarray], numerator: np.ndarray, voice: np.ndarray, face: np.ndarray
) -> CellRatios:
    """Ratios of ``numerator`` over the items of each group (``groups``: item indices);
    ``voice`` (``(n_items,)``) and ``face`` (``(n_items,)``, or ``(n_items, n_faces)`` for
    items of several face speakers) give each item's speaker codes."""
    member = np.concatenate(groups).astype(np.int64)
    group = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    faces = face.reshape(len(face), -1)
    n_face = int(face.max()) + 1
    if faces.shape[1] == 1:
        pairs, pair_of = np.unique(voice[member] * n_face + face[member], return_inverse=True)
        voice_of, face_of = pairs // n_face, (pairs % n_face)[:, None]
    else:  # items of several faces seldom share all their speakers: one column per item
        pair_of, voice_of, face_of = member, voice, faces
    sums = sparse.csr_matrix(
        (
            np.r_[numerator[member], np.ones(len(member))],
            (np.r_[group, group + len(groups)], np.r_[pair_of, pair_of]),
        ),
        shape=(2 * len(groups), len(voice_of)),
    )
    sums.sum_duplicates()
    n_voice = int(voice.max()) + 1
    # CSC: a product with a block of replicates then runs pair by pair, reading each
    # pair's row of weights once and adding it into the few (group) sums it has, which
    # stay in cache (about 10x faster than CSR's group by group gather; exact either way)
    return CellRatios(
        voice=voice_of,
        face=face_of,
        sums=sums.tocsc(),
        by_voice=(sums @ _indicator(voice_of, n_voice)).tocsc(),
        by_face=(sums @ _indicator(face_of, n_face)).tocsc(),
    )


def _indicator(codes: np.ndarray, n: int) -> sparse.csr_matrix:
    """``(len(codes), n)``: row ``i`` counts column ``codes[i]`` (each of ``codes[i, :]``
    for 2-D codes)."""
    rows = np.repeat(np.arange(len(codes)), codes.size // max(len(codes), 1))
    return sparse.csr_matrix((np.ones(codes.size), (rows, codes.ravel())), shape=(len(codes), n))


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums[..., 1] > 0, sums[..., 0] / sums[..., 1], np.nan)
