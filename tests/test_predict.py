"""``s2f predict``: the predictions table, resumption after a kill, bad input, sharding."""

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from s2f.cli import main
from speech2face.audio import ClipDataset, SpectrogramConfig
from speech2face.craniofacial import CRANIOFACIAL_MEASURES, craniofacial_measures
from speech2face.errors import InputError
from speech2face.models.face_encoder import encode_images
from speech2face.prediction import PredictionSettings, chunk_counts, load_model, predict
from speech2face.prediction import run as run_module
from speech2face.prediction.artifact import ATTRIBUTES, FACES, read_predictions
from speech2face.prediction.model import DIMENSION_MISMATCH
from speech2face.prediction.run import NO_FACE

sys.path.insert(0, str(Path(__file__).parent))
from predict_support import FEATURE_DIM, tiny_corpus, tiny_run

CHUNK = 2
SETTINGS = PredictionSettings(durations=(3.0, 6.0), batch_size=4, chunk_size=CHUNK)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return tiny_corpus(tmp_path_factory.mktemp("predict"))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def reference(corpus, run_dir, tmp_path_factory):
    """An uninterrupted single-process prediction of the whole tiny corpus."""
    torch.set_num_threads(1)
    out = tmp_path_factory.mktemp("reference") / "pred"
    predict(load_model(run_dir), corpus, out, settings=SETTINGS, progress=False)
    return read_predictions(out, mmap=False)


def assert_same_predictions(left, right):
    pd.testing.assert_frame_equal(left.table, right.table)
    assert sorted(left.features) == sorted(right.features)
    for name in left.features:
        np.testing.assert_array_equal(left.features[name], right.features[name], err_msg=name)


def test_one_row_per_clip_and_duration_with_every_column(corpus, reference):
    manifest = pd.read_parquet(corpus)
    table, features = reference.table, reference.features
    assert len(table) == 2 * len(manifest)
    assert list(table["clip_id"]) == list(np.repeat(manifest["clip_id"], 2))
    assert list(table["duration_s"]) == [3.0, 6.0] * len(manifest)
    for column in ("speaker_id", "split", "gender", "gender_source", "age", "language"):
        assert list(table[column]) == list(np.repeat(manifest[column], 2)), column
    assert set(table["model_id"]) == {reference.meta["model_id"]}
    assert (
        features["pred_feature"].shape
        == features["true_feature"].shape
        == (
            len(table),
            FEATURE_DIM,
        )
    )
    classes = reference.meta["classes"]
    for face in FACES:
        for attribute in ATTRIBUTES:
            proba = features[f"{face}_{attribute}_proba"]
            assert proba.shape == (len(table), len(classes[attribute]))
            np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
            if attribute != "age_decade":  # the decade is read from the age in years
                labels = np.asarray(classes[attribute])[proba.argmax(axis=1)]
                assert list(table[f"{face}_{attribute}"]) == list(labels)
        assert table[f"{face}_age_years"].notna().all()
        for measure in CRANIOFACIAL_MEASURES:
            assert np.isfinite(table[f"{face}_cf_{measure}"]).all()
    assert reference.meta["synthetic_faces"] is True
    assert set(table["true_landmarks_source"]) == {"renderer"}


def test_features_match_the_models_applied_independently(corpus, run_dir, reference):
    model = load_model(run_dir)
    manifest = pd.read_parquet(corpus)
    faces = np.stack(
        [
            np.asarray(Image.open(corpus.parent / path).convert("RGB"))
            for path in manifest["face_path"]
        ]
    )
    true = encode_images(model.face_encoder, faces)
    np.testing.assert_allclose(reference.features["true_feature"][::2], true, atol=1e-5)
    for offset, seconds in enumerate((3.0, 6.0)):
        clips = ClipDataset(
            manifest.iloc[:3], base_dir=corpus.parent, config=SpectrogramConfig(duration_s=seconds)
        )
        with torch.no_grad():
            voice = model.voice_encoder(torch.stack([clips[i]["features"] for i in range(3)]))
        np.testing.assert_allclose(
            reference.features["pred_feature"][offset:6:2], voice.numpy(), atol=1e-5
        )
    # the true face's craniofacial measures come from the renderer's landmarks
    points = pd.read_parquet(corpus.parent / "landmarks.parquet")
    first = points[points["speaker_id"] == manifest["speaker_id"].iloc[0]].sort_values("point")
    expected = craniofacial_measures(first[["x", "y"]].to_numpy())
    assert reference.table["true_cf_nose_width"].iloc[0] == pytest.approx(
        expected["nose_width"].iloc[0], rel=1e-5
    )
    # F2F depends on the face only; S2F on the clip and the duration
    one_speaker = reference.table[reference.table["speaker_id"] == manifest["speaker_id"].iloc[0]]
    assert one_speaker["f2f_cf_nose_width"].nunique() == 1
    assert reference.table["s2f_cf_nose_width"].nunique() == len(reference.table)


def _predict_command(corpus, run_dir, out, *extra):
    return [
        "predict", "--model", str(run_dir), "--manifest", str(corpus), "--out", str(out),
        "--batch-size", "4", "--chunk-size", str(CHUNK), "--no-progress", *extra,
    ]  # fmt: skip


def test_resume_after_a_kill_repeats_nothing_and_matches(
    corpus, run_dir, reference, tmp_path, monkeypatch
):
    out = tmp_path / "pred"
    argv = _predict_command(corpus, run_dir, out)
    process = subprocess.Popen(
        [sys.executable, "-m", "s2f", *argv, "--threads", "1"],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while chunk_counts(out) < 3 and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert process.poll() is None, "prediction ended before it could be killed"
        os.killpg(process.pid, signal.SIGKILL)
    finally:
        process.wait()
    killed_at = chunk_counts(out)
    n_chunks = -(-len(pd.read_parquet(corpus)) // CHUNK)
    assert 3 <= killed_at < n_chunks, "the kill must land mid-way"
    kept = {path: path.stat().st_mtime_ns for path in (out / ".chunks").glob("part-*")}
    seen = []
    original = run_module.predict_clips

    def counting(model, chunk, **kwargs):
        seen.append(chunk.rows.index[0])
        return original(model, chunk, **kwargs)

    monkeypatch.setattr(run_module, "predict_clips", counting)
    assert main([*argv, "--resume"]) == 0
    assert len(seen) == n_chunks - len(kept)  # the finished chunks were not computed again
    assert not (out / ".chunks").exists()
    assert_same_predictions(read_predictions(out, mmap=False), reference)


def test_a_bad_clip_names_itself_keeps_earlier_chunks_and_resume_finishes(
    corpus, run_dir, tmp_path
):
    manifest = pd.read_parquet(corpus)
    features_dir = tmp_path / "features"
    features_dir.mkdir()
    rng = np.random.default_rng(0)
    paths = []
    for clip_id in manifest["clip_id"]:
        path = features_dir / f"{clip_id}.npy"
        np.save(path, rng.standard_normal(FEATURE_DIM).astype(np.float32))
        paths.append(str(path))
    copy = manifest.assign(face_feature_path=paths)
    bad_row = 7
    bad = np.load(paths[bad_row])
    bad[3] = np.nan
    np.save(paths[bad_row], bad)
    manifest_path = corpus.parent / "with_features.parquet"
    copy.to_parquet(manifest_path)
    model = load_model(run_dir)
    out = tmp_path / "pred"
    with pytest.raises(
        InputError, match=rf"row {bad_row} \(clip {copy['clip_id'][bad_row]}\).*NaN"
    ):
        predict(model, manifest_path, out, settings=SETTINGS, progress=False)
    assert chunk_counts(out) == 3  # clips 0-5 finished; the chunk of clips 6-7 failed
    with pytest.raises(InputError, match="started with another durations"):
        predict(
            model,
            manifest_path,
            out,
            settings=PredictionSettings(durations=(3.0,), batch_size=4, chunk_size=CHUNK),
            resume=True,
            progress=False,
        )
    np.save(paths[bad_row], np.nan_to_num(bad))
    predict(model, manifest_path, out, settings=SETTINGS, resume=True, progress=False)
    fresh = tmp_path / "fresh"
    predict(model, manifest_path, fresh, settings=SETTINGS, progress=False)
    assert_same_predictions(read_predictions(out, mmap=False), read_predictions(fresh, mmap=False))
    # the precomputed feature is the true feature
    np.testing.assert_array_equal(
        read_predictions(out).features["true_feature"][2 * bad_row], np.nan_to_num(bad)
    )


def test_bad_input_is_one_line_naming_the_problem(corpus, run_dir, tmp_path, capsys):
    manifest = pd.read_parquet(corpus)
    faceless = manifest.assign(face_path=[None] * 3 + list(manifest["face_path"][3:]))
    faceless_path = corpus.parent / "faceless.parquet"
    faceless.to_parquet(faceless_path)
    expected = NO_FACE.format(manifest=faceless_path, row=0, clip_id=manifest["clip_id"][0])
    assert main(_predict_command(faceless_path, run_dir, tmp_path / "p")) == 2
    assert capsys.readouterr().err.strip().endswith(expected)

    corrupt = [tmp_path / f"{clip_id}.npy" for clip_id in manifest["clip_id"]]
    for path in corrupt:
        path.write_text("not a NumPy file")
    corrupt_path = corpus.parent / "corrupt_features.parquet"
    manifest.assign(face_feature_path=[str(path) for path in corrupt]).to_parquet(corrupt_path)
    assert main(_predict_command(corrupt_path, run_dir, tmp_path / "p")) == 2
    err = capsys.readouterr().err
    assert f"row 0 (clip {manifest['clip_id'][0]}): cannot read face feature" in err
    assert len(err.strip().splitlines()) == 1

    mismatched = tiny_run(tmp_path / "mismatched", voice_dim=FEATURE_DIM * 2)
    with pytest.raises(InputError, match=DIMENSION_MISMATCH.split("(")[0].format(run=mismatched)):
        load_model(mismatched)
    old = tiny_run(tmp_path / "old")
    payload = torch.load(old / "checkpoint.pt", weights_only=True)
    torch.save({**payload, "version": "0.0.1"}, old / "checkpoint.pt")
    assert main(_predict_command(corpus, old, tmp_path / "p")) == 2
    err = capsys.readouterr().err
    assert "written by speech2face 0.0.1" in err and len(err.strip().splitlines()) == 1
    stale = tiny_run(tmp_path / "stale") / "face_models" / "face_decoder.pt"
    payload = torch.load(stale, weights_only=True)
    del payload["state_dict"]["mean_texture_logit"]  # a decoder saved before that buffer existed
    torch.save(payload, stale)
    with pytest.raises(InputError, match="do not fit this version's face_decoder"):
        load_model(stale.parent.parent)
    shutil.rmtree(old / "face_models")
    assert main(_predict_command(corpus, old, tmp_path / "p")) == 2
    assert "no face models" in capsys.readouterr().err
    assert main([*_predict_command(corpus, run_dir, tmp_path / "p"), "--durations", "3,x"]) == 2
    assert "--durations must be comma-separated seconds" in capsys.readouterr().err


def test_two_gloo_processes_write_the_single_process_table(corpus, run_dir, reference, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    out = tmp_path / "pred"
    argv = _predict_command(corpus, run_dir, out, "--threads", "1")
    launcher = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "s2f", *argv],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        timeout=300,
    )
    assert launcher.returncode == 0, launcher.stderr.decode()[-2000:]
    assert_same_predictions(read_predictions(out, mmap=False), reference)
