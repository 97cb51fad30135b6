"""The one privacy rule: numbers of a group with some but fewer than k speakers are hidden."""

from __future__ import annotations

import numpy as np
import pandas as pd

from audit.privacy import is_suppressed


def test_scalars():
    assert [bool(is_suppressed(n, 5)) for n in (0, 1, 4, 5, 6)] == [False, True, True, False, False]


def test_arrays_and_series_element_wise():
    counts = np.array([0.0, 3.0, 5.0])
    assert is_suppressed(counts, 5).tolist() == [False, True, False]
    series = pd.Series([0, 2, 9], index=["a", "b", "c"])
    assert is_suppressed(series, 5).to_dict() == {"a": False, "b": True, "c": False}
