"""The whole ``s2f demo`` from nothing and cached: wall and CPU time per stage.

Runs the demo with its default settings into a fresh folder (cold), then again (cached),
and prints each stage's wall time, the whole run's wall and CPU time (this process and
its worker processes) against the budgets (10 minutes cold, 1 minute cached on 2 cores),
and the demo's three-line summary.

    .venv/bin/python bench/bench_demo.py [--workdir /tmp/s2f-bench-demo] [--keep]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import time
from pathlib import Path

from s2f.demo import DemoSettings, run_demo

COLD_BUDGET_S = 600.0
CACHED_BUDGET_S = 60.0


def cpu_seconds() -> float:
    """CPU time of this process and its finished children (the corpus workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed_run(out: Path, settings: DemoSettings):
    start, cpu = time.perf_counter(), cpu_seconds()
    result = run_demo(out, settings)
    return result, time.perf_counter() - start, cpu_seconds() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/s2f-bench-demo"))
    parser.add_argument("--speakers", type=int, default=DemoSettings().speakers)
    parser.add_argument("--keep", action="store_true", help="keep the demo output")
    args = parser.parse_args()
    shutil.rmtree(args.workdir, ignore_errors=True)
    settings = DemoSettings(speakers=args.speakers)
    print(f"machine: {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.1f}")
    result, wall, cpu = timed_run(args.workdir, settings)
    print(f"cold run ({settings.speakers} speakers): {wall:.1f} s wall, {cpu:.1f} s CPU")
    for stage, seconds in result.seconds.items():
        print(f"  {stage:<20} {seconds:7.1f} s")
    print(
        f"  budget {COLD_BUDGET_S:.0f} s on 2 idle cores; CPU/2 = {cpu / 2:.1f} s "
        f"({cpu / 2 / COLD_BUDGET_S:.2f} of budget)"
    )
    cached, wall, cpu = timed_run(args.workdir, settings)
    print(
        f"cached run: {wall:.2f} s wall, {cpu:.2f} s CPU, {len(cached.skipped)} stages skipped, "
        f"{len(cached.ran)} ran (budget {CACHED_BUDGET_S:.0f} s)"
    )
    print(f"load average after: {os.getloadavg()[0]:.1f}")
    print("summary:")
    for line in result.summary:
        print(f"  {line}")
    if not args.keep:
        shutil.rmtree(args.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
