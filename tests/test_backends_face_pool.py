"""`s2f faces --workers N`: a process pool writes the table one process writes; needs [faces]."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from s2f.cli import main
from speech2face.backends.face_inputs import face_inputs, find_media
from speech2face.backends.face_pool import FacePool
from speech2face.backends.face_table import build_faces_table, parts_dir
from speech2face.backends.photo_faces import FaceAnalyzer, FaceSettings, load_rgb
from speech2face.errors import InputError
from tests.backend_fixtures import encode_video, grace_hopper, portrait_dir


def test_two_workers_write_the_same_table_as_one_process(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    source = portrait_dir()
    for name in ("obama2", "biden", "obama_partial_face"):
        (folder / f"{name}.jpg").write_bytes((source / f"{name}.jpg").read_bytes())
    (folder / "hopper.jpg").write_bytes(grace_hopper().read_bytes())
    Image.new("RGB", (200, 200), (90, 90, 90)).save(folder / "blank.png")
    (folder / "broken.jpg").write_bytes(b"not an image")
    encode_video(folder / "clip.mp4", [(load_rgb(source / "obama.jpg"), 2), (None, 1)])
    inputs = face_inputs(find_media([folder]))
    assert len(inputs) == 9  # 6 images, 3 frames
    single = build_faces_table(
        inputs, analyzer=FaceAnalyzer(), out=tmp_path / "single.parquet", batch_size=2
    )
    out = tmp_path / "pooled.parquet"
    with FacePool(FaceSettings(), workers=2) as pool:
        pooled = build_faces_table(inputs, analyzer=pool, out=out, batch_size=2)
    assert not parts_dir(out).exists()
    assert set(single["status"]) == {"ok", "no_face", "unreadable"}
    pd.testing.assert_frame_equal(
        pooled.drop(columns=["landmarks", "descriptor"]),
        single.drop(columns=["landmarks", "descriptor"]),
        check_exact=True,
    )
    for column in ("landmarks", "descriptor"):
        np.testing.assert_array_equal(np.stack(pooled[column]), np.stack(single[column]))
    assert pd.read_parquet(out).equals(pd.read_parquet(tmp_path / "single.parquet"))


def test_workers_must_be_at_least_one(tmp_path, capsys):
    with pytest.raises(InputError, match=r"--workers must be at least 1, not 0"):
        FacePool(FaceSettings(), workers=0)
    image = tmp_path / "a.png"
    Image.new("RGB", (64, 64)).save(image)
    out = tmp_path / "f.parquet"
    assert main(["faces", str(image), "--out", str(out), "--workers", "0"]) == 2
    assert (
        capsys.readouterr().err.strip() == "s2f faces: error: --workers must be at least 1, not 0"
    )


def test_batch_size_must_be_at_least_one(tmp_path, capsys):
    image = tmp_path / "a.png"
    Image.new("RGB", (64, 64)).save(image)
    out = tmp_path / "f.parquet"
    assert main(["faces", str(image), "--out", str(out), "--batch-size", "0"]) == 2
    error = capsys.readouterr().err.strip()
    assert error == "s2f faces: error: --batch-size must be at least 1, not 0"
    assert not out.exists()
