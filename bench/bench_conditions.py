"""Throughput of ``s2f conditions``: N 6-s 16 kHz clips, 1 worker against 2.

The clips are written to a temporary folder: real speech (codec2-examples' hts1a,
upsampled to 16 kHz, repeated to 6 s) at a random gain, plus white noise at a random
level, so every file has distinct bytes and none is cached. Each run is the command end
to end (``python -m s2f conditions``: start-up, hashing, measuring, writing), into a fresh
output; runs with 1 and 2 workers alternate ``--rounds`` times. Printed: the median and
range of wall seconds, clips per second, CPU seconds (reaped children) and the 1-minute
load average before each run: on a shared machine, wall time depends on the other jobs.

    .venv/bin/python bench/bench_conditions.py [--clips 10000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf
import soxr

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.backend_fixtures import codec2_wav_dir

RATE = 16000
SECONDS = 6.0
TARGET_S = 120.0
"""The issue's target for 10,000 clips on 2 cores."""


def write_clips(folder: Path, n: int, seed: int = 0) -> Path:
    """``n`` distinct 6-s clips and their manifest (CSV) in ``folder``."""
    speech, rate = sf.read(codec2_wav_dir() / "hts1a.wav", dtype="float64")
    speech = soxr.resample(speech, rate, RATE)
    speech = np.resize(speech, round(SECONDS * RATE))
    rng = np.random.default_rng(seed)
    for i in range(n):
        noise = rng.standard_normal(speech.size) * 10 ** rng.uniform(-4, -1.5)
        sf.write(folder / f"{i:05d}.wav", rng.uniform(0.3, 1.5) * speech + noise, RATE)
    manifest = pd.DataFrame(
        {
            "clip_id": [f"{i:05d}" for i in range(n)],
            "speaker_id": [f"s{i % 100}" for i in range(n)],
            "split": "test",
            "audio_path": [f"{i:05d}.wav" for i in range(n)],
        }
    )
    path = folder / "manifest.csv"
    manifest.to_csv(path, index=False)
    return path


def timed_run(manifest: Path, out: Path, workers: int) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and the load average before one cold run into ``out``."""
    load = os.getloadavg()[0]
    before, start = os.times(), time.perf_counter()
    command = [sys.executable, "-m", "s2f", "conditions", str(manifest), "--out", str(out)]
    subprocess.run([*command, "--workers", str(workers), "--no-progress"], check=True)
    wall, after = time.perf_counter() - start, os.times()
    return (
        wall,
        (after.children_user + after.children_system)
        - (before.children_user + before.children_system),
        load,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        start = time.perf_counter()
        manifest = write_clips(folder, args.clips)
        seconds = time.perf_counter() - start
        print(f"wrote {args.clips} clips in {seconds:.1f} s; {os.cpu_count()} cores")
        runs: dict[int, list[tuple[float, float, float]]] = {1: [], 2: []}
        for round_ in range(args.rounds):
            for workers, results in runs.items():
                out = folder / f"conditions-{workers}-{round_}.parquet"
                results.append(timed_run(manifest, out, workers))
                wall, cpu, load = results[-1]
                print(
                    f"  round {round_}, {workers} worker(s): {wall:.1f} s, cpu {cpu:.1f} s, "
                    f"load {load:.2f}"
                )
        for workers, results in runs.items():
            walls = [wall for wall, _, _ in results]
            median = statistics.median(walls)
            cpu = statistics.median(cpu for _, cpu, _ in results)
            loads = ", ".join(f"{load:.2f}" for _, _, load in results)
            print(
                f"{workers} worker(s): median {median:.1f} s "
                f"(range {min(walls):.1f}-{max(walls):.1f}), {args.clips / median:.0f} clips/s, "
                f"cpu {cpu:.1f} s, load before {loads}; 10,000 clips ≈ "
                f"{10_000 / args.clips * median:.0f} s (target {TARGET_S:.0f} s; scaled with "
                "the start-up, an over-estimate for fewer clips)"
            )


if __name__ == "__main__":
    main()
