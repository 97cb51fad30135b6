"""EER, ROC AUC, minDCF and FMR/FNMR at a fixed threshold from weighted cumulative sums.

A cell's trials are sorted by score once. For a block of bootstrap replicates, each
replicate's trial weights are cumulated in that order, targets and impostors apart,
and every metric is read from the same cumulative sums:

- operating points sit at distinct scores (accept ``score >= t``), as in
  :func:`sklearn.metrics.roc_curve`; tied trials move together. Runs of tie blocks that
  hold only targets (or only impostors) lie on one straight ROC segment and are merged,
  which changes no metric and shortens the curve;
- **EER**: the ROC is the polyline through the operating points (a segment across a
  tie block is the random ordering of its trials). FMR rises and FNMR falls along it;
  the EER is where they are equal on the segment where FMR − FNMR changes sign, by
  linear interpolation of both (not the ROC convex hull);
- **AUC**: the trapezoid area under that polyline, which equals the Mann–Whitney
  statistic with ties counted 0.5;
- **minDCF**: ``min_t [C_miss·P_target·FNMR(t) + C_fa·(1−P_target)·FMR(t)] / min(C_miss·
  P_target, C_fa·(1−P_target))`` over all operating points including accept-all and
  reject-all (normalised as in NIST SRE; the minimum lies at an operating point);
- **FMR / FNMR** at one threshold fixed beforehand (accept ``score >= threshold``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

RANK_METRICS = ("eer", "auc", "min_dcf", "fmr", "fnmr")
_TARGET_ONLY, _IMPOSTOR_ONLY, _MIXED = 1, 2, 0


@dataclass(frozen=True)
class OperatingPoint:
    """The detection cost's operating point (default: VoxSRC's, P_target 0.05, unit costs)."""

    p_target: float = 0.05
    c_miss: float = 1.0
    c_fa: float = 1.0

    @property
    def normaliser(self) -> float:
        """The cost of the better trivial system (accept all or reject all)."""
        return min(self.c_miss * self.p_target, self.c_fa * (1 - self.p_target))


@dataclass(frozen=True)
class SortedCell:
    """One cell's trials in descending score order, targets and impostors apart."""

    target_voice: np.ndarray
    target_face: np.ndarray
    impostor_voice: np.ndarray
    impostor_face: np.ndarray
    """Speaker codes of each side for targets and impostors, descending score."""
    at_target: np.ndarray
    at_impostor: np.ndarray
    """``(n_points,)``: targets and impostors accepted at each operating point (0 first)."""
    thresholds: np.ndarray
    """``(n_points,)`` score threshold of each operating point (``inf`` first)."""
    fixed_target: int
    fixed_impostor: int
    """Targets and impostors accepted at the fixed threshold."""


def sort_cell(
    scores: np.ndarray,
    target: np.ndarray,
    voice: np.ndarray,
    face: np.ndarray,
    *,
    threshold: float,
) -> SortedCell:
    """Sort one (non-empty) cell's trials; locate its operating points and ``threshold``."""
    order = np.argsort(-scores, kind="stable")
    scores, target, voice, face = scores[order], target[order], voice[order], face[order]
    starts = np.r_[True, scores[1:] != scores[:-1]]
    block = np.cumsum(starts) - 1
    n_target = np.bincount(block, weights=target).astype(np.int64)
    n_impostor = np.bincount(block, weights=~target).astype(np.int64)
    kind = np.where(n_impostor == 0, _TARGET_ONLY, np.where(n_target == 0, _IMPOSTOR_ONLY, _MIXED))
    point = np.r_[(kind[1:] != kind[:-1]) | (kind[:-1] == _MIXED), True]
    accepted = scores >= threshold
    return SortedCell(
        target_voice=voice[target],
        target_face=face[target],
        impostor_voice=voice[~target],
        impostor_face=face[~target],
        at_target=np.r_[0, np.cumsum(n_target)[point]],
        at_impostor=np.r_[0, np.cumsum(n_impostor)[point]],
        thresholds=np.r_[np.inf, scores[starts][point]],
        fixed_target=int(np.sum(accepted & target)),
        fixed_impostor=int(np.sum(accepted & ~target)),
    )


def eer_threshold(cell: SortedCell) -> float:
    """The highest score threshold at which FMR ≥ FNMR with every weight one."""
    tp, fp = cell.at_target.astype(np.float64), cell.at_impostor.astype(np.float64)
    crossed = fp * tp[-1] + tp * fp[-1] >= tp[-1] * fp[-1]
    return float(cell.thresholds[np.argmax(crossed)])


def cell_metrics(
    cell: SortedCell,
    target_weights: np.ndarray,
    impostor_weights: np.ndarray,
    operating_point: OperatingPoint,
) -> np.ndarray:
    """``(n_boot, len(RANK_METRICS))`` metrics under trial weights ``(n_boot, n_targets)``
    and ``(n_boot, n_impostors)`` in the cell's order (cumulated in float64)."""
    target_sums = _cumulative(target_weights)
    impostor_sums = _cumulative(impostor_weights)
    return curve_metrics(
        target_sums[:, cell.at_target],
        impostor_sums[:, cell.at_impostor],
        target_sums[:, cell.fixed_target],
        impostor_sums[:, cell.fixed_impostor],
        operating_point,
    )


def curve_metrics(
    tp: np.ndarray,
    fp: np.ndarray,
    tp_fixed: np.ndarray,
    fp_fixed: np.ndarray,
    operating_point: OperatingPoint,
) -> np.ndarray:
    """``(rows, len(RANK_METRICS))`` metrics from the weights of targets ``tp`` and
    impostors ``fp`` accepted at each operating point (``(rows, n_points)`` float64, the
    last point accepting all) and at the fixed threshold (``(rows,)``)."""
    n_t, n_i = tp[:, -1:], fp[:, -1:]
    rows = np.arange(len(tp))[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        crossing = _first_crossing(tp, fp, n_t, n_i)
        at = np.concatenate([np.maximum(crossing - 1, 0), crossing], axis=1)
        fmr, fnmr = fp[rows, at] / n_i, 1 - tp[rows, at] / n_t
        gap = fmr - fnmr
        share = gap[:, :1] / (gap[:, :1] - gap[:, 1:])
        eer = fmr[:, :1] + share * (fmr[:, 1:] - fmr[:, :1])
        area = np.einsum("ij,ij->i", np.diff(fp, axis=1), tp[:, 1:] + tp[:, :-1])
        op = operating_point
        # min over points of A·(1 − tp/n_t) + C·fp/n_i, as A + min(C/n_i·fp − A/n_t·tp)
        miss, false_alarm = op.c_miss * op.p_target, op.c_fa * (1 - op.p_target)
        cost = fp * (false_alarm / n_i)
        cost -= tp * (miss / n_t)
        metrics = np.column_stack(
            [
                eer[:, 0],
                area / (2 * n_t * n_i)[:, 0],
                (miss + cost.min(axis=1)) / op.normaliser,
                fp_fixed / n_i[:, 0],
                1 - tp_fixed / n_t[:, 0],
            ]
        )
    valid = (n_t[:, 0] > 0) & (n_i[:, 0] > 0)
    return np.where(valid[:, None], metrics, np.nan)


def _first_crossing(tp: np.ndarray, fp: np.ndarray, n_t: np.ndarray, n_i: np.ndarray) -> np.ndarray:
    """``(rows, 1)``: the first point where FMR >= FNMR (``fp·n_t + tp·n_i >= n_t·n_i``,
    exact for integer weights). The left side never decreases and the last point (accept
    all) crosses, so a search over every ``step``-th point finds the window of √n points
    that holds the first crossing, and a second one finds it in the window (the same
    point as a bisection, in a few array operations instead of log2 n Python rounds)."""
    n_points = tp.shape[1]
    step = max(1, int(np.sqrt(n_points)))
    rows = np.arange(len(tp))[:, None]

    def crossed(at: np.ndarray) -> np.ndarray:
        return fp[rows, at] * n_t + tp[rows, at] * n_i >= n_t * n_i

    ends = np.r_[np.arange(step - 1, n_points - 1, step), n_points - 1]
    window = np.argmax(crossed(ends[None, :]), axis=1)[:, None] * step
    at = np.minimum(window + np.arange(step), n_points - 1)
    return window + np.argmax(crossed(at), axis=1)[:, None]


def _cumulative(weights: np.ndarray) -> np.ndarray:
    """``(n_boot, n + 1)`` float64 cumulative sums with a leading zero column."""
    sums = np.zeros((weights.shape[0], weights.shape[1] + 1))
    np.cumsum(weights, axis=1, out=sums[:, 1:])
    return sums
