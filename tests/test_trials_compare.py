"""``s2f compare`` of trials audits: paired changes per group, regressions with known truth."""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit._intervals import adjust_pvalues
from audit.simulate_trials import simulate_trials
from audit.trials_compare import TrialsComparisonResult, compare_trials_audits
from audit.trials_config import TrialsConfig
from audit.trials_result import TrialsAuditResult, run_trials_audit
from reports.trials import trials_comparison_html
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.trials import write_trials

CONFIG = TrialsConfig(n_boot=200, slices=("gender",))
THRESHOLD_FREE = ("eer", "auc", "match_1of2")


def _audit(folder, table, name, config=CONFIG):
    path = folder / f"{name}.parquet"
    write_trials(path, table, meta={"model_id": name})
    out = folder / name
    run_trials_audit(path, config).save(out)
    return out


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    """A baseline, a candidate that degrades the female group's target scores only, and a
    candidate with the baseline's scores plus small noise for everyone."""
    folder = tmp_path_factory.mktemp("trials_compare")
    base = simulate_trials(n_speakers=120, seed=3)
    rng = np.random.default_rng(9)
    degraded = base.assign(score=base["score"] + rng.normal(0, 0.1, len(base)))
    female_targets = (degraded["gender"] == "female") & degraded["target"]
    degraded.loc[female_targets, "score"] -= 0.8
    noisy = base.assign(score=base["score"] + rng.normal(0, 0.1, len(base)))
    return {
        "base": _audit(folder, base, "base"),
        "degraded": _audit(folder, degraded, "degraded"),
        "noisy": _audit(folder, noisy, "noisy"),
        "same": _audit(folder, base, "same"),
    }


def _row(changes, metric, group):
    return changes[(changes["metric"] == metric) & (changes["group"] == group)].iloc[0]


def test_the_degraded_group_regresses_and_the_other_does_not(audits):
    changes = compare_trials_audits([audits["base"], audits["degraded"]]).changes
    for metric in (*THRESHOLD_FREE, "fnmr"):
        row = _row(changes, metric, "female")
        assert row["regression"], metric
        worse = row["delta_ci_high"] < 0 if row["higher_is_better"] else row["delta_ci_low"] > 0
        assert worse, metric
    for metric in THRESHOLD_FREE:
        row = _row(changes, metric, "male")
        assert not row["regression"], metric
        assert row["delta_ci_low"] <= 0 <= row["delta_ci_high"], metric
    assert _row(changes, "fnmr", "female")["delta"] > 0.15


def test_the_same_scores_change_nothing_in_any_replicate(audits):
    """Only a paired bootstrap gives a zero-width interval to an unchanged model."""
    result = compare_trials_audits([audits["base"], audits["same"]])
    changes, matrix = result.changes, result.fmr_matrix
    assert len(matrix) == 4  # female and male voices x faces
    for table in (changes, matrix):
        assert (table["delta"] == 0).all()
        assert (table[["delta_ci_low", "delta_ci_high"]].to_numpy() == 0).all()
    assert not changes["regression"].any() and not changes["improvement"].any()
    assert not matrix["flag"].any() and not result.has_regression


def test_small_noise_flags_nothing(audits):
    result = compare_trials_audits([audits["base"], audits["noisy"]])
    assert not result.has_regression
    assert not result.changes["gap_widened"].any()
    tests = result.summary["tests"]
    assert (
        tests["n_tests"]
        == result.changes["p_value"].notna().sum() + result.changes["gap_p_value"].notna().sum()
    )


def test_different_trials_are_refused_unless_intersected(audits, tmp_path):
    base = TrialsAuditResult.load(audits["base"])
    fewer = base.trials.iloc[10:]
    short = _audit(tmp_path, fewer, "fewer")
    with pytest.raises(InputError, match="trial"):
        compare_trials_audits([audits["base"], short])
    result = compare_trials_audits([audits["base"], short], align="intersection")
    assert result.summary["n_trials"] == len(fewer)
    assert any("trials all audits share" in note for note in result.summary["notes"])


def test_a_trial_labelled_differently_is_refused(audits, tmp_path):
    table = TrialsAuditResult.load(audits["base"]).trials
    table.loc[0, "gender"] = "male" if table.loc[0, "gender"] == "female" else "female"
    relabelled = _audit(tmp_path, table, "relabelled")
    with pytest.raises(InputError, match=r"trial '0'.*gender"):
        compare_trials_audits([audits["base"], relabelled])


def test_command_writes_the_comparison_and_gates_on_regression(audits, tmp_path, capsys):
    out = tmp_path / "comparison"
    args = ["compare", str(audits["base"]), str(audits["degraded"]), "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "regression(s) over" in printed and "REGRESSION model 1 eer gender=female" in printed
    result = TrialsComparisonResult.load(out)
    assert result.summary["kind"] == "trials_comparison" and result.has_regression
    html = (out / "report.html").read_text()
    assert 'id="regressions"' in html and "Trials comparison: base vs degraded" in html
    assert main([*args, "--fail-on-regression"]) == 1
    assert main(["compare", str(audits["base"]), str(audits["same"]), "--out", str(out)]) == 0


def test_a_plain_audit_is_not_a_trials_baseline(audits, tmp_path, capsys):
    code = main(["compare", str(audits["base"]), str(tmp_path), "--out", str(tmp_path / "c")])
    assert code == 2
    assert "not a trials audit" in capsys.readouterr().err


@pytest.fixture(scope="module")
def heard_audits(tmp_path_factory):
    """Audits with heard language ``en`` (``ur`` unheard): the baseline, a candidate whose
    targets on ``ur`` clips score 0.8 lower, and the baseline again."""
    folder = tmp_path_factory.mktemp("trials_compare_languages")
    base = simulate_trials(n_speakers=120, seed=5)
    worse = base.copy()
    worse.loc[worse["target"] & (worse["language"] == "ur"), "score"] -= 0.8
    config = TrialsConfig(n_boot=200, slices=("gender",), heard_languages=("en",))
    paths = {}
    for name, table in (("base", base), ("unheard-worse", worse), ("same", base)):
        write_trials(folder / f"{name}.parquet", table, meta={"model_id": name})
        run_trials_audit(folder / f"{name}.parquet", config).save(folder / name)
        paths[name] = folder / name
    return paths


def _half(languages, metric, half, group="overall"):
    rows = languages[
        (languages["metric"] == metric)
        & (languages["half"] == half)
        & (languages["group"] == group)
    ]
    return rows.iloc[0]


def test_heard_unheard_and_gap_changes_are_paired_and_find_the_unheard_regression(heard_audits):
    result = compare_trials_audits([heard_audits["base"], heard_audits["unheard-worse"]])
    languages = result.languages
    assert set(languages["half"]) == {"heard", "unheard", "gap"}
    assert result.summary["languages"]["heard_languages"] == ["en"]
    heard = _half(languages, "eer", "heard")
    assert heard["delta"] == 0 and heard["delta_ci_low"] == heard["delta_ci_high"] == 0
    unheard, gap = _half(languages, "eer", "unheard"), _half(languages, "eer", "gap")
    assert unheard["delta_ci_low"] > 0.02 and unheard["flag"]
    assert gap["delta"] == pytest.approx(unheard["delta"] - heard["delta"])
    assert gap["value"] == pytest.approx(unheard["value"] - heard["value"])
    assert gap["flag"] and not heard["flag"]
    # the unheard half's own EER got worse: a regression (--fail-on-regression fails);
    # the gap that moved with it is reported, not counted twice
    assert unheard["regression"] and not gap["regression"] and not heard["regression"]
    regressions = result.regressions()
    assert "(unheard languages)" in " ".join(regressions["group"])
    assert len(result.summary["regressions"]) == len(regressions)
    same = compare_trials_audits([heard_audits["base"], heard_audits["same"]])
    assert (same.languages["delta"].dropna() == 0).all() and not same.languages["flag"].any()
    assert not same.has_regression


def test_the_languages_table_saves_loads_and_reports(heard_audits, tmp_path):
    from reports.trials import _language_changes

    result = compare_trials_audits([heard_audits["base"], heard_audits["unheard-worse"]])
    out = result.save(tmp_path / "cmp")
    loaded = TrialsComparisonResult.load(out)
    assert loaded.summary["schema_version"] == 3
    assert loaded.languages.equals(result.languages)
    models = loaded.summary["models"]
    html = _language_changes(loaded.languages, loaded.summary, models, privacy_k=5)
    assert "Heard, unheard and cross-lingual gap" in html and "unheard-worse" in html
    # a version-1 comparison (before the languages table) still loads, with none
    (out / "languages.parquet").unlink()
    summary = out / "comparison.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "schema_version": 1}))
    assert TrialsComparisonResult.load(out).languages.empty


PAIR = "female voice → male face (FMR pair)"


@pytest.fixture(scope="module")
def fmr_audits(tmp_path_factory):
    """Audits at one fixed score threshold (1.0, so each model's FMR is read where the
    other's is): the baseline, and a candidate whose impostor scores of female voices
    against male faces are 1.0 higher, every other score the same."""
    folder = tmp_path_factory.mktemp("trials_compare_fmr")
    base = simulate_trials(n_speakers=120, seed=3)
    pair = ~base["target"] & (base["gender"] == "female") & (base["face_gender"] == "male")
    raised = base.copy()
    raised.loc[pair, "score"] += 1.0
    config = TrialsConfig(n_boot=200, slices=("gender",), score_threshold=1.0)
    truth = float((base.loc[pair, "score"] >= 0).mean() - (base.loc[pair, "score"] >= 1).mean())
    return {
        "base": _audit(folder, base, "base", config),
        "raised": _audit(folder, raised, "raised", config),
        "truth": truth,
    }


def test_raised_impostor_scores_of_one_group_pair_regress_that_cell_only(fmr_audits):
    result = compare_trials_audits([fmr_audits["base"], fmr_audits["raised"]])
    assert [m["score_threshold"] for m in result.summary["models"]] == [1.0, 1.0]
    matrix = result.fmr_matrix.set_index(["voice_group", "face_group"])
    assert len(matrix) == 4 and (matrix["status"] == "ok").all()
    raised = matrix.loc[("female", "male")]
    assert raised["delta"] == pytest.approx(fmr_audits["truth"])  # 0.405 (0.194 -> 0.599)
    assert raised["delta_ci_low"] > 0.2 and raised["flag"] and raised["regression"]
    others = matrix.drop(index=[("female", "male")])
    assert (others[["delta", "delta_ci_low", "delta_ci_high"]].to_numpy() == 0).all()
    assert not others["flag"].any() and not others["regression"].any()
    # one family of its own, with the comparison's correction (Holm)
    assert result.summary["fmr_matrix"]["n_tests"] == 4
    holm = adjust_pvalues(matrix["p_value"].to_numpy(), method="holm")
    np.testing.assert_array_equal(matrix["p_adjusted"], holm)
    assert raised["p_adjusted"] == pytest.approx(4 * raised["p_value"])
    # listed as a regression beside the changes table's, and counted on its own
    assert PAIR in set(result.regressions()["group"])
    result.changes["regression"] = False
    assert result.has_regression and list(result.regressions()["group"]) == [PAIR]


def test_an_fmr_pair_regression_fails_the_command(fmr_audits, tmp_path, capsys):
    out = tmp_path / "comparison"
    args = ["compare", str(fmr_audits["base"]), str(fmr_audits["raised"]), "--out", str(out)]
    assert main([*args, "--fail-on-regression"]) == 1
    assert f"REGRESSION model 1 fmr gender={PAIR}: delta +0.405" in capsys.readouterr().out


def test_the_fmr_matrix_saves_loads_reports_and_a_version_2_folder_loads(fmr_audits, tmp_path):
    result = compare_trials_audits([fmr_audits["base"], fmr_audits["raised"]])
    out = result.save(tmp_path / "cmp")
    loaded = TrialsComparisonResult.load(out)
    assert loaded.summary["schema_version"] == 3
    assert loaded.fmr_matrix.equals(result.fmr_matrix)
    html = trials_comparison_html(loaded, source=out)
    assert "Impostor FMR by voice and face group: paired change per cell" in html
    assert "0.194</td><td>0.599</td><td>0.405 [" in html
    assert "1 more regression(s) of a heard or unheard half or of a group pair" in html
    # with no regression in the per-group changes, the section must not read "no regression"
    loaded.changes["regression"] = False
    alone = trials_comparison_html(loaded, source=out)
    assert "No regression" not in alone
    assert "No group's own value in the per-group changes regressed" in alone
    # a version-2 comparison (before the FMR matrix) still loads, with none
    (out / "fmr_matrix.parquet").unlink()
    summary = out / "comparison.json"
    summary.write_text(json.dumps({**json.loads(summary.read_text()), "schema_version": 2}))
    old = TrialsComparisonResult.load(out)
    assert old.fmr_matrix.empty and PAIR not in set(old.regressions()["group"])
    assert 'id="fmr"' not in trials_comparison_html(old, source=out)
