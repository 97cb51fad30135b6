"""Timing every bench shares: candidates and yardsticks interleaved, each run ≥ 3 times,
reported as median and spread with the load average (the machine is shared).

    from timing import interleave, report
    times = interleave({"ours": run_ours, "numpy": run_numpy}, repeats=3)
    print(report(times))
"""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def load() -> str:
    """The 1, 5 and 15 minute load averages and the cores this process may use."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} on {len(os.sched_getaffinity(0))} cores"


def interleave(
    candidates: dict[str, Callable[[], object]], *, repeats: int = 3
) -> dict[str, list[float]]:
    """Wall seconds of every candidate, run in turn ``repeats`` times (A B C A B C ...), so
    that a change in the machine's load falls on all of them alike."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float]) -> str:
    """``median s (min–max, n runs)``."""
    return f"{median(values):.3g} s ({min(values):.3g}–{max(values):.3g}, n={len(values)})"


def report(times: dict[str, list[float]], *, scale: dict[str, float] | None = None) -> str:
    """One line per candidate: median and spread (``scale`` multiplies a candidate's times,
    for one measured on part of the work and extrapolated, which its name must say)."""
    scale = scale or {}
    width = max(map(len, times))
    lines = []
    for name, values in times.items():
        factor = scale.get(name, 1.0)
        lines.append(f"  {name:<{width}}  {spread([v * factor for v in values])}")
    return "\n".join(lines)
