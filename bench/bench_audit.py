"""The default audit (what ``s2f audit`` runs) against three yardsticks doing the same work.

Workload (issue 19): 100,000 clips of 20,000 speakers (5 clips each), slices gender (2),
ethnicity (6) and age group (6) with pairwise intersections (75 groups with overall),
10 metrics, 1,000 speaker-clustered replicates, fairlearn views on (the default).

Every candidate runs ``--repeats`` times (≥ 3), interleaved (A B C D A B C D ...), and is
reported as median (min–max); the load average is printed before and after:

- ``audit``: ``run_audit`` with its defaults, timed whole (components, replicates,
  intervals, tests, fairlearn views, confusion tables);
- ``dense matmul``: the replicate sums' size as one dense float32 product
  (n_boot × n_speakers by n_speakers × columns, columns = groups × moments of every
  slice), inputs made beforehand: the hardware yardstick the issue sets (≤ 4.5×);
- ``numpy loop``: the same sums with the same speaker weights, one replicate at a time
  (clip weights, then one ``bincount`` per slice over groups × moments), at
  ``--loop-boot`` replicates and extrapolated linearly to n_boot (its name says so);
  checked equal to the engine's sums first;
- ``fairlearn``: ``MetricFrame`` of every metric on every slice, clip weights from the
  same speaker weights (``sample_weight``; fairlearn's own ``n_boot`` resamples clips,
  not speakers, so it is not the same work), at ``--fairlearn-boot`` replicates and
  extrapolated linearly (its name says so); checked equal to the engine's replicate values.

    python bench/bench_audit.py [--clips 100000] [--clips-per-speaker 5] [--n-boot 1000]
        [--repeats 3] [--loop-boot 20] [--fairlearn-boot 1] [--groups 1000]
        [--yardsticks dense,loop,fairlearn]

``--groups N`` adds a column ``region`` with about N groups (the issue's 1,000-group
scaling case); the peak resident memory of the process is printed at the end.
"""

from __future__ import annotations

import argparse
import resource
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
from timing import interleave, load, median, report

from audit._aggregate import slice_frame
from audit._bootstrap import speaker_sums, speaker_weights
from audit._components import metric_catalogue
from audit._metrics import metric_moments, metric_values
from audit._slices import build_slices
from audit.engine import run_audit
from speech2face.prediction.artifact import Predictions

ATTRIBUTE_CLASSES = {
    "gender": ["female", "male"],
    "age_decade": ["<20", "20-29", "30-39", "40-49", "50-59", "60+"],
    "ethnicity": ["e1", "e2", "e3", "e4", "e5", "e6"],
}
METRICS = [
    *(f"{face}_{a}_agreement" for a in ATTRIBUTE_CLASSES for face in ("s2f", "f2f")),
    *(f"{a}_voice_added_error" for a in ATTRIBUTE_CLASSES),
    "s2f_age_error",
]
SLICES = ["gender", "ethnicity", "age_group"]


def bench_predictions(
    n_clips: int, clips_per_speaker: int, seed: int = 0, *, groups: int = 0
) -> Predictions:
    rng = np.random.default_rng(seed)
    n_speakers = n_clips // clips_per_speaker
    speaker = np.repeat(np.arange(n_speakers), clips_per_speaker)
    columns: dict[str, object] = {
        "clip_id": np.arange(n_clips).astype(str),
        "speaker_id": np.char.add("spk", speaker.astype(str)),
        "duration_s": 6.0,
    }
    for attribute, classes in ATTRIBUTE_CLASSES.items():
        true = rng.integers(len(classes), size=n_speakers)[speaker]
        columns[f"true_{attribute}"] = np.asarray(classes)[true]
        for face, keep in (("f2f", 0.85), ("s2f", 0.6)):
            guess = rng.integers(len(classes), size=n_clips)
            noisy = np.where(rng.random(n_clips) < keep, true, guess)
            columns[f"{face}_{attribute}"] = np.asarray(classes)[noisy]
    columns["gender"] = columns["true_gender"]
    columns["ethnicity"] = columns["true_ethnicity"]
    columns["age_group"] = columns["true_age_decade"]
    columns["true_age_years"] = rng.uniform(18, 70, n_speakers)[speaker]
    columns["s2f_age_years"] = columns["true_age_years"] + rng.normal(0, 8, n_clips)
    if groups:
        columns["region"] = np.char.add("r", rng.integers(groups, size=n_speakers).astype(str))[
            speaker
        ]
    return Predictions(table=pd.DataFrame(columns), features={}, meta={"model_id": "bench"})


class Workload:
    """The audit's own replicate-sum inputs, rebuilt from its component frame."""

    def __init__(self, result, columns, slices: list[str], intersections: int) -> None:
        frame = result.components
        catalogue = {spec.name: spec for spec in metric_catalogue(set(columns))}
        self.specs = [catalogue[name] for name in METRICS]
        self.slices = build_slices(slice_frame(frame), slices, intersections=intersections)
        codes, speakers = pd.factorize(frame["speaker_id"].astype(str), sort=True)
        self.speaker_codes, self.speakers = codes, list(speakers)
        components = {c: frame[c].to_numpy() for c in frame.columns}
        blocks = [metric_moments(spec, components) for spec in self.specs]
        self.offsets = np.cumsum([0] + [b.shape[1] for b in blocks])
        self.moments = np.concatenate(blocks, axis=1)
        self.n_columns = sum(s.n_groups for s in self.slices) * self.moments.shape[1]

    def engine_sums(self, n_boot: int) -> dict[str, np.ndarray]:
        """The engine's replicate sums of the first ``n_boot`` replicates (one block)."""
        from audit._bootstrap import ReplicateSums

        per_slice = {
            s.name: speaker_sums(
                self.speaker_codes,
                s.codes,
                self.moments,
                n_groups=s.n_groups,
                n_speakers=len(self.speakers),
            )
            for s in self.slices
        }
        out = {n: np.empty((n_boot, *p.shape), np.float32) for n, p in per_slice.items()}
        ReplicateSums(per_slice).fill(speaker_weights(self.speakers, n_boot=n_boot, seed=0), out, 0)
        return out

    def numpy_loop(self, n_boot: int) -> dict[str, np.ndarray]:
        """The same sums, one replicate at a time, from the same speaker weights."""
        weights = speaker_weights(self.speakers, n_boot=n_boot, seed=0)
        n_moments = self.moments.shape[1]
        moments = np.nan_to_num(self.moments)
        flat = {
            s.name: (s.codes[:, None] * n_moments + np.arange(n_moments)).ravel()
            for s in self.slices
        }
        out = {s.name: np.empty((n_boot, s.n_groups, n_moments)) for s in self.slices}
        for r in range(n_boot):
            weighted = (moments * weights[r][self.speaker_codes][:, None]).ravel()
            for s in self.slices:
                out[s.name][r] = np.bincount(
                    flat[s.name], weighted, minlength=s.n_groups * n_moments
                ).reshape(s.n_groups, n_moments)
        return out

    def fairlearn(self, result, n_boot: int) -> dict[tuple[str, str], np.ndarray]:
        """Every metric on every slice by fairlearn ``MetricFrame``, clips weighted by
        their speaker's weight in each replicate; ``(n_boot, n_groups)`` per cell."""
        from fairlearn.metrics import MetricFrame

        def weighted_mean(y_true, y_pred, value, sample_weight):
            known = ~np.isnan(value)
            return float(np.sum(value[known] * sample_weight[known]) / sample_weight[known].sum())

        frame = result.components
        weights = speaker_weights(self.speakers, n_boot=n_boot, seed=0)
        dummy = np.zeros(len(frame))
        values: dict[tuple[str, str], np.ndarray] = {}
        for r in range(n_boot):
            clip_weights = weights[r][self.speaker_codes].astype(np.float64)
            metrics = {name: weighted_mean for name in METRICS}
            params = {
                name: {"value": frame[name].to_numpy(), "sample_weight": clip_weights}
                for name in METRICS
            }
            for s in self.slices[1:]:
                sensitive = frame[[f"slice:{c}" for c in s.columns]]
                mf = MetricFrame(
                    metrics=metrics,
                    y_true=dummy,
                    y_pred=dummy,
                    sensitive_features=sensitive,
                    sample_params=params,
                )
                table = mf.by_group
                labels = [
                    " & ".join(map(str, key if isinstance(key, tuple) else (key,)))
                    for key in table.index
                ]
                for name in METRICS:
                    cell = values.setdefault((name, s.name), np.full((n_boot, s.n_groups), np.nan))
                    lookup = dict(zip(labels, table[name].to_numpy(), strict=True))
                    cell[r] = [lookup.get(label, np.nan) for label in s.labels]
        return values


def check_sums(engine: dict[str, np.ndarray], loop: dict[str, np.ndarray]) -> float:
    """Largest relative difference between the engine's and the loop's sums."""
    worst = 0.0
    for name, sums in loop.items():
        scale = np.maximum(np.abs(sums), 1.0)
        worst = max(worst, float(np.max(np.abs(engine[name][: len(sums)] - sums) / scale)))
    return worst


def check_fairlearn(workload: Workload, engine: dict[str, np.ndarray], values) -> float:
    """Largest |engine − fairlearn| over every weighted replicate value."""
    worst = 0.0
    for (name, slice_name), cell in values.items():
        index = [spec.name for spec in workload.specs].index(name)
        start, stop = workload.offsets[index], workload.offsets[index + 1]
        ours = metric_values(workload.specs[index], engine[slice_name][: len(cell), :, start:stop])
        worst = max(worst, float(np.nanmax(np.abs(ours - cell))))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--clips-per-speaker", type=int, default=5)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--loop-boot", type=int, default=20)
    parser.add_argument("--fairlearn-boot", type=int, default=1)
    parser.add_argument("--groups", type=int, default=0, help="add a column of ~N groups")
    parser.add_argument(
        "--yardsticks", default="dense,loop,fairlearn", help="which yardsticks to run (or none)"
    )
    args = parser.parse_args()
    slices = [*SLICES, "region"] if args.groups else SLICES
    intersections = 1 if args.groups else 2  # a 1,000-group column is not crossed
    predictions = bench_predictions(args.clips, args.clips_per_speaker, groups=args.groups)
    options = dict(slices=slices, intersections=intersections, metrics=METRICS)
    print(f"before: {load()}")
    result = run_audit(predictions, n_boot=10, **options)  # warm imports and caches
    workload = Workload(result, predictions.table.columns, slices, intersections)
    n_groups = sum(s.n_groups for s in workload.slices)
    print(
        f"audit: {args.clips} clips, {len(workload.speakers)} speakers, {n_groups} groups "
        f"(incl. overall), {len(METRICS)} metrics, {args.n_boot} replicates; replicate sums "
        f"{args.n_boot} x {len(workload.speakers)} by {len(workload.speakers)} x "
        f"{workload.n_columns}"
    )
    candidates = {
        "audit (run_audit defaults)": lambda: run_audit(predictions, n_boot=args.n_boot, **options)
    }
    scale: dict[str, float] = {}
    chosen = set(args.yardsticks.split(","))
    if chosen & {"dense", "loop", "fairlearn"}:
        weights = speaker_weights(workload.speakers, n_boot=args.n_boot, seed=0)
    if "dense" in chosen:
        rng = np.random.default_rng(0)
        dense = rng.random((len(workload.speakers), workload.n_columns), dtype=np.float32)
        candidates["dense matmul (same size)"] = lambda: weights @ dense
    if chosen & {"loop", "fairlearn"}:
        engine = workload.engine_sums(max(args.loop_boot, args.fairlearn_boot))
    if "loop" in chosen:
        loop_error = check_sums(engine, workload.numpy_loop(args.loop_boot))
        print(f"max relative |engine - numpy loop| of the sums: {loop_error:.1e}")
        scale["loop"] = args.n_boot / args.loop_boot
        name = f"numpy loop ({args.loop_boot} replicates, x{scale['loop']:g} extrapolated)"
        candidates[name] = lambda: workload.numpy_loop(args.loop_boot)
        scale[name] = scale.pop("loop")
    if "fairlearn" in chosen:
        values = workload.fairlearn(result, args.fairlearn_boot)
        error = check_fairlearn(workload, engine, values)
        print(f"max |engine - fairlearn MetricFrame| of the replicate values: {error:.1e}")
        factor = args.n_boot / args.fairlearn_boot
        name = f"fairlearn ({args.fairlearn_boot} replicate(s), x{factor:g} extrapolated)"
        candidates[name] = lambda: workload.fairlearn(result, args.fairlearn_boot)
        scale[name] = factor
    times = interleave(candidates, repeats=args.repeats)
    print(f"after: {load()}")
    print(report(times, scale=scale))
    ours = median(times["audit (run_audit defaults)"])
    for name in list(times)[1:]:
        ratio = median(times[name]) * scale.get(name, 1.0) / ours
        print(f"  median {name} / median audit: {ratio:.3g}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    print(f"peak resident memory of this process: {peak:.2f} GB")


if __name__ == "__main__":
    main()
