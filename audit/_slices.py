"""Slices: the groups of clips every metric is reported for.

A slice is the whole set (``overall``), one column (``gender``) or an intersection of
columns up to a chosen order (``gender & ethnicity``). Every clip belongs to exactly one
group of each slice; a missing value is the explicit group ``unknown``. Intersections
that hold no clip are listed, never dropped silently.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit._components import age_groups
from audit.artifacts import SEPARATOR
from speech2face.errors import InputError
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS, UNKNOWN

OVERALL = "overall"
ALL = "all"
DEFAULT_SLICE_COLUMNS = DEMOGRAPHIC_COLUMNS
"""Sliced by default where present; an audit analyses one duration, so not ``duration_s``."""

UNKNOWN_SLICE = (
    "slice column {column!r} is not in the predictions table (columns: {available}); "
    "--manifest M (manifest=...) joins a manifest's columns"
)
"""InputError message for a requested slice column the table lacks."""


@dataclass(frozen=True)
class Slice:
    """One way of grouping clips: per-clip group codes and the label of each group."""

    name: str
    columns: tuple[str, ...]
    labels: tuple[str, ...]
    codes: np.ndarray
    empty: tuple[str, ...] = ()

    @property
    def n_groups(self) -> int:
        return len(self.labels)


def slice_labels(table: pd.DataFrame, column: str) -> pd.Series:
    """The group label of every clip for one column, as strings (missing → ``unknown``)."""
    if column == "age_group" and column not in table.columns:
        return age_groups(table["age"]).astype(str)
    values = table[column]
    if pd.api.types.is_float_dtype(values):
        text = values.map(lambda v: f"{v:g}", na_action="ignore")
    else:
        text = values.astype("string")
    return text.fillna(UNKNOWN).astype(str).replace("", UNKNOWN)


def resolve_columns(
    table: pd.DataFrame, columns: Sequence[str] | None
) -> tuple[list[str], list[str]]:
    """The slice columns to use and notes about default columns left out."""
    available = set(table.columns) | ({"age_group"} if "age" in table.columns else set())
    if columns is not None:
        for column in columns:
            if column not in available:
                raise InputError(
                    UNKNOWN_SLICE.format(column=column, available=", ".join(sorted(available)))
                )
        return list(dict.fromkeys(columns)), []
    chosen, notes = [], []
    for column in DEFAULT_SLICE_COLUMNS:
        if column not in available:
            continue
        if slice_labels(table, column).nunique() < 2:
            notes.append(f"slice {column!r} left out: every clip has the same value")
            continue
        chosen.append(column)
    return chosen, notes


def build_slices(
    table: pd.DataFrame, columns: Sequence[str], *, intersections: int = 2
) -> list[Slice]:
    """``overall``, one slice per column, and every intersection of 2..``intersections`` columns."""
    n = len(table)
    slices = [Slice(OVERALL, (), (ALL,), np.zeros(n, dtype=np.int64))]
    single: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for column in columns:
        codes, levels = pd.factorize(slice_labels(table, column), sort=True)
        single[column] = (codes.astype(np.int64), np.asarray(levels, dtype=object))
        slices.append(Slice(column, (column,), tuple(map(str, levels)), single[column][0]))
    for order in range(2, intersections + 1):
        for combo in itertools.combinations(columns, order):
            slices.append(_intersection(combo, single))
    return slices


def _intersection(
    combo: tuple[str, ...], single: dict[str, tuple[np.ndarray, np.ndarray]]
) -> Slice:
    sizes = [len(single[c][1]) for c in combo]
    combined = np.ravel_multi_index([single[c][0] for c in combo], sizes)
    observed, codes = np.unique(combined, return_inverse=True)
    all_cells = np.arange(int(np.prod(sizes)))

    def label(flat: int) -> str:
        parts = np.unravel_index(flat, sizes)
        return SEPARATOR.join(str(single[c][1][i]) for c, i in zip(combo, parts, strict=True))

    empty = tuple(label(int(flat)) for flat in np.setdiff1d(all_cells, observed))
    labels = tuple(label(int(flat)) for flat in observed)
    return Slice(SEPARATOR.join(combo), combo, labels, codes.astype(np.int64), empty)


def group_counts(slice_: Slice, speaker_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``n_clips`` and ``n_speakers`` of every group of a slice."""
    n_clips = np.bincount(slice_.codes, minlength=slice_.n_groups)
    pairs = np.unique(speaker_codes.astype(np.int64) * slice_.n_groups + slice_.codes)
    n_speakers = np.bincount(pairs % slice_.n_groups, minlength=slice_.n_groups)
    return n_clips, n_speakers
