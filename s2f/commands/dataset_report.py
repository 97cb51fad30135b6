"""``s2f dataset-report``: analyse a manifest's composition and render the dataset report."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

from audit.artifacts import REPORT_FILE
from audit.privacy import PRIVACY_K
from speech2face.errors import InputError
from speech2face.outputs import check_out
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS, MIN_GROUP_SPEAKERS

if TYPE_CHECKING:
    from audit.imbalance import DatasetAnalysis
    from audit.result import AuditResult

ANALYSIS_SUFFIX = ".analysis"
ANALYSIS_KIND = "dataset-report"
REPORT_KIND = "Dataset report"
"""The kind its HTML head names (``speech2face.artifacts.REPORT_MARKER``)."""
BAD_REFERENCE_FILE = "{path}: cannot read the reference population: {reason}"
BAD_REFERENCE_SHAPE = (
    "{path}: the reference population must map columns to {{group: share}}, "
    'e.g. {{"gender": {{"female": 0.5, "male": 0.5}}}}'
)


NO_SUCH_COLUMN = "{path}: no column {column!r} to analyse (--columns); its columns: {known}"
CONDITIONS_NEED_CLIPS = (
    "{path}: a metadata-only manifest has no clips: --conditions needs a manifest of clips"
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``dataset-report``."""
    parser = subparsers.add_parser(
        "dataset-report",
        help="composition, imbalance and detectable differences of a manifest, as HTML",
        description="Analyse who is in a manifest (groups per split, intersections, imbalance, "
        "train/test shift, label provenance, minimum detectable difference) and write a "
        "self-contained HTML report. The analysis is saved next to the report "
        "(REPORT.analysis/) so the report can be re-rendered without the manifest.",
    )
    parser.add_argument("manifest", metavar="MANIFEST", help="manifest (.parquet, .csv, .tsv)")
    parser.add_argument("--out", required=True, metavar="REPORT.html", help="report to write")
    parser.add_argument(
        "--columns",
        metavar="COLUMNS",
        help="comma-separated categorical columns of the manifest to analyse, any of them "
        "(e.g. gender,nationality; default: age_group,gender,ethnicity,language)",
    )
    parser.add_argument(
        "--reference-population",
        metavar="SHARES.json",
        help='population shares per column, e.g. {"gender": {"female": 0.5, "male": 0.5}}',
    )
    parser.add_argument(
        "--min-speakers",
        type=int,
        default=MIN_GROUP_SPEAKERS,
        help=f"speakers below which a group is too thin to audit (default {MIN_GROUP_SPEAKERS})",
    )
    parser.add_argument(
        "--privacy-k",
        type=int,
        default=PRIVACY_K,
        help=f"suppress the numbers of groups with fewer speakers (default {PRIVACY_K})",
    )
    parser.add_argument(
        "--conditions",
        metavar="CONDITIONS.parquet",
        help="conditions table of the manifest's clips (s2f conditions): adds each group's "
        "recording conditions (median, IQR) and the groups recorded differently from the rest",
    )
    parser.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="do not check that the manifest's audio/face files exist",
    )
    parser.set_defaults(handler=run_dataset_report)


def read_reference_population(path: str | Path) -> dict[str, dict[str, float]]:
    """The ``{column: {group: share}}`` JSON file of a reference population."""
    path = Path(path)
    try:
        shares = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        reason = " ".join(str(error).split())
        raise InputError(BAD_REFERENCE_FILE.format(path=path, reason=reason)) from error
    valid = isinstance(shares, dict) and all(
        isinstance(groups, dict)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in groups.values())
        for groups in shares.values()
    )
    if not valid:
        raise InputError(BAD_REFERENCE_SHAPE.format(path=path))
    return shares


def read_manifest_conditions(path: str | Path, clip_ids) -> tuple[object, dict[str, str]]:
    """The conditions of every manifest clip (``clip_id`` and the measures) and the table's
    name and SHA-256; a bad file, a clip missing or twice is a one-line InputError."""
    from speech2face.audio.conditions_table import conditions_for
    from speech2face.hashing import file_sha256

    measures = conditions_for(path, clip_ids)
    measures.insert(0, "clip_id", clip_ids.astype(str).to_numpy())
    return measures, {"path": str(path), "sha256": file_sha256(path)}


def analysis_path(report: str | Path) -> Path:
    """Where the analysis behind ``report`` is saved: ``REPORT.analysis/`` beside it."""
    report = Path(report)
    return report.with_name(report.stem + ANALYSIS_SUFFIX)


def run_dataset_report(args: argparse.Namespace) -> int:
    from s2f.commands.options import ReportConfig

    ReportConfig(privacy_k=args.privacy_k)  # checks it: a one-line error
    inputs = [p for p in (args.manifest, args.conditions) if p is not None]
    check_outs(args.out, inputs=inputs)
    reference = (
        read_reference_population(args.reference_population) if args.reference_population else None
    )
    from audit.imbalance import analyze_dataset, findings_for
    from speech2face.manifest.load import load_manifest

    manifest = load_manifest(args.manifest, check_files=args.check_files, metadata_only=None)
    from speech2face.manifest.schema import METADATA, manifest_kind

    rows = (
        f"{len(manifest)} speaker(s), metadata only"
        if manifest_kind(manifest) == METADATA
        else f"{len(manifest)} clip(s)"
    )
    print(f"analysing {args.manifest} ({rows})", file=sys.stderr)
    columns = (
        tuple(c.strip() for c in args.columns.split(",") if c.strip())
        if args.columns
        else DEMOGRAPHIC_COLUMNS
    )
    for column in columns:
        if column not in manifest.columns:
            raise InputError(
                NO_SUCH_COLUMN.format(
                    path=args.manifest, column=column, known=", ".join(map(str, manifest.columns))
                )
            )
    conditions = source = None
    if args.conditions is not None:
        if manifest_kind(manifest) == METADATA:
            raise InputError(CONDITIONS_NEED_CLIPS.format(path=args.manifest))
        conditions, source = read_manifest_conditions(args.conditions, manifest["clip_id"])
    analysis = analyze_dataset(
        manifest,
        columns=columns,
        reference_population=reference,
        min_speakers=args.min_speakers,
        conditions=conditions,
        conditions_source=source,
    )
    report = write_dataset_report(
        analysis, args.out, source=args.manifest, privacy_k=args.privacy_k
    )
    saved = analysis_path(report)
    findings = findings_for(analysis, privacy_k=args.privacy_k)
    print(f"{report}: {len(findings)} finding(s); analysis in {saved}")
    for finding in findings[:5]:
        print(f"  {finding}")
    return 0


def check_outs(report: str | Path, *, inputs: Sequence[str | os.PathLike] = ()) -> Path:
    """Check the dataset report's two outputs: ``REPORT.html`` and ``REPORT.analysis/``."""
    check_out(analysis_path(report), ANALYSIS_KIND, inputs=inputs)
    return check_out(report, REPORT_KIND, inputs=inputs, file=True)


def write_dataset_report(
    analysis: DatasetAnalysis,
    report: str | Path,
    *,
    source: str | os.PathLike,
    privacy_k: int = PRIVACY_K,
) -> Path:
    """Write ``REPORT.analysis/`` (the analysis with its report) whole, then ``REPORT.html``.

    The report is rendered before anything is written: a failure leaves both old outputs.
    """
    from reports._page import write_html
    from reports.dataset import dataset_report_html

    report = check_outs(report)
    html = dataset_report_html(analysis, source=source, privacy_k=privacy_k)
    analysis.save(
        analysis_path(report), render=lambda staging: write_html(html, staging / REPORT_FILE)
    )
    return write_html(html, report)


def dataset_report_link(dataset_report: str | os.PathLike, report: str | os.PathLike) -> str:
    """The URL of ``dataset_report`` relative to the folder of ``report``."""
    relative = os.path.relpath(Path(dataset_report).resolve(), Path(report).resolve().parent)
    return quote(Path(relative).as_posix())


def write_audit_report(
    result: AuditResult, staging: Path, out: Path, args: argparse.Namespace
) -> Path:
    """``s2f audit``'s report, rendered into ``staging`` before it becomes the folder ``out``.

    Faces come from the audited predictions; the dataset report is linked relative to ``out``.
    """
    from reports.audit import render_audit_report

    link = args.dataset_report and dataset_report_link(args.dataset_report, out / REPORT_FILE)
    return render_audit_report(
        result,
        staging / REPORT_FILE,
        privacy_k=args.privacy_k,
        include_faces=args.include_faces,
        faces=args.predictions,
        source=out,
        dataset_report=link or None,
    )
