"""Bit-identical work split over the machine's cores in threads.

numpy's ufuncs and scipy's sparse products release the GIL, so a job whose parts write
disjoint outputs (rows of a weight block, rows of a sparse product) runs in threads with
the same result for any number of parts: each output element is computed by the same
operations in the same order as in one part.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
MAX_THREADS = 8


def cores() -> int:
    """Cores this process may run on (its affinity where the platform tells it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(min(cores(), MAX_THREADS), thread_name_prefix="s2f-audit")


def parts(n: int, count: int | None = None) -> list[tuple[int, int]]:
    """``[0, n)`` cut into at most ``count`` (default: the cores) contiguous ranges."""
    count = max(1, min(count or min(cores(), MAX_THREADS), n))
    bounds = [round(n * k / count) for k in range(count + 1)]
    return [(a, b) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


def run_parts(work: Callable[[T], object], items: Iterable[T]) -> list:
    """``work`` of every item, in threads when there are several; results in order."""
    items = list(items)
    if len(items) <= 1:
        return [work(item) for item in items]
    return list(_pool().map(work, items))
