"""Throughput of ``s2f faces`` (needs the [faces] extra): worker processes, and video frames.

Workers: the face-recognition sdist's portraits and Grace Hopper, each copied
``--copies`` times with distinct bytes (so none is cached), analysed by
``build_faces_table`` in one process and with a pool of 2, alternately,
``--rounds`` times. Each run is timed end to end, model loading and worker
start included, with its CPU seconds (this process and its reaped workers) and
the 1-minute load average before it: on a shared machine, wall time depends on
the other jobs, CPU time much less. Video: a clip of those portraits, sampled at
1 frame per second; first run, then an unchanged rerun (no decoding).

    .venv/bin/python bench/bench_faces_command.py [--copies 4] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from speech2face.backends.face_inputs import face_inputs
from speech2face.backends.face_pool import FacePool
from speech2face.backends.face_table import build_faces_table
from speech2face.backends.photo_faces import FaceAnalyzer, FaceSettings, load_rgb

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.backend_fixtures import encode_video, grace_hopper, portrait_dir

BATCH_SIZE = 4


def copies(folder: Path, n: int) -> list[Path]:
    """``n`` copies of each portrait, a trailing byte apart (same pixels, distinct hashes)."""
    sources = [*sorted(portrait_dir().glob("*.jpg")), grace_hopper()]
    paths = []
    for i in range(n):
        for source in sources:
            path = folder / f"{i}_{source.name}"
            path.write_bytes(source.read_bytes() + bytes([i]))
            paths.append(path)
    return paths


def timed_run(paths: list[Path], out: Path, workers: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and the load average before one cold run into ``out``."""
    load = os.getloadavg()[0]
    before, start = os.times(), time.perf_counter()
    settings = FaceSettings()
    if workers == 1:
        build_faces_table(
            face_inputs(paths), analyzer=FaceAnalyzer(settings), out=out, batch_size=BATCH_SIZE
        )
    else:
        with FacePool(settings, workers=workers) as pool:
            build_faces_table(face_inputs(paths), analyzer=pool, out=out, batch_size=BATCH_SIZE)
    wall, after = time.perf_counter() - start, os.times()
    cpu = sum(after[:4]) - sum(before[:4])  # user + system, self + reaped children
    out.unlink()
    return wall, cpu, load


def bench_workers(folder: Path, *, n_copies: int, rounds: int) -> None:
    paths = copies(folder, n_copies)
    n = len(paths)
    print(f"workers: {n} images ({n // n_copies} portraits × {n_copies}), batch {BATCH_SIZE}")
    rates: dict[int, list[float]] = {1: [], 2: []}
    for round_ in range(rounds):
        for workers in (1, 2):
            wall, cpu, load = timed_run(paths, folder / "faces.parquet", workers)
            rates[workers].append(n / wall)
            print(
                f"  round {round_ + 1}, {workers} worker(s): {wall:6.2f} s wall = "
                f"{n / wall:5.2f} images/s, {cpu:6.2f} CPU s ({n / cpu:5.2f} images per CPU s), "
                f"load {load:.2f} before"
            )
    best = {workers: max(values) for workers, values in rates.items()}
    print(
        f"  best of {rounds}: 1 worker {best[1]:.2f} images/s, 2 workers {best[2]:.2f} images/s "
        f"= {best[2] / best[1]:.2f}×"
    )


def bench_video(folder: Path) -> None:
    source = portrait_dir()
    segments = [(load_rgb(source / f"{name}.jpg"), 10.0) for name in ("obama", "biden", "obama2")]
    video = encode_video(folder / "clip.mp4", segments, fps=25, size=(640, 480))
    out = folder / "video.parquet"
    analyzer = FaceAnalyzer()
    start = time.perf_counter()
    inputs = face_inputs([video])
    plan = time.perf_counter() - start
    start = time.perf_counter()
    table = build_faces_table(inputs, analyzer=analyzer, out=out)
    first = time.perf_counter() - start
    start = time.perf_counter()
    build_faces_table(face_inputs([video]), analyzer=analyzer, out=out)
    again = time.perf_counter() - start
    ok = int((table["status"] == "ok").sum())
    print(
        f"video: 30 s, 640×480, 25 fps, H.264 ({video.stat().st_size / 1e6:.1f} MB), 1 frame/s: "
        f"plan {plan * 1e3:.0f} ms (packets only), first run {first:.2f} s = "
        f"{len(table) / first:.2f} frames/s ({ok}/{len(table)} ok), unchanged rerun "
        f"{again:.2f} s, load {os.getloadavg()[0]:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--copies", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs visible, load {os.getloadavg()}")
    with tempfile.TemporaryDirectory() as tmp:
        bench_workers(Path(tmp), n_copies=args.copies, rounds=args.rounds)
        bench_video(Path(tmp))


if __name__ == "__main__":
    main()
