"""Confidence intervals, bootstrap p-values and multiple-testing corrections."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
from scipy import special, stats

from audit.config import BH, CORRECTIONS, HOLM

DETECTION_POWER = 0.8
P_FLOOR = 1e-16
"""Smallest p-value reported: a normal tail below it is read as ``< 1e-16`` (never 0)."""


def _norm_ppf(q: np.ndarray) -> np.ndarray:
    """``stats.norm.ppf(q)``, the same values without its per-call argument handling (a
    third of the per-group time of an audit): its ``_ppf`` is ``ndtri``, to which it adds
    ``loc`` 0.0 (turning -0.0 into 0.0); ``ndtri`` is -inf at 0, inf at 1 and NaN outside
    [0, 1], as ``ppf`` is (``tests/test_audit_statistics.py``)."""
    return special.ndtri(q) + 0.0


def _t_ppf(q: np.ndarray, df: np.ndarray) -> np.ndarray:
    """``stats.t.ppf(q, df)`` for ``0 < q < 1``: ``stdtrit`` plus ``loc`` 0.0, NaN where
    ``df`` is not positive (``t``'s argument check)."""
    df = np.asarray(df, dtype=np.float64)
    return np.where(df > 0, special.stdtrit(df, q) + 0.0, np.nan)


def _norm_cdf(x: np.ndarray) -> np.ndarray:
    """``stats.norm.cdf(x)``: ``ndtr`` (0 at -inf, 1 at inf, NaN at NaN, as ``cdf``)."""
    return special.ndtr(x)


def percentile_interval(replicates: np.ndarray, *, level: float = 0.95) -> np.ndarray:
    """Percentile interval over axis 0 of ``replicates``; NaN replicates are ignored.

    Returns ``(2, ...)``: lower and upper bounds. A column with fewer than two finite
    replicates has no interval (NaN). The bounds are ``np.quantile`` / ``np.nanquantile``
    (linear method) of the finite replicates, computed for every column at once
    (:func:`column_quantiles`): ``nanquantile`` loops over columns in Python.
    """
    tails = [(1 - level) / 2, (1 + level) / 2]
    replicates = np.asarray(replicates, dtype=np.float64)
    finite = np.isfinite(replicates)
    bounds = column_quantiles(np.where(finite, replicates, np.nan), tails)
    if finite.all():
        return bounds
    return np.where(finite.sum(axis=0) >= 2, bounds, np.nan)


def column_quantiles(values: np.ndarray, quantiles: Sequence[float]) -> np.ndarray:
    """``np.nanquantile(values, quantiles, axis=0)`` (method ``linear``) of every column of
    ``values`` from one sort, with numpy's own arithmetic (its virtual index ``(n - 1) q``
    over a column's n non-NaN values, the neighbouring order statistics, and ``_lerp``),
    so the same bits (``tests/test_audit_statistics.py``); ``(len(quantiles), ...)``, NaN
    for a column without values."""
    q = np.asarray(quantiles, dtype=np.float64)[:, None]
    rows = values.shape[0]
    flat = values.reshape(rows, -1)
    ordered = _sorted_columns(flat)  # NaN last
    n = (~np.isnan(flat)).sum(axis=0)
    virtual = (n - 1) * q
    previous = np.floor(virtual)
    above = virtual >= n - 1
    below = virtual < 0
    # numpy's indexes: -1 (the last value) above, 0 below; its gamma uses them as they are
    gamma = virtual - np.where(above, -1.0, np.where(below, 0.0, previous))
    last = np.broadcast_to(n - 1, virtual.shape)
    low = np.where(above, last, np.where(below, 0, previous))
    high = np.where(above, last, np.where(below, 0, previous + 1))
    if rows == 0:
        return np.full((len(q), *values.shape[1:]), np.nan)
    a = _take_rows(ordered, np.clip(low, 0, rows - 1).astype(np.intp))
    b = _take_rows(ordered, np.clip(high, 0, rows - 1).astype(np.intp))
    with np.errstate(invalid="ignore"):
        diff = b - a
        result = np.where(gamma >= 0.5, b - diff * (1 - gamma), a + diff * gamma)
    result = np.where(n > 0, result, np.nan)
    return result.reshape(len(q), *values.shape[1:])


def _sorted_columns(values: np.ndarray) -> np.ndarray:
    """Each column of a ``(B, G)`` array sorted, returned transposed (``(G, B)``, C order):
    sorting contiguous rows is faster than sorting along axis 0, with the same values."""
    ordered = np.ascontiguousarray(values.T)
    ordered.sort(axis=-1)
    return ordered


def _take_rows(ordered: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``sorted[index[k, j], j]`` from :func:`_sorted_columns`' transposed result."""
    return np.take_along_axis(ordered, np.asarray(index).T, axis=-1).T


def bootstrap_se(replicates: np.ndarray) -> np.ndarray:
    """Standard deviation over axis 0 of the finite replicates (NaN with fewer than two)."""
    replicates = np.asarray(replicates, dtype=np.float64)
    finite = np.isfinite(replicates)
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        se = np.nanstd(np.where(finite, replicates, np.nan), axis=0, ddof=1)
    return np.where(finite.sum(0) >= 2, se, np.nan)


def detectable_difference(
    se: np.ndarray, n_tests: np.ndarray | int, *, alpha: float = 0.05, power: float = 0.8
) -> np.ndarray:
    """The smallest true difference a two-sided test on ``se`` detects with ``power`` when
    its p-value is compared with ``alpha / n_tests`` (Bonferroni; Holm's first step and
    Benjamini–Hochberg's bar for a single real difference among ``n_tests``)."""
    n_tests = np.maximum(np.asarray(n_tests, dtype=np.float64), 1.0)
    z = stats.norm.isf(alpha / (2 * n_tests)) + stats.norm.ppf(power)
    return z * np.asarray(se, dtype=np.float64)


def bootstrap_z_pvalue(estimate: np.ndarray, replicates: np.ndarray) -> np.ndarray:
    """Two-sided p-value of ``estimate = 0`` from its bootstrap standard error.

    A normal (Wald) test on the bootstrap SE keeps p-values continuous, which a
    multiple-testing correction over many tests needs (percentile p-values cannot go
    below 1/n_boot).
    """
    se = bootstrap_se(replicates)
    p = z_pvalue(estimate, se)
    return np.where(se > 0, p, np.nan)


def z_pvalue(estimate: np.ndarray, se: np.ndarray) -> np.ndarray:
    """Two-sided normal p-value of ``estimate = 0`` with standard error ``se``, floored at
    ``P_FLOOR``; 1 where both are 0 (nothing varies, nothing differs); NaN where either is."""
    estimate, se = np.asarray(estimate, np.float64), np.asarray(se, np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.maximum(2 * _norm_cdf(-(np.abs(estimate) / se)), P_FLOOR)  # norm.sf
    p = np.where(se > 0, p, np.where(estimate == 0, 1.0, P_FLOOR))
    return np.where(np.isfinite(estimate) & np.isfinite(se), p, np.nan)


def bca_interval(
    replicates: np.ndarray,
    estimate: np.ndarray,
    acceleration: np.ndarray,
    n: np.ndarray,
    *,
    level: float = 0.95,
) -> np.ndarray:
    """Bias-corrected and accelerated interval of each column of ``replicates`` (B, G).

    The nominal tails are first widened for ``n`` speakers as in Hesterberg's expanded
    percentile interval (z = sqrt(n / (n - 1)) t_{n-1}), then moved by the bias correction
    z0 (the share of replicates below ``estimate``) and the ``acceleration``. Vectorised:
    one sort of the replicates, per-column quantiles by interpolation. ``(2, G)``; NaN
    where fewer than two replicates are finite or ``n < 2``.
    """
    replicates = np.asarray(replicates, dtype=np.float64)
    finite = np.isfinite(replicates)
    count = finite.sum(axis=0)
    used = np.maximum(count, 1)
    below = (replicates < estimate).sum(axis=0) + 0.5 * (replicates == estimate).sum(axis=0)
    z0 = _norm_ppf(np.clip(below / used, 0.5 / used, 1 - 0.5 / used))
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        tails = np.array([(1 - level) / 2, (1 + level) / 2])[:, None]
        z = np.sqrt(n / (n - 1)) * _t_ppf(tails, np.maximum(n - 1, 1))
        shifted = z0 + z
        denominator = 1 - acceleration * shifted
        q = _norm_cdf(z0 + shifted / denominator)
    q = np.where(denominator > 0, q, np.array([[0.0], [1.0]]))
    position = np.clip(np.nan_to_num(q), 0, 1) * (used - 1)
    ordered = _sorted_columns(np.where(finite, replicates, np.inf))
    low = np.floor(position).astype(np.int64)
    high = np.minimum(low + 1, used - 1)
    at_low = _take_rows(ordered, low)
    at_high = _take_rows(ordered, high)
    with np.errstate(invalid="ignore"):
        bounds = at_low + (position - low) * (at_high - at_low)
    bounds = np.where(high > low, bounds, at_low)
    return np.where((count >= 2) & (n >= 2) & np.isfinite(estimate), bounds, np.nan)


def max_t_critical(
    estimates: np.ndarray, replicates: np.ndarray, se: np.ndarray, *, level: float = 0.95
) -> float:
    """Simultaneous critical value: the ``level`` quantile over replicates of the largest
    studentised deviation ``max_j |(replicate_j - estimate_j) / se_j|`` (columns j)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs((replicates - estimates) / se)
    t = np.where(np.isfinite(t), t, 0.0)
    if t.size == 0:
        return float("nan")
    return float(np.quantile(t.max(axis=1), level))


def wilson_interval(successes: np.ndarray, n: np.ndarray, *, level: float = 0.95) -> np.ndarray:
    """Wilson score interval of a proportion from independent trials; ``(2, ...)``."""
    successes, n = np.asarray(successes, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = stats.norm.ppf((1 + level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = successes / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return np.where(n > 0, np.stack([centre - half, centre + half]), np.nan)


def fisher_z_interval(r: np.ndarray, n: np.ndarray, *, level: float = 0.95) -> np.ndarray:
    """Fisher-z interval of a Pearson correlation from ``n`` independent pairs; ``(2, ...)``."""
    r, n = np.asarray(r, dtype=np.float64), np.asarray(n, dtype=np.float64)
    z = stats.norm.ppf((1 + level) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        centre = np.arctanh(np.clip(r, -1 + 1e-15, 1 - 1e-15))
        half = z / np.sqrt(n - 3)
    return np.where(n > 3, np.tanh(np.stack([centre - half, centre + half])), np.nan)


def adjust_pvalues(p_values: np.ndarray, *, method: str = HOLM) -> np.ndarray:
    """Holm (family-wise error) or Benjamini–Hochberg (false discovery rate) adjusted p-values.

    NaN p-values (tests that could not run) stay NaN and do not count as tests.
    """
    p_values = np.asarray(p_values, dtype=np.float64)
    adjusted = np.full_like(p_values, np.nan)
    tested = np.flatnonzero(np.isfinite(p_values))
    m = len(tested)
    if m == 0:
        return adjusted
    order = tested[np.argsort(p_values[tested], kind="stable")]
    ranked = p_values[order]
    if method == HOLM:
        stepped = np.maximum.accumulate((m - np.arange(m)) * ranked)
    elif method == BH:
        stepped = np.minimum.accumulate((m / np.arange(m, 0, -1)) * ranked[::-1])[::-1]
    else:
        raise ValueError(f"correction must be one of {CORRECTIONS}, got {method!r}")
    adjusted[order] = np.minimum(stepped, 1.0)
    return adjusted
