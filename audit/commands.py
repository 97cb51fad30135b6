"""``s2f audit`` and ``s2f compare``: the audit engine on the command line."""

from __future__ import annotations

import argparse
import sys

from audit._disparities import BEST, OVERALL_REFERENCE
from audit._intervals import CORRECTIONS, FAMILIES, FAMILY_ALL
from audit._selection import SPLIT_CHOICES
from audit.artifacts import REPORT_FILE
from audit.compare import ALIGNMENTS, STRICT, compare_audits
from audit.engine import run_audit
from audit.retrieval import METRICS as DISTANCES
from reports.commands import add_audit_report_options, write_audit_report
from speech2face.errors import InputError
from speech2face.vocabulary import MIN_GROUP_SPEAKERS

BAD_REFERENCE = (
    "--reference must be 'best', 'overall' or column=group[,column=group...], got {value!r}"
)
EXIT_REGRESSION = 1


def _columns(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_reference(text: str) -> str | dict[str, str]:
    """``best``, ``overall`` or ``gender=male,ethnicity=group_a``."""
    if text in (BEST, OVERALL_REFERENCE):
        return text
    pairs = [part.split("=", 1) for part in _columns(text)]
    if not pairs or any(len(pair) != 2 or not pair[0] or not pair[1] for pair in pairs):
        raise InputError(BAD_REFERENCE.format(value=text))
    return {column.strip(): group.strip() for column, group in pairs}


def parse_thresholds(text: str) -> dict[str, str]:
    """``correlation=0.2,feature_l1_error=5%`` as a mapping (values checked by the audit)."""
    pairs = [part.split("=", 1) for part in _columns(text)]
    if not pairs or any(len(pair) != 2 or not pair[0].strip() for pair in pairs):
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE[,KEY=VALUE...], got {text!r}")
    return {key.strip(): value.strip() for key, value in pairs}


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
    audit.add_argument(
        "--slices",
        type=_columns,
        default=None,
        help="comma-separated columns to slice by "
        "(default: age_group,gender,ethnicity,language where present)",
    )
    audit.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="S",
        help="audit the predictions of S seconds of speech (default: the longest present, "
        "the paper's 6 s); compare two audits for 3 s versus 6 s",
    )
    audit.add_argument(
        "--manifest",
        default=None,
        metavar="M",
        help="join this manifest's columns on clip_id, so any of them can be a slice "
        "(e.g. --slices accent)",
    )
    audit.add_argument(
        "--split",
        choices=SPLIT_CHOICES,
        default=None,
        help="rows of this split of a 'split' column (default: test; all: every row)",
    )
    audit.add_argument("--intersections", type=int, default=2, help="highest order (default 2)")
    audit.add_argument("--metrics", type=_columns, default=None, help="only these metrics")
    audit.add_argument("--n-boot", type=int, default=1000, help="bootstrap replicates")
    audit.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    audit.add_argument(
        "--min-speakers",
        type=int,
        default=MIN_GROUP_SPEAKERS,
        help="speakers below which a cell is insufficient",
    )
    audit.add_argument(
        "--reference",
        default=BEST,
        help="best (default), overall, or column=group pairs such as gender=male",
    )
    audit.add_argument("--correction", choices=CORRECTIONS, default="holm")
    audit.add_argument(
        "--family",
        choices=FAMILIES,
        default=FAMILY_ALL,
        help="correct over all tests of the audit (default) or within each metric",
    )
    audit.add_argument(
        "--threshold",
        type=float,
        default=0.05,
        help="practical threshold of proportions (agreement, accuracy, recall; 0.05 = 5 points)",
    )
    audit.add_argument(
        "--age-threshold", type=float, default=2.0, help="practical threshold of age errors, years"
    )
    audit.add_argument(
        "--thresholds",
        type=parse_thresholds,
        default=None,
        metavar="KEY=VALUE,...",
        help="practical thresholds by metric name, family or unit, in the metric's units or "
        "as N%% of its overall value (defaults: correlation=0.1, similarity=0.05, "
        "distance=10%%); e.g. feature_l1_error=5%%,correlation=0.2",
    )
    audit.add_argument(
        "--gallery-size", type=int, default=5000, help="retrieval gallery size G (default 5000)"
    )
    audit.add_argument(
        "--retrieval-distances",
        type=_columns,
        default=list(DISTANCES),
        help="comma-separated retrieval distances (default cosine,l2,l1)",
    )
    audit.add_argument(
        "--matched-gallery",
        default=None,
        metavar="COLUMN",
        help="also rank each query against a gallery of its own COLUMN group (e.g. ethnicity)",
    )
    audit.add_argument(
        "--exclude-invalid",
        action="store_true",
        help="leave clips with non-finite features out of feature metrics instead of failing",
    )
    _add_report_options(audit)
    add_audit_report_options(audit)
    audit.set_defaults(handler=_audit)

    compare = subparsers.add_parser(
        "compare",
        help="paired comparison of audits of several models on the same clips",
        description="Compare audit results against the first (the baseline), paired on the "
        "same clips and bootstrap replicates; flags regressions after correction.",
    )
    compare.add_argument(
        "audits", nargs="+", help="audit result folders; the first is the baseline"
    )
    compare.add_argument("--out", required=True, help="comparison folder to write")
    compare.add_argument("--align", choices=ALIGNMENTS, default=STRICT)
    compare.add_argument("--correction", choices=CORRECTIONS, default=None)
    compare.add_argument("--threshold", type=float, default=None)
    compare.add_argument(
        "--fail-on-regression",
        action="store_true",
        help=f"exit {EXIT_REGRESSION} when any group regresses significantly (for CI gates)",
    )
    _add_report_options(compare)
    compare.set_defaults(handler=_compare)


def _add_report_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--privacy-k",
        type=int,
        default=5,
        help="suppress groups with fewer speakers than this in the report (default 5)",
    )
    parser.add_argument(
        "--no-report", action="store_true", help="write the artifact only, no report.html"
    )


def _audit(args: argparse.Namespace) -> int:
    print(f"auditing {args.predictions} ({args.n_boot} replicates)", file=sys.stderr)
    result = run_audit(
        args.predictions,
        slices=args.slices,
        intersections=args.intersections,
        metrics=args.metrics,
        n_boot=args.n_boot,
        seed=args.seed,
        min_speakers=args.min_speakers,
        reference=parse_reference(args.reference),
        correction=args.correction,
        family=args.family,
        threshold=args.threshold,
        age_threshold=args.age_threshold,
        thresholds=args.thresholds,
        exclude_invalid=args.exclude_invalid,
        gallery_size=args.gallery_size,
        retrieval_distances=args.retrieval_distances,
        matched_gallery=args.matched_gallery,
        progress=True,
        duration=args.duration,
        split=args.split,
        manifest=args.manifest,
    )
    path = result.save(args.out)
    if not args.no_report:
        write_audit_report(result, path / REPORT_FILE, args)
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


def _compare(args: argparse.Namespace) -> int:
    result = compare_audits(
        args.audits, align=args.align, correction=args.correction, threshold=args.threshold
    )
    path = result.save(args.out)
    if not args.no_report:
        from reports import render_comparison_report

        render_comparison_report(result, path / REPORT_FILE, privacy_k=args.privacy_k, source=path)
    regressions = result.regressions()
    print(f"{path}: {len(regressions)} regression(s) over {result.summary['n_clips']} clips")
    for row in regressions.itertuples():
        kind = "REGRESSION" if row.regression else "GAP WIDENED"
        print(
            f"  {kind} model {row.model} {row.metric} {row.slice}={row.group}: "
            f"delta {row.delta:+.3f}, gap change {row.gap_change:+.3f}"
        )
    if args.fail_on_regression and len(regressions):
        return EXIT_REGRESSION
    return 0
