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

import numpy as np
from scipy import sparse

from audit._bootstrap import speaker_keys, speaker_weights


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
        voice = speaker_weights(self.voice_speakers, n_boot=n_boot, seed=self.seed, first=first)
        face = speaker_weights(
            self.face_speakers, n_boot=n_boot, seed=face_seed(self.seed), first=first
        )
        return voice, face


def two_way(
    voice: np.ndarray, face: np.ndarray, voice_codes: np.ndarray, face_codes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Trial weights ``(product, mean)`` of both sides' per-speaker weights, each
    ``(n_boot, n_trials)``."""
    voice_side, face_side = voice[:, voice_codes], face[:, face_codes]
    return voice_side * face_side, (voice_side + face_side) * 0.5


def cgm_replicates(point: np.ndarray, product: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Product replicates (axis 0) rescaled about ``point`` to the two-way cluster-robust
    variance ``8·V_mean − V_product`` (floored at ``2·V_mean``)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        v_product, v_mean = np.nanvar(product, axis=0), np.nanvar(mean, axis=0)
        target = np.maximum(8 * v_mean - v_product, 2 * v_mean)
        scale = np.where(v_product > 0, np.sqrt(target / v_product), 0.0)
    return point + (product - point) * scale


@dataclass(frozen=True)
class CellRatios:
    """Weighted ratios ``Σ w·numerator / Σ w·count`` per group, with two-way weights.

    Items are summed per (group, voice speaker, face speaker) cell once; a replicate
    weighs each cell as :func:`two_way` weighs a trial.
    """

    voice: np.ndarray
    face: np.ndarray
    """``(n_cells,)`` speaker codes of each cell."""
    to_group: sparse.csr_matrix
    """``(n_groups, n_cells)`` indicator of each cell's group."""
    sums: np.ndarray
    """``(n_cells, 2)``: sum of the numerator and count in each cell."""

    @property
    def point(self) -> np.ndarray:
        """``(n_groups,)`` ratio with every weight one (NaN for an empty group)."""
        return _ratio(self.to_group @ self.sums)

    def replicates(self, voice: np.ndarray, face: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(n_boot, n_groups)`` ratios under the product and the mean weights."""
        return tuple(
            _ratio(np.stack([(self.to_group @ (w * s).T).T for s in self.sums.T], axis=-1))
            for w in two_way(voice, face, self.voice, self.face)
        )


def cell_ratios(
    groups: Sequence[np.ndarray], numerator: np.ndarray, voice: np.ndarray, face: np.ndarray
) -> CellRatios:
    """Ratios of ``numerator`` over the items of each group (``groups``: item indices);
    ``voice`` and ``face`` give each item's speaker codes."""
    member = np.concatenate(groups).astype(np.int64)
    group = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    n_voice, n_face = int(voice.max()) + 1, int(face.max()) + 1
    key = (group * n_voice + voice[member]) * n_face + face[member]
    cells, cell_of = np.unique(key, return_inverse=True)
    sums = np.column_stack(
        [
            np.bincount(cell_of, weights=numerator[member], minlength=len(cells)),
            np.bincount(cell_of, minlength=len(cells)).astype(np.float64),
        ]
    )
    to_group = sparse.csr_matrix(
        (np.ones(len(cells)), (cells // (n_voice * n_face), np.arange(len(cells)))),
        shape=(len(groups), len(cells)),
    )
    return CellRatios(
        voice=(cells // n_face) % n_voice, face=cells % n_face, to_group=to_group, sums=sums
    )


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums[..., 1] > 0, sums[..., 0] / sums[..., 1], np.nan)
