"""The privacy rule: a group with some but fewer than ``k`` speakers has its numbers hidden."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

PRIVACY_K = 5
"""Default privacy threshold: groups with fewer speakers (but not none) are suppressed."""

Counts = TypeVar("Counts", int, float, "np.ndarray", "pd.Series")


def is_suppressed(n_speakers: Counts, k: int) -> Counts | bool:
    """``0 < n_speakers < k``, for a scalar (a bool) or element-wise for an array or Series."""
    return (n_speakers > 0) & (n_speakers < k)
