"""Scan a rendered report for any number of a group below the privacy threshold.

A report is cut into the innermost units a reader takes together (table rows, list
items, paragraphs, captions, callouts, and the ``alt``/``title``/``aria-label``/``data-value``
attributes inside them), and each unit into parts at colons (a listing of group names
after "…: " is not read with the count before it). A part that names a suppressed
group (its slice and its group, each as a whole name) must not hold any of that group's
numbers (counts, shares, values); for a group of one split, only the clauses
(between semicolons) of the part that name the split are read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from html.parser import HTMLParser

import pandas as pd

UNITS = {"tr", "li", "p", "figcaption", "caption", "dd", "summary", "h3", "div", "figure"}
ATTRIBUTES = ("alt", "title", "aria-label", "data-value")
NAME_START, NAME_END = "\x02", "\x03"
"""Around text in ``<code>``: names (groups, paths), read for labels but not for numbers."""


@dataclass(frozen=True)
class Suppressed:
    """A group below the privacy threshold: the words that name it and its numbers."""

    labels: tuple[str, ...]
    numbers: frozenset[str]
    split: str | None = None


class _Units(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.open: list[list[str]] = []
        self.tags: list[str] = []
        self.units: list[str] = []
        self.names: list[str] = []
        self.parents: list[bool] = []
        """Per open unit: whether a unit inside it has closed."""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._text(" ")  # cells and tags separate words
        if tag == "code":
            self.names.append(tag)
        if tag in UNITS:
            self.open.append([])
            self.tags.append(tag)
            self.parents.append(False)
        for name, value in attrs:
            if name in ATTRIBUTES and value:
                self.units.append(value)
                self._text(f" {value} ")

    def handle_endtag(self, tag: str) -> None:
        self._text(" ")
        if tag == "code" and self.names:
            self.names.pop()
        if tag in UNITS and tag in self.tags:
            while self.tags:
                closed, text = self.tags.pop(), "".join(self.open.pop())
                if not self.parents.pop():  # innermost units only: a row, not its table
                    self.units.append(text)
                if self.parents:
                    self.parents[-1] = True
                self._text(text)
                if closed == tag:
                    break

    def handle_data(self, data: str) -> None:
        self._text(f"{NAME_START}{data}{NAME_END}" if "code" in self.names else data)

    def _text(self, text: str) -> None:
        if self.open:
            self.open[-1].append(text)


def units(html: str) -> list[str]:
    """The text units of a page (see the module docstring)."""
    parser = _Units()
    parser.feed(html)
    parser.close()
    return parser.units


def _plain(text: str) -> str:
    return text.replace(NAME_START, "").replace(NAME_END, "")


def _word(label: str) -> str:
    """``label`` as a whole name: not part of a word, nor of an intersection ``a & b``."""
    return rf"(?<!\w)(?<!& ){re.escape(label)}(?! &)(?!\w)"


def _names(unit: str, label: str) -> bool:
    return re.search(_word(label), unit) is not None


def _holds(unit: str, number: str) -> bool:
    return re.search(rf"(?<![\d.]){re.escape(number)}(?![\d]|\.\d)", unit) is not None


def leaks(html: str, suppressed: Iterable[Suppressed], *, names: Iterable[str] = ()) -> list[str]:
    """Every (unit, number) where a unit naming a suppressed group holds one of its numbers.

    ``names`` (every group and reference of the artifact) are blanked before numbers are
    read: the 6 of a group named ``en & 6`` is not a count.
    """
    names = sorted({str(n) for n in names}, key=len, reverse=True)
    found = []
    parts = [part for unit in units(html) for part in unit.split(":")]
    for group in suppressed:
        for part in parts:
            if not all(_names(_plain(part), label) for label in group.labels):
                continue
            part = re.sub(f"{NAME_START}[^{NAME_END}]*{NAME_END}", " ", part)
            for name in [*group.labels, *names]:
                part = re.sub(_word(name), " ", part)
            clauses = [part]
            if group.split is not None:
                clauses = [c for c in part.split(";") if _names(c, group.split)]
            found.extend(
                f"{number!r} in {' '.join(clause.split())!r}"
                for clause in clauses
                for number in group.numbers
                if _holds(clause, number)
            )
    return found


def numbers(*values: object, percent: bool = False) -> set[str]:
    """The ways a report may write these numbers: as stored, as counts, as percentages."""
    out: set[str] = set()
    for value in values:
        if value is None or (isinstance(value, float) and not pd.notna(value)):
            continue
        number = float(value)
        out.add(str(value))
        if number == int(number):
            out.add(str(int(number)))
        if percent:
            out.update({f"{number * 100:.0f}%", f"{number * 100:.1f}%", f"{number:.3f}"})
    return out


def group_names(rows: pd.DataFrame) -> set[str]:
    """Every group and reference name of a groups-like table."""
    columns = [c for c in ("group", "reference") if c in rows.columns]
    return {str(v) for c in columns for v in rows[c].dropna().unique()}


def suppressed_rows(
    rows: pd.DataFrame, privacy_k: int, *, value_columns: Iterable[str], split: bool = False
) -> list[Suppressed]:
    """A :class:`Suppressed` per row of a groups-like table whose ``n_speakers`` is below k."""
    value_columns = list(value_columns)
    out = []
    below = rows[(rows["n_speakers"] > 0) & (rows["n_speakers"] < privacy_k)]
    for row in below.to_dict("records"):
        labels = (row["slice"], row["group"])
        counts = numbers(row["n_speakers"], row.get("n_clips"))
        shares = numbers(*(row[c] for c in value_columns), percent=True)
        out.append(Suppressed(labels, frozenset(counts | shares), row["split"] if split else None))
    return out
