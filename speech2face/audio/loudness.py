"""Integrated loudness (ITU-R BS.1770-4) of a mono signal at any sample rate, in LUFS.

The K-weighting is the standard's two biquads (a high shelf modelling the head, then
the RLB high-pass), given in the standard for 48 kHz only. Here both are analog
prototypes whose parameters reproduce the 48 kHz coefficients exactly (Brecht De Man's
derivation, as in libebur128), mapped to the signal's own rate by the bilinear transform
with the cut-off prewarped. Mean square over 400 ms blocks with 75 % overlap, then an
absolute gate at -70 LUFS and a relative gate 10 LU below the loudness of the blocks
that passed it.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import sosfilt

BLOCK_S = 0.4
BLOCK_STEP = 0.25
"""Blocks start every quarter block: 75 % overlap."""
ABSOLUTE_GATE_LUFS = -70.0
RELATIVE_GATE_LU = -10.0
LOUDNESS_OFFSET = -0.691
"""The constant in the standard's loudness of a block: -0.691 + 10 log10(mean square)."""

_SHELF_HZ = 1681.974450955533
_SHELF_GAIN_DB = 3.999843853973347
_SHELF_Q = 0.7071752369554196
_SHELF_BAND_EXPONENT = 0.4996667741545416
_HIGH_PASS_HZ = 38.13547087602444
_HIGH_PASS_Q = 0.5003270373238773
_HIGH_PASS_B = np.array([1.0, -2.0, 1.0])


def k_weighting(rate: float) -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The two K-weighting biquads ``(b, a)`` at ``rate`` Hz: the shelf, then the high-pass."""
    k = np.tan(np.pi * _SHELF_HZ / rate)
    vh = 10.0 ** (_SHELF_GAIN_DB / 20.0)
    vb = vh**_SHELF_BAND_EXPONENT
    shelf_b = np.array(
        [vh + vb * k / _SHELF_Q + k * k, 2.0 * (k * k - vh), vh - vb * k / _SHELF_Q + k * k]
    )
    shelf_a = _denominator(k, _SHELF_Q)
    k = np.tan(np.pi * _HIGH_PASS_HZ / rate)
    high_pass_a = _denominator(k, _HIGH_PASS_Q)
    shelf = (shelf_b / shelf_a[0], shelf_a / shelf_a[0])
    # As in the standard, the high-pass numerator is (1, -2, 1), not scaled by a0.
    return shelf, (_HIGH_PASS_B, high_pass_a / high_pass_a[0])


def _denominator(k: float, q: float) -> np.ndarray:
    """The bilinear-transformed denominator of a second-order section (prewarped ``k``)."""
    return np.array([1.0 + k / q + k * k, 2.0 * (k * k - 1.0), 1.0 - k / q + k * k])


def integrated_loudness(wave: np.ndarray, rate: float) -> float:
    """Gated loudness of ``wave`` (mono, full scale 1.0) in LUFS.

    NaN when the signal is shorter than one 400 ms block; -inf when no block passes the gates.
    """
    block = round(BLOCK_S * rate)
    step = round(BLOCK_S * BLOCK_STEP * rate)
    if len(wave) < block:
        return float("nan")
    weighted = sosfilt(np.vstack([np.concatenate(ba) for ba in k_weighting(rate)]), wave)
    energy = np.concatenate(([0.0], np.cumsum(weighted * weighted)))
    starts = np.arange(0, len(wave) - block + 1, step)
    mean_square = (energy[starts + block] - energy[starts]) / block
    with np.errstate(divide="ignore"):
        block_loudness = LOUDNESS_OFFSET + 10.0 * np.log10(mean_square)
    gated = mean_square[block_loudness > ABSOLUTE_GATE_LUFS]
    if not gated.size:
        return float("-inf")
    relative_gate = LOUDNESS_OFFSET + 10.0 * np.log10(gated.mean()) + RELATIVE_GATE_LU
    gated = mean_square[(block_loudness > ABSOLUTE_GATE_LUFS) & (block_loudness > relative_gate)]
    return float(LOUDNESS_OFFSET + 10.0 * np.log10(gated.mean()))
