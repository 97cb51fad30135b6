"""`s2f faces` on videos: frames sampled, analysed and cached; needs speech2face-audit[faces].

The videos are real portraits (tests/backend_fixtures.py) encoded with PyAV (H.264, 320×240,
5 frames per second): two seconds of Obama, two of Biden, two of blank grey.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import speech2face.backends.face_inputs as face_inputs_module
from s2f.cli import main
from speech2face.backends.face_inputs import face_inputs, load_pixels
from speech2face.backends.face_table import build_faces_table, parts_dir, read_faces
from speech2face.backends.photo_faces import FaceAnalysis, FaceAnalyzer, load_rgb
from speech2face.backends.video import VideoSampling, sample_frames
from speech2face.errors import InputError
from tests.backend_fixtures import CountingAnalyzer, encode_video, portrait_dir

SAME_PERSON = 0.45
OTHER_PERSON = 0.6


@pytest.fixture(scope="module")
def analyzer() -> FaceAnalyzer:
    return FaceAnalyzer()


@pytest.fixture(scope="module")
def portraits() -> dict[str, np.ndarray]:
    return {name: load_rgb(portrait_dir() / f"{name}.jpg") for name in ("obama", "biden")}


@pytest.fixture(scope="module")
def stills(analyzer, portraits) -> dict[str, FaceAnalysis]:
    return dict(zip(portraits, analyzer.analyze(list(portraits.values())), strict=True))


@pytest.fixture(scope="module")
def video(tmp_path_factory, portraits) -> Path:
    path = tmp_path_factory.mktemp("video") / "obama_biden_blank.mp4"
    return encode_video(path, [(portraits["obama"], 2), (portraits["biden"], 2), (None, 2)])


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def test_one_frame_per_second_by_default(video):
    frames = sample_frames(video, VideoSampling())
    assert [frame.index for frame in frames] == [0, 5, 10, 15, 20, 25]
    assert [frame.time_s for frame in frames] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]


@pytest.mark.parametrize(
    ("fps", "max_frames", "indices"),
    [
        # the first frame at or after each half second: 0.0, 0.6, 1.0, 1.6, ...
        (2, None, [0, 3, 5, 8, 10, 13, 15, 18, 20, 23, 25, 28]),
        (2, 4, [0, 10, 18, 28]),  # 4 of those 12, evenly spaced
        (0.25, None, [0, 20]),
        (30, None, list(range(30))),  # above the video's own 5 fps: every frame
    ],
)
def test_sampling_rate_and_cap(video, fps, max_frames, indices):
    frames = sample_frames(video, VideoSampling(fps=fps, max_frames=max_frames))
    assert [frame.index for frame in frames] == indices
    assert [frame.time_s for frame in frames] == pytest.approx([i / 5 for i in indices])


def test_bad_sampling_is_one_line():
    with pytest.raises(InputError, match=r"--video-fps must be a positive number"):
        VideoSampling(fps=0)
    with pytest.raises(InputError, match=r"--max-frames-per-video must be at least 1"):
        VideoSampling(max_frames=0)


def test_frames_are_rows_near_the_still_portraits(tmp_path, video, stills, capsys):
    out = tmp_path / "faces.parquet"
    biden = portrait_dir() / "biden.jpg"
    assert main(["faces", str(video), str(biden), "--out", str(out)]) == 0
    summary = capsys.readouterr().out.strip()
    assert summary == f"{out}: 1 image, 6 frames of 1 video (5 ok, 2 no_face)"
    table, descriptors = read_faces(out)
    assert list(table["image_path"]) == [str(video)] * 6 + [str(biden)]
    assert list(table["frame_index"]) == [0, 5, 10, 15, 20, 25, -1]
    assert list(table["frame_time_s"][:6]) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert np.isnan(table["frame_time_s"].iloc[6])
    assert list(table["status"]) == ["ok"] * 4 + ["no_face"] * 2 + ["ok"]
    for row, same, other in ((0, "obama", "biden"), (1, "obama", "biden"), (2, "biden", "obama")):
        assert distance(descriptors[row], stills[same].descriptor) < SAME_PERSON
        assert distance(descriptors[row], stills[other].descriptor) > OTHER_PERSON
    assert distance(descriptors[3], descriptors[6]) < SAME_PERSON  # a frame and the still image
    assert np.isnan(descriptors[4:6]).all() and table["gender"][4:6].isna().all()
    boxes = table.loc[:3, ["box_left", "box_top", "box_right", "box_bottom"]].to_numpy()
    assert (boxes >= -20).all() and (boxes[:, [0, 2]] <= 340).all() and (boxes[:, 3] <= 260).all()


def test_an_unchanged_video_is_neither_decoded_nor_analysed_again(
    tmp_path, video, analyzer, monkeypatch
):
    out = tmp_path / "faces.parquet"
    first = build_faces_table(face_inputs([video]), analyzer=analyzer, out=out)
    decoded = []
    real_decode = face_inputs_module.decode_frames

    def recording_decode(path, stamps):
        decoded.append(path)
        return real_decode(path, stamps)

    monkeypatch.setattr(face_inputs_module, "decode_frames", recording_decode)
    counting = CountingAnalyzer(analyzer)
    again = build_faces_table(face_inputs([video]), analyzer=counting, out=out)
    assert (counting.images_seen, decoded) == (0, [])
    pd.testing.assert_frame_equal(again, first)

    # twice the rate: 12 frames, 6 of them already analysed on the one-per-second grid
    denser = build_faces_table(
        face_inputs([video], sampling=VideoSampling(fps=2)), analyzer=counting, out=out
    )
    assert (counting.images_seen, decoded) == (6, [video])
    assert len(denser) == 12
    shared = denser[denser["frame_index"].isin(first["frame_index"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(shared, first)


class StopsAfterOneBatch(CountingAnalyzer):
    """Analyses one batch, then is interrupted (as by Ctrl-C) at the next."""

    def analyze(self, images):
        if self.images_seen:
            raise KeyboardInterrupt
        return super().analyze(images)


def test_an_interrupted_video_run_resumes_from_its_parts(tmp_path, video, analyzer):
    out = tmp_path / "faces.parquet"
    with pytest.raises(KeyboardInterrupt):
        build_faces_table(
            face_inputs([video]), analyzer=StopsAfterOneBatch(analyzer), out=out, batch_size=2
        )
    (part,) = parts_dir(out).glob("part-*.parquet")
    assert list(read_faces(part)[0]["frame_index"]) == [0, 5] and not out.exists()
    counting = CountingAnalyzer(analyzer)
    table = build_faces_table(face_inputs([video]), analyzer=counting, out=out, batch_size=2)
    assert counting.images_seen == 4
    assert list(table["frame_index"]) == [0, 5, 10, 15, 20, 25]
    assert list(table["status"]) == ["ok"] * 4 + ["no_face"] * 2
    assert not parts_dir(out).exists()


def test_a_portrait_phone_video_is_turned_upright(tmp_path, analyzer, portraits, stills):
    import av

    path = encode_video(tmp_path / "phone.mov", [(portraits["obama"], 1)], rotation=90)
    with av.open(str(path)) as container:
        stored = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert stored.shape == (320, 240, 3) and not analyzer.detect(stored)  # sideways: no face
    inputs = face_inputs([path])
    assert [item.frame_index for item in inputs] == [0]
    (pixels,) = load_pixels(inputs)
    assert pixels.shape == (240, 320, 3)
    (result,) = analyzer.analyze([pixels])
    assert result.status == "ok"
    assert distance(result.descriptor, stills["obama"].descriptor) < SAME_PERSON


def test_undecodable_videos_are_unreadable_rows(tmp_path, video, capsys):
    folder = tmp_path / "media"
    (folder / "clips").mkdir(parents=True)
    data = video.read_bytes()
    (folder / "clips" / "good.mp4").write_bytes(data)
    (folder / "broken.mp4").write_bytes(b"\x00not a video" * 100)
    (folder / "empty.mkv").write_bytes(b"")
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 2])  # its index is at the end
    (folder / "notes.txt").write_text("not media")
    out = tmp_path / "faces.parquet"
    assert main(["faces", str(folder), "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == (
        f"{out}: 6 frames of 4 videos (4 ok, 3 unreadable, 2 no_face)"
    )
    table, _ = read_faces(out)
    names = [Path(path).relative_to(folder).as_posix() for path in table["image_path"]]
    assert names == ["broken.mp4", *["clips/good.mp4"] * 6, "empty.mkv", "truncated.mp4"]
    ok = ["ok"] * 4
    assert list(table["status"]) == ["unreadable", *ok, "no_face", "no_face", *["unreadable"] * 2]
    assert list(table["frame_index"]) == [-1, 0, 5, 10, 15, 20, 25, -1, -1]


def test_a_frame_that_fails_to_decode_is_an_unreadable_row(tmp_path, video, analyzer):
    import av

    with av.open(str(video)) as container:
        packets = sorted((p.pts, p.pos, p.size) for p in container.demux(video=0) if p.size)
    _, position, size = packets[10]  # the first frame of Biden, at 2 s
    data = bytearray(video.read_bytes())
    data[position : position + size] = b"\xff" * size
    damaged = tmp_path / "damaged.mp4"
    damaged.write_bytes(bytes(data))
    table = build_faces_table(face_inputs([damaged]), analyzer=analyzer, out=tmp_path / "f.parquet")
    assert list(table["frame_index"]) == [0, 5, 10, 15, 20, 25]  # planned from the packets
    assert list(table["status"][:3]) == ["ok", "ok", "unreadable"]  # decoding went on past it


def test_a_manifest_face_path_naming_a_video_takes_its_first_frame_with_a_face(
    tmp_path, analyzer, portraits
):
    path = encode_video(tmp_path / "clip.webm", [(None, 1), (portraits["obama"], 1)], codec="vp8")
    faces = tmp_path / "faces.parquet"
    table = build_faces_table(face_inputs([path]), analyzer=analyzer, out=faces)
    assert list(zip(table["frame_index"], table["status"], strict=True)) == [
        (0, "no_face"),
        (5, "ok"),
    ]
    manifest = tmp_path / "manifest.csv"
    pd.DataFrame(
        {"clip_id": ["a"], "speaker_id": ["s"], "audio_path": ["a.wav"], "face_path": [path.name]}
    ).to_csv(manifest, index=False)
    (tmp_path / "a.wav").write_bytes(b"")
    out = tmp_path / "with_features.parquet"
    argv = ["face-features", "--manifest", manifest, "--faces", faces, "--out", out]
    assert main([str(arg) for arg in argv]) == 0
    feature_path = pd.read_parquet(out)["face_feature_path"].iloc[0]
    assert feature_path.endswith(f"{table['content_sha256'].iloc[1]}-5.npy")
    np.testing.assert_array_equal(np.load(tmp_path / feature_path), table["descriptor"].iloc[1])


def test_missing_av_is_one_line(monkeypatch, tmp_path, video, capsys):
    monkeypatch.setitem(sys.modules, "av", None)
    assert main(["faces", str(video), "--out", str(tmp_path / "f.parquet")]) == 2
    assert capsys.readouterr().err.strip() == (
        "s2f faces: error: video input needs 'av': install speech2face-audit[faces]"
    )
