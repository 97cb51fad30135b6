"""``s2f audit`` and ``s2f compare``: the audit engine on the command line.

Their options are generated from :class:`~audit.config.AuditConfig` and
:class:`~audit.config.CompareConfig`; the engine and the reports are imported when a
command runs, so that ``s2f --help`` stays light.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from audit.artifacts import REPORT_FILE, TRIALS_AUDIT_KIND, TRIALS_COMPARISON_KIND
from audit.config import AuditConfig, CompareConfig
from s2f.commands.options import (
    ReportConfig,
    add_audit_report_options,
    add_config_options,
    config_from_args,
)

EXIT_REGRESSION = 1


def register(subparsers: argparse._SubParsersAction) -> None:
    audit = subparsers.add_parser(
        "audit",
        help="metrics per group with speaker-clustered CIs, disparities and corrected tests",
        description="Audit a predictions artifact: every metric overall, per group and per "
        "intersection, with speaker-clustered bootstrap intervals, disparities against a "
        "reference group, and flags corrected for multiple testing.",
    )
    audit.add_argument("predictions", help="predictions folder (or a single Parquet file)")
    audit.add_argument("--out", required=True, help="audit result folder to write")
    add_config_options(audit, AuditConfig)
    add_config_options(audit, ReportConfig)
    add_audit_report_options(audit)
    audit.set_defaults(handler=_audit)

    compare = subparsers.add_parser(
        "compare",
        help="paired comparison of audits (or trials audits) of several models",
        description="Compare audit results against the first (the baseline), paired on the "
        "same clips and bootstrap replicates; flags regressions after correction. Trials "
        "audits (s2f audit-trials) compare paired on the same trials and speakers.",
    )
    compare.add_argument(
        "audits",
        nargs="+",
        help="audit result folders, or trials audit folders; the first is the baseline",
    )
    compare.add_argument("--out", required=True, help="comparison folder to write")
    add_config_options(compare, CompareConfig)
    compare.add_argument(
        "--fail-on-regression",
        action="store_true",
        help=f"exit {EXIT_REGRESSION} when any group regresses significantly (for CI gates)",
    )
    add_config_options(compare, ReportConfig)
    compare.set_defaults(handler=_compare)


def _audit(args: argparse.Namespace) -> int:
    config = config_from_args(AuditConfig, args)
    report = config_from_args(ReportConfig, args)
    from audit.engine import run_audit
    from s2f.commands.dataset_report import write_audit_report
    from speech2face.outputs import check_out

    out = check_out(args.out, "audit", inputs=[args.predictions])
    print(f"auditing {args.predictions} ({config.n_boot} replicates)", file=sys.stderr)
    result = run_audit(args.predictions, config, progress=True)
    render = (
        None
        if report.no_report
        else (lambda staging: write_audit_report(result, staging, out, args))
    )
    path = result.save(out, render=render)
    tests = result.summary["tests"]
    print(
        f"{path}: {result.summary['predictions']['n_clips']} clips of "
        f"{result.duration_s:g} s, {len(result.metrics)} metrics, {tests['n_tests']} tests "
        f"({tests['correction']}), {len(result.summary['flags'])} flag(s)"
    )
    for flag in result.summary["flags"]:
        print(
            f"  FLAG {flag['metric']} {flag['slice']}={flag['group']}: "
            f"{flag['difference']:+.3f} vs {flag['reference']} "
            f"[{flag['diff_ci_low']:+.3f}, {flag['diff_ci_high']:+.3f}], "
            f"p_adj={flag['p_adjusted']:.2g}"
        )
    return 0


def _is_trials_audit(path: str) -> bool:
    """Whether ``path`` is marked as a trials audit (written by ``s2f audit-trials``)."""
    from speech2face.outputs import artifact_kind

    return artifact_kind(path) == TRIALS_AUDIT_KIND


def _compare(args: argparse.Namespace) -> int:
    config = config_from_args(CompareConfig, args)
    report = config_from_args(ReportConfig, args)
    from speech2face.outputs import check_out

    if args.audits and _is_trials_audit(args.audits[0]):
        from audit.trials_compare import compare_trials_audits
        from reports.trials import render_trials_comparison_report as render_report

        out = check_out(args.out, TRIALS_COMPARISON_KIND, inputs=args.audits)
        result = compare_trials_audits(args.audits, config)
        unit = "trials"
    else:
        from audit.compare import compare_audits
        from reports import render_comparison_report as render_report

        out = check_out(args.out, "comparison", inputs=args.audits)
        result = compare_audits(args.audits, config)
        unit = "clips"

    def render(staging: Path) -> None:
        render_report(result, staging / REPORT_FILE, privacy_k=report.privacy_k, source=out)

    path = result.save(out, render=None if report.no_report else render)
    regressions = result.regressions()
    print(f"{path}: {len(regressions)} regression(s) over {result.summary[f'n_{unit}']} {unit}")
    for row in regressions.itertuples():
        print(
            f"  REGRESSION model {row.model} {row.metric} {row.slice}={row.group}: "
            f"delta {row.delta:+.3f} [{row.delta_ci_low:+.3f}, {row.delta_ci_high:+.3f}], "
            f"p_adj {row.p_adjusted:.2g}, threshold {row.threshold:g}"
        )
    if args.fail_on_regression and len(regressions):
        return EXIT_REGRESSION
    return 0
