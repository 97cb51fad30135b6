"""The privacy rule: a group with some but fewer than ``k`` speakers has its numbers hidden."""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import pandas as pd

Counts = TypeVar("Counts", int, float, np.ndarray, pd.Series)


def is_suppressed(n_speakers: Counts, k: int) -> Counts | bool:
    """``0 < n_speakers < k``, for a scalar (a bool) or element-wise for an array or Series."""
    return (n_speakers > 0) & (n_speakers < k)
