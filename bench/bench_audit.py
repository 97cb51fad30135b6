"""Speed of the audit engine against fairlearn's MetricFrame bootstrap.

Workload (the issue's target): 100,000 clips of 10,000 speakers, slices gender (2),
ethnicity (6) and age group (6) with pairwise intersections (60 intersectional groups,
74 groups with the one-column slices and overall), 10 metrics, 1,000 replicates.

fairlearn's ``MetricFrame(n_boot=...)`` resamples clips (not speakers) and needs one
frame per slice. Its time grows linearly with ``n_boot``, so it is measured at
``--fairlearn-boot`` replicates and extrapolated to 1,000 (printed as such). Per-group
point values of both are checked equal first.

    python bench/bench_audit.py [--clips 100000] [--n-boot 1000] [--fairlearn-boot 10]
"""

from __future__ import annotations

import argparse
import itertools
import os
import time

import numpy as np
import pandas as pd
from fairlearn.metrics import MetricFrame

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


def bench_predictions(n_clips: int, clips_per_speaker: int, seed: int = 0) -> Predictions:
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
    return Predictions(table=pd.DataFrame(columns), features={}, meta={"model_id": "bench"})


def fairlearn_frames(result, n_boot: int | None):
    """One MetricFrame per slice over the audit's own per-clip components."""
    components = result.components
    metrics, params = {}, {}
    for name in METRICS:
        metrics[name] = lambda y_true, y_pred, value: float(np.nanmean(value))
        params[name] = {"value": components[name].to_numpy()}
    dummy = np.zeros(len(components))
    slices = [[c] for c in SLICES] + [list(p) for p in itertools.combinations(SLICES, 2)]
    frames = {}
    for columns in slices:
        sensitive = components[[f"slice:{c}" for c in columns]]
        sensitive.columns = columns
        frames[" & ".join(columns)] = MetricFrame(
            metrics=metrics,
            y_true=dummy,
            y_pred=dummy,
            sensitive_features=sensitive,
            sample_params=params,
            n_boot=n_boot,
            ci_quantiles=[0.025, 0.975] if n_boot else None,
            random_state=0 if n_boot else None,
        )
    return frames


def check_equal(result, frames) -> float:
    worst = 0.0
    groups = result.groups.set_index(["metric", "slice", "group"])["value"]
    for slice_name, frame in frames.items():
        for key, row in frame.by_group.iterrows():
            label = " & ".join(map(str, key if isinstance(key, tuple) else (key,)))
            for metric in METRICS:
                worst = max(worst, abs(groups[metric, slice_name, label] - row[metric]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--clips-per-speaker", type=int, default=10)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--fairlearn-boot", type=int, default=10)
    args = parser.parse_args()
    predictions = bench_predictions(args.clips, args.clips_per_speaker)
    options = dict(slices=SLICES, intersections=2, metrics=METRICS, fairlearn_views=False)
    run_audit(predictions, n_boot=10, **options)  # warm imports and caches
    start = time.perf_counter()
    result = run_audit(predictions, n_boot=args.n_boot, **options)
    ours = time.perf_counter() - start
    n_groups = (result.groups.query("metric == @METRICS[0]")["status"] != "empty").sum()
    n_inter = (result.groups.query("metric == @METRICS[0]")["slice"].str.contains("&")).sum()
    print(f"cpu cores available: {len(os.sched_getaffinity(0))}")
    print(
        f"audit: {args.clips} clips, {result.summary['predictions']['n_speakers']} speakers, "
        f"{n_groups} groups ({n_inter} intersectional), {len(METRICS)} metrics, "
        f"{args.n_boot} replicates: {ours:.2f} s"
    )
    start = time.perf_counter()
    points = fairlearn_frames(result, None)
    fairlearn_point = time.perf_counter() - start
    print(f"max |ours - fairlearn MetricFrame.by_group| = {check_equal(result, points):.2e}")
    start = time.perf_counter()
    fairlearn_frames(result, args.fairlearn_boot)
    measured = time.perf_counter() - start
    per_replicate = (measured - fairlearn_point) / args.fairlearn_boot
    extrapolated = fairlearn_point + per_replicate * args.n_boot
    print(
        f"fairlearn MetricFrame(n_boot={args.fairlearn_boot}): {measured:.2f} s measured; "
        f"extrapolated linearly to n_boot={args.n_boot}: {extrapolated:.0f} s"
    )
    print(f"speed-up vs fairlearn (extrapolated): {extrapolated / ours:.0f}x")


if __name__ == "__main__":
    main()
