"""Time ``s2f synth``: the default demo corpus against its 60 s budget, 2,000 speakers on request.

    .venv/bin/python bench/bench_synth.py            # 200 speakers x 4 clips, faces included
    .venv/bin/python bench/bench_synth.py --large    # also 2,000 speakers (budget 10 minutes)

Each run generates a fresh corpus in a temporary folder, then calls again with the
same settings to time the cache hit. Besides wall time it prints the CPU time of the
process and its workers, and what that means on idle cores: on a machine shared with
other jobs, wall time overstates the generator's cost. Figures go to stdout.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from speech2face.synth.corpus import generate_corpus

BUDGETS_S = {200: 60.0, 2000: 600.0}


def folder_size_mb(folder: Path) -> float:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file()) / 1e6


def cpu_seconds() -> float:
    """CPU time of this process and its finished workers (user + system)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    workers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + workers.ru_utime + workers.ru_stime


def bench(speakers: int, *, workers: int) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch) / "corpus"
        start, cpu_start = time.perf_counter(), cpu_seconds()
        manifest = generate_corpus(out, speakers=speakers, workers=workers, progress=False)
        elapsed, cpu = time.perf_counter() - start, cpu_seconds() - cpu_start
        start = time.perf_counter()
        generate_corpus(out, speakers=speakers, workers=workers, progress=False)
        cached = time.perf_counter() - start
        clips = pd.read_parquet(manifest)
        audio_s = clips["duration_s"].sum()
        budget = BUDGETS_S[speakers]
        print(
            f"synth {speakers} speakers x 4 clips, 64 px faces x 5, {workers} workers: "
            f"{elapsed:.1f} s ({elapsed / budget:.2f} of the {budget:.0f} s budget); "
            f"{len(clips) / elapsed:.1f} clips/s, {audio_s / elapsed:.0f}x real time "
            f"({audio_s / 60:.1f} min of audio), {folder_size_mb(out):.1f} MB; "
            f"cached rerun {cached * 1000:.0f} ms"
        )
        print(
            f"  CPU {cpu:.1f} s = {cpu / speakers * 1000:.0f} ms per speaker; on {workers} idle "
            f"cores about {cpu / workers:.1f} s ({cpu / workers / budget:.2f} of the budget); "
            f"wall/CPU-per-core {elapsed / (cpu / workers):.2f} (above 1: the machine is shared)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--large", action="store_true", help="also time 2,000 speakers")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs visible")
    bench(200, workers=args.workers)
    if args.large:
        bench(2000, workers=args.workers)


if __name__ == "__main__":
    main()
