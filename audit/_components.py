"""Per-clip components, the component kinds computing them, and the metric catalogue.

A component is one number per clip (NaN where the clip has no evidence for it): an
agreement indicator, an age error in years, a feature distance, a craniofacial
measure. Metrics aggregate components per group (see ``_metrics``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from audit._metrics import (
    COLUMNS,
    CORRELATION,
    DISTANCE,
    MEAN,
    PEARSON,
    SIMILARITY,
    YEARS,
    MetricSpec,
)
from speech2face.errors import InputError
from speech2face.prediction.artifact import ATTRIBUTES
from speech2face.vocabulary import AGE_DECADE_EDGES, AGE_DECADES, UNKNOWN

LABEL_COLUMNS = {"gender": "gender", "age_decade": "age_group", "ethnicity": "ethnicity"}
"""Ground-truth demographic column for each predicted attribute."""
PRED_FEATURE = "pred_feature"
TRUE_FEATURE = "true_feature"
CF_PREFIX = "true_cf_"
_CHUNK = 8192
FEATURE_DISTANCES = ("cosine", "l1", "l2")

AGREEMENT = "agreement"
VOICE_ADDED = "voice_added"
ABSOLUTE_ERROR = "absolute_error"
FEATURE = "feature"
RETRIEVAL = "retrieval"
"""Component kinds (keys of ``COMPONENTS``), besides ``COLUMNS``."""

BAD_NUMBER = "row {row}, column {column!r}: {value!r} is not a finite number"
"""InputError message for a non-numeric or infinite value in a numeric column."""
NON_FINITE_FEATURES = (
    "{feature}: non-finite or zero-norm feature in {count} clip(s), e.g. {clips}; "
    "--exclude-invalid leaves them out and lists them in audit.json (excluded_clips)"
)
"""InputError message for invalid feature rows (exclude them with exclude_invalid=True)."""


def mean_metric(name: str, component: str, requires: tuple[str, ...], **traits) -> MetricSpec:
    """A metric that averages its own per-clip component (named like the metric)."""
    return MetricSpec(name, MEAN, (name,), requires, component=component, **traits)


def _metrics() -> list[MetricSpec]:
    """The catalogue's metrics that every predictions table may have (see ``METRICS``)."""
    agreement = {"higher_is_better": True, "family": "agreement", "binary": True}
    accuracy = {"higher_is_better": True, "family": "accuracy", "binary": True}
    age = {"higher_is_better": False, "family": "age", "unit": YEARS, "subject": "age"}
    specs: list[MetricSpec] = []
    for attribute in ATTRIBUTES:
        faces = {face: f"{face}_{attribute}" for face in ("s2f", "f2f", "true")}
        for face in ("s2f", "f2f"):
            specs.append(
                mean_metric(
                    f"{face}_{attribute}_agreement",
                    AGREEMENT,
                    (faces[face], faces["true"]),
                    face=face,
                    subject=attribute,
                    headline=face == "s2f",
                    **agreement,
                )
            )
        specs.append(
            mean_metric(
                f"{attribute}_voice_added_error",
                VOICE_ADDED,
                tuple(faces.values()),
                higher_is_better=False,
                family="decomposition",
                subject=attribute,
            )
        )
        for face, column in faces.items():
            specs.append(
                mean_metric(
                    f"{face}_{attribute}_accuracy_score",
                    AGREEMENT,
                    (column, LABEL_COLUMNS[attribute]),
                    face=face,
                    subject=attribute,
                    **accuracy,
                )
            )
    for face in ("s2f", "f2f"):
        specs.append(
            mean_metric(
                f"{face}_age_error",
                ABSOLUTE_ERROR,
                (f"{face}_age_years", "true_age_years"),
                face=face,
                headline=face == "s2f",
                **age,
            )
        )
    for face in ("s2f", "f2f", "true"):
        specs.append(
            mean_metric(
                f"{face}_age_label_error",
                ABSOLUTE_ERROR,
                (f"{face}_age_years", "age"),
                face=face,
                **age,
            )
        )
    features = (f"feature:{PRED_FEATURE}", f"feature:{TRUE_FEATURE}")
    for distance, name in (("cosine", "score"), ("l1", "error"), ("l2", "error")):
        higher = distance == "cosine"
        specs.append(
            mean_metric(
                f"feature_{distance}_{name}",
                FEATURE,
                features,
                higher_is_better=higher,
                family="feature",
                unit=SIMILARITY if higher else DISTANCE,
                subject=distance,
                headline=higher,
            )
        )
    return specs


METRICS = _metrics()
"""The metric catalogue, in report order; craniofacial metrics are added per table
(``metric_catalogue``), recall@k per audit (``_retrieval_view.retrieval_specs``).
Adding a metric is one entry here, computed by a component kind of ``COMPONENTS``."""


def metric_catalogue(columns: set[str]) -> list[MetricSpec]:
    """Every metric the toolkit defines, given the table's columns (for craniofacial names)."""
    measures = sorted(c[len(CF_PREFIX) :] for c in columns if c.startswith(CF_PREFIX))
    return [
        *METRICS,
        *(
            MetricSpec(
                f"{face}_cf_{measure}_pearson",
                PEARSON,
                pair,
                pair,
                higher_is_better=True,
                family="craniofacial",
                unit=CORRELATION,
                face=face,
                subject=measure,
            )
            for measure in measures
            for face in ("s2f", "f2f")
            for pair in [(f"{CF_PREFIX}{measure}", f"{face}_cf_{measure}")]
        ),
    ]


def missing_requirements(
    spec: MetricSpec, columns: set[str], features: Mapping[str, np.ndarray]
) -> list[str]:
    """The columns (or ``feature:<name>``) ``spec`` needs that the predictions lack."""
    missing = []
    for need in spec.requires:
        if need.startswith("feature:"):
            if need.split(":", 1)[1] not in features:
                missing.append(need)
        elif need not in columns and not (need == "age_group" and "age" in columns):
            missing.append(need)
    return missing


def known_labels(table: pd.DataFrame, column: str) -> tuple[np.ndarray, np.ndarray]:
    """A label column as an object array of strings, and where it is known (not missing or
    ``unknown``); ``age_group`` is derived from ``age`` when absent."""
    series = age_groups(table["age"]) if column not in table.columns else table[column]
    known = series.notna().to_numpy()
    if not pd.api.types.is_string_dtype(series):
        series = series.astype(str)
    values = series.to_numpy(dtype=object, na_value=UNKNOWN)
    return values, known & (values != UNKNOWN)


class Labels:
    """The label columns of one table as :func:`known_labels` gives them, each converted
    once (a pandas string column costs a conversion to numpy on every use); the arrays
    are shared, not to be written to."""

    def __init__(self, table: pd.DataFrame) -> None:
        self.table = table
        self._converted: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def __call__(self, column: str) -> tuple[np.ndarray, np.ndarray]:
        if column not in self._converted:
            self._converted[column] = known_labels(self.table, column)
        return self._converted[column]

    def codes(self, column: str, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``pd.factorize(values[rows], sort=True)`` of the column's known values (``rows``
        a mask within them), from one factorisation of the whole column."""
        key = f"codes:{column}"
        if key not in self._converted:
            values, known = self(column)
            codes = np.full(len(values), -1, dtype=np.int64)
            codes[known], classes = pd.factorize(values[known], sort=True)
            self._converted[key] = (codes, np.asarray(classes, dtype=object))
        codes, classes = self._converted[key]
        chosen = codes[rows]
        present = np.bincount(chosen, minlength=len(classes)) > 0
        renumber = np.cumsum(present) - 1
        return renumber[chosen], classes[present]


def age_groups(age: pd.Series) -> pd.Series:
    """Bin ages in years into the paper's decades; missing ages become ``unknown``."""
    years = pd.to_numeric(age, errors="coerce").to_numpy(dtype=np.float64)
    decade = np.digitize(np.nan_to_num(years), AGE_DECADE_EDGES)
    labels = np.asarray(AGE_DECADES, dtype=object)[decade]
    return pd.Series(np.where(np.isfinite(years), labels, UNKNOWN), index=age.index, dtype=object)


def _agreement(labels: Labels, left: str, right: str) -> np.ndarray:
    (a, a_known), (b, b_known) = labels(left), labels(right)
    return np.where(a_known & b_known, (a == b).astype(np.float64), np.nan)


def numeric_values(
    table: pd.DataFrame, column: str, source_rows: np.ndarray | None = None
) -> np.ndarray:
    """A numeric column as float64; missing values (None, NaN) are NaN: not evaluated.

    A value that is not a number (a string such as ``"n/a"``) or is infinite is an
    InputError naming the row (``source_rows[i]`` is the predictions row of table row i)
    and the column, never a silently dropped clip.
    """
    series = table[column]
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=np.float64)
    bad = np.isinf(values) | (np.isnan(values) & series.notna().to_numpy())
    if bad.any():
        position = int(np.flatnonzero(bad)[0])
        row = position if source_rows is None else int(source_rows[position])
        raise InputError(BAD_NUMBER.format(row=row, column=column, value=series.iloc[position]))
    return values


def _feature_components(
    predicted: np.ndarray, true: np.ndarray, rows: np.ndarray | None = None
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Cosine, L1 and L2 (by distance) of L2-normalised features, and which rows are invalid.

    ``rows`` (ascending feature rows, default all) selects the rows to read. Chunked so
    memory-mapped features stay on disk. A row is invalid when either feature holds a
    non-finite value or has zero norm.
    """
    n = len(predicted) if rows is None else len(rows)
    out = {distance: np.full(n, np.nan) for distance in FEATURE_DISTANCES}
    invalid = np.zeros(n, dtype=bool)
    for start in range(0, n, _CHUNK):
        chunk = slice(start, start + _CHUNK) if rows is None else rows[start : start + _CHUNK]
        p = np.asarray(predicted[chunk], dtype=np.float64)
        t = np.asarray(true[chunk], dtype=np.float64)
        p_norm, t_norm = np.linalg.norm(p, axis=1), np.linalg.norm(t, axis=1)
        bad = ~(np.isfinite(p).all(1) & np.isfinite(t).all(1) & (p_norm > 0) & (t_norm > 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            p, t = p / p_norm[:, None], t / t_norm[:, None]
        done = slice(start, start + len(p))
        invalid[done] = bad
        out["cosine"][done] = np.where(bad, np.nan, (p * t).sum(1))
        out["l1"][done] = np.where(bad, np.nan, np.abs(p - t).sum(1))
        out["l2"][done] = np.where(bad, np.nan, np.linalg.norm(p - t, axis=1))
    return out, invalid


def compute_components(
    table: pd.DataFrame,
    features: Mapping[str, np.ndarray],
    specs: list[MetricSpec],
    *,
    exclude_invalid: bool = False,
    feature_rows: np.ndarray | None = None,
    labels: Labels | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Per-clip components for ``specs``, and the mask of clips with valid features.

    ``labels``: the table's label columns converted once (:class:`Labels`), to share with
    the confusion tables and fairlearn views; made here when not given.
    ``feature_rows[i]`` is the predictions (and feature) row of table row i (default: the
    same row); errors name it. A numeric column holding a non-number or an infinite value
    is an InputError; NaN is missing (not evaluated). Invalid features (non-finite or
    zero-norm) are an error naming the clips, unless ``exclude_invalid``: then those clips
    carry no feature or retrieval component.
    """
    distances: dict[str, np.ndarray] = {}
    valid = np.ones(len(table), dtype=bool)
    if any(need.startswith("feature:") for spec in specs for need in spec.requires):
        distances, invalid = _feature_components(
            features[PRED_FEATURE], features[TRUE_FEATURE], feature_rows
        )
        if invalid.any() and not exclude_invalid:
            clips = ", ".join(map(str, table["clip_id"].to_numpy()[invalid][:5]))
            raise InputError(
                NON_FINITE_FEATURES.format(
                    feature=f"{PRED_FEATURE}/{TRUE_FEATURE}", count=int(invalid.sum()), clips=clips
                )
            )
        valid = ~invalid
    inputs = ComponentInputs(table, feature_rows, distances, labels or Labels(table))
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        out.update(COMPONENTS[spec.component](inputs, spec))
    return out, valid


@dataclass(frozen=True)
class ComponentInputs:
    """What a component kind reads: the table, its feature rows, the feature distances."""

    table: pd.DataFrame
    feature_rows: np.ndarray | None
    distances: Mapping[str, np.ndarray]
    """Per-clip distance of predicted and true features: ``cosine``, ``l1``, ``l2``."""
    labels: Labels
    """The table's label columns, each converted once."""

    def numbers(self, column: str) -> np.ndarray:
        return numeric_values(self.table, column, self.feature_rows)


def _agreement_kind(inputs: ComponentInputs, spec: MetricSpec) -> dict[str, np.ndarray]:
    """1 where the two label columns of ``requires`` agree, 0 where not, NaN if unknown."""
    return {spec.name: _agreement(inputs.labels, *spec.requires)}


def _voice_added_kind(inputs: ComponentInputs, spec: MetricSpec) -> dict[str, np.ndarray]:
    """F2F minus S2F agreement with the true face (``requires``: s2f, f2f, true columns)."""
    s2f, f2f, true = spec.requires
    return {spec.name: _agreement(inputs.labels, f2f, true) - _agreement(inputs.labels, s2f, true)}


def _absolute_error_kind(inputs: ComponentInputs, spec: MetricSpec) -> dict[str, np.ndarray]:
    """|predicted − reference| of the two numeric columns of ``requires``."""
    predicted, reference = spec.requires
    return {spec.name: np.abs(inputs.numbers(predicted) - inputs.numbers(reference))}


def _feature_kind(inputs: ComponentInputs, spec: MetricSpec) -> dict[str, np.ndarray]:
    """The ``spec.subject`` distance of predicted and true features."""
    return {spec.name: inputs.distances[spec.subject]}


def _columns_kind(inputs: ComponentInputs, spec: MetricSpec) -> dict[str, np.ndarray]:
    """The component columns themselves, as numbers."""
    return {column: inputs.numbers(column) for column in spec.components}


def _retrieval_kind(inputs: ComponentInputs, spec: MetricSpec) -> dict[str, np.ndarray]:
    """None here: recall@k hits need a gallery (``_retrieval_view.retrieval_evidence``)."""
    return {}


COMPONENTS: dict[str, Callable[[ComponentInputs, MetricSpec], dict[str, np.ndarray]]] = {
    AGREEMENT: _agreement_kind,
    VOICE_ADDED: _voice_added_kind,
    ABSOLUTE_ERROR: _absolute_error_kind,
    FEATURE: _feature_kind,
    COLUMNS: _columns_kind,
    RETRIEVAL: _retrieval_kind,
}
"""Each component kind's function: the per-clip component columns of one metric."""
