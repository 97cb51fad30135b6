"""A metric owns its meaning: one catalogue entry reaches the audit and its report, and
the specs round-trip through ``audit.json`` and ``comparison.json``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit import _components
from audit._components import AGREEMENT, mean_metric, metric_catalogue
from audit._metrics import MetricSpec
from audit._retrieval_view import retrieval_specs
from audit.compare import ComparisonResult, compare_audits
from audit.engine import run_audit
from audit.result import AuditResult
from reports.audit import audit_report_html
from speech2face.errors import InputError
from tests.report_artifacts import planted_predictions, retrained_predictions

NEW = mean_metric(
    "s2f_f2f_gender_consistency",
    AGREEMENT,
    ("s2f_gender", "f2f_gender"),
    higher_is_better=True,
    family="consistency",
    binary=True,
    face="s2f",
    subject="gender",
    headline=True,
)
"""A metric the toolkit does not define, computed by an existing component kind."""
OPTIONS = {"slices": ["gender", "ethnicity"], "n_boot": 40, "fairlearn_views": False}
METRICS = [
    "s2f_gender_agreement",
    "s2f_age_error",
    "feature_cosine_score",
    "s2f_cf_jaw_width_pearson",
]


@pytest.fixture(scope="module")
def predictions():
    return planted_predictions()


@pytest.fixture(scope="module")
def audit_folder(tmp_path_factory, predictions):
    folder = tmp_path_factory.mktemp("audit") / "audit"
    run_audit(predictions, metrics=[*METRICS, "recall@5_cosine"], **OPTIONS).save(folder)
    return folder


def test_a_new_catalogue_entry_is_audited_and_reported(monkeypatch, predictions):
    monkeypatch.setattr(_components, "METRICS", [*_components.METRICS, NEW])
    result = run_audit(predictions, metrics=["s2f_gender_agreement", NEW.name], **OPTIONS)
    components = result.components[NEW.name]
    assert result.summary["overall"][NEW.name]["value"] == pytest.approx(np.nanmean(components))
    assert set(np.unique(components[np.isfinite(components)])) <= {0.0, 1.0}
    assert result.metric_specs()[1] == NEW
    html = audit_report_html(result, source="audit")
    assert f"<h3>{NEW.name}</h3>" in html  # a headline metric: its own forest plot
    assert f"<td>{NEW.name}</td><td>consistency</td><td>proportion</td>" in html


def test_specs_round_trip_through_audit_json(audit_folder, predictions):
    catalogue = {
        spec.name: spec
        for spec in [
            *metric_catalogue(set(predictions.table.columns)),
            *retrieval_specs(["cosine"]),
        ]
    }
    loaded = AuditResult.load(audit_folder)
    assert [spec.name for spec in loaded.metric_specs()] == [*METRICS, "recall@5_cosine"]
    assert loaded.metric_specs() == [catalogue[name] for name in loaded.metrics]
    saved = json.loads((audit_folder / "audit.json").read_text())["metrics"]
    assert saved[0]["unit"] == "proportion" and saved[0]["headline"] is True
    assert loaded.spec("s2f_age_error")["unit"] == "years"
    assert not loaded.spec("recall@5_cosine")["headline"]  # recall@10 is the headline


def test_specs_round_trip_through_comparison_json(tmp_path, audit_folder, predictions):
    baseline = AuditResult.load(audit_folder)
    other = run_audit(
        retrained_predictions(predictions), metrics=[*METRICS, "recall@5_cosine"], **OPTIONS
    )
    folder = compare_audits([baseline, other]).save(tmp_path / "comparison")
    loaded = ComparisonResult.load(folder)
    assert loaded.metric_specs() == baseline.metric_specs()
    assert loaded.spec("s2f_cf_jaw_width_pearson")["unit"] == "correlation"


def test_every_catalogue_spec_survives_json(predictions):
    specs = [*metric_catalogue(set(predictions.table.columns)), *retrieval_specs(["l2"])]
    for spec in specs:
        assert MetricSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


@pytest.mark.parametrize("file", ["audit.json", "comparison.json"])
def test_an_older_schema_is_refused(tmp_path, audit_folder, file):
    if file == "audit.json":
        folder, load = AuditResult.load(audit_folder).save(tmp_path / "a"), AuditResult.load
    else:
        audit = AuditResult.load(audit_folder)
        folder = compare_audits([audit, audit]).save(tmp_path / "c")
        load = ComparisonResult.load
    summary = json.loads((folder / file).read_text())
    (folder / file).write_text(json.dumps({**summary, "schema_version": 1}))
    with pytest.raises(InputError, match="schema_version 1"):
        load(folder)
