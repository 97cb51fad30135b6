"""Manifest validation speed: rows per second, and its cost relative to reading the file.

    .venv/bin/python bench/bench_manifest.py [--rows 1000000] [--files 20000]

The reference is reading the same Parquet manifest with pandas: validation
should cost a small multiple of the read, so it never dominates loading.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from speech2face.manifest import load_manifest, read_manifest, validate_manifest, write_manifest


def make_manifest(rows: int, files: int, folder: Path) -> Path:
    rng = np.random.default_rng(0)
    (folder / "clips").mkdir()
    for index in range(files):
        (folder / "clips" / f"{index}.wav").write_bytes(b"")
    speakers = rng.integers(0, max(rows // 50, 1), size=rows)
    frame = pd.DataFrame(
        {
            "clip_id": [f"clip{index}" for index in range(rows)],
            "speaker_id": [f"spk{s}" for s in speakers],
            "split": np.asarray(["train", "val", "test"])[speakers % 3],
            "audio_path": [f"clips/{index % files}.wav" for index in range(rows)],
            "age": rng.uniform(18, 80, size=rows).round(1),
            "gender": rng.choice(["female", "male", "unknown"], size=rows),
            "gender_source": "self_reported",
            "language": rng.choice(["en", "es", "zh"], size=rows),
        }
    )
    return write_manifest(frame, folder / "manifest.parquet")


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=20_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = make_manifest(args.rows, args.files, Path(folder))
        frame = read_manifest(path)
        read_s = timed(lambda: read_manifest(path))
        no_files_s = timed(
            lambda: validate_manifest(frame, source=path, base_dir=folder, check_files=False)
        )
        files_s = timed(lambda: validate_manifest(frame, source=path, base_dir=folder))
        load_s = timed(lambda: load_manifest(path))
    print(f"rows {args.rows:,}, distinct audio files {args.files:,}")
    print(f"read Parquet                 {read_s:7.2f} s")
    print(
        f"validate, no file checks     {no_files_s:7.2f} s  {args.rows / no_files_s:12,.0f} rows/s"
        f"  {no_files_s / read_s:5.1f}x read"
    )
    print(
        f"validate, with file checks   {files_s:7.2f} s  {args.rows / files_s:12,.0f} rows/s"
        f"  {files_s / read_s:5.1f}x read"
    )
    print(f"load_manifest (all of it)    {load_s:7.2f} s  {load_s / read_s:5.1f}x read")


if __name__ == "__main__":
    main()
