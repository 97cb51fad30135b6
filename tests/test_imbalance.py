"""Dataset imbalance: counts, closed-form scores, shift and power against independent references."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import optimize, stats

from audit.imbalance import (
    DatasetAnalysis,
    analyze_dataset,
    imbalance_score,
    min_detectable_difference,
)
from speech2face.errors import InputError


def manifest_of(speakers: list[dict], clips_per_speaker: int = 2) -> pd.DataFrame:
    """One row per clip from per-speaker attributes (each dict: split and demographics)."""
    rows = []
    for number, speaker in enumerate(speakers):
        for clip in range(clips_per_speaker):
            rows.append({"clip_id": f"s{number}c{clip}", "speaker_id": f"s{number}", **speaker})
    return pd.DataFrame(rows)


def speakers(n: int, **attributes) -> list[dict]:
    return [dict(attributes) for _ in range(n)]


@pytest.fixture
def planted() -> pd.DataFrame:
    """Train: 40 female / 60 male; group_d 4 of 100. Test: 30 / 30; group_d 2 of 60."""
    train = (
        speakers(36, split="train", gender="female", ethnicity="group_a", language="en")
        + speakers(60, split="train", gender="male", ethnicity="group_b", language="es")
        + speakers(4, split="train", gender="female", ethnicity="group_d", language="en")
    )
    test = (
        speakers(28, split="test", gender="female", ethnicity="group_a", language="en")
        + speakers(30, split="test", gender="male", ethnicity="group_b", language="en")
        + speakers(2, split="test", gender="female", ethnicity="group_d", language="en")
    )
    return manifest_of(train + test)


def cell(analysis, split, slice_name, group):
    counts = analysis.counts
    match = counts[
        (counts["split"] == split) & (counts["slice"] == slice_name) & (counts["group"] == group)
    ]
    assert len(match) == 1
    return match.iloc[0]


def test_counts_and_shares_per_split_and_intersection(planted):
    analysis = analyze_dataset(planted, columns=("gender", "ethnicity", "language"))
    female_train = cell(analysis, "train", "gender", "female")
    assert (female_train["n_speakers"], female_train["n_clips"]) == (40, 80)
    assert female_train["speaker_share"] == pytest.approx(0.4)
    everyone = cell(analysis, "all", "gender", "female")
    assert everyone["n_speakers"] == 70 and everyone["speaker_share"] == pytest.approx(70 / 160)
    both = cell(analysis, "test", "gender & ethnicity", "female & group_d")
    assert (both["n_speakers"], both["status"]) == (2, "thin")
    empty = cell(analysis, "train", "gender & ethnicity", "male & group_a")
    assert (empty["n_speakers"], empty["status"]) == (0, "empty")
    assert cell(analysis, "train", "gender", "male")["status"] == "ok"
    assert set(analysis.cells["status"]) == {"thin", "empty"}
    # every group of every slice sums to the split's clips
    singles = analysis.counts[analysis.counts["order"] == 1]
    assert (singles.groupby(["split", "slice"])["n_clips"].sum() == 0).sum() == 0
    assert singles.groupby(["split", "slice"])["clip_share"].sum().to_numpy() == pytest.approx(1)


def test_missing_values_are_the_group_unknown():
    frame = manifest_of(
        speakers(3, split="train", gender="female") + speakers(2, split="train", gender=None)
    )
    analysis = analyze_dataset(frame, columns=("gender",))
    assert cell(analysis, "train", "gender", "unknown")["n_speakers"] == 2
    row = analysis.imbalance.set_index(["split", "column"]).loc[("train", "gender")]
    assert row["unknown_speaker_share"] == pytest.approx(0.4)
    assert row["n_categories"] == 1 and np.isnan(row["imbalance_score"])
    assert "gender is unknown for 40% of train speakers." in analysis.findings


def test_age_group_provenance_falls_back_on_age_source():
    frame = manifest_of(speakers(3, split="train", age=34.0, age_source="annotated"))
    table = analyze_dataset(frame, columns=("age_group",)).provenance
    assert table[["column", "source", "n_speakers"]].values.tolist() == [
        ["age_group", "annotated", 3]
    ]


@pytest.mark.parametrize("share", [0.5, 0.7, 0.9, 0.99])
def test_imbalance_score_closed_form_two_groups(share):
    binary_entropy = -(share * np.log2(share) + (1 - share) * np.log2(1 - share))
    assert imbalance_score([share * 1000, (1 - share) * 1000]) == pytest.approx(1 - binary_entropy)


def test_imbalance_score_limits_and_k():
    assert imbalance_score([7, 7, 7, 7]) == pytest.approx(0.0)
    assert imbalance_score([10, 0, 0]) == pytest.approx(1.0)
    assert imbalance_score([2, 1, 1]) == pytest.approx(1 - 1.5 / np.log2(3))
    assert np.isnan(imbalance_score([5]))


def test_imbalance_table_uses_speakers_over_known_categories(planted):
    analysis = analyze_dataset(planted, columns=("gender", "ethnicity"))
    table = analysis.imbalance.set_index(["split", "column"])
    assert table.loc[("train", "gender"), "imbalance_score"] == pytest.approx(
        1 + 0.4 * np.log2(0.4) + 0.6 * np.log2(0.6)
    )
    # group_d exists in the manifest, so k = 3 in every split
    assert table.loc[("train", "ethnicity"), "n_categories"] == 3
    assert table.loc[("train", "ethnicity"), "imbalance_score"] == pytest.approx(
        imbalance_score([36, 60, 4])
    )
    assert table.loc[("train", "ethnicity"), "smallest_group"] == "group_d"


def test_train_test_shift_against_scipy_and_hand(planted):
    analysis = analyze_dataset(planted, columns=("gender", "language"))
    shift = analysis.shift.set_index("column")
    # language: train en 40 / es 60, test en 60 / es 0
    assert shift.loc["language", "tv_distance"] == pytest.approx(0.6)
    reference = stats.chi2_contingency([[40, 60], [60, 0]], correction=False)
    assert shift.loc["language", "chi2"] == pytest.approx(reference.statistic)
    assert shift.loc["language", "p_value"] == pytest.approx(reference.pvalue)
    assert shift.loc["gender", "tv_distance"] == pytest.approx(0.1)
    assert (shift.loc["gender", "n_train"], shift.loc["gender", "n_test"]) == (100, 60)


def test_identical_splits_show_no_shift():
    frame = manifest_of(
        speakers(20, split="train", gender="female")
        + speakers(30, split="train", gender="male")
        + speakers(20, split="test", gender="female")
        + speakers(30, split="test", gender="male")
    )
    shift = analyze_dataset(frame, columns=("gender",)).shift.iloc[0]
    assert shift["tv_distance"] == 0 and shift["p_value"] == pytest.approx(1.0)


def test_reference_population_difference_and_ratio(planted):
    analysis = analyze_dataset(
        planted,
        columns=("gender", "ethnicity"),
        reference_population={"ethnicity": {"group_a": 0.4, "group_b": 0.4, "group_d": 0.2}},
    )
    gaps = analysis.reference.set_index(["split", "column", "group"])
    row = gaps.loc[("train", "ethnicity", "group_d")]
    assert row["observed_share"] == pytest.approx(0.04)
    assert row["difference"] == pytest.approx(-0.16)
    assert row["ratio"] == pytest.approx(0.2)
    assert any("group_d is 4% of train speakers against 20%" in f for f in analysis.findings)


@pytest.mark.parametrize(
    ("reference", "message"),
    [
        ({"ethnicity": {"group_a": 0.5, "group_b": 0.2}}, "sum to 1, got 0.7"),
        ({"height": {"tall": 1.0}}, "column 'height', which is not analysed"),
    ],
)
def test_bad_reference_population(planted, reference, message):
    with pytest.raises(InputError, match=message):
        analyze_dataset(planted, columns=("ethnicity",), reference_population=reference)


@pytest.mark.parametrize(("n_group", "n_rest"), [(10, 90), (40, 400), (300, 300)])
def test_min_detectable_difference_solves_the_power_equation(n_group, n_rest):
    # independent: find δ (group − whole) where the two-sided z-test's power (both tails,
    # Bonferroni over 4 tests) is 0.8; the whole holds the group: var ∝ 1/n_group − 1/n
    se = np.sqrt(0.25 * (1 / n_group - 1 / (n_group + n_rest)))
    z = stats.norm.ppf(1 - 0.05 / 8)

    def power_gap(delta):
        return stats.norm.cdf(delta / se - z) + stats.norm.cdf(-delta / se - z) - 0.8

    exact = optimize.brentq(power_gap, 1e-9, 5)
    found = min_detectable_difference(n_group, n_group + n_rest, n_tests=4)
    assert found == pytest.approx(exact, rel=1e-3)


def test_min_detectable_difference_by_simulation():
    """At δ = MDD (group − whole) a z-test of the group against the whole split, which holds
    it, rejects about 80% of the time; at δ = 0, 5%."""
    rng = np.random.default_rng(0)
    n_group, n_rest, runs = 60, 240, 4000
    n = n_group + n_rest
    mdd = float(min_detectable_difference(n_group, n))

    def rejection_rate(delta):
        apart = delta / (1 - n_group / n) / 2  # group − rest that makes group − whole = δ
        group = rng.binomial(n_group, 0.5 + apart, size=runs) / n_group
        rest = rng.binomial(n_rest, 0.5 - apart, size=runs) / n_rest
        whole = (group * n_group + rest * n_rest) / n
        se = np.sqrt(whole * (1 - whole) * (1 / n_group - 1 / n))
        return np.mean(np.abs(group - whole) / se > stats.norm.ppf(0.975))

    assert 0.77 <= rejection_rate(mdd) <= 0.85
    assert rejection_rate(mdd / 2) < 0.4
    assert 0.035 <= rejection_rate(0.0) <= 0.065


def test_min_detectable_difference_in_counts_and_findings(planted):
    analysis = analyze_dataset(planted, columns=("gender", "ethnicity"), alpha=0.01, power=0.9)
    row = cell(analysis, "test", "gender", "female")
    tests = analysis.settings["family_size"]["test"]
    assert tests == analysis.settings["family_metrics"] * int(
        (analysis.counts.query("split == 'test'")["n_speakers"] >= 30).sum()
    )
    assert row["min_detectable_difference"] == pytest.approx(
        float(min_detectable_difference(30, 60, n_tests=tests, alpha=0.01, power=0.9))
    )
    empty = cell(analysis, "train", "ethnicity", "group_d")
    assert empty["min_detectable_difference"] > 0.5
    single_group = analyze_dataset(planted.assign(gender="female"), columns=("gender",))
    assert np.isnan(cell(single_group, "all", "gender", "female")["min_detectable_difference"])
    expected = (
        f"gender female is 40% of train speakers (40); with 30 test speakers, differences "
        f"below {row['min_detectable_difference'] * 100:.0f} points cannot be detected "
        f"(alpha 0.01 over {tests} tests, power 0.9)."
    )
    assert expected in analysis.findings


def test_label_provenance(planted):
    frame = planted.assign(
        ethnicity_source=np.where(planted.index < 100, "inferred", "self_reported"),
        gender_source="self_reported",
    )
    analysis = analyze_dataset(frame, columns=("gender", "ethnicity", "language"))
    table = analysis.provenance.set_index(["column", "source"])
    assert table.loc[("ethnicity", "inferred"), "n_clips"] == 100
    assert table.loc[("ethnicity", "inferred"), "n_speakers"] == 50
    assert table.loc[("ethnicity", "self_reported"), "clip_share"] == pytest.approx(220 / 320)
    assert table.loc[("language", "not recorded"), "n_clips"] == 320
    assert any(f.startswith("ethnicity labels are inferred for 31%") for f in analysis.findings)


def test_bad_label_source_names_row_and_column(planted):
    frame = planted.assign(gender_source="self_reported")
    frame.loc[7, "gender_source"] = "guessed"
    with pytest.raises(InputError, match="row 7: column 'gender_source' holds 'guessed'"):
        analyze_dataset(frame, columns=("gender",))


def test_language_by_ethnicity_counts_speakers(planted):
    table = analyze_dataset(planted).language_by_ethnicity.set_index("language")
    assert table.loc["en", "group_a"] == 64 and table.loc["es", "group_b"] == 60
    assert table.loc["es", "group_d"] == 0 and table.loc["en", "group_d"] == 6


def test_findings_name_thin_cells_and_shift(planted):
    findings = analyze_dataset(planted, columns=("gender", "ethnicity", "language")).findings
    assert "2 of 3 ethnicity groups in test have fewer than 30 speakers." in findings
    assert (
        "5 of 6 gender & ethnicity groups in test have fewer than 30 speakers; "
        "3 empty: female & group_b, male & group_a, male & group_d."
    ) in findings
    assert any(f.startswith("train and test differ in language") for f in findings)
    assert (
        "language en is 40% of train speakers (40); test has no other group to compare them with."
    ) in findings
    assert not any("age_group" in f for f in findings)  # not analysed here


def test_findings_for_unknown_and_undetectable_groups(planted):
    findings = analyze_dataset(planted).findings
    assert "age_group is unknown for every speaker; it cannot be audited." in findings
    assert not any(f.startswith("2 of 3 age_group & ethnicity") for f in findings)
    assert any(
        f.startswith("ethnicity group_d is 4%") and "no difference is detectable" in f
        for f in findings
    )


def test_speakers_in_two_splits_are_reported():
    frame = manifest_of(speakers(2, split="train", gender="female"))
    frame.loc[1, "split"] = "test"
    analysis = analyze_dataset(frame, columns=("gender",))
    assert analysis.settings["speakers_in_several_splits"] == 1
    assert analysis.findings[0].startswith("1 speaker(s) appear in more than one split")


def test_save_load_round_trip(planted, tmp_path):
    analysis = analyze_dataset(
        planted.assign(ethnicity_source="inferred"),
        reference_population={"gender": {"female": 0.5, "male": 0.5}},
    )
    target = tmp_path / "analysis"
    analysis.save(target)
    analysis.save(target)  # replacing an earlier result leaves one whole folder
    loaded = DatasetAnalysis.load(target)
    for name in DatasetAnalysis.TABLES:
        pd.testing.assert_frame_equal(
            getattr(loaded, name), getattr(analysis, name), check_dtype=False
        )
    assert loaded.findings == analysis.findings and loaded.settings == analysis.settings
    assert loaded.to_dict() == analysis.to_dict()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["analysis"]


def test_load_refuses_a_folder_without_analysis(tmp_path):
    with pytest.raises(InputError, match="not a dataset analysis"):
        DatasetAnalysis.load(tmp_path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda f: f.drop(columns="speaker_id"), "manifest lacks column 'speaker_id'"),
        (lambda f: f.assign(split=f["split"].replace("test", "dev")), "row 200: split 'dev'"),
    ],
)
def test_bad_manifest(planted, change, message):
    with pytest.raises(InputError, match=message):
        analyze_dataset(change(planted))


def test_named_column_must_exist(planted):
    with pytest.raises(InputError, match="manifest lacks column 'accent'"):
        analyze_dataset(planted, columns=("gender", "accent"))


def test_intersection_order_is_respected(planted):
    singles = analyze_dataset(planted, columns=("gender", "ethnicity"), intersections=1)
    assert set(singles.counts["order"]) == {1}
    assert set(singles.counts["slice"]) == {"gender", "ethnicity"}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"alpha": 0.0}, "alpha must be between 0 and 1"),
        ({"power": 1.5}, "power must be between 0 and 1"),
        ({"intersections": 0}, "intersections must be at least 1"),
    ],
)
def test_bad_settings(planted, settings, message):
    with pytest.raises(InputError, match=message):
        analyze_dataset(planted, **settings)


def test_dataset_power_agrees_with_the_audits_detectable_difference():
    """A 30-speaker group among 180 test speakers: the dataset report's detectable
    difference (against overall, Bonferroni over the audit's family) is the audit's own
    ``detectable_difference`` within 15% (speaker-level outcomes at a rate of 0.5, so the
    audit's bootstrap standard error is the worst case the report assumes; the rest is
    bootstrap noise and the observed rate)."""
    from audit.engine import run_audit
    from speech2face.prediction.artifact import Predictions

    rng = np.random.default_rng(0)
    groups = np.repeat(np.array(["a", "b", "c"], dtype=object), [30, 60, 90])
    speaker = np.repeat(np.arange(len(groups)), 2)
    gender = rng.choice(np.array(["female", "male"]), size=len(groups))[speaker]
    right = (rng.random(len(groups)) < 0.5)[speaker]
    table = pd.DataFrame(
        {
            "clip_id": [f"c{i}" for i in range(len(speaker))],
            "speaker_id": [f"s{s}" for s in speaker],
            "split": "test",
            "duration_s": 6.0,
            "ethnicity": groups[speaker],
            "true_gender": gender,
            "s2f_gender": np.where(right, gender, np.where(gender == "male", "female", "male")),
        }
    )
    audit = run_audit(
        Predictions(table),
        metrics=["s2f_gender_agreement"],
        slices=["ethnicity"],
        reference="overall",
        n_boot=2000,
        fairlearn_views=False,
    )
    expected = audit.by_group("s2f_gender_agreement", "ethnicity").loc["a", "detectable_difference"]
    analysis = analyze_dataset(table, columns=("ethnicity",), intersections=1, family_metrics=1)
    assert analysis.settings["family_size"]["test"] == audit.summary["tests"]["n_tests"] == 3
    ours = cell(analysis, "test", "ethnicity", "a")["min_detectable_difference"]
    assert ours == pytest.approx(expected, rel=0.15)
