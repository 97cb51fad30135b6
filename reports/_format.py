"""Number formats, status badges and privacy suppression shared by every report."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from markupsafe import Markup

from audit.artifacts import SEPARATOR
from audit.privacy import is_suppressed
from speech2face.vocabulary import AGE_DECADES

SUPPRESSED = "suppressed"
WITHHELD = -1.0
"""Stands for a count withheld by complementary suppression (shown as "withheld")."""
BADGES = {
    "flag": "flag",
    "flagged": "flag",
    "regression": "flag",
    "gap widened": "flag",
    "grew": "flag",
    "insufficient": "insufficient",
    "insufficient evidence": "insufficient",
    "single_speaker": "insufficient",
    "single speaker": "insufficient",
    "no_values": "insufficient",
    "thin": "insufficient",
    "inferred": "insufficient",
    "circular": "insufficient",
    "all_unknown": "suppressed",
    "empty": "suppressed",
    SUPPRESSED: "suppressed",
    "ok": "ok",
    "shrank": "ok",
    "improved": "ok",
    "reference": "ok",
}


CORRECTION_NAMES = {"holm": "Holm", "bh": "Benjamini–Hochberg"}


def correction_name(name: str) -> str:
    """The multiple-testing correction's name as a reader knows it."""
    return CORRECTION_NAMES.get(name, name)


def badge(value: object) -> str | None:
    """The badge class of a status word, or None for plain text."""
    return BADGES.get(str(value))


def protected(
    frame: pd.DataFrame,
    *,
    by: Sequence[str],
    privacy_k: int,
    n: str = "n_speakers",
    group: str = "group",
    across: Sequence[str] = (),
) -> np.ndarray:
    """Rows whose counts are not shown: below ``privacy_k`` speakers, or withheld so that
    those cannot be recovered by subtraction (complementary suppression).

    A *line* is a set of rows whose counts add up to a number the reader knows: the
    groups of one slice (keys ``by``) add up to the slice total, the cells of an
    intersection that share all but one of their values (``a & b`` with ``a`` fixed)
    add up to that value's own group, and one group's rows that differ only in a key of
    ``across`` add up to each other (a split: ``train`` + ``test`` = ``all``). In every
    line holding a suppressed row, the smallest shown non-empty rows are withheld too
    until at least two rows are hidden and the hidden rows hold at least ``privacy_k``
    speakers together; lines are re-checked until nothing changes, as a withheld cell
    can break another line.
    """
    values = frame[n].to_numpy(dtype=float)
    hidden = is_suppressed(values, privacy_k)
    if not hidden.any():
        return hidden
    base = [tuple(row) for row in frame[list(by)].astype(str).to_numpy()]
    parts = [str(g).split(SEPARATOR) for g in frame[group]]
    lines: dict[tuple, list[int]] = {}
    for index, (key, values_of) in enumerate(zip(base, parts, strict=True)):
        lines.setdefault((key, None), []).append(index)
        if len(values_of) > 1:
            for j in range(len(values_of)):
                rest = tuple(values_of[:j] + values_of[j + 1 :])
                lines.setdefault((key, j, rest), []).append(index)
    for column in across:
        others = [key for key in by if key != column]
        for index, key in enumerate(frame[[*others, group]].astype(str).to_numpy()):
            lines.setdefault((column, tuple(key)), []).append(index)
    members = [np.asarray(rows) for rows in lines.values() if len(rows) > 1]
    changed = True
    while changed:
        changed = False
        for rows in members:
            while hidden[rows].any() and (
                hidden[rows].sum() < 2 or values[rows][hidden[rows]].sum() < privacy_k
            ):
                candidates = rows[~hidden[rows] & (values[rows] > 0)]
                if not len(candidates):
                    break
                hidden[candidates[np.argmin(values[candidates])]] = True
                changed = True
    return hidden


def private_count(privacy_k: int) -> Callable[[object], str]:
    """Counts with suppression: NaN is below the threshold, :data:`WITHHELD` is withheld."""

    def shown(value: object) -> str:
        if value == WITHHELD:
            return "withheld"
        return count(value) if finite(value) else f"< {privacy_k}"

    return shown


def finite(value: object) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def value_formatter(unit: str) -> Callable[[object], str]:
    """Values: proportions as percentages, years with one decimal, others with three."""
    if unit == "proportion":
        return lambda v: f"{v * 100:.1f}%" if finite(v) else "–"
    if unit == "years":
        return lambda v: f"{v:.2f} y" if finite(v) else "–"
    return lambda v: f"{v:.3f}" if finite(v) else "–"


def difference_formatter(unit: str) -> Callable[[object], str]:
    """Differences: proportions in signed percentage points, others signed."""
    if unit == "proportion":
        return lambda v: f"{v * 100:+.1f} pts" if finite(v) else "–"
    if unit == "years":
        return lambda v: f"{v:+.2f} y" if finite(v) else "–"
    return lambda v: f"{v:+.3f}" if finite(v) else "–"


def interval(low: object, high: object, unit: str, *, signed: bool = False) -> str:
    """``[low, high]`` in the metric's unit, or a dash when either end is missing."""
    if not (finite(low) and finite(high)):
        return "–"
    if unit == "proportion":
        scale, digits, suffix = 100.0, 1, ""
    else:
        scale, digits, suffix = 1.0, 2 if unit == "years" else 3, ""
    sign = "+" if signed else ""
    return f"[{low * scale:{sign}.{digits}f}, {high * scale:{sign}.{digits}f}]{suffix}"


def p_value(value: object) -> str:
    if not finite(value):
        return "–"
    return "< 0.001" if value < 0.001 else f"{value:.3f}"


def share(value: object) -> str:
    return f"{value * 100:.1f}%" if finite(value) else "–"


def count(value: object) -> str:
    return f"{int(value):,}" if finite(value) else "–"


def counted(value: object, noun: str, plural: str | None = None) -> str:
    """``1 clip``, ``2 clips``, ``1,000 speakers``: a count with its noun in the right number."""
    word = noun if finite(value) and int(value) == 1 else (plural or noun + "s")
    return f"{count(value)} {word}"


def listing(items: list[str], *, limit: int = 40) -> Markup:
    """A comma-separated list of escaped names, the tail summarised beyond ``limit``."""
    shown = Markup(", ").join(Markup("<code>{}</code>").format(item) for item in items[:limit])
    if len(items) > limit:
        shown += Markup(" and {} more").format(len(items) - limit)
    return shown


def group_order(groups: object) -> list[str]:
    """Groups in their natural order: age decades youngest first, anything else alphabetical."""
    names = [str(group) for group in dict.fromkeys(groups)]
    rank = {decade: index for index, decade in enumerate(AGE_DECADES)}
    return sorted(names, key=lambda name: (rank.get(name, len(rank)), name))
