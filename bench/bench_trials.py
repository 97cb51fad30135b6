"""Speed of the trials audit against recomputing the EER with scikit-learn per replicate.

Workload (issue 17's target): 1,000,000 trials of 100,000 speakers, 20 groups (gender 2,
language 8, age group 10) plus overall, 1,000 two-way bootstrap replicates, 2 threads.
The yardstick recomputes each replicate's EER per group with ``sklearn.metrics.roc_curve``
on the same two-way weights; its time is measured on ``--yardstick-boot`` replicates and
extrapolated linearly to ``--n-boot`` (printed as such). Audit and yardstick run
interleaved (A B A B ...), ``--repeats`` times each (``bench/timing.py``); the median,
spread (min–max) and load average before and after are printed, and the CPU seconds of
the audit (both threads), which a loaded shared machine inflates less than wall time.

    python bench/bench_trials.py [--trials 1000000] [--n-boot 1000] [--yardstick-boot 3]
        [--repeats 3]
    python bench/bench_trials.py --coverage 1000      # the full coverage figure
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import roc_curve

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
from timing import interleave, load, median, report

from audit._trial_weights import TwoWayWeights
from audit.simulate_trials import simulate_trials
from audit.trials import audit_trials

SLICES = ["gender", "language", "age_group"]
LANGUAGES = tuple(f"l{i}" for i in range(8))


def bench_table(n_trials: int) -> pd.DataFrame:
    table = simulate_trials(n_speakers=max(n_trials // 10, 40), languages=LANGUAGES, seed=0).iloc[
        :n_trials
    ]
    speaker = table["voice_speaker_id"].str[3:].astype(int).to_numpy()
    return table.assign(age_group=np.char.add("age", (speaker % 10).astype(str)))


def sklearn_eer(target: np.ndarray, score: np.ndarray, weight: np.ndarray) -> float:
    fmr, tpr, _ = roc_curve(target, score, sample_weight=weight)
    fnmr = 1 - tpr
    k = int(np.argmax(fmr >= fnmr))
    before, after = fmr[k - 1] - fnmr[k - 1], fmr[k] - fnmr[k]
    return fmr[k - 1] + before / (before - after) * (fmr[k] - fmr[k - 1])


def yardstick_seconds(table: pd.DataFrame, n_boot: int) -> float:
    """Seconds for ``n_boot`` replicates of roc_curve EER per group and overall."""
    voice, voice_ids = pd.factorize(table["voice_speaker_id"])
    face, face_ids = pd.factorize(table["face_speaker_id"])
    members = [np.ones(len(table), dtype=bool)] + [
        (table[column] == group).to_numpy()
        for column in SLICES
        for group in sorted(table[column].unique())
    ]
    target, score = table["target"].to_numpy(), table["score"].to_numpy()
    start = time.perf_counter()
    voice_w, face_w = TwoWayWeights(list(voice_ids), list(face_ids), 0).block(0, n_boot)
    for row in range(n_boot):
        weight = voice_w[row, voice] * face_w[row, face]
        for member in members:
            sklearn_eer(target[member], score[member], weight[member])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1_000_000)
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--yardstick-boot", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs of each")
    parser.add_argument("--coverage", type=int, default=0, help="simulated audits; 0: skip")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} CPUs visible, load average {os.getloadavg()[0]:.2f}")
    if args.coverage:
        from tests.test_trials_coverage import eer_coverage

        coverage = eer_coverage(args.coverage)
        for clustering, share in coverage.items():
            se = np.sqrt(share * (1 - share) / args.coverage)
            print(f"EER 95% interval coverage, {clustering}: {share:.3f} ± {se:.3f} (MC SE)")
        return
    table = bench_table(args.trials)
    n_groups = sum(table[column].nunique() for column in SLICES)
    cpu: list[float] = []
    rows: list[int] = []

    def audit() -> None:
        start = time.process_time()
        result = audit_trials(table, slices=SLICES, n_boot=args.n_boot, n_jobs=args.jobs)
        cpu.append(time.process_time() - start)
        rows.append(len(result.groups))

    yardstick = (
        f"roc_curve EER per replicate and group, 1 thread ({args.yardstick_boot} replicates, "
        f"EXTRAPOLATED x{args.n_boot / args.yardstick_boot:g})"
    )
    print(
        f"workload: {len(table):,} trials, {n_groups} groups + overall, {args.n_boot} "
        f"replicates, audit on {args.jobs} threads; before: {load()}"
    )
    times = interleave(
        {
            "trials audit": audit,
            yardstick: lambda: yardstick_seconds(table, args.yardstick_boot),
        },
        repeats=args.repeats,
    )
    print(report(times, scale={yardstick: args.n_boot / args.yardstick_boot}))
    print(f"  trials audit CPU seconds (both threads): {', '.join(f'{c:.1f}' for c in cpu)}")
    ratio = (
        median(times[yardstick]) * args.n_boot / args.yardstick_boot / median(times["trials audit"])
    )
    print(
        f"yardstick / audit (medians): {ratio:.1f}x (the audit also computes AUC, minDCF, FMR, "
        f"FNMR, 1-of-2, the FMR matrix and a second weighting; {rows[0]} group rows)"
    )
    print(f"after: {load()}")


if __name__ == "__main__":
    main()
