"""``s2f trials`` and ``s2f audit-trials``: voice–face matching trials and their audit.

Options of the audit are generated from :class:`~audit.trials_config.TrialsConfig`; the
audit, the report and the trial builder are imported when a command runs, so that
``s2f --help`` stays light.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from audit.artifacts import REPORT_FILE, TRIALS_AUDIT_KIND
from audit.trials_config import TrialsConfig
from s2f.commands.options import ReportConfig, add_config_options, config_from_args

MODEL_NEEDS_MANIFEST = "--model and --manifest go together (or give --predictions alone)"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``trials`` and ``audit-trials``."""
    build = subparsers.add_parser(
        "trials",
        help="voice-face trials (cosine of predicted and true face features) of a run",
        description="Build a trials table from a predictions artifact of our own model: "
        "each test clip's predicted face feature scored (cosine) against its speaker's "
        "true face feature (a target) and against impostor faces drawn with a seed.",
    )
    source = build.add_mutually_exclusive_group(required=True)
    source.add_argument("--predictions", help="predictions folder (s2f predict)")
    source.add_argument(
        "--model",
        metavar="RUN",
        help="a trained run: predicts --manifest's clips of --split at 6 s first (needs "
        "--manifest); the same trials as s2f predict then s2f trials --predictions",
    )
    build.add_argument("--manifest", help="manifest whose clips --model predicts")
    build.add_argument("--out", required=True, help="trials table to write (.parquet)")
    build.add_argument(
        "--protocol",
        choices=("verification", "1-of-2", "1-of-n"),
        default="verification",
        help="impostors per clip: --impostors-per-clip (verification), one (1-of-2), or "
        "--faces-per-trial minus one (1-of-n: the target among that many faces)",
    )
    build.add_argument(
        "--impostors",
        choices=("same-gender", "any"),
        default="any",
        help="impostor faces: of any speaker, or of speakers of the voice speaker's gender",
    )
    build.add_argument(
        "--impostors-per-clip", type=int, default=4, help="verification impostors per clip"
    )
    build.add_argument(
        "--faces-per-trial",
        type=int,
        default=5,
        metavar="N",
        help="1-of-n: faces per clip, the target and N-1 impostors (at least 2; default 5)",
    )
    build.add_argument(
        "--split", default="test", help="audit this split only (default: test; all: every row)"
    )
    build.add_argument("--seed", type=int, default=0, help="seed of the impostor draw")
    build.set_defaults(handler=_trials)

    audit = subparsers.add_parser(
        "audit-trials",
        help="EER, AUC, minDCF, FMR/FNMR, 1-of-2 and 1-of-n per group, heard/unheard languages",
        description="Audit a trials table of a voice-face matcher: per-group EER, ROC AUC, "
        "minDCF, FMR and FNMR at one global threshold, 1-of-2 and 1-of-n matching, with two-way "
        "(voice x face speaker) clustered bootstrap intervals, differences against a fixed "
        "reference, corrected tests, the group-pair FMR matrix and heard/unheard languages.",
    )
    audit.add_argument("trials", help="trials table (.parquet or .csv)")
    audit.add_argument("--out", required=True, help="trials audit folder to write")
    add_config_options(audit, TrialsConfig)
    add_config_options(audit, ReportConfig)
    audit.set_defaults(handler=_audit_trials)


def _audit_trials(args: argparse.Namespace) -> int:
    config = config_from_args(TrialsConfig, args)
    report = config_from_args(ReportConfig, args)
    from audit.trials_result import run_trials_audit
    from reports.trials import render_trials_report
    from speech2face.outputs import check_out

    out = check_out(args.out, TRIALS_AUDIT_KIND, inputs=[args.trials])
    print(f"auditing {args.trials} ({config.n_boot} replicates)", file=sys.stderr)
    result = run_trials_audit(args.trials, config)

    def render(staging: Path) -> None:
        render_trials_report(result, staging / REPORT_FILE, privacy_k=report.privacy_k, source=out)

    path = result.save(out, render=None if report.no_report else render)
    eer = result.summary["overall"]["eer"]
    print(
        f"{path}: {result.summary['trials']['n_trials']} trials, overall EER "
        f"{eer['value']:.3f} [{eer['ci_low']:.3f}, {eer['ci_high']:.3f}], "
        f"{len(result.summary['flags'])} flag(s)"
    )
    for flag in result.summary["flags"]:
        value = flag.get("gap", flag.get("difference"))
        print(f"  FLAG {flag['metric']} {flag['slice']}={flag['group']}: {value:+.3f}")
    return 0


def _is_trials(path: Path) -> bool:
    """Whether ``path`` is a trials table written by s2f (which ``--out`` may replace)."""
    from speech2face.errors import InputError
    from speech2face.trials import read_trials

    try:
        return read_trials(path).meta.get("kind") == "trials"
    except InputError:
        return False


def _trials(args: argparse.Namespace) -> int:
    from speech2face.errors import InputError
    from speech2face.outputs import check_out
    from speech2face.trial_builder import build_trials, trials_from_model
    from speech2face.trials import write_trials

    if (args.model is None) != (args.manifest is None):
        raise InputError(MODEL_NEEDS_MANIFEST)
    inputs = [args.predictions] if args.model is None else [args.model, args.manifest]
    out = Path(args.out)
    if not (out.is_file() and out.suffix == ".parquet" and _is_trials(out)):
        out = check_out(args.out, "trials table", inputs=inputs, file=True)
    options = {
        "protocol": args.protocol,
        "impostors": args.impostors,
        "impostors_per_clip": args.impostors_per_clip,
        "faces_per_trial": args.faces_per_trial,
        "split": args.split,
        "seed": args.seed,
    }
    if args.model is None:
        table, meta = build_trials(args.predictions, **options)
    else:
        with tempfile.TemporaryDirectory(prefix=".s2f-trials-", dir=out.parent) as work:
            table, meta = trials_from_model(args.model, args.manifest, work=work, **options)
    write_trials(out, table, meta=meta)
    print(f"{out}: {len(table)} trials ({int(table['target'].sum())} targets)")
    return 0
