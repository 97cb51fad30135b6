"""From a per-clip component frame to per-group point values and bootstrap replicates.

The component frame (saved with every audit as ``components.parquet``) holds one row per
clip: ``clip_id``, ``duration_s``, ``speaker_id``, the slice label of each sliced column
(``slice:<column>``) and every per-clip component. The audit and the model comparison
both aggregate it here, so a comparison re-aggregates each model's components on the
same clips with the same speaker-keyed replicates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from tqdm import tqdm

from audit._bootstrap import ReplicateSums, SpeakerStream, speaker_sums
from audit._influence import Influence, slice_influence
from audit._metrics import (
    MetricSpec,
    count_moment,
    metric_counts,
    metric_moments,
    metric_values,
)
from audit._slices import Slice, build_slices
from audit.artifacts import SLICE_PREFIX

KEY_COLUMNS = ("clip_id", "duration_s", "speaker_id")
REPLICATE_BLOCK = 250
"""Replicates drawn at a time: the weight matrix never exceeds 250 × n_speakers. The dense
(BLAS) sums of a block depend on its number of rows in their last bits, so changing this
changes replicate values by float32 rounding (tests/test_audit_bootstrap_exact.py)."""


@dataclass(frozen=True)
class MetricCells:
    """One metric in one slice: every group's value, replicates and the sums behind them."""

    spec: MetricSpec
    slice: Slice
    value: np.ndarray
    """``(n_groups,)``."""
    replicates: np.ndarray
    """``(n_boot, n_groups)``."""
    point_sums: np.ndarray
    """``(n_groups, n_moments)``, for closed-form intervals."""
    n_evaluated: np.ndarray
    """Clips of each group that carry the metric's component."""
    n_speakers_evaluated: np.ndarray
    """Speakers of each group with at least one such clip: what the minimum applies to."""
    influence: Influence
    """Speakers' influence: BCa accelerations and permutation standard errors."""


@dataclass(frozen=True)
class Aggregates:
    """Every metric in every slice, from one replicate matrix."""

    slices: list[Slice]
    n_clips: dict[str, np.ndarray]
    n_speakers: dict[str, np.ndarray]
    cells: dict[tuple[str, str], MetricCells]
    n_speakers_total: int


def slice_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The slice label columns of a component frame, under their own names."""
    columns = [c for c in frame.columns if c.startswith(SLICE_PREFIX)]
    return frame[columns].rename(columns=lambda c: c[len(SLICE_PREFIX) :])


def aggregate(
    frame: pd.DataFrame,
    specs: Sequence[MetricSpec],
    *,
    slice_columns: Sequence[str],
    intersections: int,
    n_boot: int,
    seed: int,
    progress: bool = False,
) -> Aggregates:
    """Point values and speaker-clustered bootstrap replicates of ``specs`` in every slice."""
    slices = build_slices(slice_frame(frame), slice_columns, intersections=intersections)
    speaker_codes, speakers = pd.factorize(frame["speaker_id"].astype(str), sort=True)
    needed = dict.fromkeys(c for spec in specs for c in spec.components)  # not the labels
    components = {c: frame[c].to_numpy() for c in needed}
    blocks = [metric_moments(spec, components) for spec in specs]
    offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
    moments = np.concatenate(blocks, axis=1) if blocks else np.empty((len(frame), 0))
    per_slice = {
        s.name: speaker_sums(
            speaker_codes, s.codes, moments, n_groups=s.n_groups, n_speakers=len(speakers)
        )
        for s in slices
    }
    replicates = {
        name: np.empty((n_boot, *sums.shape), dtype=np.float32) for name, sums in per_slice.items()
    }
    stream, products = SpeakerStream(list(speakers), seed), ReplicateSums(per_slice)
    starts = range(0, n_boot, REPLICATE_BLOCK)
    for start in tqdm(starts, desc="bootstrap", unit="block", disable=not progress):
        size = min(REPLICATE_BLOCK, n_boot - start)
        products.fill(
            stream.block(start, size, by_speaker=True), replicates, start, by_speaker=True
        )
    n_clips, n_speakers, cells = {}, {}, {}
    overall = None
    for slice_ in slices:  # the overall slice comes first
        n_clips[slice_.name] = np.bincount(slice_.codes, minlength=slice_.n_groups)
        n_speakers[slice_.name] = per_slice[slice_.name].n_speakers  # as group_counts counts
        point = per_slice[slice_.name].point
        found, totals = slice_influence(
            specs, offsets, point, per_slice[slice_.name].per_speaker, overall
        )
        overall = totals if overall is None else overall
        for index, (spec, start, stop) in enumerate(
            zip(specs, offsets[:-1], offsets[1:], strict=True)
        ):
            if not spec.reported_on(slice_.columns):
                continue
            cells[spec.name, slice_.name] = MetricCells(
                spec=spec,
                slice=slice_,
                value=metric_values(spec, point[:, start:stop]),
                replicates=metric_values(spec, replicates[slice_.name][:, :, start:stop]),
                point_sums=point[:, start:stop],
                n_evaluated=metric_counts(spec, point[:, start:stop]).astype(np.int64),
                n_speakers_evaluated=per_slice[slice_.name].speakers_with(
                    start + count_moment(spec)
                ),
                influence=found[index],
            )
    return Aggregates(slices, n_clips, n_speakers, cells, n_speakers_total=len(speakers))
