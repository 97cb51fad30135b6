"""A cell's cumulative trial weights at its operating points, for a block of replicates.

The cumulative sums are the hot loop of the trials bootstrap. Per cell and block of
replicates: one gather of each side's per-speaker weights in the cell's score order
(targets, then impostors, each section after one zero-weight pad so that its running
sum starts at 0), the product and the sum of both sides' weights in one array, one
float64 running sum of both, and one gather of the sums at the operating points (the
mean weighting's halved there).

Exact: weights are Poisson counts, so product weights are integers and mean weights
half-integers, and their float64 sums are exact (below 2**52) in any order.
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

        ``voice_w`` and ``face_w`` are ``(n_boot, n_speakers + 1)``, the pad column zero.
        """
        n = len(voice_w)
        voice, face = np.take(voice_w, self.voice, axis=1), np.take(face_w, self.face, axis=1)
        both = np.empty((2 * n, len(self.voice)), dtype=np.result_type(voice, face))
        np.multiply(voice, face, out=both[:n])
        np.add(voice, face, out=both[n:])
        sums = np.cumsum(both, axis=1, dtype=np.float64)
        values = np.stack([row[self.read] for row in sums])
        p = self.n_points
        values[:, p + 1 :] -= sums[:, self.impostor_start - 1, None]  # targets' total
        values[n:] *= 0.5  # the mean weights: half the running sums of voice + face
        return values[:, :p], values[:, p + 1 : 2 * p + 1], values[:, p], values[:, -1]
