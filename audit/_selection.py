"""Which rows of a predictions table an audit analyses: one split and one duration.

``s2f predict`` writes every split by default, so a predictions table may hold training
speakers; auditing them (and putting them in the retrieval gallery) would measure the
fit to the training data. When a ``split`` column exists the audit keeps the ``test``
rows unless told otherwise (``val``, ``train`` or ``all``).

A predictions table has one row per clip and per evaluated duration (3 s and 6 s in the
paper). Averaging both would give a number that is neither of the paper's figures and
count every clip twice, so an audit analyses one duration: by default the longest present
(the paper's headline 6 s). The 3 s versus 6 s comparison is two audits compared paired
(``s2f compare``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from audit.config import ALL_SPLITS
from speech2face.artifacts import DURATION_COLUMN
from speech2face.errors import InputError

SPLIT_COLUMN = "split"
DEFAULT_SPLIT = "test"

NO_SPLIT_COLUMN = "split {split!r} asked for, but the predictions have no 'split' column"
NO_SUCH_SPLIT = (
    "no rows with split {split!r} to audit; the predictions hold {available} "
    "(choose one with split=..., --split)"
)

NO_ROWS = "the predictions hold no rows to audit"
NO_SUCH_DURATION = "no rows with duration_s = {duration:g}; the predictions hold {available}"
BAD_DURATION = "row {row}, column 'duration_s': {value!r} is not a finite number of seconds"


@dataclass(frozen=True)
class Selection:
    """The table rows an audit keeps (positions in the predictions table) and why."""

    rows: np.ndarray
    duration_s: float
    durations: list[float]
    split: str | None
    """The split audited, ``"all"``, or None when the predictions have no split column."""
    notes: list[str] = field(default_factory=list)

    def is_everything(self, n_rows: int) -> bool:
        return len(self.rows) == n_rows


def durations_of(table: pd.DataFrame) -> np.ndarray:
    """``duration_s`` as float seconds; a value that is not a finite number is an error."""
    values = pd.to_numeric(table[DURATION_COLUMN], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(values)
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(BAD_DURATION.format(row=row, value=table[DURATION_COLUMN].iloc[row]))
    return values


def select_rows(
    table: pd.DataFrame, *, duration: float | None = None, split: str | None = None
) -> Selection:
    """The rows of one split and one duration.

    ``split`` is ``train``/``val``/``test``/``all``; None means ``test`` when the table
    has a ``split`` column and every row otherwise. ``duration`` is in seconds; None means
    the longest duration among the rows of the split.
    """
    keep, chosen_split, notes = _split_rows(table, split)
    seconds = durations_of(table)
    available = sorted({float(v) for v in np.unique(seconds[keep])})
    if not available and duration is None:
        raise InputError(NO_ROWS)
    chosen = max(available) if duration is None else float(duration)
    of_duration = seconds == chosen
    if not (keep & of_duration).any():
        shown = ", ".join(f"{d:g} s" for d in available) or "no rows"
        raise InputError(NO_SUCH_DURATION.format(duration=chosen, available=shown))
    if len(available) > 1:
        others = ", ".join(f"{d:g} s" for d in available if d != chosen)
        notes.append(
            f"audit of the {chosen:g} s predictions; {int((keep & ~of_duration).sum())} row(s) "
            f"of other durations ({others}) left out (audit them with duration=..., --duration)"
        )
    return Selection(np.flatnonzero(keep & of_duration), chosen, available, chosen_split, notes)


def _split_rows(table: pd.DataFrame, split: str | None) -> tuple[np.ndarray, str | None, list]:
    """Rows of the chosen split, the split's name and a note on the rows left out."""
    everything = np.ones(len(table), dtype=bool)
    if SPLIT_COLUMN not in table.columns:
        if split not in (None, ALL_SPLITS):
            raise InputError(NO_SPLIT_COLUMN.format(split=split))
        return everything, None, []
    chosen = DEFAULT_SPLIT if split is None else split
    if chosen == ALL_SPLITS:
        return everything, chosen, []
    values = table[SPLIT_COLUMN].astype("string").fillna("missing").to_numpy(dtype=object)
    keep = values == chosen
    counts = pd.Series(values).value_counts().sort_index()
    if not keep.any():
        available = ", ".join(f"{count} row(s) of {name!r}" for name, count in counts.items())
        raise InputError(NO_SUCH_SPLIT.format(split=chosen, available=available or "no rows"))
    left = counts.drop(chosen)
    notes = []
    if len(left):
        shown = ", ".join(f"{name} ({count})" for name, count in left.items())
        notes.append(
            f"audit of split {chosen!r}: {int(left.sum())} row(s) of other splits left out "
            f"({shown}); split='all' (--split all) audits every row"
        )
    return keep, chosen, notes
