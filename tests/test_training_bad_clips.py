"""``s2f train --skip-bad-clips``: real broken audio files left out of training and listed."""

import json
import re
import sys
from pathlib import Path

import pandas as pd
import torch

from speech2face.audio import SpectrogramConfig
from speech2face.audio.io import load_audio
from speech2face.errors import InputError
from speech2face.training.driver import SKIPPED_FILE, skip_bad_clips
from speech2face.training.face_targets import face_models_stack, load_targets

sys.path.insert(0, str(Path(__file__).parent))
import test_training_command
from test_training_command import train, write_corpus

face_models = test_training_command.face_models  # the module-scoped fixture

# clip → how its file is broken: two train clips and one val clip (speaker s2 is val)
BROKEN = {"s0_1": "truncated", "s1_2": "text", "s2_0": "truncated"}


def reason_of(path):
    try:
        load_audio(path)
    except InputError as error:
        return str(error)
    raise AssertionError(f"{path} decoded")


def broken_corpus(root):
    """3 speakers × 4 one-second clips; three of the WAV files broken in place."""
    manifest = write_corpus(root, speakers=3, clips_per_speaker=4)
    for clip, kind in BROKEN.items():
        path = root / "audio" / f"{clip}.wav"
        if kind == "truncated":
            path.write_bytes(path.read_bytes()[:2000])
        else:
            path.write_text("this is a text file, not audio\n")
    expected = pd.DataFrame(
        {
            "clip_id": list(BROKEN),
            "path": [str(root / "audio" / f"{clip}.wav") for clip in BROKEN],
            "reason": [reason_of(root / "audio" / f"{clip}.wav") for clip in BROKEN],
        }
    )
    return manifest, expected


def read_skipped(run):
    return pd.read_csv(run / SKIPPED_FILE, dtype=str, keep_default_na=False)


def _without_size_warnings(err: str) -> list[str]:
    """stderr's lines without the warnings of a tiny test corpus (few speakers, no val)."""
    return [line for line in err.strip().splitlines() if not line.startswith(SIZE_WARNINGS)]


SIZE_WARNINGS = ("s2f train: warning: training on", "s2f train: warning: no val speakers")


def test_training_leaves_out_and_lists_the_bad_clips(tmp_path, face_models, capsys):
    torch.set_num_threads(1)
    manifest, expected = broken_corpus(tmp_path)
    assert expected["reason"][0].startswith(f"{expected['path'][0]}: audio file is truncated")
    assert expected["reason"][1].startswith(f"{expected['path'][1]}: not a readable audio file")
    run = tmp_path / "run"
    assert train(manifest, run, face_models, "--steps", "2", "--skip-bad-clips") == 0
    captured = capsys.readouterr()
    assert _without_size_warnings(captured.err) == [
        f"skipped 3 clip(s) whose audio cannot be decoded; listed in {run / SKIPPED_FILE}"
    ]
    summary = json.loads(captured.out.strip().splitlines()[-1])
    assert summary["step"] == 2 and summary["skipped_clips"] == 3
    pd.testing.assert_frame_equal(read_skipped(run), expected)
    # a resumed run scans again and lists each clip once
    args = ("--steps", "4", "--skip-bad-clips", "--resume")
    assert train(manifest, run, face_models, *args) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["step"] == 4
    pd.testing.assert_frame_equal(read_skipped(run), expected)


def test_the_kept_pairs_are_the_good_clips_with_their_targets(tmp_path, face_models):
    manifest, expected = broken_corpus(tmp_path)
    data = load_targets(
        manifest,
        stack=face_models_stack(face_models),
        spectrogram_config=SpectrogramConfig(duration_s=1.0),
    )
    kept, skipped = skip_bad_clips(data, run_dir=tmp_path / "run", workers=1)  # in a worker
    assert [clip.clip_id for clip in skipped] == list(BROKEN)
    for split, pairs in (("train", data.train), ("val", data.val)):
        ids = list(pairs.rows["clip_id"])
        good = [i for i, clip in enumerate(ids) if clip not in BROKEN]
        subset = getattr(kept, split)
        assert list(subset.rows["clip_id"]) == [ids[i] for i in good]
        torch.testing.assert_close(subset.face_features, pairs.face_features[good])
        assert all(subset[i][0] == ids[j] for i, j in enumerate(good))  # every item decodes
    pd.testing.assert_frame_equal(read_skipped(tmp_path / "run"), expected)


def test_without_the_flag_a_bad_clip_stops_training(tmp_path, face_models, capsys):
    manifest, _ = broken_corpus(tmp_path)
    assert train(manifest, tmp_path / "run", face_models, "--steps", "2") == 2
    lines = _without_size_warnings(capsys.readouterr().err)
    assert len(lines) == 1
    err = lines[0]
    clips = "|".join(BROKEN)
    pattern = rf"manifest row \d+ \(clip_id ({clips})\): {re.escape(str(tmp_path))}/audio/"
    assert re.search(pattern, err), err
    assert not (tmp_path / "run" / SKIPPED_FILE).exists()


def test_a_missing_audio_file_stays_a_manifest_error(tmp_path, face_models, capsys):
    manifest = write_corpus(tmp_path, speakers=3, clips_per_speaker=2)
    (tmp_path / "audio" / "s1_1.wav").unlink()
    assert train(manifest, tmp_path / "run", face_models, "--skip-bad-clips") == 2
    err = capsys.readouterr().err.strip()
    missing = tmp_path / "audio" / "s1_1.wav"
    assert err.endswith(f"{manifest}:row 3:column audio_path: file {missing} does not exist")
    assert len(err.splitlines()) == 1


def test_a_run_whose_train_clips_are_all_bad_is_one_line(tmp_path, face_models, capsys):
    manifest = write_corpus(tmp_path, speakers=2, clips_per_speaker=2)
    for clip in ("s0_0", "s0_1"):
        (tmp_path / "audio" / f"{clip}.wav").write_text("not audio")
    assert train(manifest, tmp_path / "run", face_models, "--skip-bad-clips") == 2
    err = _without_size_warnings(capsys.readouterr().err)
    assert err[0].startswith("skipped 2 clip(s)") and len(err) == 2
    assert err[1].endswith("0 training clips are fewer than one batch of 4")
    assert len(read_skipped(tmp_path / "run")) == 2
