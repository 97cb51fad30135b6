"""Render time and size of the three reports (dataset, audit, comparison) for the issue's
workload, and of a full audit.

Workload (the issue's target: under 5 s and under 5 MB per report): the audit benchmark's
predictions (bench_audit.py): slices gender (2), ethnicity (6), age group (6) with
pairwise intersections (60 intersectional groups, 74 in all) and 10 metrics.

- audit report: the audit is computed once and saved; the timed part is what ``s2f audit``
  adds for the report: loading the saved result and rendering the HTML (figures included);
- comparison report: the same clips from a candidate model (S2F attributes re-drawn for a
  fifth of the clips), audited alike and compared with ``compare_audits``; timed: loading
  the saved comparison and rendering;
- dataset report: a manifest of the same speakers (train and test splits, the same three
  columns and their pairwise intersections: 74 groups per split; a dataset analysis has no
  metrics), analysed once and saved; timed: loading the saved analysis and rendering.

Wall time and process CPU time are both printed (the CPU time is less sensitive to a
shared machine), with the load average before and after each line.

The last line renders the report of a full audit of every metric the toolkit
defines (92 metrics: attributes, age, features, craniofacial, retrieval, each with its own
forest plot or grid panel; 4 slices with intersections), as the report tests build it.

    python bench/bench_reports.py [--clips 20000] [--repeats 3]
        [--reports dataset,audit,comparison,full]

``--reports full`` renders the full audit's report only (issue 19 item 3: it too must
render in under 5 s and 5 MB).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's packages
from bench_audit import METRICS, SLICES, bench_predictions
from timing import load, median, spread

from audit.compare import ComparisonResult, compare_audits
from audit.engine import run_audit
from audit.imbalance import DatasetAnalysis, analyze_dataset
from audit.result import AuditResult
from reports import render_audit_report, render_comparison_report, render_dataset_report
from speech2face.prediction.artifact import Predictions

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.report_artifacts import planted_predictions

TARGET_SECONDS = 5.0
TARGET_BYTES = 5_000_000


def timed_render(
    render: Callable[[], Path], repeats: int
) -> tuple[list[float], list[float], int, int]:
    """Wall and CPU seconds of each of ``repeats`` load + render runs; bytes; images."""
    walls, cpus = [], []
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        path = render()
        walls.append(time.perf_counter() - wall)
        cpus.append(time.process_time() - cpu)
    html = path.read_text()
    return walls, cpus, path.stat().st_size, html.count("<img ")


def report_line(label: str, render: Callable[[], Path], repeats: int) -> None:
    before = load()
    walls, cpus, size, images = timed_render(render, repeats)
    wall, cpu = median(walls), median(cpus)
    print(
        f"{label}: render {spread(walls)} wall, {spread(cpus)} CPU (median/target "
        f"{wall / TARGET_SECONDS:.2f} wall, {cpu / TARGET_SECONDS:.2f} CPU; target < "
        f"{TARGET_SECONDS:g} s); {size / 1e6:.2f} MB (size/target {size / TARGET_BYTES:.2f}); "
        f"{images} figures; {before} before, {load()} after",
        flush=True,
    )


def audit_render(folder: Path) -> Callable[[], Path]:
    return lambda: render_audit_report(AuditResult.load(folder), folder / "report.html")


def candidate(predictions: Predictions, seed: int = 1) -> Predictions:
    """The same clips from another model: a fifth of the S2F attributes re-drawn."""
    rng = np.random.default_rng(seed)
    table = predictions.table.copy()
    for column in [c for c in table.columns if c.startswith("s2f_") and table[c].dtype == object]:
        redraw = rng.random(len(table)) < 0.2
        table.loc[redraw, column] = rng.choice(table[column].unique(), int(redraw.sum()))
    return Predictions(table=table, features={}, meta={"model_id": "bench-candidate"})


def bench_manifest(predictions: Predictions) -> pd.DataFrame:
    """A manifest of the predictions' speakers: train and test splits, the same columns."""
    speakers = predictions.table.drop_duplicates("speaker_id")
    decade_age = {"<20": 18, "70+": 72}
    ages = [decade_age[d] if d in decade_age else int(d[:2]) + 5 for d in speakers["age_group"]]
    rng = np.random.default_rng(2)
    speaker_table = pd.DataFrame(
        {
            "speaker_id": speakers["speaker_id"].to_numpy(),
            "split": np.where(rng.random(len(speakers)) < 0.7, "train", "test"),
            "age": np.asarray(ages, dtype=float),
            "gender": speakers["gender"].to_numpy(),
            "ethnicity": speakers["ethnicity"].to_numpy(),
        }
    )
    clips = predictions.table[["clip_id", "speaker_id"]].merge(speaker_table, on="speaker_id")
    return clips.assign(
        audio_path="audio/" + clips["clip_id"] + ".wav",
        gender_source="self_reported",
        ethnicity_source="annotated",
        age_source="annotated",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--reports",
        default="dataset,audit,comparison,full",
        help="comma-separated: which of dataset, audit, comparison, full to render",
    )
    args = parser.parse_args()
    if args.repeats < 3:
        parser.error("--repeats: at least 3 runs, for a median and a spread")
    chosen = set(args.reports.split(","))
    unknown = chosen - {"dataset", "audit", "comparison", "full"}
    if unknown:
        parser.error(f"--reports: unknown {', '.join(sorted(unknown))}")
    print(
        f"cpu cores available: {len(os.sched_getaffinity(0))}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        if chosen & {"dataset", "audit", "comparison"}:
            workload_reports(Path(tmp), args, chosen)
        if "full" in chosen:
            full = Path(tmp) / "full"
            result = run_audit(planted_predictions(), n_boot=200, fairlearn_views=False)
            result.save(full)
            report_line(
                f"full audit report ({len(result.metrics)} metrics, {len(result.groups)} rows)",
                audit_render(full),
                args.repeats,
            )


def workload_reports(tmp: Path, args: argparse.Namespace, chosen: set[str]) -> None:
    """The dataset, audit and comparison reports of the issue's workload."""
    workload = tmp / "workload"
    predictions = bench_predictions(args.clips, 10)
    settings = dict(
        slices=SLICES, intersections=2, metrics=METRICS, n_boot=200, fairlearn_views=False
    )
    result = run_audit(predictions, **settings)
    result.save(workload)
    first = result.groups[result.groups["metric"] == METRICS[0]]
    n_groups = int((first["status"] != "empty").sum()) - 1
    shape = f"{n_groups} groups x {len(METRICS)} metrics"
    if "dataset" in chosen:
        analysis_folder = tmp / "dataset.analysis"
        analysis = analyze_dataset(bench_manifest(predictions), columns=SLICES)
        analysis.save(analysis_folder)
        counts = analysis.counts
        per_split = int(((counts["split"] == "test") & (counts["n_speakers"] > 0)).sum())
        report_line(
            f"dataset report ({per_split} non-empty groups per split, {len(counts)} count rows)",
            lambda: render_dataset_report(
                DatasetAnalysis.load(analysis_folder),
                tmp / "dataset.html",
                source="manifest.parquet",
            ),
            args.repeats,
        )
    if "audit" in chosen:
        report_line(
            f"audit report ({shape}, {len(result.groups)} rows)",
            audit_render(workload),
            args.repeats,
        )
    if "comparison" in chosen:
        other = tmp / "candidate"
        run_audit(candidate(predictions), **settings).save(other)
        comparison_folder = tmp / "comparison"
        comparison = compare_audits([workload, other])
        comparison.save(comparison_folder)
        report_line(
            f"comparison report ({shape}, {len(comparison.changes)} change rows)",
            lambda: render_comparison_report(
                ComparisonResult.load(comparison_folder), comparison_folder / "report.html"
            ),
            args.repeats,
        )


if __name__ == "__main__":
    main()
