"""``s2f audit-trials`` end to end: the folder, its loader, privacy, errors, the report."""

from __future__ import annotations

import json

import pytest

from audit.simulate_trials import simulate_trials
from audit.trials_result import TrialsAuditResult
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.trials import write_trials
from tests.browser import chromium_page
from tests.report_browser import assert_clean, outline, screenshot

HOSTILE = "<script>alert(1)</script>"
SECTIONS = ["data", "method", "groups", "det", "fmr", "languages", "caveats"]


@pytest.fixture(scope="module")
def audited(tmp_path_factory):
    folder = tmp_path_factory.mktemp("trials_audit")
    table = simulate_trials(n_speakers=90, seed=2, languages=("en", "ur", "fr"))
    rare = table["voice_speaker_id"].isin(["spk0", "spk1", "spk2"])
    table.loc[rare, "gender"] = HOSTILE  # 3 speakers: below privacy k 5
    table.loc[table["face_speaker_id"].isin(["spk0", "spk1", "spk2"]), "face_gender"] = HOSTILE
    trials = folder / "trials.parquet"
    write_trials(trials, table, meta={"model_id": "sim"})
    out = folder / "audit"
    args = ["audit-trials", str(trials), "--out", str(out), "--n-boot", "100"]
    assert main([*args, "--heard-languages", "en,ur", "--min-speakers", "10"]) == 0
    return out


def test_folder_loads_with_its_kind_and_schema_version(audited):
    result = TrialsAuditResult.load(audited)
    assert result.summary["kind"] == "trials_audit"
    assert (audited / ".s2f-kind").read_text().strip() == "trials_audit"
    metrics = set(result.groups["metric"])
    assert metrics == {"eer", "auc", "min_dcf", "fmr", "fnmr", "match_1of2", "match_1ofn"}
    assert result.summary["one_of_n"]["faces"] == 5  # 4 impostors per clip
    assert {"heard", "unheard", "gap", "flag"} <= set(result.languages.columns)
    assert len(result.fmr_matrix) and "flag" in result.groups


def test_unknown_schema_version_is_refused(audited, tmp_path):
    copy = tmp_path / "copy"
    copy.mkdir()
    for path in audited.iterdir():
        (copy / path.name).write_bytes(path.read_bytes())
    summary = json.loads((copy / "audit.json").read_text())
    (copy / "audit.json").write_text(json.dumps({**summary, "schema_version": 99}))
    with pytest.raises(InputError, match="schema_version"):
        TrialsAuditResult.load(copy)


def test_groups_below_privacy_k_show_no_numbers(audited):
    result = TrialsAuditResult.load(audited)
    html = (audited / "report.html").read_text()
    rare = result.groups[(result.groups["group"] == HOSTILE) & (result.groups["metric"] == "eer")]
    assert rare["n_voice_speakers"].item() == 3
    assert f"{rare['value'].item():.3f} [" not in html
    assert "<script>alert(1)" not in html and "&lt;script&gt;" in html


def test_bad_input_is_one_line_exit_2(tmp_path, capsys):
    trials = tmp_path / "t.csv"
    trials.write_text("trial_id,score\n1,0.5\n")
    assert main(["audit-trials", str(trials), "--out", str(tmp_path / "o")]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error[-1].startswith("s2f audit-trials: error:") and "voice_clip_id" in error[-1]
    assert main(["audit-trials", str(trials), "--out", str(tmp_path / "o"), "--n-boot", "1"]) == 2
    assert "--n-boot" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


@pytest.mark.browser
def test_trials_report_in_chromium(audited, tmp_path):
    with chromium_page(audited / "report.html") as driver:
        page = outline(driver)
        assert_clean(page, SECTIONS)
        assert page.title.startswith("Trials audit of sim")
        screenshot(driver, tmp_path / "trials_report.png")


def test_trials_from_predictions_then_audit(tmp_path):
    from speech2face.prediction.artifact import write_predictions
    from speech2face.trials import read_trials
    from tests.report_artifacts import planted_predictions

    predictions = planted_predictions()
    source = tmp_path / "pred"
    write_predictions(
        source, predictions.table, features=predictions.features, meta=predictions.meta
    )
    out = tmp_path / "trials.parquet"
    base = ["trials", "--predictions", str(source), "--out", str(out)]
    assert main([*base, "--impostors", "same-gender", "--split", "all"]) == 0
    trials = read_trials(out)
    table = trials.table
    assert trials.meta["impostors"] == "same-gender" and trials.meta["seed"] == 0
    per_clip = table.groupby("voice_clip_id")["target"].agg(["sum", "size"])
    assert (per_clip["sum"] == 1).all() and (per_clip["size"] == 5).all()
    impostors = table[~table["target"]]
    known = impostors["gender"] != "unknown"
    assert (impostors.loc[known, "gender"] == impostors.loc[known, "face_gender"]).all()
    assert main([*base, "--protocol", "1-of-2", "--split", "all"]) == 0  # replaces its own
    assert (read_trials(out).table.groupby("voice_clip_id").size() == 2).all()
    folder = tmp_path / "audit"
    assert main(["audit-trials", str(out), "--out", str(folder), "--n-boot", "20"]) == 0


def test_trials_from_a_model_equal_predict_then_trials(tmp_path, capsys):
    """``--model RUN --manifest M`` is ``s2f predict`` at 6 s then ``--predictions``."""
    import pandas as pd

    from speech2face.prediction import PredictionSettings, load_model, predict
    from speech2face.trials import read_trials
    from tests.predict_support import tiny_corpus, tiny_run

    manifest = tiny_corpus(tmp_path)
    run = tiny_run(tmp_path / "run")
    direct = tmp_path / "direct.parquet"
    args = ["trials", "--model", str(run), "--manifest", str(manifest), "--out", str(direct)]
    assert main([*args, "--split", "all"]) == 0
    settings = PredictionSettings(durations=(6.0,))
    predictions = predict(load_model(run), manifest, tmp_path / "pred", settings=settings)
    staged = tmp_path / "staged.parquet"
    assert main(["trials", "--predictions", str(predictions), "--out", str(staged)]) == 0
    assert (
        main(["trials", "--predictions", str(predictions), "--split", "all", "--out", str(staged)])
        == 0
    )
    pd.testing.assert_frame_equal(read_trials(direct).table, read_trials(staged).table)
    assert read_trials(direct).meta["manifest"] == str(manifest)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".s2f-trials-")]
    capsys.readouterr()
    assert main(["trials", "--model", str(run), "--out", str(direct)]) == 2
    assert "--manifest" in capsys.readouterr().err
