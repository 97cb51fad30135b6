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

import functools
import itertools
from collections.abc import Sequence
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
    grams: SliceGrams
    """Σ m mᵀ over each group's speakers, of every metric of the slice (computed on use)."""
    moments: slice
    """The metric's moments among the slice's."""

    @property
    def gram(self) -> np.ndarray:
        """``(n_groups, k, k)`` Σ m mᵀ over each group's speakers (k moments)."""
        return self.grams.blocks[:, self.moments, self.moments]


class SliceGrams:
    """Each group's Σ m mᵀ over its speakers, for all moments of a slice, from one sparse
    product made the first time a named or best reference needs it."""

    def __init__(self, per_speaker: sparse.csr_matrix, n_moments: int) -> None:
        self.per_speaker, self.n_moments = per_speaker, n_moments

    @functools.cached_property
    def blocks(self) -> np.ndarray:
        """``(n_groups, n_moments, n_moments)``."""
        moments, size = self.per_speaker.astype(np.float64), self.n_moments
        products = (moments.T @ moments).tocoo()
        same = products.row // size == products.col // size
        blocks = np.zeros((moments.shape[1] // size, size, size))
        row, col = products.row[same], products.col[same]
        blocks[row // size, row % size, col % size] = products.data[same]
        return blocks


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


def slice_influence(
    specs: Sequence[MetricSpec],
    offsets: np.ndarray,
    point: np.ndarray,
    per_speaker: sparse.csr_matrix,
    overall: np.ndarray | None = None,
) -> tuple[list[Influence], np.ndarray]:
    """Influence sums of every metric in one slice, and each speaker's total influence.

    ``point`` is ``(n_groups, n_moments)`` and ``per_speaker`` ``(n_speakers, n_groups *
    n_moments)``: the slice's sums per group and per speaker, metric ``i`` holding moments
    ``offsets[i] .. offsets[i + 1] - 1``. ``overall`` is ``(n_speakers, n_metrics)``, each
    speaker's influence on each overall value (None for the overall slice itself). Two
    sparse products serve every metric and group: the influences and the Gram blocks.
    Returns one :class:`Influence` per metric and the ``(n_speakers, n_metrics)``
    influence of each speaker summed over groups (the overall one for the overall slice).
    """
    n_groups, n_moments = point.shape
    n_metrics = len(specs)
    rows, columns, values = [], [], []
    gradients = np.zeros(n_groups * n_moments)
    for index, (spec, start, stop) in enumerate(zip(specs, offsets[:-1], offsets[1:], strict=True)):
        grad = np.nan_to_num(gradient(spec, point[:, start:stop]))
        group = np.repeat(np.arange(n_groups), stop - start)
        rows.append(group * n_moments + np.tile(np.arange(start, stop), n_groups))
        columns.append(index * n_groups + group)
        values.append(grad.ravel())
        gradients[rows[-1]] = values[-1]
    if _in_whole_cells(per_speaker, n_moments):
        speaker, column, u = _effects(
            per_speaker, gradients.reshape(n_groups, n_moments), offsets, n_groups=n_groups
        )
    else:
        to_metric = sparse.csr_matrix(
            (np.concatenate(values), (np.concatenate(rows), np.concatenate(columns))),
            shape=(n_groups * n_moments, n_metrics * n_groups),
        )
        effect = (per_speaker.astype(np.float64) @ to_metric).tocoo()
        speaker, column, u = effect.row, effect.col, effect.data

    def by_cell(values: np.ndarray) -> np.ndarray:
        sums = np.bincount(column, values, minlength=n_metrics * n_groups)
        return sums.astype(np.float64).reshape(n_metrics, n_groups)

    u2, u3 = by_cell(u**2), by_cell(u**3)
    if overall is None:
        u2_overall = u3_overall = np.zeros((n_metrics, n_groups))
    else:  # U of θ_g − θ_all: U_g − U_all on the group's speakers, −U_all elsewhere
        other = overall[speaker, column // n_groups]
        u2_overall = by_cell((u - other) ** 2 - other**2) + (overall**2).sum(0)[:, None]
        u3_overall = by_cell((u - other) ** 3 + other**3) - (overall**3).sum(0)[:, None]
    grams = SliceGrams(per_speaker, n_moments)
    # in the order np.add.at would add them: the same sums, without its per-item overhead
    totals = np.bincount(
        speaker.astype(np.int64) * n_metrics + column // n_groups,
        u,
        minlength=per_speaker.shape[0] * n_metrics,
    ).reshape(per_speaker.shape[0], n_metrics)
    found = [
        Influence(u2[i], u3[i], u2_overall[i], u3_overall[i], grams, slice(start, stop))
        for i, (start, stop) in enumerate(itertools.pairwise(offsets))
    ]
    return found, totals


def _in_whole_cells(per_speaker: sparse.csr_matrix, n_moments: int) -> bool:
    """Whether ``per_speaker`` stores whole (speaker, group) cells, as :func:`speaker_sums`
    makes it: each row's entries are runs of ``n_moments`` columns, group by group."""
    if n_moments == 0 or not per_speaker.has_sorted_indices:
        return False
    if np.any(np.diff(per_speaker.indptr) % n_moments):
        return False
    cells = per_speaker.indices.reshape(-1, n_moments)
    return bool(np.all(cells == cells[:, :1] + np.arange(n_moments)))


def _effects(
    per_speaker: sparse.csr_matrix,
    gradients: np.ndarray,
    offsets: np.ndarray,
    *,
    n_groups: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each speaker's influence U on each (metric, group) value: ``(speaker, column, U)``
    with column ``metric * n_groups + group``, exactly as the COO form of the sparse
    product ``per_speaker @ to_metric`` gives them, without that product.

    ``per_speaker`` stores whole cells (:func:`_in_whole_cells`) and ``gradients`` is
    ``(n_groups, n_moments)``. Each U adds its moments' products in moment order (scipy's
    ``csr_matmat`` starts from 0.0, which changes only the sign of a zero, and zeros are
    not stored); a speaker's entries come in the reverse of the order they were first
    touched (its linked list), so the sums over speakers that follow add in the same
    order (``tests/test_audit_statistics.py`` compares with the sparse product).
    """
    n_speakers, n_columns = per_speaker.shape
    n_moments = n_columns // n_groups
    group = per_speaker.indices[::n_moments] // n_moments
    products = per_speaker.data.reshape(-1, n_moments).astype(np.float64) * gradients[group]
    n_metrics = len(offsets) - 1
    u = np.empty((len(group), n_metrics))
    for metric, (start, stop) in enumerate(itertools.pairwise(offsets)):
        total = u[:, metric]
        np.copyto(total, products[:, start])
        for moment in range(start + 1, stop):
            total += products[:, moment]
    # each speaker's cells in ascending group, metrics ascending: reversed per speaker
    per_row = np.diff(per_speaker.indptr) // n_moments * n_metrics
    speaker = np.repeat(np.arange(n_speakers), per_row)
    end = np.cumsum(per_row)
    order = (2 * end - per_row)[speaker] - 1 - np.arange(len(speaker))
    u = u.ravel()[order]
    column = (np.arange(n_metrics) * n_groups + group[:, None]).ravel()[order]
    stored = u != 0
    return speaker[stored], column[stored], u[stored]


def acceleration(u2: np.ndarray, u3: np.ndarray) -> np.ndarray:
    """BCa acceleration ``ΣU³ / (6 (ΣU²)^1.5)``; 0 where the influence is all zero."""
    with np.errstate(invalid="ignore", divide="ignore"):
        a = u3 / (6 * np.power(u2, 1.5))
    return np.where(u2 > 0, np.nan_to_num(a), 0.0)


def pooled_spread(spec: MetricSpec, pool_sums: np.ndarray, pool_gram: np.ndarray) -> np.ndarray:
    """Σ (∇θ(pool) · m_i)² over a pool's speakers, from its sums and Gram matrix."""
    grad = np.nan_to_num(gradient(spec, pool_sums))
    return np.einsum("...j,...jk,...k->...", grad, pool_gram, grad)


def permutation_se(
    spec: MetricSpec,
    group_sums: np.ndarray,
    n_group: np.ndarray,
    pool_sums: np.ndarray,
    spread: np.ndarray,
    n_pool: np.ndarray,
    *,
    against_pool: bool,
) -> np.ndarray:
    """Standard error of θ(group) − θ(reference) were the pool's speakers exchangeable.

    The pool holds the group's and the reference's speakers; the reference is the whole
    pool (``against_pool``, the overall value) or the rest of it (a named group). With
    A = ∇θ(pool) · S_group, drawing the group's ``n`` speakers at random from the pool's
    ``N`` gives Var A = n (N − n) / (N (N − 1)) · ``spread``, with ``spread`` = Σ (∇θ(pool) ·
    m_i)² over the pool's speakers (:func:`pooled_spread`), and θ(group) − θ(pool) ≈ c A
    with c = count(pool) / count(group). NaN where the pool has fewer than two speakers.
    """
    n, total = np.asarray(n_group, np.float64), np.asarray(n_pool, np.float64)
    count = count_moment(spec)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = n * (total - n) / (total * (total - 1))
        c_group = pool_sums[..., count] / group_sums[..., count]
        c_rest = pool_sums[..., count] / (pool_sums[..., count] - group_sums[..., count])
        factor = c_group if against_pool else c_group + c_rest
        se = factor * np.sqrt(np.maximum(share * spread, 0.0))
    return np.where((total >= 2) & (n >= 1) & (n < total), se, np.nan)
