"""run_audit end to end: values against fairlearn, slices, bad input, the saved artifact."""

import re

import numpy as np
import pandas as pd
import pytest
from fairlearn.metrics import MetricFrame
from sklearn.metrics import accuracy_score

from audit import engine, retrieval
from audit._components import NON_FINITE_FEATURES
from audit._slices import UNKNOWN_SLICE
from audit.engine import run_audit
from audit.result import AuditResult
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, write_predictions

FAST_METRICS = ["s2f_gender_agreement", "s2f_age_error", "feature_l2_error", "recall@2_l2"]
CLASSES = {
    "gender": ["female", "male"],
    "age_decade": ["20-29", "30-39", "40-49"],
    "ethnicity": ["group_a", "group_b", "group_c"],
}


def make_predictions(n_speakers=90, clips_per_speaker=3, seed=0, dim=8) -> Predictions:
    rng = np.random.default_rng(seed)
    speaker = np.repeat(np.arange(n_speakers), clips_per_speaker)
    n = len(speaker)
    table = {
        "clip_id": [f"c{i}" for i in range(n)],
        "speaker_id": [f"s{s}" for s in speaker],
        "duration_s": 6.0,
    }
    for attribute, classes in CLASSES.items():
        true = rng.integers(len(classes), size=n_speakers)[speaker]
        table[f"true_{attribute}"] = np.asarray(classes, dtype=object)[true]
        for face, keep in (("f2f", 0.9), ("s2f", 0.6)):
            guess = rng.integers(len(classes), size=n)
            table[f"{face}_{attribute}"] = np.asarray(classes, dtype=object)[
                np.where(rng.random(n) < keep, true, guess)
            ]
    table["gender"] = table["true_gender"].copy()
    table["gender"][::11] = "unknown"
    table["ethnicity"] = table["true_ethnicity"]
    table["ethnicity_source"] = np.where(speaker % 4 == 0, "inferred", "self_reported")
    table["age"] = rng.uniform(20, 50, n_speakers)[speaker]
    table["language"] = np.asarray(["en", "es"], dtype=object)[speaker % 2]
    table["true_age_years"] = table["age"] + rng.normal(0, 3, n)
    table["s2f_age_years"] = table["age"] + rng.normal(0, 8, n)
    table["true_cf_jaw"] = rng.normal(10, 2, n)
    table["s2f_cf_jaw"] = 0.5 * table["true_cf_jaw"] + rng.normal(0, 2, n)
    true_feature = rng.normal(size=(n_speakers, dim)).astype(np.float32)[speaker]
    features = {
        "true_feature": true_feature,
        "pred_feature": true_feature + rng.normal(size=(n, dim)).astype(np.float32),
    }
    return Predictions(pd.DataFrame(table), features, {"model_id": "test-model"})


@pytest.fixture(scope="module")
def predictions():
    return make_predictions()


@pytest.fixture(scope="module")
def result(predictions):
    return run_audit(predictions, n_boot=200, min_speakers=20, intersections=2)


def _fairlearn_by_group(y_true, y_pred, groups, valid):
    frame = MetricFrame(
        metrics=accuracy_score,
        y_true=y_true[valid],
        y_pred=y_pred[valid],
        sensitive_features=groups[valid],
    )
    return frame.by_group


@pytest.mark.parametrize("slice_columns", [["ethnicity"], ["gender", "language"]])
def test_group_values_equal_fairlearn_metricframe(predictions, result, slice_columns):
    table = predictions.table
    groups = table[slice_columns].astype(str).agg(" & ".join, axis=1).to_numpy()
    slice_name = " & ".join(slice_columns)
    for metric, y_true, y_pred in [
        ("s2f_ethnicity_agreement", "true_ethnicity", "s2f_ethnicity"),
        ("f2f_gender_agreement", "true_gender", "f2f_gender"),
        ("s2f_gender_accuracy_score", "gender", "s2f_gender"),
    ]:
        valid = (table[y_true] != "unknown").to_numpy()
        expected = _fairlearn_by_group(
            table[y_true].to_numpy(), table[y_pred].to_numpy(), groups, valid
        )
        ours = result.by_group(metric, slice_name)["value"]
        assert ours.drop(expected.index).isna().all()  # groups whose labels are all unknown
        for group, value in expected.items():
            assert ours[group] == pytest.approx(value, abs=1e-9), (metric, group)


def test_age_error_and_feature_cosine_equal_fairlearn_means(predictions, result):
    table = predictions.table
    error = np.abs(table["s2f_age_years"] - table["true_age_years"]).to_numpy()
    pred = predictions.features["pred_feature"].astype(np.float64)
    true = predictions.features["true_feature"].astype(np.float64)
    cosine = (pred * true).sum(1) / np.linalg.norm(pred, axis=1) / np.linalg.norm(true, axis=1)
    for metric, component in [("s2f_age_error", error), ("feature_cosine_score", cosine)]:
        frame = MetricFrame(
            metrics=lambda y_true, y_pred, v: float(np.mean(v)),
            y_true=component,
            y_pred=component,
            sensitive_features=table["language"],
            sample_params={"v": component},
        )
        ours = result.by_group(metric, "language")["value"]
        for group, value in frame.by_group.items():
            assert ours[group] == pytest.approx(value, abs=1e-9)


def test_craniofacial_correlation_per_group_equals_numpy(predictions, result):
    table = predictions.table
    ours = result.by_group("s2f_cf_jaw_pearson", "language")["value"]
    for language, rows in table.groupby("language"):
        expected = np.corrcoef(rows["true_cf_jaw"], rows["s2f_cf_jaw"])[0, 1]
        assert ours[language] == pytest.approx(expected, abs=1e-9)


def test_voice_added_error_decomposes_the_s2f_error(result):
    values = result.groups.set_index(["metric", "slice", "group"])["value"]
    for group in ["group_a", "group_b", "group_c"]:
        s2f_error = 1 - values["s2f_age_decade_agreement", "ethnicity", group]
        f2f_error = 1 - values["f2f_age_decade_agreement", "ethnicity", group]
        added = values["age_decade_voice_added_error", "ethnicity", group]
        assert s2f_error == pytest.approx(f2f_error + added, abs=1e-12)


def test_every_cell_reports_clips_and_speakers_and_flags_thin_cells(predictions, result):
    rows = result.by_group("s2f_gender_agreement")
    table = predictions.table
    assert rows.loc[("overall", "all"), "n_clips"] == len(table)
    assert rows.loc[("overall", "all"), "n_speakers"] == table["speaker_id"].nunique()
    for group, frame in table.groupby("ethnicity"):
        assert rows.loc[("ethnicity", group), "n_clips"] == len(frame)
        assert rows.loc[("ethnicity", group), "n_speakers"] == frame["speaker_id"].nunique()
    thin = rows[(rows["n_speakers"] < 20) & (rows["n_clips"] > 0)]
    assert len(thin) and set(thin["status"]) <= {"insufficient", "single_speaker"}
    assert not thin["flag"].any()
    assert ("gender", "unknown") in rows.index


def test_empty_intersections_are_listed():
    predictions = make_predictions()
    table = predictions.table
    table.loc[(table["language"] == "es") & (table["ethnicity"] == "group_c"), "language"] = "en"
    result = run_audit(predictions, slices=["ethnicity", "language"], n_boot=50)
    empty = result.groups[result.groups["status"] == "empty"]
    assert set(empty["group"]) == {"group_c & es"}
    listed = {s["name"]: s["empty"] for s in result.summary["slices"]}
    assert listed["ethnicity & language"] == ["group_c & es"]


def test_one_clip_per_speaker_uses_wilson_and_fisher_intervals():
    result = run_audit(
        make_predictions(clips_per_speaker=1, n_speakers=120),
        n_boot=50,
        slices=["language"],
        metrics=["s2f_gender_agreement", "s2f_cf_jaw_pearson", "s2f_age_error"],
        fairlearn_views=False,
    )
    rows = result.groups[result.groups["status"] != "empty"].set_index("metric")
    assert set(rows.loc["s2f_gender_agreement", "ci_method"]) == {"wilson"}
    assert set(rows.loc["s2f_cf_jaw_pearson", "ci_method"]) == {"fisher_z"}
    assert set(rows.loc["s2f_age_error", "ci_method"]) == {"cluster_bootstrap_bca"}


def test_disparity_intervals_come_from_paired_replicates(result):
    rows = result.disparities()
    shown = rows["diff_ci_low"].notna()
    assert shown.any() and (shown == (rows["status"] == "ok")).all()  # thin cells: no interval
    rows = rows[shown]
    assert (rows["diff_ci_low"] <= rows["difference"] + 1e-12).all()
    assert (rows["difference"] <= rows["diff_ci_high"] + 1e-12).all()
    reference = result.groups[result.groups["status"] == "reference"]
    assert (reference["difference"] == 0).all()
    tests = result.summary["tests"]
    assert tests["correction"] == "holm"
    assert tests["n_tests"] == result.tests["p_value"].notna().sum() > 0


def test_same_seed_same_numbers_and_seed_matters(predictions):
    options = {"n_boot": 50, "slices": ["ethnicity"], "metrics": FAST_METRICS}
    first = run_audit(predictions, seed=7, **options)
    again = run_audit(predictions, seed=7, **options)
    other = run_audit(predictions, seed=8, **options)
    pd.testing.assert_frame_equal(first.groups, again.groups)
    assert not first.groups["ci_low"].equals(other.groups["ci_low"])


def test_bh_correction_is_named_and_less_strict(predictions):
    options = {"n_boot": 100, "slices": ["ethnicity"], "fairlearn_views": False}
    holm = run_audit(predictions, correction="holm", **options)
    bh = run_audit(predictions, correction="bh", **options)
    assert bh.summary["tests"]["correction"] == "bh"
    tested = holm.tests["p_value"].notna()
    assert tested.sum() > 3
    assert (bh.tests["p_adjusted"][tested] <= holm.tests["p_adjusted"][tested] + 1e-12).all()


def test_user_reference_and_overall_reference(predictions):
    chosen = run_audit(predictions, n_boot=50, slices=["language"], reference={"language": "es"})
    rows = chosen.by_group("s2f_gender_agreement", "language")
    assert set(rows["reference"]) == {"es"}
    assert rows.loc["es", "status"] == "reference"
    overall = run_audit(predictions, n_boot=50, slices=["language"], reference="overall")
    rows = overall.by_group("s2f_gender_agreement", "language")
    assert set(rows["reference"]) == {"overall"}
    assert rows["p_value"].notna().all()


def test_label_provenance_caveat(result):
    assert any("ethnicity labels" in caveat for caveat in result.summary["caveats"])


def test_confusion_rows_are_normalised(result):
    confusion = result.confusion
    shares = confusion.groupby(["attribute", "face", "slice", "group", "true_class"])["share"]
    np.testing.assert_allclose(shares.sum().to_numpy(), 1.0)


def test_save_load_round_trip(tmp_path, result):
    path = result.save(tmp_path / "audit")
    (path / "report.html").write_text("<html></html>")
    result.save(path)  # replaced whole: a report of the old audit does not survive
    loaded = AuditResult.load(path)
    assert not (path / "report.html").exists()
    pd.testing.assert_frame_equal(loaded.groups, result.groups)
    assert loaded.summary["config"]["n_boot"] == 200
    assert loaded.flags().equals(result.flags())
    assert "Audit of test-model" in loaded._repr_html_()
    with pytest.raises(InputError, match="slice 'accent' is not in this audit"):
        loaded.by_group("s2f_gender_agreement", "accent")
    with pytest.raises(InputError, match="not an audit result"):
        AuditResult.load(tmp_path)


def test_audit_reads_a_predictions_folder_and_records_its_hashes(tmp_path, predictions):
    meta = {"manifest_sha256": "a1" * 32, "signature": {"weights_sha256": "b2" * 32}}
    path = write_predictions(
        tmp_path / "pred", predictions.table, features=predictions.features, meta=meta
    )
    result = run_audit(path, n_boot=20, slices=["language"], metrics=["s2f_gender_agreement"])
    assert result.metrics == ["s2f_gender_agreement"]
    assert result.summary["predictions"]["manifest_sha256"] == "a1" * 32
    assert result.summary["model"]["weights_sha256"] == "b2" * 32


def test_unknown_slice_column_is_an_input_error(predictions):
    message = UNKNOWN_SLICE.split("{")[0]
    with pytest.raises(InputError, match=message + "'accent'"):
        run_audit(predictions, slices=["accent"], n_boot=10)


def test_requested_metric_without_its_column_names_both(predictions):
    table = predictions.table.drop(columns="s2f_age_years")
    with pytest.raises(InputError, match="metric 's2f_age_error' needs column 's2f_age_years'"):
        run_audit(Predictions(table, predictions.features), metrics=["s2f_age_error"], n_boot=10)
    result = run_audit(Predictions(table, predictions.features), n_boot=10, slices=["language"])
    assert "s2f_age_error" not in result.metrics
    assert any("s2f_age_error skipped" in note for note in result.summary["notes"])


def test_non_finite_features_are_listed_or_excluded_on_request(predictions):
    features = {k: np.array(v) for k, v in predictions.features.items()}
    features["pred_feature"][[4, 9]] = np.nan
    broken = Predictions(predictions.table, features)
    with pytest.raises(
        InputError, match=r"non-finite or zero-norm feature in 2 clip\(s\), e.g. c4, c9"
    ):
        run_audit(broken, n_boot=10)
    assert "{count} clip(s)" in NON_FINITE_FEATURES
    result = run_audit(broken, n_boot=10, exclude_invalid=True, slices=["language"])
    overall = result.by_group("feature_cosine_score", "overall")
    assert overall["n_evaluated"].iloc[0] == len(predictions.table) - 2
    assert result.summary["excluded_clips"] == ["c4", "c9"]


def test_single_speaker_group_is_marked_without_interval(predictions):
    table = predictions.table.copy()
    table.loc[table["speaker_id"] == "s0", "language"] = "fr"
    result = run_audit(Predictions(table), n_boot=50, slices=["language"])
    row = result.by_group("s2f_gender_agreement", "language").loc["fr"]
    assert row["status"] == "single_speaker"
    assert np.isnan(row["ci_low"]) and not row["flag"]


def test_empty_reference_group_is_an_input_error(predictions):
    with pytest.raises(InputError, match="reference group 'fr' of slice 'language' has no clips"):
        run_audit(predictions, n_boot=10, slices=["language"], reference={"language": "fr"})


@pytest.mark.parametrize(
    ("option", "value"),
    [("correction", "bonferroni"), ("n_boot", 1), ("reference", "worst"), ("level", 1.5)],
)
def test_bad_options_are_input_errors(predictions, option, value):
    with pytest.raises(InputError, match="--" + option.replace("_", "-")):
        run_audit(predictions, **{option: value})


def test_missing_speaker_id_names_the_row(predictions):
    table = predictions.table.copy()
    table.loc[5, "speaker_id"] = None
    message = engine.MISSING_SPEAKER.format(row=5, clip="c5")
    with pytest.raises(InputError, match=re.escape(message)):
        run_audit(Predictions(table), n_boot=10)


def test_recall_per_group_aggregates_the_retrieval_hits(predictions, result):
    table = predictions.table
    gallery = retrieval.build_gallery(table, size=5000, seed=0)
    hits = retrieval.retrieval_components(
        predictions.features["pred_feature"], predictions.features["true_feature"], gallery
    )
    for metric in ["recall@1_cosine", "recall@5_l2", "recall@10_l1"]:
        expected = hits[metric].groupby(table["language"]).mean()
        ours = result.by_group(metric, "language")["value"]
        for group, value in expected.items():
            assert ours[group] == pytest.approx(value, abs=1e-12)
    mixed = result.summary["retrieval"]["mixed"]
    assert mixed["groups"][0]["gallery_size"] == table["speaker_id"].nunique()
    assert mixed["groups"][0]["chance@1"] == pytest.approx(1 / table["speaker_id"].nunique())
    confusion = result.retrieval_confusion
    assert set(confusion["slice"]) == {"ethnicity"}
    shares = confusion.groupby("query_group")["hit_share"].sum()
    np.testing.assert_allclose(shares.to_numpy(), 1.0)


def test_matched_gallery_recall_and_invalid_rows(predictions):
    features = {k: np.array(v) for k, v in predictions.features.items()}
    features["true_feature"][7] = 0.0
    result = run_audit(
        Predictions(predictions.table, features),
        n_boot=20,
        slices=["language"],
        metrics=["recall@1_cosine", "recall@1_cosine_matched_language"],
        matched_gallery="language",
        exclude_invalid=True,
        fairlearn_views=False,
    )
    overall = result.groups.query("slice == 'overall'").set_index("metric")
    assert (overall["n_evaluated"] == len(predictions.table) - 1).all()
    matched = result.summary["retrieval"]["matched"]["language"]["groups"]
    sizes = predictions.table.groupby("language")["speaker_id"].nunique()
    assert {g["group"]: g["gallery_size"] for g in matched} == sizes.to_dict()
    assert result.summary["retrieval"]["mixed"]["groups"][0]["gallery_size"] == sizes.sum()


def test_fairlearn_views_agree_with_the_engine(result):
    views = result.summary["fairlearn"]["by_slice"]["language"]
    ours = result.by_group("s2f_gender_agreement", "language")["value"]
    assert views["s2f_gender_agreement_by_group"] == pytest.approx(ours.to_dict(), abs=1e-12)
    assert 0 <= views["demographic_parity_difference"] <= 1
    assert views["s2f_gender_agreement_difference"] == pytest.approx(ours.max() - ours.min())


def test_best_reference_family_holds_every_pair_of_sufficient_groups(predictions):
    result = run_audit(
        predictions, n_boot=200, min_speakers=20, reference="best", fairlearn_views=False
    )
    tests = result.tests.query("metric == 's2f_gender_agreement' and slice == 'ethnicity'")
    assert len(tests) == 3  # three sufficient groups: 3 pairs
    assert tests["for_reference"].sum() == 2
    by_group = result.by_group("s2f_gender_agreement", "ethnicity")
    reference = by_group.index[by_group["status"] == "reference"][0]
    assert set(tests.query("for_reference")["versus"]) == {reference}
    assert any("best group" in caveat for caveat in result.summary["caveats"])
    # Simultaneous over the three pairs: wider than the same difference's own interval.
    named = run_audit(
        predictions,
        n_boot=200,
        min_speakers=20,
        reference={"ethnicity": reference},
        fairlearn_views=False,
    ).by_group("s2f_gender_agreement", "ethnicity")
    width = (by_group["diff_ci_high"] - by_group["diff_ci_low"]).dropna()
    assert (width > (named["diff_ci_high"] - named["diff_ci_low"])[width.index]).all()


@pytest.mark.parametrize(
    ("column", "value", "shown"),
    [("s2f_age_years", "n/a", "'n/a'"), ("true_cf_jaw", np.inf, "inf"), ("age", "-", "'-'")],
)
def test_bad_numeric_value_names_row_and_column(predictions, column, value, shown):
    table = predictions.table.copy()
    table[column] = table[column].astype(object)
    table.loc[5, column] = value
    message = f"row 5, column '{column}': {shown} is not a finite number"
    with pytest.raises(InputError, match=re.escape(message)):
        run_audit(Predictions(table, predictions.features), n_boot=10, slices=["language"])


def test_missing_numeric_value_is_not_evaluated(predictions):
    table = predictions.table.copy()
    table.loc[[3, 8], "s2f_age_years"] = np.nan
    table.loc[4, "true_cf_jaw"] = None
    result = run_audit(
        Predictions(table),
        n_boot=10,
        slices=["language"],
        metrics=["s2f_age_error", "s2f_cf_jaw_pearson"],
    )
    overall = result.groups.query("slice == 'overall'").set_index("metric")["n_evaluated"]
    assert overall["s2f_age_error"] == len(table) - 2
    assert overall["s2f_cf_jaw_pearson"] == len(table) - 1
    kept = table["s2f_age_years"].notna()
    expected = (table["s2f_age_years"] - table["true_age_years"]).abs()[kept].mean()
    assert result.overall().loc["s2f_age_error", "value"] == pytest.approx(expected, abs=1e-12)


def test_family_per_metric_corrects_each_metrics_tests_apart(predictions):
    from audit._intervals import adjust_pvalues

    options = {"n_boot": 100, "slices": ["ethnicity", "language"], "fairlearn_views": False}
    options["metrics"] = ["s2f_gender_agreement", "feature_l2_error"]
    every = run_audit(predictions, **options)
    apart = run_audit(predictions, family="metric", **options)
    assert apart.summary["tests"]["scope"] == "metric"
    sizes = apart.summary["tests"]["family_sizes"]
    assert sum(sizes.values()) == every.summary["tests"]["n_tests"]
    assert set(every.summary["tests"]["family_sizes"].values()) == {sum(sizes.values())}
    for metric, tests in apart.tests.groupby("metric"):
        expected = adjust_pvalues(tests["p_value"].to_numpy(), method="holm")
        np.testing.assert_allclose(tests["p_adjusted"].to_numpy(), expected, rtol=1e-12)
        assert tests["p_value"].notna().sum() == sizes[metric]
    tested = every.groups["detectable_difference"].notna()
    assert tested.sum() > 0
    assert (
        apart.groups.loc[tested, "detectable_difference"]
        < every.groups.loc[tested, "detectable_difference"]
    ).all()
    with pytest.raises(InputError, match="family must be all or metric"):
        run_audit(predictions, family="slice", n_boot=10)


def test_matched_recall_uses_one_gallery_size_and_leaves_out_small_groups():
    predictions = make_predictions(n_speakers=150, clips_per_speaker=2)
    table = predictions.table.copy()
    speaker = table["speaker_id"].str[1:].astype(int)
    table["accent"] = np.select([speaker < 90, speaker < 140], ["north", "south"], "island")
    result = run_audit(
        Predictions(table, predictions.features),
        n_boot=20,
        slices=["accent"],
        metrics=["recall@1_cosine", "recall@1_cosine_matched_accent"],
        fairlearn_views=False,
    )
    matched = result.summary["retrieval"]["matched"]["accent"]
    assert matched["common_size"] == 50 and matched["excluded_groups"] == ["island"]
    sizes = {g["group"]: g["gallery_size"] for g in matched["groups"]}
    assert sizes == {"north": 50, "south": 50, "island": 0}
    rows = result.by_group("recall@1_cosine_matched_accent", "accent")
    assert rows.loc["island", "n_evaluated"] == 0 and np.isnan(rows.loc["island", "value"])
    assert rows.loc["north", "n_evaluated"] == 180
    assert any("leaves out accent group(s) island" in n for n in result.summary["notes"])


def test_minimum_of_speakers_counts_the_speakers_a_metric_evaluates(predictions):
    table = predictions.table.copy()
    es_speakers = table.loc[table["language"] == "es", "speaker_id"].unique()
    blanked = table["speaker_id"].isin(es_speakers[5:])
    table.loc[blanked, "s2f_age_years"] = np.nan
    result = run_audit(Predictions(table), n_boot=50, min_speakers=20, slices=["language"])
    age = result.by_group("s2f_age_error", "language").loc["es"]
    assert (age["n_speakers"], age["n_speakers_evaluated"]) == (len(es_speakers), 5)
    assert age["n_evaluated"] == 5 * 3
    assert age["status"] == "insufficient" and np.isnan(age["p_adjusted"]) and not age["flag"]
    gender = result.by_group("s2f_gender_agreement", "language").loc["es"]
    assert gender["n_speakers_evaluated"] == len(es_speakers)
    assert gender["status"] in {"ok", "reference"}


def test_misspelt_reference_column_is_an_input_error(predictions):
    with pytest.raises(InputError, match="reference column 'langauge' is not a sliced column"):
        run_audit(predictions, n_boot=10, slices=["language"], reference={"langauge": "es"})


def test_feature_metrics_on_a_subset_of_more_rows_than_one_chunk():
    """Two durations of 20,000 clips: the selected rows (one duration) span several chunks."""
    single = make_predictions(n_speakers=2000, clips_per_speaker=10, dim=4)
    table = pd.concat(
        [single.table.assign(duration_s=3.0), single.table.assign(duration_s=6.0)],
        ignore_index=True,
    )
    features = {k: np.concatenate([v, v[:, ::-1]]) for k, v in single.features.items()}
    result = run_audit(
        Predictions(table, features),
        metrics=["feature_cosine_score"],
        slices=["language"],
        n_boot=4,
        fairlearn_views=False,
    )
    cosine = result.components["feature_cosine_score"].to_numpy()
    pred, true = (features[k][20_000:].astype(np.float64) for k in ("pred_feature", "true_feature"))
    expected = (pred * true).sum(1) / np.linalg.norm(pred, axis=1) / np.linalg.norm(true, axis=1)
    assert len(cosine) == 20_000
    np.testing.assert_allclose(cosine, expected, atol=1e-12)
