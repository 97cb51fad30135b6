"""Rebalanced training orders: which train clips a retrained model sees, and how often.

Two ways to give every group (a combination of demographic labels) an equal share:

- ``resample``: a fixed training set where each group has the same number of clips,
  its own clips repeated (small groups) or a random subset of them (large groups);
- ``reweight``: clips drawn with replacement with probability proportional to the
  inverse of their group's share, a fresh draw for every batch of the run (what a
  ``WeightedRandomSampler`` over the train split does).

Both return row indices into the train split, so the trainer sees a
``torch.utils.data.Subset`` of the same dataset and needs no sampling hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from speech2face.artifacts import GROUP_SEPARATOR
from speech2face.errors import InputError
from speech2face.training.driver import METHODS, RESAMPLE, REWEIGHT, UNKNOWN_METHOD

if TYPE_CHECKING:
    import pandas as pd


MISSING_COLUMN = "cannot rebalance on {column!r}: the manifest has no such column"


def group_labels(rows: pd.DataFrame, columns: Sequence[str]) -> np.ndarray:
    """Each row's group: its values of ``columns`` joined (``group_d & female``)."""
    for column in columns:
        if column not in rows.columns:
            raise InputError(MISSING_COLUMN.format(column=column))
    values = rows[list(columns)].astype(str).to_numpy()
    return np.array([GROUP_SEPARATOR.join(row) for row in values], dtype=object)


def resampled_indices(groups: np.ndarray, *, seed: int) -> np.ndarray:
    """Equal clips per group, as many in all as ``groups`` has rows (up to rounding)."""
    rng = np.random.default_rng(seed)
    names = sorted(set(groups))
    per_group = max(1, round(len(groups) / len(names)))
    chosen = []
    for name in names:
        members = np.flatnonzero(groups == name)
        repeats = -(-per_group // len(members))
        cycled = np.concatenate([rng.permutation(members) for _ in range(repeats)])
        chosen.append(cycled[:per_group])
    return rng.permutation(np.concatenate(chosen))


def reweighted_indices(groups: np.ndarray, *, n_draws: int, seed: int) -> np.ndarray:
    """``n_draws`` rows drawn with replacement, each with weight 1 / (its group's share)."""
    _, inverse, counts = np.unique(groups, return_inverse=True, return_counts=True)
    weights = 1.0 / counts[inverse]
    rng = np.random.default_rng(seed)
    return rng.choice(len(groups), size=n_draws, replace=True, p=weights / weights.sum())


def rebalanced_indices(groups: np.ndarray, *, method: str, n_draws: int, seed: int) -> np.ndarray:
    """The train rows a rebalanced run sees, in order (see the module docstring)."""
    if method == RESAMPLE:
        return resampled_indices(groups, seed=seed)
    if method == REWEIGHT:
        return reweighted_indices(groups, n_draws=n_draws, seed=seed)
    raise InputError(UNKNOWN_METHOD.format(methods=", ".join(METHODS), value=method))


def group_shares(groups: np.ndarray, indices: np.ndarray | None = None) -> dict[str, float]:
    """Share of each group among ``groups[indices]`` (all rows when ``indices`` is None)."""
    chosen = groups if indices is None else groups[indices]
    names, counts = np.unique(chosen.astype(str), return_counts=True)
    return {
        str(name): round(float(count / len(chosen)), 6)
        for name, count in zip(names, counts, strict=True)
    }
