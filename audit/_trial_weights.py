"""Two-way clustered Poisson bootstrap weights for trials (voice speaker × face speaker).

A trial belongs to its voice speaker and to its face speaker, two crossed random
effects. Each replicate draws an independent Poisson(1) weight per voice speaker and
per face speaker, and a trial's weight is their product: the product of independent
cluster weights for crossed factors (Owen, 2007, "The pigeonhole bootstrap", Annals of
Applied Statistics 1(2)). Weights are keyed by speaker id and seed through
:func:`audit._bootstrap.speaker_weights`, with the face side on a seed of its own, so a
speaker has the same weight in every group and every half of a replicate (differences
within a replicate are paired) and any block of replicates can be drawn on its own.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class CellRatios:
    """Weighted ratios ``Σ w·numerator / Σ w·count`` per group, with two-way weights.

    Items (trials, or pairs of trials) are summed per (group, voice speaker, face
    speakers) cell once; a replicate weights each cell by its voice weight times the
    weight of each of its face speakers.
    """

    voice: np.ndarray
    """``(n_cells,)`` voice-speaker code of each cell."""
    faces: tuple[np.ndarray, ...]
    """Face-speaker codes of each cell, one array per face in the item."""
    to_group: sparse.csr_matrix
    """``(n_cells, n_groups)`` indicator of each cell's group."""
    sums: np.ndarray
    """``(n_cells, 2)``: sum of the numerator and count in each cell."""

    @property
    def point(self) -> np.ndarray:
        """``(n_groups,)`` ratio with every weight one (NaN for an empty group)."""
        return _ratio(self.to_group.T @ self.sums)

    def replicates(self, voice: np.ndarray, face: np.ndarray) -> np.ndarray:
        """``(n_boot, n_groups)`` ratio under per-speaker weights ``voice`` and ``face``."""
        weight = voice[:, self.voice].astype(np.float64)
        for codes in self.faces:
            weight *= face[:, codes]
        numerator = np.asarray((self.to_group.T @ (weight * self.sums[:, 0]).T).T)
        count = np.asarray((self.to_group.T @ (weight * self.sums[:, 1]).T).T)
        return _ratio(np.stack([numerator, count], axis=-1))


def cell_ratios(
    groups: Sequence[np.ndarray],
    numerator: np.ndarray,
    voice: np.ndarray,
    faces: tuple[np.ndarray, ...],
) -> CellRatios:
    """Ratios of ``numerator`` over the items of each group (``groups``: item indices).

    ``voice`` and each of ``faces`` give the speaker code of every item.
    """
    member = np.concatenate(groups).astype(np.int64)
    group = np.repeat(np.arange(len(groups)), [len(g) for g in groups])
    keys = np.column_stack([group, voice[member], *(codes[member] for codes in faces)])
    cells, cell_of = np.unique(keys, axis=0, return_inverse=True)
    cell_of = cell_of.ravel()
    sums = np.zeros((len(cells), 2))
    np.add.at(sums, cell_of, np.column_stack([numerator[member], np.ones(len(member))]))
    to_group = sparse.csr_matrix(
        (np.ones(len(cells)), (np.arange(len(cells)), cells[:, 0])),
        shape=(len(cells), len(groups)),
    )
    return CellRatios(
        voice=cells[:, 1],
        faces=tuple(cells[:, 2 + i] for i in range(len(faces))),
        to_group=to_group,
        sums=sums,
    )


def _ratio(sums: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sums[..., 1] > 0, sums[..., 0] / sums[..., 1], np.nan)
