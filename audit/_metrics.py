"""Metric definitions: which per-clip components a metric reads and how group sums become it.

Every metric is a smooth function of group sums of per-clip *moments*, so one set of
sums serves the point value and every bootstrap replicate:

- ``mean`` metrics (agreement, accuracy, errors, similarities, recall@k): the moments
  are (value, 1) over clips where the component is finite; value = Σvalue / Σ1.
- ``pearson`` metrics (craniofacial): the moments are (1, x, y, x², y², xy) over clips
  where both are finite, x and y centred on their overall means first so that float32
  replicate sums do not cancel.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal

import numpy as np

from speech2face.errors import InputError

MEAN = "mean"
PEARSON = "pearson"
COLUMNS = "columns"
"""Component kind of a metric whose components are numeric predictions columns."""
PROPORTION = "proportion"
"""Unit of a metric on [0, 1] where a difference of 0.05 is five points."""
YEARS = "years"
CORRELATION = "correlation"
SIMILARITY = "similarity"
DISTANCE = "distance"

DEFAULT_THRESHOLDS: dict[str, float | str] = {
    PROPORTION: 0.05,
    YEARS: 2.0,
    CORRELATION: 0.1,
    SIMILARITY: 0.05,
    DISTANCE: "10%",
}
"""The practical threshold of each unit: the smallest gap worth a flag, in the metric's own
units; ``"N%"`` is N percent of the metric's overall value.

- proportions (agreement, accuracy, recall@k, voice-added error): 5 points;
- age errors: 2 years (the age decades are 10 years wide, and an age estimator's own
  error is several years, so smaller gaps in mean absolute error are not visible to users);
- Pearson r: 0.1 (a step on Cohen's scale of small 0.1 / medium 0.3 / large 0.5);
- cosine similarity of normalised features (on [-1, 1]): 0.05, as for a proportion;
- L1 and L2 distances: 10% of the overall value, because their scale depends on the
  feature's dimension (L1 of normalised 4096-D features is in the tens).
"""
THRESHOLD_KEYS = "a metric name, a metric family or a unit ({units})"
BAD_THRESHOLD = "threshold of {key!r} must be a non-negative number or 'N%', got {value!r}"


def threshold_value(rule: float | str, overall: float) -> float:
    """A threshold rule in the metric's units: ``"N%"`` is N percent of |overall value|."""
    if isinstance(rule, str) and rule.strip().endswith("%"):
        return float(rule.strip()[:-1]) / 100 * abs(float(overall))
    return float(rule)


def check_threshold(key: str, rule: float | str) -> float | str:
    """A valid threshold rule (a non-negative number, or ``"N%"``), or an InputError."""
    text = str(rule).strip()
    try:
        amount = float(text[:-1] if text.endswith("%") else text)
    except ValueError:
        amount = float("nan")
    if not amount >= 0 or amount == float("inf"):
        raise InputError(BAD_THRESHOLD.format(key=key, value=rule))
    return text if text.endswith("%") else amount


@dataclass(frozen=True)
class MetricSpec:
    """One audit metric: what it means, the component kind computing it, how it aggregates.

    Everything a report needs (unit, direction, family, headline, facets) is here and is
    saved whole in ``audit.json`` and ``comparison.json`` (:meth:`to_dict`).
    """

    name: str
    kind: Literal["mean", "pearson"]
    components: tuple[str, ...]
    """Component column(s): one for ``mean``, (x, y) for ``pearson``."""
    requires: tuple[str, ...]
    """Predictions columns (or ``feature:<name>``) the component is computed from."""
    higher_is_better: bool
    family: str
    unit: str = PROPORTION
    binary: bool = False
    """Whether the component is 0/1 (a proportion: Wilson intervals apply)."""
    component: str = COLUMNS
    """The component kind computing it from ``requires`` (a key of ``_components.COMPONENTS``)."""
    headline: bool = False
    """Whether reports lead with it (a forest plot of its own, a plotted change)."""
    face: str | None = None
    """The face whose prediction is scored: ``s2f``, ``f2f`` or ``true``."""
    subject: str | None = None
    """What is scored: an attribute, a craniofacial measure or a feature distance."""
    k: int | None = None
    """Retrieval: the rank cutoff of recall@k."""
    gallery: str | None = None
    """Retrieval: ``mixed`` or ``matched`` gallery."""
    match_on: str | None = None
    """Retrieval on a matched gallery: the column whose groups each gallery is drawn from."""

    def reported_on(self, columns: tuple[str, ...]) -> bool:
        """Whether the metric has a value in a slice over ``columns`` (``()``: overall).

        Matched-gallery recall is reported overall and on its own column's slice only.
        """
        return self.match_on is None or tuple(columns) in ((), (self.match_on,))

    def compared_on(self, columns: tuple[str, ...]) -> bool:
        """Whether the groups of a slice over ``columns`` are tested against a reference.

        Mixed-gallery recall never is: its groups face galleries of different size and
        composition, so its gaps measure the gallery, not the model. Matched-gallery recall
        is, on the slice of its own column (every group ranked in galleries of one size).
        """
        if self.gallery is None:
            return True
        return self.gallery == "matched" and tuple(columns) == (self.match_on,)

    @property
    def n_moments(self) -> int:
        return 2 if self.kind == MEAN else 6

    def to_dict(self) -> dict[str, Any]:
        """The spec as JSON-ready values (tuples as lists)."""
        return {f.name: _listed(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any]) -> MetricSpec:
        """A spec from :meth:`to_dict` output; other keys (a threshold) are ignored."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in saved.items() if key in known}
        return cls(**{key: _tupled(value) for key, value in values.items()})


def _listed(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _tupled(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


def metric_moments(spec: MetricSpec, components: dict[str, np.ndarray]) -> np.ndarray:
    """The ``(n_clips, n_moments)`` float64 moments of one metric."""
    if spec.kind == MEAN:
        value = np.asarray(components[spec.components[0]], dtype=np.float64)
        valid = np.isfinite(value)
        return np.column_stack([np.where(valid, value, 0.0), valid.astype(np.float64)])
    x = np.asarray(components[spec.components[0]], dtype=np.float64)
    y = np.asarray(components[spec.components[1]], dtype=np.float64)
    valid = np.isfinite(x) & np.isfinite(y)
    x = np.where(valid, x - (x[valid].mean() if valid.any() else 0.0), 0.0)
    y = np.where(valid, y - (y[valid].mean() if valid.any() else 0.0), 0.0)
    scale_x = x[valid].std() if valid.sum() > 1 else 1.0
    scale_y = y[valid].std() if valid.sum() > 1 else 1.0
    x, y = x / (scale_x or 1.0), y / (scale_y or 1.0)
    return np.column_stack([valid.astype(np.float64), x, y, x * x, y * y, x * y])


def metric_values(spec: MetricSpec, sums: np.ndarray) -> np.ndarray:
    """Metric values from group sums ``(..., n_moments)``; NaN where undefined."""
    sums = np.asarray(sums, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if spec.kind == MEAN:
            return np.where(sums[..., 1] > 0, sums[..., 0] / sums[..., 1], np.nan)
        n, sx, sy, sxx, syy, sxy = np.moveaxis(sums, -1, 0)
        covariance = n * sxy - sx * sy
        variance = (n * sxx - sx * sx) * (n * syy - sy * sy)
        r = covariance / np.sqrt(variance)
        return np.where((n > 2) & (variance > 0), np.clip(r, -1.0, 1.0), np.nan)


def count_moment(spec: MetricSpec) -> int:
    """Index of the moment that counts the clips carrying the metric's components."""
    return 1 if spec.kind == MEAN else 0


def metric_counts(spec: MetricSpec, sums: np.ndarray) -> np.ndarray:
    """How many clips contribute to the metric in each group."""
    return np.asarray(sums)[..., count_moment(spec)]
