"""The speech2face layer's artifact contracts: file and folder names, columns, schema versions.

Each name is declared here once; other modules and later layers import it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speech2face.errors import InputError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

# --- the predictions artifact (a folder; see speech2face.prediction.artifact) ----------
PREDICTIONS_SCHEMA_VERSION = 2
PREDICTIONS_SCHEMA_VERSIONS = (1, 2)
"""The predictions schema versions this toolkit reads (2 adds :data:`SEEN_IN_TRAINING_COLUMN`;
a version-1 table without it is audited on its ``split`` column alone)."""
PREDICTIONS_TABLE_FILE = "predictions.parquet"
PREDICTIONS_META_FILE = "meta.json"
PREDICTIONS_FEATURES_DIR = "features"
DURATION_COLUMN = "duration_s"
"""Seconds of speech each prediction heard: one row per clip and evaluated duration."""
SEEN_IN_TRAINING_COLUMN = "seen_in_training"
"""Per clip: whether the model that predicted it trained (or validated) on its speaker,
from the run's :data:`TRAINING_SPEAKERS_FILE`; whatever the manifest's ``split`` says."""
SKIPPED_CLIPS_FILE = "skipped_clips.csv"
"""Clips whose audio could not be decoded, in a run folder and in a predictions folder."""

GROUP_SEPARATOR = " & "
"""Joins the columns of a group of several columns and their values (``gender & ethnicity``,
``female & group_a``): a rebalanced run's groups, an audit's intersections."""

# --- a training run folder ---------------------------------------------------------------
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.jsonl"
FACE_STACK_FILE = "face_stack.json"
FACE_MODELS_DIR = "face_models"
FACE_STAGE_FILE = "face_stage.json"
FACE_MODEL_FILES = {
    "face_encoder": "face_encoder.pt",
    "face_decoder": "face_decoder.pt",
    "attribute_classifier": "attribute_classifier.pt",
}
TRAINING_SPEAKERS_FILE = "training_speakers.json"
"""The speakers a run trained and validated on (ids, or their SHA-256: ``--hash-speaker-ids``)."""
TRAINING_SPEAKERS_SCHEMA_VERSION = 1
FACE_DOMAIN_FILE = "face_domain.json"
"""The domain of a run's face stack and attribute classifiers: ``synthetic``, ``real``, ``user``."""
REBALANCE_FILE = "rebalance.json"
"""The method, columns and group shares before and after of a ``--rebalance`` run."""
ATTRIBUTE_MODELS_DIR = "attribute_models"
"""A run's own descriptor-space attribute classifiers (``s2f attributes train`` files)."""

# --- a synthetic corpus folder -------------------------------------------------------------
CORPUS_MANIFEST_FILE = "manifest.parquet"
GROUND_TRUTH_FILE = "ground_truth.json"
"""Written beside a synthetic corpus's manifest by ``s2f synth``: its faces are synthetic."""

# --- what every artifact the toolkit writes carries ---------------------------------------
KIND_FILE = ".s2f-kind"
"""A folder artifact's marker: one line, its kind (one of :data:`ARTIFACT_KINDS`)."""
ARTIFACT_KINDS = (
    "predictions",
    "audit",
    "comparison",
    "run",
    "dataset-report",
    "corpus",
    "demo",
    "trials_audit",
)
LEGACY_KIND_FILES = {
    "audit.json": "audit",
    "comparison.json": "comparison",
    "analysis.json": "dataset-report",
    PREDICTIONS_META_FILE: "predictions",
    CHECKPOINT_FILE: "run",
    GROUND_TRUTH_FILE: "corpus",
}
"""Folders written before :data:`KIND_FILE` existed are recognised by these files."""
REPORT_MARKER = '<meta name="s2f-kind" content="{kind}">'
"""The head of every HTML report names its kind: a report file is recognised by it."""
REPORT_KINDS = ("Dataset report", "Model audit", "Model comparison")

UNKNOWN_SCHEMA = (
    "{path}: schema_version {found!r} is not one this toolkit reads ({known}); "
    "write it again with this version"
)


def check_schema_version(path: str | os.PathLike, found: object, known: Collection[int]) -> None:
    """Refuse an artifact whose ``schema_version`` is not in ``known`` (a one-line InputError)."""
    if found not in known:
        listed = ", ".join(map(str, known))
        raise InputError(UNKNOWN_SCHEMA.format(path=path, found=found, known=listed))


UNREADABLE = "{path}: cannot be read: {reason}"
NOT_TEXT = "{path}: column {column!r}, row {row}: bytes that are not UTF-8 text"


def read_json_object(path: str | os.PathLike) -> dict[str, Any]:
    """An artifact's JSON object file; unreadable, bad JSON or not an object: an InputError."""
    try:
        found = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(UNREADABLE.format(path=path, reason=error)) from None
    if not isinstance(found, dict):
        raise InputError(UNREADABLE.format(path=path, reason="not a JSON object"))
    return found


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """An artifact's Parquet table; a missing, truncated or corrupt file is an InputError."""
    import pandas as pd  # here: this module of names stays light for ``s2f --help``

    try:
        table = pd.read_parquet(path)
    except (OSError, ValueError, TypeError, NotImplementedError) as error:
        reason = " ".join(str(error).split())
        raise InputError(UNREADABLE.format(path=path, reason=reason)) from None
    for column in table.columns:
        if table[column].dtype == object and isinstance(_first_value(table[column]), bytes):
            table[column] = _decoded(table[column], path=path, column=column)
    return table


def _first_value(values: pd.Series) -> object:
    present = values.dropna()
    return present.iloc[0] if len(present) else None


def _decoded(values: pd.Series, *, path: str | os.PathLike, column: object) -> pd.Series:
    """A Parquet binary column as text: every value UTF-8, or a one-line error naming the
    row (text columns stored as bytes would otherwise fail deep inside an audit)."""
    import pandas as pd

    decoded = []
    for row, value in enumerate(values):
        try:
            decoded.append(value.decode("utf-8") if isinstance(value, bytes) else value)
        except UnicodeDecodeError:
            raise InputError(NOT_TEXT.format(path=path, column=column, row=row)) from None
    return pd.Series(decoded, index=values.index, dtype=object)


def read_matrix(path: str | os.PathLike, *, mmap: bool = True) -> np.ndarray:
    """A feature matrix (``.npy``, numbers, 2-D), memory-mapped; anything else an InputError."""
    import numpy as np

    try:
        matrix = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError, EOFError) as error:
        reason = " ".join(str(error).split())
        raise InputError(UNREADABLE.format(path=path, reason=reason)) from None
    if not isinstance(matrix, np.ndarray) or matrix.dtype.kind not in "biuf":
        raise InputError(UNREADABLE.format(path=path, reason="not an array of numbers"))
    if matrix.ndim != 2:
        shape = "x".join(map(str, matrix.shape)) or "a scalar"
        raise InputError(UNREADABLE.format(path=path, reason=f"{shape}, not one row per clip"))
    return matrix
