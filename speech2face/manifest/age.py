"""Binning of age in years into age groups.

A binning is a tuple of increasing edges (years) and one label per bin; bin
``i`` holds ages in ``[edges[i-1], edges[i])`` (``np.digitize`` semantics), the
first bin everything below ``edges[0]`` and the last everything from
``edges[-1]`` on. Two binnings are built in:

- ``paper``: the decades of Speech2Face (``<20, 20-29, …, 60-69, 70+``), the default
- ``fairface``: FairFace's bins (``0-2, 3-9, 10-19, …, 60-69, 70+``)

Any other binning is given as edges (``"18,30,45,65"`` labels itself
``<18, 18-29, 30-44, 45-64, 65+``) or as an :class:`AgeBinning` with labels.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from speech2face.errors import InputError
from speech2face.vocabulary import AGE_DECADE_EDGES, AGE_DECADES, UNKNOWN

BAD_BINNING = "age binning {spec!r}: {reason}"
NEGATIVE_AGE = "age {age} is negative"


@dataclass(frozen=True)
class AgeBinning:
    """Increasing ``edges`` in years and ``len(edges) + 1`` labels."""

    edges: tuple[float, ...]
    labels: tuple[str, ...]
    name: str = "custom"

    def __post_init__(self) -> None:
        if len(self.labels) != len(self.edges) + 1:
            raise InputError(
                BAD_BINNING.format(spec=self.name, reason="needs one label more than edges")
            )
        if any(b <= a for a, b in itertools.pairwise(self.edges)):
            raise InputError(BAD_BINNING.format(spec=self.name, reason="edges must increase"))
        if any(edge <= 0 for edge in self.edges):
            raise InputError(BAD_BINNING.format(spec=self.name, reason="edges must be positive"))
        if len(set(self.labels)) != len(self.labels) or UNKNOWN in self.labels:
            raise InputError(
                BAD_BINNING.format(spec=self.name, reason=f"labels must be distinct, not {UNKNOWN}")
            )

    @classmethod
    def from_edges(cls, edges: Sequence[float], *, name: str = "custom") -> AgeBinning:
        """A binning labelled from integer edges: ``(18, 30)`` → ``<18, 18-29, 30+``."""
        edges = tuple(edges)
        if not edges or any(float(edge) != int(edge) for edge in edges):
            raise InputError(BAD_BINNING.format(spec=name, reason="edges must be whole years"))
        ints = [int(edge) for edge in edges]
        middle = [f"{low}-{high - 1}" for low, high in itertools.pairwise(ints)]
        return cls(edges=edges, labels=(f"<{ints[0]}", *middle, f"{ints[-1]}+"), name=name)

    def group_of_interval(self, low: float, high: float) -> str:
        """The label of the bin holding every age in ``[low, high]``, else ``unknown``."""
        first, last = np.digitize([low, high], self.edges)
        return self.labels[first] if first == last else UNKNOWN


PAPER = AgeBinning(edges=AGE_DECADE_EDGES, labels=AGE_DECADES, name="paper")
FAIRFACE = AgeBinning(
    edges=(3, 10, 20, 30, 40, 50, 60, 70),
    labels=("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70+"),
    name="fairface",
)
BINNINGS = {PAPER.name: PAPER, FAIRFACE.name: FAIRFACE}


def get_binning(spec: str | AgeBinning) -> AgeBinning:
    """A binning by name (``paper``, ``fairface``), by comma-separated edges, or as given."""
    if isinstance(spec, AgeBinning):
        return spec
    if spec in BINNINGS:
        return BINNINGS[spec]
    try:
        edges = [float(part) for part in spec.split(",")]
    except ValueError:
        reason = f"not one of {sorted(BINNINGS)} nor comma-separated edges in years"
        raise InputError(BAD_BINNING.format(spec=spec, reason=reason)) from None
    return AgeBinning.from_edges(edges, name=spec)


def age_to_group(ages: Sequence[float] | np.ndarray | pd.Series, *, binning="paper") -> np.ndarray:
    """Age groups (object array of labels) of ages in years; a missing age is ``unknown``.

    ``binning`` is ``"paper"`` (default), ``"fairface"``, comma-separated edges or an
    :class:`AgeBinning`. A negative age raises :class:`~speech2face.errors.InputError`.
    """
    binning = get_binning(binning)
    values = np.asarray(ages)
    if not np.issubdtype(values.dtype, np.number):
        values = pd.to_numeric(pd.Series(values, dtype=object), errors="coerce")
    values = np.asarray(values, dtype=float)
    known = ~np.isnan(values)
    negative = known & (values < 0)
    if negative.any():
        raise InputError(NEGATIVE_AGE.format(age=values[negative][0]))
    groups = np.full(values.shape, UNKNOWN, dtype=object)
    labels = np.asarray(binning.labels, dtype=object)
    groups[known] = labels[np.digitize(values[known], binning.edges)]
    return groups


def interval_to_group(low: float, high: float = math.inf, *, binning="paper") -> str:
    """The age group of an age range ``[low, high]`` years, ``unknown`` where it spans bins."""
    return get_binning(binning).group_of_interval(low, high)
