"""generate_corpus: layout, media formats, byte-identical reruns, cache, resume, bad input."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
from PIL import Image

from s2f.cli import main
from s2f.commands.synth import thin_test_groups
from speech2face.errors import InputError
from speech2face.manifest import validate_manifest
from speech2face.synth import corpus
from speech2face.synth.corpus import generate_corpus
from speech2face.synth.presets import ATTRIBUTES, PRESETS
from speech2face.synth.provenance import manifest_faces_synthetic

SMALL = {
    "speakers": 12,
    "clips_per_speaker": 2,
    "renders_per_speaker": 2,
    "seed": 3,
    "imbalance": "paper_like",
    "test_fraction": 0.5,
    "val_fraction": 0.0,
    "progress": False,
}


def tree_hashes(folder: Path) -> dict[str, str]:
    """SHA-256 of every file under ``folder``, by relative path."""
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "corpus"
    manifest = generate_corpus(out, workers=1, **SMALL)
    return out, manifest


def test_layout_and_manifest_columns(small_corpus):
    out, manifest_path = small_corpus
    assert manifest_path == out / "manifest.parquet"
    manifest = pd.read_parquet(manifest_path)
    assert len(manifest) == 12 * 2
    assert manifest["clip_id"].is_unique
    for column in ("age", "age_group", "gender", "ethnicity", "language"):
        assert (manifest[f"{column}_source"] == "synthetic").all()
    assert set(manifest["split"]) == {"train", "test"}
    assert manifest.groupby("speaker_id")["split"].nunique().max() == 1
    assert not any(Path(path).is_absolute() for path in manifest["audio_path"])
    assert (manifest["face_path"] == "faces/canonical/" + manifest["speaker_id"] + ".png").all()
    assert validate_manifest(manifest, source=manifest_path, base_dir=out) == []
    assert not [p.name for p in out.parent.iterdir() if p.name.startswith(".")]


def test_audio_is_16khz_mono_between_3_and_8_seconds(small_corpus):
    out, manifest_path = small_corpus
    manifest = pd.read_parquet(manifest_path)
    for row in manifest.itertuples():
        audio, rate = sf.read(out / row.audio_path, dtype="float32")
        assert rate == 16000
        assert audio.ndim == 1
        assert 3.0 <= len(audio) / rate <= 8.0
        assert len(audio) / rate == pytest.approx(row.duration_s)
        assert np.abs(audio).max() > 0.05


def test_faces_renders_landmarks_and_ground_truth(small_corpus):
    out, manifest_path = small_corpus
    speakers = pd.read_parquet(out / "speakers.parquet")
    assert len(speakers) == 12
    assert any(column.startswith("face_") for column in speakers)
    assert any(column.startswith("voice_") for column in speakers)
    for speaker_id in speakers["speaker_id"]:
        image = Image.open(out / "faces" / "canonical" / f"{speaker_id}.png")
        assert image.size == (64, 64)
    renders = pd.read_parquet(out / "renders.parquet")
    assert len(renders) == 12 * 2
    assert all((out / path).is_file() for path in renders["path"])
    assert renders.shape[1] > 2  # variation parameters
    landmarks = pd.read_parquet(out / "landmarks.parquet")
    assert landmarks.groupby("speaker_id").size().eq(68).all()
    assert landmarks[["x", "y"]].to_numpy().min() >= 0
    assert landmarks[["x", "y"]].to_numpy().max() <= 64

    truth = json.loads((out / "ground_truth.json").read_text())
    assert truth["seed"] == 3
    assert truth["generator_version"] == corpus.GENERATOR_VERSION
    faces = sorted(p.relative_to(out).as_posix() for p in (out / "faces").rglob("*.png"))
    assert sorted(truth["faces"]) == faces and len(faces) == len(speakers) + len(renders)
    manifest = out / "manifest.parquet"
    assert manifest_faces_synthetic(manifest)  # every face recorded, byte for byte
    assert truth["settings"]["imbalance"]["name"] == "paper_like"
    train = speakers[speakers["split"] == "train"]
    assert truth["counts"]["train"]["gender"] == train["gender"].value_counts().to_dict()

    manifest = pd.read_parquet(manifest_path)
    labels = manifest.merge(speakers, on="speaker_id", suffixes=("", "_truth"))
    assert (labels["gender"] == labels["gender_label"]).all()
    assert (labels["ethnicity"] == labels["ethnicity_label"]).all()


def test_train_split_of_the_manifest_follows_the_requested_imbalance(small_corpus):
    _, manifest_path = small_corpus
    speakers = pd.read_parquet(manifest_path).drop_duplicates("speaker_id")
    train = speakers[speakers["split"] == "train"]
    spec = PRESETS["paper_like"]
    for attribute in ATTRIBUTES:
        counts = train[attribute].value_counts()
        for group, share in spec.train_shares[attribute].items():
            assert abs(counts.get(group, 0) - share * len(train)) < 1, (attribute, group)


def test_same_seed_gives_a_byte_identical_corpus_with_any_worker_count(small_corpus, tmp_path):
    out, _ = small_corpus
    again = generate_corpus(tmp_path / "again", workers=2, **SMALL).parent
    assert tree_hashes(again) == tree_hashes(out)
    other = generate_corpus(tmp_path / "other", workers=1, **{**SMALL, "seed": 4}).parent
    assert tree_hashes(other) != tree_hashes(out)


def test_second_call_with_same_settings_returns_the_cached_corpus(small_corpus, monkeypatch):
    out, manifest_path = small_corpus
    before = tree_hashes(out)
    stamp = (out / "ground_truth.json").stat().st_mtime_ns

    def must_not_render(job):
        raise AssertionError("the cached corpus was regenerated")

    monkeypatch.setattr(corpus, "render_speaker", must_not_render)
    assert generate_corpus(out, workers=1, **SMALL) == manifest_path
    assert (out / "ground_truth.json").stat().st_mtime_ns == stamp
    assert tree_hashes(out) == before


def test_interrupted_generation_leaves_no_corpus_and_resumes(small_corpus, tmp_path, monkeypatch):
    out, _ = small_corpus
    target = tmp_path / "resumed"
    rendered = []
    real_render = corpus.render_speaker

    def interrupted_after_five(job):
        if len(rendered) == 5:
            raise KeyboardInterrupt
        rendered.append(job.speaker["speaker_id"])
        return real_render(job)

    monkeypatch.setattr(corpus, "render_speaker", interrupted_after_five)
    with pytest.raises(KeyboardInterrupt):
        generate_corpus(target, workers=1, **SMALL)
    assert not target.exists()

    resumed = []

    def counting(job):
        resumed.append(job.speaker["speaker_id"])
        return real_render(job)

    monkeypatch.setattr(corpus, "render_speaker", counting)
    generate_corpus(target, workers=1, **SMALL)
    assert len(resumed) == 12 - 5
    assert not set(resumed) & set(rendered)
    assert tree_hashes(target) == tree_hashes(out)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_new_settings_replace_an_old_corpus_but_never_a_foreign_folder(tmp_path):
    target = tmp_path / "corpus"
    settings = {**SMALL, "speakers": 8, "clips_per_speaker": 1, "renders_per_speaker": 0}
    settings["test_fraction"] = 0.75
    generate_corpus(target, workers=1, **settings)
    generate_corpus(target, workers=1, **{**settings, "imbalance": "balanced"})
    truth = json.loads((target / "ground_truth.json").read_text())
    assert truth["settings"]["imbalance"]["name"] == "balanced"

    foreign = tmp_path / "photos"
    foreign.mkdir()
    (foreign / "holiday.jpg").write_bytes(b"not yours")
    with pytest.raises(InputError, match="not a corpus written by s2f"):
        generate_corpus(foreign, workers=1, **settings)
    assert [p.name for p in foreign.iterdir()] == ["holiday.jpg"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--imbalance", "tilted"], "unknown --imbalance preset 'tilted'"),
        (["--speakers", "0"], "--speakers must be a positive integer"),
        (["--speakers", "8", "--test-fraction", "0.5"], "cannot hold one speaker of each"),
        (["--test-fraction", "1.2"], "--test-fraction 1.2"),
        (["--unheard-languages", "sw,xx"], "unknown language 'xx'"),
    ],
)
def test_cli_rejects_bad_input_in_one_line_before_writing(tmp_path, capsys, arguments, message):
    out = tmp_path / "corpus"
    status = main(["synth", "--out", str(out), *arguments])
    error = capsys.readouterr().err
    assert status == 2
    assert message in error
    assert error.count("\n") == 1
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_cli_rejects_a_config_with_an_empty_test_cell(tmp_path, capsys):
    config = tmp_path / "bias.json"
    config.write_text(json.dumps({"test": {"gender": {"female": 1.0, "male": 0.0}}}))
    status = main(["synth", "--out", str(tmp_path / "corpus"), "--imbalance", str(config)])
    assert status == 2
    assert "'male' would be empty in the test split" in capsys.readouterr().err
    assert not (tmp_path / "corpus").exists()


def test_cli_generates_a_noisy_label_corpus_with_large_faces(tmp_path, capsys):
    """Also holds a language out of training (``--unheard-languages``) as the demo does."""
    out = tmp_path / "corpus"
    config = tmp_path / "noisy.json"
    config.write_text(json.dumps({"label_noise": {"ethnicity": {"group_a": 1.0}}}))
    arguments = ["--speakers", "8", "--clips-per-speaker", "1", "--renders-per-speaker", "0"]
    arguments += ["--test-fraction", "0.75", "--workers", "1", "--face-size", "128"]
    arguments += ["--unheard-languages", " cmn ,"]  # moves the val speaker of cmn
    status = main(["synth", "--out", str(out), *arguments, "--imbalance", str(config)])
    assert status == 0
    printed = capsys.readouterr()
    assert printed.out.strip() == str(out / "manifest.parquet")
    note = printed.err.splitlines()[-1]
    assert note.startswith("note: test-split groups with fewer than 30 speakers")
    assert "gender=female (4), gender=male (3)" in note  # 6 test speakers + the moved one
    manifest = pd.read_parquet(out / "manifest.parquet")
    assert len(manifest) == 8
    assert Image.open(out / manifest["face_path"][0]).size == (128, 128)
    speakers = pd.read_parquet(out / "speakers.parquet").set_index("speaker_id")
    truth = speakers.loc[manifest["speaker_id"], "ethnicity"].to_numpy()
    assert (truth == "group_a").sum() > 0
    assert not (manifest["ethnicity"][truth == "group_a"] == "group_a").any()
    assert (manifest["ethnicity"][truth != "group_a"] == truth[truth != "group_a"]).all()
    held = speakers["language"] == "cmn"
    assert held.any() and (speakers.loc[held, "split"] == "test").all()
    settings = json.loads((out / "ground_truth.json").read_text())["settings"]
    assert settings["unheard_languages"] == ["cmn"]


def test_thin_test_groups_lists_demographic_groups_below_the_minimum(tmp_path):
    truth = tmp_path / "ground_truth.json"
    counts = {
        "gender": {"female": 60, "male": 60},
        "age_group": {"20-29": 20, "30-39": 31},
        "language_mismatch": {"True": 3},
    }
    truth.write_text(json.dumps({"counts": {"test": counts, "train": {"gender": {"male": 1}}}}))
    assert thin_test_groups(truth) == ["age_group=20-29 (20)"]
    assert thin_test_groups(truth, min_speakers=61) == [
        "age_group=20-29 (20)",
        "age_group=30-39 (31)",
        "gender=female (60)",
        "gender=male (60)",
    ]
