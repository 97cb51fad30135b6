"""Start-up time of the ``s2f`` command line against ``python -c "import torch"``.

Each candidate is a fresh interpreter: ``s2f --help``, ``s2f audit --help`` and
``s2f train --help`` (which build the parser without the layers below it), interleaved
with the yardstick ``import torch`` (what every command would pay if the parser imported
the model code), round by round, so that load changes hit them alike.

    python bench/bench_cli_startup.py [--rounds 7]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

CANDIDATES = {
    "s2f --help": [sys.executable, "-m", "s2f", "--help"],
    "s2f audit --help": [sys.executable, "-m", "s2f", "audit", "--help"],
    "s2f train --help": [sys.executable, "-m", "s2f", "train", "--help"],
}
YARDSTICK = ("import torch", [sys.executable, "-c", "import torch"])


def wall_seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    runs = {name: [] for name in [*CANDIDATES, YARDSTICK[0]]}
    load_before = os.getloadavg()[0]
    for _ in range(args.rounds):
        for name, argv in [*CANDIDATES.items(), YARDSTICK]:
            runs[name].append(wall_seconds(argv))
    load_after = os.getloadavg()[0]
    torch_median = statistics.median(runs[YARDSTICK[0]])
    print(f"{args.rounds} interleaved rounds; load average {load_before:.2f} -> {load_after:.2f}")
    for name, times in runs.items():
        median = statistics.median(times)
        ratio = (
            "" if name == YARDSTICK[0] else f"  import torch / this = {torch_median / median:.1f}x"
        )
        print(
            f"  {name:<18} median {median:.3f} s  "
            f"(min {min(times):.3f}, max {max(times):.3f}){ratio}"
        )


if __name__ == "__main__":
    main()
