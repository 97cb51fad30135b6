"""Which rows of a predictions table an audit analyses: one split and one duration.

``s2f predict`` writes every split by default, so a predictions table may hold training
speakers; auditing them (and putting them in the retrieval gallery) would measure the
fit to the training data. When a ``split`` column exists the audit keeps the ``test``
rows unless told otherwise (``val``, ``train`` or ``all``). Whatever the split, the clips
of speakers the model trained or validated on are then left out (a manifest can be
re-split after training): those the predictions mark ``seen_in_training`` (recorded by the
run), or, in a table without that column, speakers with any ``train``/``val`` row.
``include_training_speakers`` keeps them, and the audit says so (:data:`TRAINING_INCLUDED`).

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
from speech2face.artifacts import DURATION_COLUMN, SEEN_IN_TRAINING_COLUMN
from speech2face.errors import InputError

SPLIT_COLUMN = "split"
DEFAULT_SPLIT = "test"

NO_SPLIT_COLUMN = "split {split!r} asked for, but the predictions have no 'split' column"
NO_SUCH_SPLIT = (
    "no rows with split {split!r} to audit; the predictions hold {available} "
    "(choose one with split=..., --split)"
)

NO_ROWS = "the predictions hold no rows to audit"
ONLY_TRAINING_SPEAKERS = (
    "every one of the {n_clips} clip(s) to audit is of a speaker the model trained on "
    "({source}); an audit of them measures the fit to training data: predict held-out "
    "speakers, or pass --include-training-speakers (include_training_speakers=True)"
)
TRAINING_EXCLUDED = (
    "{n_clips} clip(s) of {n_speakers} speaker(s) the model trained on ({source}) left out; "
    "--include-training-speakers audits them"
)
TRAINING_INCLUDED = (
    "This audit includes {n_clips} clip(s) of {n_speakers} speaker(s) the model trained on "
    "({source}): their numbers measure the fit to training data, not how the model does on "
    "voices it never heard"
)
SOURCE_COLUMN = "marked seen_in_training by the run's record"
SOURCE_SPLIT = "speakers with train/val rows in the predictions; no seen_in_training column"
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
    training_speakers: dict = field(default_factory=dict)
    """What was done with the clips of training speakers (``audit.json``'s record)."""

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
    table: pd.DataFrame,
    *,
    duration: float | None = None,
    split: str | None = None,
    include_training_speakers: bool = False,
) -> Selection:
    """The rows of one split and one duration, without training speakers unless included.

    ``split`` is ``train``/``val``/``test``/``all``; None means ``test`` when the table
    has a ``split`` column and every row otherwise. ``duration`` is in seconds; None means
    the longest duration among the rows of the split.
    """
    keep, chosen_split, notes = _split_rows(table, split)
    keep, training = _training_rows(table, keep, include=include_training_speakers)
    if training.get("note"):
        notes.append(training["note"])
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
    return Selection(
        np.flatnonzero(keep & of_duration), chosen, available, chosen_split, notes, training
    )


def training_mask(table: pd.DataFrame) -> tuple[np.ndarray, str | None]:
    """Per row: whether its speaker was seen in training, and how that is known.

    The predictions' ``seen_in_training`` column (the run's record) when present; else
    every speaker with a ``train`` or ``val`` row; else (no split column) nobody, source None.
    """
    if SEEN_IN_TRAINING_COLUMN in table.columns:
        values = table[SEEN_IN_TRAINING_COLUMN]
        return values.fillna(False).astype(bool).to_numpy(), SOURCE_COLUMN
    if SPLIT_COLUMN not in table.columns:
        return np.zeros(len(table), dtype=bool), None
    fitted = table[SPLIT_COLUMN].astype("string").isin(("train", "val")).fillna(False)
    speakers = set(table.loc[fitted.to_numpy(), "speaker_id"].astype(str))
    return table["speaker_id"].astype(str).isin(speakers).to_numpy(), SOURCE_SPLIT


def _training_rows(
    table: pd.DataFrame, keep: np.ndarray, *, include: bool
) -> tuple[np.ndarray, dict]:
    """``keep`` without training speakers' rows (unless ``include``) and the record of it."""
    seen, source = training_mask(table)
    hit = keep & seen
    record = {
        "source": source or "unknown: no seen_in_training or split column",
        "included": bool(include),
        "n_clips": int(hit.sum()),
        "n_speakers": int(table["speaker_id"][hit].nunique()),
    }
    if not hit.any():
        return keep, record
    shown = {"n_clips": record["n_clips"], "n_speakers": record["n_speakers"], "source": source}
    if include:
        record["note"] = record["banner"] = TRAINING_INCLUDED.format(**shown)
        return keep, record
    if not (keep & ~seen).any():
        raise InputError(ONLY_TRAINING_SPEAKERS.format(n_clips=record["n_clips"], source=source))
    record["note"] = TRAINING_EXCLUDED.format(**shown)
    return keep & ~seen, record


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
