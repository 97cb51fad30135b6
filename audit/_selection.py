"""Which rows of a predictions table an audit analyses: one duration (and one split).

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

from speech2face.errors import InputError

DURATION_COLUMN = "duration_s"

NO_SUCH_DURATION = "no rows with duration_s = {duration:g}; the predictions hold {available}"
BAD_DURATION = "row {row}, column 'duration_s': {value!r} is not a finite number of seconds"


@dataclass(frozen=True)
class Selection:
    """The table rows an audit keeps (positions in the predictions table) and why."""

    rows: np.ndarray
    duration_s: float
    durations: list[float]
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


def select_rows(table: pd.DataFrame, *, duration: float | None = None) -> Selection:
    """The rows of one duration: ``duration`` seconds, or the longest present when None."""
    seconds = durations_of(table)
    available = sorted({float(v) for v in np.unique(seconds)})
    chosen = max(available) if duration is None else float(duration)
    keep = seconds == chosen
    if not keep.any():
        shown = ", ".join(f"{d:g} s" for d in available) or "no rows"
        raise InputError(NO_SUCH_DURATION.format(duration=chosen, available=shown))
    notes = []
    if len(available) > 1:
        others = ", ".join(f"{d:g} s" for d in available if d != chosen)
        notes.append(
            f"audit of the {chosen:g} s predictions; {int((~keep).sum())} row(s) of other "
            f"durations ({others}) left out (audit them with duration=..., --duration)"
        )
    return Selection(np.flatnonzero(keep), chosen, available, notes)
