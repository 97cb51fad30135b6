"""Practical thresholds in each metric's own units, defined per unit and overridable."""

import numpy as np
import pytest

from audit._metrics import DEFAULT_THRESHOLDS
from audit.compare import compare_audits
from audit.engine import run_audit
from audit.result import AuditResult
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, write_predictions
from tests.test_audit_engine import make_predictions

FEATURES = ["feature_l2_error", "feature_l1_error", "feature_cosine_score"]
OPTIONS = {
    "n_boot": 200,
    "slices": ["language"],
    "fairlearn_views": False,
    "reference": {"language": "en"},
}


@pytest.fixture(scope="module")
def noisier_es():
    """Spanish clips' predicted features 30% noisier: a real gap in every feature metric."""
    predictions = make_predictions(n_speakers=400, clips_per_speaker=2)
    features = {k: np.array(v) for k, v in predictions.features.items()}
    es = (predictions.table["language"] == "es").to_numpy()
    noise = features["pred_feature"] - features["true_feature"]
    features["pred_feature"][es] = features["true_feature"][es] + 1.3 * noise[es]
    return Predictions(predictions.table, features, predictions.meta)


def _thresholds(result):
    return result.groups.drop_duplicates("metric").set_index("metric")["threshold"]


def test_each_unit_has_its_own_default_threshold():
    result = run_audit(make_predictions(), n_boot=20, slices=["language"], fairlearn_views=False)
    threshold = _thresholds(result)
    overall = result.overall()["value"]
    assert threshold["s2f_gender_agreement"] == 0.05
    assert threshold["recall@10_cosine"] == 0.05
    assert threshold["s2f_age_error"] == threshold["true_age_label_error"] == 2.0
    assert threshold["s2f_cf_jaw_pearson"] == 0.1
    assert threshold["feature_cosine_score"] == 0.05
    for metric in ("feature_l1_error", "feature_l2_error"):
        assert threshold[metric] == pytest.approx(0.1 * overall[metric], rel=1e-12)
    rules = {m["name"]: m["threshold_rule"] for m in result.summary["metrics"]}
    assert rules["feature_l1_error"] == "10%" and rules["s2f_cf_jaw_pearson"] == "0.1"
    assert DEFAULT_THRESHOLDS["distance"] == "10%"


def test_overrides_by_name_family_and_unit():
    result = run_audit(
        make_predictions(),
        n_boot=20,
        slices=["language"],
        fairlearn_views=False,
        thresholds={"age": 4, "s2f_age_error": 3, "correlation": "50%", "feature_l1_error": 0.5},
        threshold=0.1,
    )
    threshold = _thresholds(result)
    overall = result.overall()["value"]
    assert threshold["s2f_age_error"] == 3  # the metric's name beats its family
    assert threshold["true_age_label_error"] == 4
    assert threshold["s2f_cf_jaw_pearson"] == pytest.approx(
        0.5 * abs(overall["s2f_cf_jaw_pearson"])
    )
    assert threshold["feature_l1_error"] == 0.5
    assert threshold["s2f_gender_agreement"] == 0.1  # --threshold: proportions


def test_flag_needs_the_gap_beyond_the_metrics_threshold(noisier_es):
    loose = run_audit(noisier_es, metrics=FEATURES, thresholds={"distance": "5%"}, **OPTIONS)
    es = loose.groups.query("group == 'es'").set_index("metric")
    assert (es["p_adjusted"] < 1e-4).all() and es["flag"].all()
    assert es.loc["feature_l2_error", "difference"] == pytest.approx(0.103, abs=0.01)
    # At the default 10% the L2 gap is past the threshold but its interval is not wholly
    # beyond it: significant but small, not a flag (a flag is a gap shown to matter).
    default = run_audit(noisier_es, metrics=FEATURES, **OPTIONS)
    es = default.groups.query("group == 'es'").set_index("metric")
    l2 = es.loc["feature_l2_error"]
    assert abs(l2["difference"]) >= l2["threshold"] > l2["diff_ci_low"]
    assert not l2["flag"] and l2["significant_small"]
    assert es.loc["feature_cosine_score", "flag"]
    strict = run_audit(noisier_es, metrics=FEATURES, thresholds={"distance": "20%"}, **OPTIONS)
    es = strict.groups.query("group == 'es'").set_index("metric")
    assert not es.loc["feature_l2_error", "flag"] and not es.loc["feature_l1_error", "flag"]
    assert es.loc["feature_cosine_score", "flag"]
    for groups in (loose.groups, default.groups, strict.groups):
        flagged = groups[groups["flag"]]
        beyond = np.minimum(flagged["diff_ci_low"].abs(), flagged["diff_ci_high"].abs())
        assert (beyond >= flagged["threshold"]).all()
        assert not (groups["flag"] & groups["significant_small"]).any()


def test_comparison_uses_the_baseline_thresholds(noisier_es):
    audit = run_audit(noisier_es, metrics=FEATURES, **OPTIONS)
    changes = compare_audits([audit, audit]).changes.drop_duplicates("metric")
    expected = _thresholds(audit)
    for metric, value in changes.set_index("metric")["threshold"].items():
        assert value == pytest.approx(expected[metric], rel=1e-12)


@pytest.mark.parametrize(
    ("thresholds", "message"),
    [
        ({"feature_l3_error": 1}, "threshold for 'feature_l3_error': not a metric name"),
        ({"distance": "-1"}, "threshold of 'distance' must be a non-negative number"),
        ({"years": "two"}, "threshold of 'years' must be a non-negative number or 'N%'"),
    ],
)
def test_bad_thresholds_are_input_errors(thresholds, message):
    with pytest.raises(InputError, match=message):
        run_audit(make_predictions(), n_boot=10, thresholds=thresholds)


def test_thresholds_option(tmp_path, noisier_es):
    path = write_predictions(tmp_path / "pred", noisier_es.table, features=noisier_es.features)
    out = tmp_path / "audit"
    argv = ["audit", str(path), "--out", str(out), "--no-report", "--n-boot", "50"]
    argv += ["--slices", "language", "--metrics", ",".join(FEATURES)]
    assert main([*argv, "--thresholds", "distance=20%,feature_cosine_score=0.2"]) == 0
    metrics = {m["name"]: m for m in AuditResult.load(out).summary["metrics"]}
    assert metrics["feature_l2_error"]["threshold_rule"] == "20%"
    assert metrics["feature_cosine_score"]["threshold"] == 0.2
