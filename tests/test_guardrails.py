"""Guardrails that stop an honest user from publishing a wrong audit (issue 16).

Each test here fails when its guard is removed: training speakers audited silently, a
circular metric tested, a degenerate metric shown as a number, a domain mismatch unsaid.
The end-to-end proof on real portraits and speech is in tests/test_real_data_pipeline.py.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from audit.engine import run_audit
from audit.result import AuditResult
from reports.audit import render_audit_report
from s2f.cli import main
from speech2face.errors import InputError
from speech2face.prediction.artifact import Predictions, write_predictions
from speech2face.training.speakers import (
    TrainingSpeakers,
    hash_speaker_id,
    read_training_speakers,
    record_training_speakers,
    speaker_warnings,
)
from tests.test_audit_engine import make_predictions

OPTIONS = {
    "n_boot": 30,
    "slices": ["language"],
    "metrics": ["s2f_gender_agreement", "recall@1_cosine"],
    "fairlearn_views": False,
}


@pytest.fixture(scope="module")
def resplit():
    """90 speakers all in split 'test', of which the run trained on the first 30 (fitted)."""
    predictions = make_predictions(n_speakers=90)
    table = predictions.table.copy()
    table["split"] = "test"
    seen = table["speaker_id"].str[1:].astype(int) < 30
    table["seen_in_training"] = seen
    table.loc[seen, "s2f_gender"] = table.loc[seen, "true_gender"]
    features = {k: np.array(v) for k, v in predictions.features.items()}
    features["pred_feature"][seen.to_numpy()] = features["true_feature"][seen.to_numpy()]
    return Predictions(table, features, predictions.meta)


def test_training_speakers_are_left_out_whatever_the_split_says(resplit):
    result = run_audit(resplit, **OPTIONS)
    seen = resplit.table["seen_in_training"].to_numpy()
    assert result.summary["predictions"]["n_clips"] == (~seen).sum() == 180
    record = result.summary["training_speakers"]
    assert record["included"] is False and record["n_speakers"] == 30
    assert record["source"] == "marked seen_in_training by the run's record"
    assert (
        "90 clip(s) of 30 speaker(s) the model trained on (marked seen_in_training by the "
        "run's record) left out; --include-training-speakers audits them"
    ) in result.summary["notes"]
    expected = (resplit.table["s2f_gender"] == resplit.table["true_gender"])[~seen].mean()
    assert result.overall().loc["s2f_gender_agreement", "value"] == pytest.approx(expected)
    assert result.summary["retrieval"]["mixed"]["groups"][0]["gallery_size"] == 60


def test_auditing_training_speakers_needs_the_option_and_puts_a_banner(resplit, tmp_path):
    result = run_audit(resplit, include_training_speakers=True, **OPTIONS)
    assert result.summary["predictions"]["n_clips"] == 270
    banner = result.summary["training_speakers"]["banner"]
    assert banner.startswith("This audit includes 90 clip(s) of 30 speaker(s) the model trained")
    assert result.summary["caveats"][0] == banner
    result.save(tmp_path / "audit")
    saved = json.loads((tmp_path / "audit" / "audit.json").read_text())
    assert saved["training_speakers"]["included"] is True
    html = render_audit_report(
        AuditResult.load(tmp_path / "audit"), tmp_path / "report.html"
    ).read_text()
    main_start = html.index("<main>")
    assert html.index('class="banner"', main_start) < html.index('id="findings"')
    assert "This audit includes 90 clip(s) of 30 speaker(s)" in html
    # the default audit has no banner
    default = run_audit(resplit, **OPTIONS)
    default.save(tmp_path / "plain")
    plain = render_audit_report(AuditResult.load(tmp_path / "plain"), tmp_path / "plain.html")
    assert 'class="banner"' not in plain.read_text()


def test_an_audit_of_training_speakers_only_is_refused_in_one_line(resplit, tmp_path, capsys):
    only_seen = resplit.table["seen_in_training"].to_numpy()
    table = resplit.table[only_seen].reset_index(drop=True)
    features = {k: v[only_seen] for k, v in resplit.features.items()}
    with pytest.raises(InputError, match="every one of the 90 clip"):
        run_audit(Predictions(table, features), **OPTIONS)
    path = write_predictions(tmp_path / "pred", table, features=features)
    args = ["audit", str(path), "--out", str(tmp_path / "a"), "--no-report", "--n-boot", "20"]
    assert main([*args, "--slices", "language", "--metrics", "s2f_gender_agreement"]) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("s2f audit: error: every one of the 90")
    assert errors[0].endswith("--include-training-speakers (include_training_speakers=True)")


def test_a_run_records_its_speakers_hashed_on_request_and_warns(tmp_path):
    speakers = TrainingSpeakers.of(["a", "b"], [], hashed=True)
    record_training_speakers(tmp_path, speakers)
    saved = json.loads((tmp_path / "training_speakers.json").read_text())
    assert saved["train"] == sorted([hash_speaker_id("a"), hash_speaker_id("b")])
    assert not {"a", "b"} & set(saved["train"]) and saved["hashed"] is True
    loaded = read_training_speakers(tmp_path)
    assert loaded.contains(["a", "c", "b"]).tolist() == [True, False, True]
    warnings = speaker_warnings(loaded)
    assert warnings[0].startswith("warning: training on 2 speaker(s), fewer than 30")
    assert warnings[1].startswith("warning: no val speakers")
    enough = TrainingSpeakers.of([f"s{i}" for i in range(30)], ["v"])
    assert speaker_warnings(enough) == []


def _inferred_age_predictions():
    """True-face ages and gender read by one classifier; the labels inferred by it too."""
    predictions = make_predictions(n_speakers=90)
    table = predictions.table.copy()
    table["age_source"] = "inferred"
    table["true_age_source"] = "inferred"
    table["gender_source"] = "self_reported"
    table["true_gender_source"] = "inferred"
    table["true_age_years"] = table["age"] + np.where(table["language"] == "en", 0.0, 9.0)
    return Predictions(table, predictions.features, predictions.meta)


CIRCULAR_OPTIONS = {
    "n_boot": 30,
    "slices": ["language"],
    "metrics": ["true_age_label_error", "true_gender_accuracy_score", "s2f_age_error"],
    "fairlearn_views": False,
}


def test_a_metric_scored_against_labels_inferred_from_the_same_face_is_circular(tmp_path):
    result = run_audit(_inferred_age_predictions(), **CIRCULAR_OPTIONS)
    assert list(result.summary["circular"]) == ["true_age_label_error"]
    reason = result.summary["circular"]["true_age_label_error"]
    assert reason.startswith(
        "true_age_label_error is circular: the age label of 270 clip(s) was inferred"
    )
    assert reason in result.summary["caveats"]
    groups = result.groups
    age = groups[(groups["metric"] == "true_age_label_error") & (groups["slice"] == "language")]
    # a 9-year gap between languages, far beyond the 2-year threshold: still never tested
    assert age.set_index("group")["value"]["es"] == pytest.approx(9.0)
    assert set(age["status"]) == {"circular"}
    assert age["p_value"].isna().all() and not age["flag"].any()
    assert not (result.tests["metric"] == "true_age_label_error").any()
    # the self-reported gender is not circular: tested as usual
    gender = groups[
        (groups["metric"] == "true_gender_accuracy_score") & (groups["slice"] != "overall")
    ]
    assert gender["p_value"].notna().all()
    spec = result.spec("true_age_label_error")
    assert spec["circular"] is True and result.spec("s2f_age_error")["circular"] is False
    result.save(tmp_path / "audit")
    html = render_audit_report(AuditResult.load(tmp_path / "audit"), tmp_path / "r.html")
    text = html.read_text()
    assert "true_age_label_error (circular: never tested)" in text
    assert "True_age_label_error is circular: the age label of 270 clip(s)" in text


def test_recall_at_k_is_not_computed_on_a_gallery_of_k_faces_or_fewer():
    # 5 speakers: every gallery holds 5 faces, so recall@5 and recall@10 would be 1 by
    # construction; they are left out with a note, recall@1 and recall@2 are computed
    small = make_predictions(n_speakers=5, clips_per_speaker=3)
    result = run_audit(
        small,
        n_boot=20,
        slices=["language"],
        metrics=[f"recall@{k}_cosine" for k in (1, 2, 5, 10)],
        matched_gallery="none",
        fairlearn_views=False,
    )
    assert result.metrics == ["recall@1_cosine", "recall@2_cosine"]
    assert (
        "recall@5_cosine not computed: its smallest gallery holds 5 face(s), and recall@5 "
        "among 5 faces or fewer is 1 whatever the model does"
    ) in result.summary["notes"]
    assert set(result.summary["retrieval"]["not_computed"]) == {
        "recall@5_cosine",
        "recall@10_cosine",
    }


def test_no_confusion_matrix_of_one_speaker():
    predictions = make_predictions(n_speakers=40)
    table = predictions.table.copy()
    table.loc[table["speaker_id"] == "s0", "language"] = "fr"  # one speaker alone
    result = run_audit(
        Predictions(table, predictions.features),
        n_boot=20,
        slices=["language"],
        metrics=["s2f_gender_agreement"],
        fairlearn_views=False,
    )
    confusion = result.confusion
    assert set(confusion.loc[confusion["slice"] == "language", "group"]) == {"en", "es"}
    assert any(
        note.startswith(
            "confusion matrices not computed for 1 group(s) with fewer than 2 "
            "speakers (language = fr)"
        )
        for note in result.summary["notes"]
    )


def _composition_manifest(path):
    """40 speakers: gender, a nationality, ages inferred by face-features, no ethnicity."""
    import pandas as pd

    rng = np.random.default_rng(0)
    rows = []
    for speaker in range(40):
        for clip in range(2):
            rows.append(
                {
                    "clip_id": f"s{speaker}_{clip}",
                    "speaker_id": f"s{speaker}",
                    "audio_path": f"audio/s{speaker}_{clip}.wav",
                    "split": "test" if speaker % 2 else "train",
                    "gender": ("female", "male")[speaker % 2],
                    "gender_source": "annotated",
                    "nationality": ("India", "USA", "UK")[speaker % 3],
                    "age": float(rng.integers(20, 70)),
                    "age_source": "inferred",
                    "ethnicity": None,
                }
            )
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_dataset_report_takes_any_column_and_says_one_line_for_an_unknown_one(tmp_path, capsys):
    from audit.imbalance import DatasetAnalysis

    manifest = _composition_manifest(tmp_path / "m.csv")
    out = tmp_path / "report.html"
    args = ["dataset-report", str(manifest), "--out", str(out), "--no-check-files"]
    assert main([*args, "--columns", "gender,nationality,ethnicity,age_group"]) == 0
    analysis = DatasetAnalysis.load(tmp_path / "report.analysis")
    counts = analysis.counts
    nationality = counts[(counts["slice"] == "nationality") & (counts["split"] == "all")]
    assert dict(zip(nationality["group"], nationality["n_speakers"], strict=True)) == {
        "India": 14,
        "UK": 13,
        "USA": 13,
    }
    ethnicity = counts[counts["slice"].str.contains("ethnicity")]
    assert len(ethnicity) and set(ethnicity["status"]) == {"all_unknown"}
    html = out.read_text()
    assert html.count("ethnicity: unknown for every speaker") >= 1
    assert "Share of speakers by ethnicity" not in html
    assert "Speakers per cell of gender &amp; ethnicity" not in html
    assert "Speakers per cell of gender &amp; nationality" in html
    # ages inferred by face-features: their age groups are inferred in this report too
    provenance = analysis.provenance
    age = provenance[provenance["column"] == "age_group"]
    assert list(age["source"]) == ["inferred"] and int(age["n_clips"].iloc[0]) == 80
    assert "age_group labels are inferred for 100% of labelled clips" in html
    capsys.readouterr()
    assert main([*args, "--columns", "gender,religion"]) == 2
    error = capsys.readouterr().err
    assert "m.csv: no column 'religion' to analyse (--columns)" in error


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures" / "importers"


@pytest.mark.parametrize(
    ("dataset", "source", "n_speakers"),
    [
        ("voxceleb1", "vox1_meta.csv", 6),
        ("voxceleb2", "vox2_meta.csv", 5),
        ("commonvoice", "commonvoice_new/train.tsv", 6),
        ("avspeech", "avspeech_train.csv", 4),
    ],
)
def test_metadata_only_import_composition_before_download(
    tmp_path, capsys, dataset, source, n_speakers
):
    import pandas as pd

    out = tmp_path / "m.parquet"
    assert (
        main(["import", dataset, str(FIXTURES / source), "--metadata-only", "--out", str(out)]) == 0
    )
    frame = pd.read_parquet(out)
    assert len(frame) == frame["speaker_id"].nunique() == n_speakers
    assert "audio_path" not in frame.columns and frame["metadata_only"].all()
    assert list(frame["clip_id"]) == list(frame["speaker_id"].astype(str))
    capsys.readouterr()
    assert main(["validate", str(out), "--metadata-only"]) == 0
    assert "valid metadata manifest" in capsys.readouterr().out
    assert main(["validate", str(out)]) == 2
    report = tmp_path / "r.html"
    assert main(["dataset-report", str(out), "--out", str(report), "--columns", "gender"]) == 0
    capsys.readouterr()
    run = tmp_path / "run"
    assert main(["train", "--manifest", str(out), "--out", str(run)]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert error == [
        f"s2f train: error: {out}: a metadata-only manifest (s2f import --metadata-only) lists "
        "speakers, not audio clips: import the dataset with its audio to train or predict "
        "(s2f validate --metadata-only checks it as metadata)"
    ]
    assert not run.exists()


def test_metadata_only_keeps_nationality_and_predict_refuses_it(tmp_path, capsys):
    import pandas as pd

    from tests.predict_support import tiny_run

    out = tmp_path / "vox1.parquet"
    assert (
        main(
            [
                "import",
                "voxceleb1",
                str(FIXTURES / "vox1_meta.csv"),
                "--metadata-only",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert pd.read_parquet(out)["nationality"].notna().all()
    run = tiny_run(tmp_path / "run")
    capsys.readouterr()
    args = ["predict", "--model", str(run), "--manifest", str(out), "--out", str(tmp_path / "p")]
    assert main(args) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and "a metadata-only manifest" in error[0]


def test_voxceleb2_import_of_a_voxceleb1_file_warns_that_nationality_is_dropped(tmp_path, capsys):
    out = tmp_path / "m.parquet"
    source = FIXTURES / "vox1_meta.csv"
    assert main(["import", "voxceleb2", str(source), "--metadata-only", "--out", str(out)]) == 0
    assert (
        f"s2f import: warning: {source}: this looks like VoxCeleb1 metadata (it has a "
        "Nationality column); imported as VoxCeleb2, its Nationality column is dropped: "
        "s2f import voxceleb1 keeps it"
    ) in capsys.readouterr().err
    main(
        [
            "import",
            "voxceleb2",
            str(FIXTURES / "vox2_meta.csv"),
            "--metadata-only",
            "--out",
            str(out),
        ]
    )
    assert "VoxCeleb1" not in capsys.readouterr().err


def test_reports_fit_a_tiny_run(tmp_path):
    import pandas as pd

    from reports import _format as fmt

    assert [fmt.counted(n, "clip") for n in (1, 2, 1000)] == ["1 clip", "2 clips", "1,000 clips"]
    tiny = make_predictions(n_speakers=4, clips_per_speaker=1)
    result = run_audit(
        tiny,
        n_boot=20,
        slices=["language"],
        metrics=["s2f_gender_agreement"],
        fairlearn_views=False,
    )
    result.save(tmp_path / "audit")
    html = render_audit_report(AuditResult.load(tmp_path / "audit"), tmp_path / "a.html")
    text = html.read_text()
    assert "<p>4 clips of 4 speakers." in text
    assert "Largest differences" not in text
    assert "No disparity is flagged, and none could be" in text
    # no decoder recorded either way (a third-party table): the decoder caveat stays
    assert "Attribute classifier domain gap" in text
    # the dataset report of 4 speakers: every group below the privacy threshold
    rows = [
        {
            "clip_id": f"c{i}",
            "speaker_id": f"s{i}",
            "audio_path": f"a{i}.wav",
            "split": "test",
            "gender": ("female", "male")[i % 2],
        }
        for i in range(4)
    ]
    pd.DataFrame(rows).to_csv(tmp_path / "m.csv", index=False)
    out = tmp_path / "d.html"
    args = ["dataset-report", str(tmp_path / "m.csv"), "--out", str(out), "--no-check-files"]
    assert main([*args, "--columns", "gender"]) == 0
    text = out.read_text()
    assert "&lt;p&gt;" not in text and "&lt;code&gt;" not in text
    assert "<p>Groups are the values of gender" in text
    assert "Every gender group is below the privacy threshold of 5 speakers" in text
    assert "Share of speakers by gender per split" not in text
    assert "<p>4 clips of 4 speakers in the splits" in text


def test_import_and_validate_show_progress_on_large_files(tmp_path, capsys, monkeypatch):
    import speech2face.progress

    # as on a terminal with a large file: the bar appears on stderr
    monkeypatch.setattr(speech2face.progress, "_tty", lambda: True)
    monkeypatch.setattr(speech2face.progress, "MIN_ITEMS", 2)
    out = tmp_path / "cv.parquet"
    source = FIXTURES / "commonvoice_new" / "train.tsv"
    main(["import", "commonvoice", str(source), "--audio-root", str(tmp_path), "--out", str(out)])
    assert "finding audio" in capsys.readouterr().err
    manifest = _composition_manifest(tmp_path / "m.csv")
    assert main(["validate", str(manifest)]) == 2  # its audio files do not exist
    assert "checking audio_path" in capsys.readouterr().err
    # below the threshold (or not a terminal): silent
    monkeypatch.setattr(speech2face.progress, "MIN_ITEMS", 10**6)
    main(["validate", str(manifest)])
    assert "checking audio_path" not in capsys.readouterr().err
