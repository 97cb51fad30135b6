"""Each speaker's influence on a metric: BCa accelerations and permutation standard errors.

Every metric is a function θ(S) of its group's moment sums S that is homogeneous of degree
0 (scaling every sum leaves a mean or a correlation unchanged). Speaker i's influence on
θ (the infinitesimal jackknife) is ``U_i = ∇θ(S) · m_i``, with m_i the speaker's own sums;
by Euler's theorem the U_i of a group sum to zero. From them, without a loop over cells:

- the BCa acceleration of a value or a difference, ``ΣU³ / (6 (ΣU²)^1.5)``;
- the standard error a difference would have if the speakers of the group and of its
  reference were exchangeable (a permutation test on speakers, in its normal form). It
  exists wherever the pooled speakers differ at all, so it floors the bootstrap standard
  error where a group has no bootstrap variance (every speaker wrong, say).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from audit._metrics import MetricSpec, count_moment, metric_values

_STEP = 1e-6
"""Relative step of the central differences of the gradient."""


@dataclass(frozen=True)
class Influence:
    """Sums over each group's speakers of powers of their influence, and their Gram matrix."""

    u2: np.ndarray
    """``(n_groups,)`` ΣU² of each group's value."""
    u3: np.ndarray
    """``(n_groups,)`` ΣU³ of each group's value."""
    u2_overall: np.ndarray
    """``(n_groups,)`` ΣU² of each group's difference from the overall value."""
    u3_overall: np.ndarray
    """``(n_groups,)`` ΣU³ of each group's difference from the overall value."""
    gram: np.ndarray
    """``(n_groups, k, k)`` Σ m mᵀ over each group's speakers (k moments)."""


def gradient(spec: MetricSpec, sums: np.ndarray) -> np.ndarray:
    """∇θ of ``spec`` at group sums ``(..., k)`` by central differences; NaN where undefined."""
    sums = np.asarray(sums, dtype=np.float64)
    scale = np.abs(sums).max(axis=-1, keepdims=True)
    step = _STEP * np.where(scale > 0, scale, 1.0)
    grad = np.empty_like(sums)
    for j in range(sums.shape[-1]):
        shift = np.zeros(sums.shape[-1])
        shift[j] = 1.0
        up = metric_values(spec, sums + step * shift)
        down = metric_values(spec, sums - step * shift)
        grad[..., j] = (up - down) / (2 * step[..., 0])
    return grad


def influence(
    spec: MetricSpec,
    point: np.ndarray,
    per_speaker: sparse.csr_matrix,
    overall: np.ndarray | None = None,
) -> tuple[Influence, np.ndarray]:
    """Influence sums of one metric in one slice, and each speaker's total influence.

    ``point`` is ``(n_groups, k)``, ``per_speaker`` ``(n_speakers, n_groups * k)``: the
    metric's sums per group and per speaker. ``overall`` is each speaker's influence on the
    overall value (None for the overall slice itself). Returns the sums and the
    ``(n_speakers,)`` influence of each speaker summed over groups (the overall one when
    this is the overall slice).
    """
    n_groups, k = point.shape
    grad = np.nan_to_num(gradient(spec, point))
    to_group = sparse.csr_matrix(
        (grad.ravel(), (np.arange(n_groups * k), np.repeat(np.arange(n_groups), k))),
        shape=(n_groups * k, n_groups),
    )
    effect = (per_speaker.astype(np.float64) @ to_group).tocoo()
    rows, groups, u = effect.row, effect.col, effect.data
    def by_group(values: np.ndarray) -> np.ndarray:
        return np.bincount(groups, values, minlength=n_groups).astype(np.float64)

    u2, u3 = by_group(u**2), by_group(u**3)
    if overall is None:
        u2_overall = u3_overall = np.zeros(n_groups)
    else:  # U of θ_g − θ_all: U_g − U_all on the group's speakers, −U_all elsewhere
        other = overall[rows]
        u2_overall = by_group((u - other) ** 2 - other**2) + np.sum(overall**2)
        u3_overall = by_group((u - other) ** 3 + other**3) - np.sum(overall**3)
    dense = per_speaker.astype(np.float64)
    products = (dense.T @ dense).toarray().reshape(n_groups, k, n_groups, k)
    gram = products[np.arange(n_groups), :, np.arange(n_groups), :]
    totals = np.bincount(rows, u, minlength=per_speaker.shape[0]).astype(np.float64)
    return Influence(u2, u3, u2_overall, u3_overall, gram), totals


def acceleration(u2: np.ndarray, u3: np.ndarray) -> np.ndarray:
    """BCa acceleration ``ΣU³ / (6 (ΣU²)^1.5)``; 0 where the influence is all zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = u3 / (6 * np.power(u2, 1.5))
    return np.where(u2 > 0, np.nan_to_num(a), 0.0)


def permutation_se(
    spec: MetricSpec,
    group_sums: np.ndarray,
    n_group: np.ndarray,
    pool_sums: np.ndarray,
    pool_gram: np.ndarray,
    n_pool: np.ndarray,
    *,
    against_pool: bool,
) -> np.ndarray:
    """Standard error of θ(group) − θ(reference) were the pool's speakers exchangeable.

    The pool holds the group's and the reference's speakers; the reference is the whole
    pool (``against_pool``, the overall value) or the rest of it (a named group). With
    A = ∇θ(pool) · S_group, drawing the group's ``n`` speakers at random from the pool's
    ``N`` gives Var A = n (N − n) / (N (N − 1)) · ∇ᵀ Gram ∇, and θ(group) − θ(pool) ≈ c A
    with c = count(pool) / count(group). NaN where the pool has fewer than two speakers.
    """
    grad = np.nan_to_num(gradient(spec, pool_sums))
    spread = np.einsum("...j,...jk,...k->...", grad, pool_gram, grad)
    n, total = np.asarray(n_group, np.float64), np.asarray(n_pool, np.float64)
    count = count_moment(spec)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = n * (total - n) / (total * (total - 1))
        c_group = pool_sums[..., count] / group_sums[..., count]
        c_rest = pool_sums[..., count] / (pool_sums[..., count] - group_sums[..., count])
        factor = c_group if against_pool else c_group + c_rest
        se = factor * np.sqrt(np.maximum(share * spread, 0.0))
    return np.where((total >= 2) & (n >= 1) & (n < total), se, np.nan)
