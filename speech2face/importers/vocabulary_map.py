"""The one mapping table from each dataset's categories to the toolkit's vocabulary.

Every importer maps through :data:`VOCABULARY_MAP` and nothing else; the
dataset's own value is kept in ``<column>_original``. A category of age maps to
a range of years, which the chosen age binning turns into an ``age_group`` (a
range that straddles two bins of that binning becomes ``unknown``). Matching
ignores case and surrounding spaces. A value absent from the table becomes
``unknown`` with a warning; an empty value becomes ``unknown`` silently.

``docs/importers.md`` shows this table (:func:`mapping_table_markdown`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from speech2face.importers._common import labelled, warn
from speech2face.manifest.age import interval_to_group
from speech2face.manifest.schema import AGE_GROUP
from speech2face.vocabulary import UNKNOWN

ETHNICITIES = ("asian", "black", "indian", "white", "latino_hispanic", "middle_eastern", "other")
"""The toolkit's ethnicity groups: the paper's four classes first, then FairFace's others."""

UNMAPPED = (
    "{dataset}: {column} value {value!r} ({count} row(s)) is not in the mapping table; "
    "set to unknown"
)


@dataclass(frozen=True)
class Entry:
    """One dataset category and what it means in the toolkit's vocabulary."""

    dataset: str
    column: str
    original: str
    value: str = ""
    years: tuple[float, float] | None = None
    """For ``age``: the range of years, inclusive, the category stands for."""

    def meaning(self) -> str:
        if self.years is None:
            return self.value
        low, high = self.years
        return f"{low:g}+ years" if math.isinf(high) else f"{low:g}-{high:g} years"


def _entries(dataset: str, column: str, pairs: Iterable[tuple[str, str]]) -> list[Entry]:
    return [Entry(dataset, column, original, value) for original, value in pairs]


def _ages(dataset: str, pairs: Iterable[tuple[str, tuple[float, float]]]) -> list[Entry]:
    return [Entry(dataset, "age", original, years=years) for original, years in pairs]


_CV_DECADES = ("twenties", "thirties", "fourties", "fifties", "sixties", "seventies", "eighties")
_FAIRFACE_AGES = [("0-2", (0, 2)), ("3-9", (3, 9)), ("10-19", (10, 19))]
_FAIRFACE_AGES += [(f"{d}-{d + 9}", (d, d + 9)) for d in range(20, 70, 10)]
_FAIRFACE_AGES += [("more than 70", (70, math.inf))]
_FAIRFACE_RACES = [
    ("White", "white"),
    ("Black", "black"),
    ("Latino_Hispanic", "latino_hispanic"),
    ("East Asian", "asian"),
    ("Southeast Asian", "asian"),
    ("Indian", "indian"),
    ("Middle Eastern", "middle_eastern"),
]
_FAIRFACE_NAMES = {original.casefold() for original, _ in _FAIRFACE_RACES}

VOCABULARY_MAP: tuple[Entry, ...] = (
    *_entries("voxceleb", "gender", [("m", "male"), ("f", "female")]),
    *_entries(
        "commonvoice",
        "gender",
        [
            ("male", "male"),
            ("female", "female"),
            ("other", "other"),
            ("male_masculine", "male"),
            ("female_feminine", "female"),
            ("intersex", "other"),
            ("transgender", "other"),
            ("non-binary", "other"),
            ("do_not_wish_to_say", UNKNOWN),
        ],
    ),
    *_ages(
        "commonvoice",
        [
            ("teens", (0, 19)),
            *[(word, (20 + 10 * i, 29 + 10 * i)) for i, word in enumerate(_CV_DECADES)],
            ("forties", (40, 49)),
            ("nineties", (90, 99)),
        ],
    ),
    *_entries("fairface", "gender", [("Male", "male"), ("Female", "female")]),
    *_entries("fairface", "ethnicity", _FAIRFACE_RACES),
    *_ages("fairface", _FAIRFACE_AGES),
    *_entries("utkface", "gender", [("0", "male"), ("1", "female")]),
    *_entries(
        "utkface",
        "ethnicity",
        [("0", "white"), ("1", "black"), ("2", "asian"), ("3", "indian"), ("4", "other")],
    ),
    *_entries(
        "labels",
        "gender",
        [
            ("male", "male"),
            ("female", "female"),
            ("other", "other"),
            ("m", "male"),
            ("f", "female"),
        ],
    ),
    *_entries("labels", "ethnicity", _FAIRFACE_RACES),
    *_entries(
        "labels",
        "ethnicity",
        [(name, name) for name in ETHNICITIES if name not in _FAIRFACE_NAMES],
    ),
    *_ages("labels", _FAIRFACE_AGES),
)
"""Every mapping, grouped by dataset; ``labels`` is an AVSpeech labels file (the
toolkit's own values, FairFace's classifier outputs and single-letter genders)."""


def _key(value: object) -> str:
    return str(value).strip().casefold()


def _lookup(dataset: str, column: str) -> dict[str, Entry]:
    return {
        _key(entry.original): entry
        for entry in VOCABULARY_MAP
        if entry.dataset == dataset and entry.column == column
    }


def _missing(values: pd.Series) -> np.ndarray:
    return (values.isna() | (values.astype(str).str.strip() == "")).to_numpy(dtype=bool)


def _map(dataset: str, column: str, values: pd.Series, meaning) -> pd.Series:
    """Map each distinct value once: ``meaning(entry)``, ``unknown`` when empty or absent."""
    table = _lookup(dataset, column)
    codes, distinct = pd.factorize(values.astype(str).str.strip(), use_na_sentinel=False)
    results = []
    for value, count in zip(distinct, np.bincount(codes, minlength=len(distinct)), strict=True):
        entry = table.get(_key(value))
        if entry is None and not pd.isna(value) and value != "":
            warn(UNMAPPED.format(dataset=dataset, column=column, value=value, count=count))
        results.append(UNKNOWN if entry is None else meaning(entry))
    mapped = np.asarray(results, dtype=object)[codes] if len(codes) else np.asarray([], object)
    mapped[_missing(values)] = UNKNOWN
    return pd.Series(mapped, index=values.index, dtype=object)


def map_category(dataset: str, column: str, values: pd.Series) -> pd.Series:
    """The toolkit's values (``gender`` or ``ethnicity``) for a dataset's values."""
    return _map(dataset, column, values, lambda entry: entry.value)


def map_age_group(dataset: str, values: pd.Series, *, binning="paper") -> pd.Series:
    """The ``age_group`` (by ``binning``) of a dataset's age categories."""
    return _map(
        dataset, "age", values, lambda entry: interval_to_group(*entry.years, binning=binning)
    )


def label_from_table(
    frame: pd.DataFrame,
    dataset: str,
    columns: dict[str, pd.Series],
    *,
    source: str,
    age_binning="paper",
) -> None:
    """Set each toolkit column (``gender``, ``ethnicity``, ``age_group``) from a dataset's
    values through the table, with ``<column>_original`` and ``<column>_source``."""
    for column, values in columns.items():
        if column == AGE_GROUP:
            mapped = map_age_group(dataset, values, binning=age_binning)
        else:
            mapped = map_category(dataset, column, values)
        labelled(frame, column, mapped, original=values, source=source)


def mapping_table_markdown() -> str:
    """The mapping table as Markdown, as shown in ``docs/importers.md``."""
    lines = ["| dataset | column | dataset value | toolkit value |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {entry.dataset} | {entry.column} | `{entry.original}` | {entry.meaning()} |"
        for entry in VOCABULARY_MAP
    ]
    return "\n".join(lines)
