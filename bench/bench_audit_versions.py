"""The default audit of two versions of this code, interleaved, beside the same-size matmul.

A before/after claim is reproducible only if both sides run on the same machine at the
same time. This bench extracts ``--before`` (any git revision of this repository) with
``git archive`` into a temporary folder, starts one worker process per version (each
imports its own ``audit`` package, builds the workload of ``bench_audit.py`` and runs
one warm-up audit), then asks them in turn for one timed ``run_audit`` each, interleaved
with the dense matmul of the replicate sums' size (``bench_audit.py``'s yardstick),
``--repeats`` times: median, spread (min–max), load before and after, and each worker's
peak resident memory.

    python bench/bench_audit_versions.py --before a591f28 [--clips 100000] [--groups 0]
        [--n-boot 1000] [--repeats 3]

Both workers run the same slices, metrics and data (``bench_audit.bench_predictions``
of this checkout); their groups tables are compared at the end: the same rows, and every
column both versions write equal (a column one version lacks, from a later feature, is
named, not compared).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
from timing import load, median, report

HERE = Path(__file__).resolve().parents[1]

WORKER = r"""
import json, resource, sys, time
root, bench, clips, groups, n_boot, saved = *sys.argv[1:3], *map(int, sys.argv[3:6]), sys.argv[6]
sys.path.insert(0, root)
import audit
from audit.engine import run_audit  # this version's packages, imported first
sys.path.insert(0, bench)
from bench_audit import METRICS, SLICES, bench_predictions  # the data of this checkout
assert audit.__file__.startswith(root), audit.__file__
predictions = bench_predictions(clips, 5, groups=groups)
slices = [*SLICES, "region"] if groups else SLICES
options = dict(slices=slices, intersections=1 if groups else 2, metrics=METRICS)
warm = run_audit(predictions, n_boot=10, **options)
shown = warm.groups[(warm.groups["metric"] == METRICS[0]) & (warm.groups["status"] != "empty")]
speakers = int(warm.components["speaker_id"].nunique())
print(json.dumps({"speakers": speakers, "groups": len(shown)}), flush=True)
result = None
for line in sys.stdin:
    if line.strip() != "run":
        break
    start = time.perf_counter()
    result = run_audit(predictions, n_boot=n_boot, **options)
    print(json.dumps({"seconds": time.perf_counter() - start}), flush=True)
if result is not None:
    result.groups.to_pickle(saved)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
print(json.dumps({"peak_gb": peak}), flush=True)
"""


def start_worker(root: Path, args: argparse.Namespace, saved: Path) -> subprocess.Popen:
    command = [sys.executable, "-c", WORKER, str(root), str(HERE / "bench")]
    command += [str(args.clips), str(args.groups), str(args.n_boot), str(saved)]
    return subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def ask(worker: subprocess.Popen, line: str) -> dict:
    worker.stdin.write(line + "\n")
    worker.stdin.flush()
    return json.loads(worker.stdout.readline())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="git revision to compare with")
    parser.add_argument("--clips", type=int, default=100_000)
    parser.add_argument("--groups", type=int, default=0, help="add a column of ~N groups")
    parser.add_argument("--n-boot", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    revision = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", args.before],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    current = subprocess.run(
        ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as folder:
        archive = Path(folder) / "before.tar"
        subprocess.run(
            ["git", "-C", str(HERE), "archive", "-o", str(archive), revision], check=True
        )
        before_root = Path(folder) / "before"
        with tarfile.open(archive) as tar:
            tar.extractall(before_root, filter="data")
        print(f"before: {load()}")
        saved = [Path(folder) / "before.pkl", Path(folder) / "after.pkl"]
        workers = {
            f"before ({revision})": start_worker(before_root, args, saved[0]),
            f"after ({current}, working tree)": start_worker(HERE, args, saved[1]),
        }
        sizes = [json.loads(w.stdout.readline()) for w in workers.values()]
        n_speakers, n_groups = sizes[0]["speakers"], sizes[0]["groups"]
        n_columns = n_groups * 2 * 10  # 10 mean metrics, 2 moments each (bench_audit.METRICS)
        print(
            f"audit: {args.clips} clips, {n_speakers} speakers, {n_groups} groups, "
            f"{args.n_boot} replicates; matmul {args.n_boot} x {n_speakers} by "
            f"{n_speakers} x {n_columns} float32"
        )
        rng = np.random.default_rng(0)
        weights = rng.poisson(1.0, (args.n_boot, n_speakers)).astype(np.float32)
        dense = rng.random((n_speakers, n_columns), dtype=np.float32)
        times: dict[str, list[float]] = {name: [] for name in [*workers, "dense matmul"]}
        for _ in range(args.repeats):
            for name, worker in workers.items():
                times[name].append(ask(worker, "run")["seconds"])
            start = time.perf_counter()
            weights @ dense
            times["dense matmul"].append(time.perf_counter() - start)
        ends = {name: ask(worker, "quit") for name, worker in workers.items()}
        for worker in workers.values():
            worker.wait()
        before_groups, after_groups = (pd.read_pickle(path) for path in saved)
    print(f"after: {load()}")
    print(report(times))
    matmul = median(times["dense matmul"])
    for name in workers:
        print(
            f"  {name}: median / median matmul {median(times[name]) / matmul:.2f}; "
            f"peak resident memory {ends[name]['peak_gb']:.2f} GB"
        )
    print(compare_groups(before_groups, after_groups))


def _largest_change(before: pd.Series, after: pd.Series) -> str:
    """'' when equal, else how many rows differ and, for numbers, the largest difference."""
    if before.equals(after):
        return ""
    both_nan = before.isna() & after.isna()
    changed = ~both_nan & (before != after)
    text = f"{int(changed.sum())} rows"
    if pd.api.types.is_numeric_dtype(before) and pd.api.types.is_numeric_dtype(after):
        gap = (before - after).abs()[changed]
        text += f", largest |difference| {gap.max():.3g}" if gap.notna().any() else ", NaN moved"
    return text


def compare_groups(before: pd.DataFrame, after: pd.DataFrame) -> str:
    """Whether the last runs' groups tables agree: the same rows, and every column both
    versions write equal (values and NaNs; columns one version lacks are named)."""
    keys = ["metric", "slice", "group"]
    before, after = before.set_index(keys).sort_index(), after.set_index(keys).sort_index()
    if not before.index.equals(after.index):
        return "groups tables of the last runs DIFFER in their rows"
    common = [c for c in after.columns if c in before.columns]
    differ = {c: _largest_change(before[c], after[c]) for c in common}
    differ = {c: change for c, change in differ.items() if change}
    verdict = f"DIFFER ({'; '.join(f'{c}: {v}' for c, v in differ.items())})" if differ else "equal"
    only = {
        "before": [c for c in before.columns if c not in after.columns],
        "after": [c for c in after.columns if c not in before.columns],
    }
    extra = "; ".join(f"only {side}: {', '.join(cols)}" for side, cols in only.items() if cols)
    return (
        f"groups tables of the last runs, {len(before)} rows: {verdict} in the {len(common)} "
        f"columns both write" + (f" ({extra})" if extra else "")
    )


if __name__ == "__main__":
    main()
