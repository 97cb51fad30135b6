"""Render time and size of the audit report for the issue's workload, and of a full audit.

Workload (the issue's target: under 5 s and under 5 MB): the audit benchmark's
predictions (bench_audit.py): slices gender (2), ethnicity (6), age group (6) with
pairwise intersections (60 intersectional groups, 74 in all) and 10 metrics. The audit
is computed once and saved; the timed part is what ``s2f audit`` adds for the report:
loading the saved result and rendering the HTML (figures included). Wall time and
process CPU time are both printed (the CPU time is less sensitive to a shared machine).

The second line renders the report of a full audit of every metric the toolkit
defines (44 metrics: attributes, age, features, craniofacial, retrieval, each with its own
forest plot; 4 slices with intersections), as the report tests build it.

    python bench/bench_reports.py [--clips 20000] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench_audit import METRICS, SLICES, bench_predictions

from audit.engine import run_audit
from audit.result import AuditResult
from reports import render_audit_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.report_artifacts import planted_predictions

TARGET_SECONDS = 5.0
TARGET_BYTES = 5_000_000


def timed_render(folder: Path, repeats: int) -> tuple[float, float, int, int]:
    """Best wall and CPU seconds of load + render over ``repeats``; bytes; images."""
    best_wall = best_cpu = float("inf")
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        path = render_audit_report(AuditResult.load(folder), folder / "report.html")
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    html = path.read_text()
    return best_wall, best_cpu, path.stat().st_size, html.count("<img ")


def report_line(label: str, folder: Path, repeats: int) -> None:
    wall, cpu, size, images = timed_render(folder, repeats)
    print(
        f"{label}: render {wall:.2f} s wall, {cpu:.2f} s CPU (target < {TARGET_SECONDS:g} s: "
        f"wall/target {wall / TARGET_SECONDS:.2f}, CPU/target {cpu / TARGET_SECONDS:.2f}); "
        f"{size / 1e6:.2f} MB (size/target {size / TARGET_BYTES:.2f}); {images} figures"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clips", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(
        f"cpu cores available: {len(os.sched_getaffinity(0))}, load average "
        f"{os.getloadavg()[0]:.1f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        workload = Path(tmp) / "workload"
        result = run_audit(
            bench_predictions(args.clips, 10),
            slices=SLICES,
            intersections=2,
            metrics=METRICS,
            n_boot=200,
            fairlearn_views=False,
        )
        result.save(workload)
        first = result.groups[result.groups["metric"] == METRICS[0]]
        n_groups = int((first["status"] != "empty").sum()) - 1
        report_line(
            f"issue workload ({n_groups} groups x {len(METRICS)} metrics, "
            f"{len(result.groups)} rows)",
            workload,
            args.repeats,
        )
        full = Path(tmp) / "full"
        result = run_audit(planted_predictions(), n_boot=200, fairlearn_views=False)
        result.save(full)
        report_line(
            f"full audit ({len(result.metrics)} metrics, {len(result.groups)} rows)",
            full,
            args.repeats,
        )


if __name__ == "__main__":
    main()
