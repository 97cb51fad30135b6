"""``s2f predict --skip-bad-clips``: real broken audio files left out, listed once, merged."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from s2f.cli import main
from speech2face.audio.io import CORRUPT_FILE, MISSING_FILE, TRUNCATED_FILE, load_audio
from speech2face.errors import InputError
from speech2face.prediction import PredictionSettings, chunk_counts, load_model, predict
from speech2face.prediction.artifact import read_predictions
from speech2face.prediction.run import ALL_SKIPPED, SKIPPED_FILE

sys.path.insert(0, str(Path(__file__).parent))
from predict_support import tiny_corpus, tiny_run

CHUNK = 2
SETTINGS = PredictionSettings(
    durations=(3.0, 6.0), batch_size=4, chunk_size=CHUNK, skip_bad_clips=True
)
# row → how its audio is broken; rows 6 and 7 make up a whole chunk of bad clips
BROKEN = {1: "truncated", 6: "text", 7: "missing"}


def reason_of(path):
    try:
        load_audio(path)
    except InputError as error:
        return str(error)
    raise AssertionError(f"{path} decoded")


@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """A tiny corpus whose manifest points three clips at a broken file (absolute paths)."""
    root = tmp_path_factory.mktemp("bad_clips")
    corpus = tiny_corpus(root)
    manifest = pd.read_parquet(corpus)
    files = root / "broken"
    files.mkdir()
    good_wav = (corpus.parent / manifest["audio_path"][1]).read_bytes()
    (files / "truncated.wav").write_bytes(good_wav[: len(good_wav) // 2])
    (files / "text.wav").write_text("this is a text file, not audio\n")
    paths = list(manifest["audio_path"])
    for row, kind in BROKEN.items():
        paths[row] = str(files / f"{kind}.wav")  # missing.wav is never written
    manifest["audio_path"] = paths
    path = corpus.parent / "broken.parquet"
    manifest.to_parquet(path)
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return tiny_run(tmp_path_factory.mktemp("run") / "run")


@pytest.fixture(scope="module")
def expected_skipped(broken):
    manifest = pd.read_parquet(broken)
    return pd.DataFrame(
        {
            "clip_id": [manifest["clip_id"][row] for row in BROKEN],
            "path": [manifest["audio_path"][row] for row in BROKEN],
            "reason": [reason_of(manifest["audio_path"][row]) for row in BROKEN],
        }
    )


def command(manifest, run_dir, out, *extra):
    return [
        "predict", "--model", str(run_dir), "--manifest", str(manifest), "--out", str(out),
        "--batch-size", "4", "--chunk-size", str(CHUNK), "--no-progress", *extra,
    ]  # fmt: skip


def read_skipped(out):
    return pd.read_csv(out / SKIPPED_FILE, dtype=str, keep_default_na=False)


def test_the_reasons_are_the_front_ends_one_line_errors(expected_skipped):
    truncated, text, missing = expected_skipped["path"]
    reasons = list(expected_skipped["reason"])
    detail = r"header declares \d+ data bytes, file holds \d+"
    assert re.fullmatch(
        re.escape(TRUNCATED_FILE.split("(")[0].format(path=truncated)) + rf"\({detail}\)",
        reasons[0],
    )
    assert reasons[1].startswith(CORRUPT_FILE.split("{detail}")[0].format(path=text))
    assert reasons[2] == MISSING_FILE.format(path=missing)


def test_bad_clips_get_no_rows_and_are_listed(broken, run_dir, expected_skipped, tmp_path, capsys):
    torch.set_num_threads(1)
    out = tmp_path / "pred"
    assert main(command(broken, run_dir, out, "--skip-bad-clips")) == 0
    captured = capsys.readouterr()
    assert captured.err.strip() == (
        f"skipped 3 clip(s) whose audio cannot be decoded; listed in {out / SKIPPED_FILE}"
    )
    assert json.loads(captured.out.strip().splitlines()[-1])["skipped_clips"] == 3
    pd.testing.assert_frame_equal(read_skipped(out), expected_skipped)

    predictions = read_predictions(out, mmap=False)
    manifest = pd.read_parquet(broken)
    good = manifest.drop(index=list(BROKEN))
    assert list(predictions.table["clip_id"]) == list(np.repeat(good["clip_id"], 2))
    assert list(predictions.table["duration_s"]) == [3.0, 6.0] * len(good)
    for name, matrix in predictions.features.items():
        assert len(matrix) == len(predictions.table), name
    assert predictions.meta["skipped_clips"] == 3
    assert predictions.meta["signature"]["skip_bad_clips"] is True

    # the good clips' predictions are those of a manifest without the bad rows
    clean_path = broken.parent / "clean.parquet"
    good.reset_index(drop=True).to_parquet(clean_path)
    clean = tmp_path / "clean"
    predict(load_model(run_dir), clean_path, clean, settings=SETTINGS, progress=False)
    assert read_skipped(clean).empty
    reference = read_predictions(clean, mmap=False)
    pd.testing.assert_series_equal(predictions.table["clip_id"], reference.table["clip_id"])
    np.testing.assert_allclose(
        predictions.features["pred_feature"], reference.features["pred_feature"], atol=1e-5
    )


def test_without_the_flag_the_first_bad_clip_stops_the_run(broken, run_dir, tmp_path, capsys):
    manifest = pd.read_parquet(broken)
    # a missing file is a manifest error, found before anything runs
    assert main(command(broken, run_dir, tmp_path / "pred")) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith(
        f"{broken}:row 7:column audio_path: file {manifest['audio_path'][7]} does not exist"
    )
    assert len(err.splitlines()) == 1
    # an undecodable file stops the run at its chunk, naming row, clip and file
    present = broken.parent / "present.parquet"
    manifest.drop(index=7).to_parquet(present)
    assert main(command(present, run_dir, tmp_path / "pred")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert (
        f"{present}: row 1 (clip {manifest['clip_id'][1]}): "
        f"{manifest['audio_path'][1]}: audio file is truncated (header declares" in err
    )
    assert chunk_counts(tmp_path / "pred") == 0
    assert not (tmp_path / "pred" / SKIPPED_FILE).exists()


def test_resume_lists_each_skipped_clip_once(broken, run_dir, expected_skipped, tmp_path):
    """A chunk that fails for another reason stops the run; the resumed run lists each clip once."""
    manifest = pd.read_parquet(broken)
    face = broken.parent / manifest["face_path"][8]
    original = face.read_bytes()
    face.write_text("not an image")  # rows 8-9 (one speaker, one chunk) fail
    model = load_model(run_dir)
    out = tmp_path / "pred"
    try:
        with pytest.raises(InputError, match=r"row 8 .*cannot read face image"):
            predict(model, broken, out, settings=SETTINGS, progress=False)
    finally:
        face.write_bytes(original)
    assert chunk_counts(out) == 4  # rows 0-7: chunk 3 is the one whose clips were all bad
    # as if killed after chunk 0 listed its skipped clip but before the chunk was written
    shutil.rmtree(out / ".chunks" / "part-000000")
    predict(model, broken, out, settings=SETTINGS, resume=True, progress=False)
    pd.testing.assert_frame_equal(read_skipped(out), expected_skipped)
    fresh = tmp_path / "fresh"
    predict(model, broken, fresh, settings=SETTINGS, progress=False)
    resumed, single = read_predictions(out, mmap=False), read_predictions(fresh, mmap=False)
    pd.testing.assert_frame_equal(resumed.table, single.table)
    for name in single.features:
        np.testing.assert_array_equal(resumed.features[name], single.features[name])
    # a finished run resumed again is left as it is, list included
    predict(model, broken, out, settings=SETTINGS, resume=True, progress=False)
    pd.testing.assert_frame_equal(read_skipped(out), expected_skipped)
    # killed after the merge but before the list was written: resuming predicts again
    (out / SKIPPED_FILE).unlink()
    predict(model, broken, out, settings=SETTINGS, resume=True, progress=False)
    pd.testing.assert_frame_equal(read_skipped(out), expected_skipped)
    pd.testing.assert_frame_equal(read_predictions(out, mmap=False).table, single.table)


def test_a_manifest_of_only_bad_clips_is_one_line(broken, run_dir, tmp_path):
    only_bad = broken.parent / "only_bad.parquet"
    pd.read_parquet(broken).iloc[[6, 7]].to_parquet(only_bad)
    out = tmp_path / "pred"
    with pytest.raises(InputError) as raised:
        predict(load_model(run_dir), only_bad, out, settings=SETTINGS, progress=False)
    expected = ALL_SKIPPED.format(manifest=only_bad, n=2, listed=out / SKIPPED_FILE)
    assert str(raised.value) == expected
    assert len(read_skipped(out)) == 2


def test_two_gloo_processes_merge_the_skipped_clips(broken, run_dir, expected_skipped, tmp_path):
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    out = tmp_path / "pred"
    argv = command(broken, run_dir, out, "--skip-bad-clips", "--threads", "1")
    launcher = subprocess.run(
        [torchrun, "--standalone", "--nproc-per-node", "2", "-m", "s2f", *argv],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        timeout=300,
    )
    assert launcher.returncode == 0, launcher.stderr.decode()[-2000:]
    pd.testing.assert_frame_equal(read_skipped(out), expected_skipped)
    fresh = tmp_path / "fresh"
    predict(load_model(run_dir), broken, fresh, settings=SETTINGS, progress=False)
    merged, single = read_predictions(out, mmap=False), read_predictions(fresh, mmap=False)
    pd.testing.assert_frame_equal(merged.table, single.table)
    np.testing.assert_array_equal(merged.features["pred_feature"], single.features["pred_feature"])
