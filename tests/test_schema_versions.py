"""Every artifact loader refuses a schema_version it does not know, in one line naming the file."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from audit.artifacts import (
    ANALYSIS_FILE,
    ANALYSIS_SCHEMA_VERSION,
    ANALYSIS_TABLES,
    AUDIT_FILE,
    AUDIT_SCHEMA_VERSION,
    AUDIT_TABLE_FILES,
    CHANGES_FILE,
    COMPARISON_FILE,
    COMPARISON_SCHEMA_VERSION,
)
from audit.compare import ComparisonResult
from audit.imbalance import DatasetAnalysis
from audit.result import AuditResult, save_folder
from speech2face.artifacts import PREDICTIONS_META_FILE, PREDICTIONS_SCHEMA_VERSION
from speech2face.errors import InputError
from speech2face.prediction.artifact import read_predictions, write_predictions

EMPTY = pd.DataFrame({"x": [1]})


def _predictions(folder):
    table = pd.DataFrame({"clip_id": ["a"], "speaker_id": ["s"], "duration_s": [6.0]})
    write_predictions(folder, table, features={"pred_feature": np.zeros((1, 2))})
    return folder, PREDICTIONS_META_FILE, PREDICTIONS_SCHEMA_VERSION, read_predictions


def _audit(folder):
    tables = {file: EMPTY for file in AUDIT_TABLE_FILES.values()}
    save_folder(folder, {"schema_version": AUDIT_SCHEMA_VERSION}, tables)
    return folder, AUDIT_FILE, AUDIT_SCHEMA_VERSION, AuditResult.load


def _comparison(folder):
    summary = {"schema_version": COMPARISON_SCHEMA_VERSION}
    save_folder(folder, summary, {CHANGES_FILE: EMPTY}, summary_file=COMPARISON_FILE)
    return folder, COMPARISON_FILE, COMPARISON_SCHEMA_VERSION, ComparisonResult.load


def _analysis(folder):
    summary = {"schema_version": ANALYSIS_SCHEMA_VERSION, "settings": {}, "findings": []}
    tables = {f"{name}.parquet": EMPTY for name in ANALYSIS_TABLES}
    save_folder(folder, summary, tables, summary_file=ANALYSIS_FILE)
    return folder, ANALYSIS_FILE, ANALYSIS_SCHEMA_VERSION, DatasetAnalysis.load


@pytest.mark.parametrize("make", [_predictions, _audit, _comparison, _analysis])
@pytest.mark.parametrize("version", [99, None])
def test_an_unknown_schema_version_is_refused_in_one_line(tmp_path, make, version):
    folder, file, current, load = make(tmp_path / "artifact")
    load(folder)  # the current version loads
    summary = json.loads((folder / file).read_text())
    assert summary["schema_version"] == current
    summary["schema_version"] = version
    (folder / file).write_text(json.dumps(summary))
    with pytest.raises(InputError) as caught:
        load(folder)
    message = str(caught.value)
    assert "\n" not in message
    assert str(folder / file) in message and f"schema_version {version!r}" in message


def test_predictions_of_version_1_are_still_read_and_audited_on_their_split(tmp_path):
    # version 2 added seen_in_training; a version-1 table has none, so the audit falls back
    # on its split column (speakers with train/val rows are training speakers)
    from speech2face.artifacts import PREDICTIONS_SCHEMA_VERSIONS, SEEN_IN_TRAINING_COLUMN

    assert PREDICTIONS_SCHEMA_VERSION == 2 and PREDICTIONS_SCHEMA_VERSIONS == (1, 2)
    assert SEEN_IN_TRAINING_COLUMN == "seen_in_training"
    folder, file, _, load = _predictions(tmp_path / "artifact")
    meta = json.loads((folder / file).read_text())
    meta["schema_version"] = 1
    (folder / file).write_text(json.dumps(meta))
    assert list(load(folder).table["clip_id"]) == ["a"]
