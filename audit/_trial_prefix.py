"""A cell's cumulative trial weights at its operating points, for a block of replicates.

The cumulative sums are the hot loop of the trials bootstrap. Per cell and block of
replicates: one gather of each side's per-speaker weights in the cell's score order
(targets, then impostors, each section after one zero-weight pad so that its running
sum starts at 0), the product and the sum of both sides' weights in one array, one
integer running sum of both, and one gather of the sums at the operating points (as
float64; the mean weighting's halved there). The audit draws these weights once per
block, for the overall cell, and every other cell (a subset of its trials in the same
order) gathers its own from that block (:func:`within`).

Exact: weights are Poisson counts, so product weights and the sums of both sides are
integers; they are cumulated as int32 (int64 where a total could pass 2**31), exact in
any order, and numpy's integer running sum is about 6x faster than its float32-to-
float64 one.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from audit._trial_metrics import SortedCell


def _section(codes: np.ndarray, pad: int) -> np.ndarray:
    """``codes`` after one leading ``pad``."""
    return np.r_[pad, codes].astype(np.intp)


@dataclass(frozen=True)
class PrefixCell:
    """One cell laid out for :meth:`points`: speaker codes (a pad code weighs 0) and the
    positions whose running sums are read."""

    voice: np.ndarray
    face: np.ndarray
    """``(length,)`` speaker codes of the target section, then the impostor section."""
    read: np.ndarray
    """Positions read: target points, the fixed target count, impostor points, the
    fixed impostor count."""
    n_points: int
    impostor_start: int
    """Position of the impostor section's pad."""

    @classmethod
    def of(cls, cell: SortedCell, n_voice: int, n_face: int) -> PrefixCell:
        """Lay out ``cell``; codes ``n_voice`` / ``n_face`` are the zero-weight pads."""
        start = len(cell.target_voice) + 1
        read = np.concatenate(
            [
                cell.at_target,
                [cell.fixed_target],
                start + cell.at_impostor,
                [start + cell.fixed_impostor],
            ]
        ).astype(np.intp)
        return cls(
            voice=np.r_[
                _section(cell.target_voice, n_voice), _section(cell.impostor_voice, n_voice)
            ],
            face=np.r_[_section(cell.target_face, n_face), _section(cell.impostor_face, n_face)],
            read=read,
            n_points=len(cell.at_target),
            impostor_start=start,
        )

    def points(
        self, voice_w: np.ndarray, face_w: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """``(tp, fp, tp_fixed, fp_fixed)`` float64 under the product weights (first
        ``n_boot`` rows) and the mean weights (next ``n_boot`` rows).

        ``voice_w`` and ``face_w`` are ``(n_boot, n_speakers + 1)`` integer counts (any
        dtype; the pad column zero).
        """
        return self.read_points(self.weights(voice_w, face_w))

    def weights(self, voice_w: np.ndarray, face_w: np.ndarray) -> np.ndarray:
        """``(2 · n_boot, length)`` integer trial weights in the cell's layout: the
        product of both sides' weights, then their sum (int32 unless a running sum could
        pass 2**31)."""
        n = len(voice_w)
        dtype = _sum_dtype(voice_w, face_w, len(self.voice))
        voice = np.take(voice_w.astype(dtype, copy=False), self.voice, axis=1)
        face = np.take(face_w.astype(dtype, copy=False), self.face, axis=1)
        both = np.empty((2 * n, len(self.voice)), dtype=dtype)
        np.multiply(voice, face, out=both[:n])
        np.add(voice, face, out=both[n:])
        return both

    def read_points(
        self, both: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`points` from the cell's :meth:`weights` ``both`` (cumulated in place, as
        integers: exact, and several times faster than a float running sum)."""
        n = len(both) // 2
        np.cumsum(both, axis=1, out=both)
        values = np.take(both, self.read, axis=1).astype(np.float64)
        p = self.n_points
        values[:, p + 1 :] -= both[:, self.impostor_start - 1, None]  # targets' total
        values[n:] *= 0.5  # the mean weights: half the running sums of voice + face
        return values[:, :p], values[:, p + 1 : 2 * p + 1], values[:, p], values[:, -1]


def layout_positions(base: PrefixCell, trials: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Each trial's position in ``base``'s layout (``trials``: the base's trials in
    descending score order, ``target``: every trial's label)."""
    position = np.zeros(int(trials.max(initial=-1)) + 1, dtype=np.intp)
    targets, impostors = trials[target[trials]], trials[~target[trials]]
    position[targets] = 1 + np.arange(len(targets))
    position[impostors] = base.impostor_start + 1 + np.arange(len(impostors))
    return position


def within(positions: np.ndarray, target: np.ndarray, cell: np.ndarray) -> np.ndarray:
    """Positions in a base cell's layout (``positions``, :func:`layout_positions`) of the
    layout of ``cell``, a subset of its trials in the same (descending score) order. Both
    pads map to the base's first pad (weight zero), so ``np.take(base.weights(...),
    within(...), axis=1)`` is the cell's :meth:`PrefixCell.weights`: one gather of a block
    already multiplied, instead of two gathers of speaker weights, a product and a sum
    per cell."""
    return np.r_[0, positions[cell[target[cell]]], 0, positions[cell[~target[cell]]]].astype(
        np.intp
    )


def _sum_dtype(voice_w: np.ndarray, face_w: np.ndarray, length: int) -> type:
    """int32 when no running sum of ``length`` products (or sums) of the weights can pass
    2**31 − 1, else int64."""
    if not voice_w.size or not face_w.size:
        return np.int32
    high = float(voice_w.max()) * float(face_w.max()) + float(voice_w.max() + face_w.max())
    return np.int32 if high * length < 2**31 - 1 else np.int64
