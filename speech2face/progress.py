"""Progress on stderr for long loops over a manifest's rows or files.

A bar shows when there are at least :data:`MIN_ITEMS` items and stderr is a terminal, so
that ``s2f import`` and ``s2f validate`` on a million-row file say how far they are, and
a pipe, a log or a test sees nothing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")
MIN_ITEMS = 2000


def _tty() -> bool:
    return sys.stderr.isatty()


def progress(
    items: Iterable[T], *, total: int | None = None, desc: str, unit: str = "file"
) -> Iterator[T]:
    """``items``, with a progress bar on stderr when they are many and stderr is a terminal."""
    count = total if total is not None else len(items)  # type: ignore[arg-type]
    if count < MIN_ITEMS or not _tty():
        yield from items
        return
    from tqdm import tqdm

    yield from tqdm(items, total=count, desc=desc, unit=unit, file=sys.stderr, leave=False)
