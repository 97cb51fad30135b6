"""``s2f conditions``: recording conditions per clip (speech time, SNR, loudness, bandwidth)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from speech2face.errors import InputError

NOT_PARQUET = "{path}: the conditions table is written as Parquet; name it *.parquet"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``conditions``."""
    parser = subparsers.add_parser(
        "conditions",
        help="recording conditions per clip: speech time, SNR, loudness, clipping, bandwidth",
        description=(
            "Measure each clip of MANIFEST from its audio (its start_s/end_s window when given): "
            "speech_s, snr_db, loudness_lufs, clipping_fraction, bandwidth_hz and "
            "sample_rate_original (docs/conditions.md). A clip whose audio cannot be decoded is "
            "a row of NaNs with its reason. Clips whose file bytes and window are unchanged since "
            "an earlier run into the same --out are not measured again, and a killed run resumes."
        ),
    )
    parser.add_argument("manifest", type=Path, metavar="MANIFEST", help="manifest (.parquet, .csv)")
    parser.add_argument(
        "--out", required=True, type=Path, metavar="CONDITIONS.parquet", help="table to write"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="processes measuring clips side by side (default 1); the table is the same for any N",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    parser.set_defaults(handler=run_conditions)


def run_conditions(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from speech2face.audio.conditions_table import build_conditions_table, check_workers, summary
    from speech2face.manifest.load import load_manifest

    if args.out.suffix.lower() != ".parquet":
        raise InputError(NOT_PARQUET.format(path=args.out))
    check_workers(args.workers)
    manifest = load_manifest(args.manifest, check_files=False, allow_speaker_leakage=True)
    with tqdm(
        total=len(manifest),
        unit="clip",
        file=sys.stderr,
        desc="conditions",
        disable=args.no_progress,
    ) as bar:
        table = build_conditions_table(
            manifest,
            base_dir=args.manifest.parent,
            out=args.out,
            workers=args.workers,
            progress=bar.update,
        )
    print(f"{args.out}: {summary(table)}")
    return 0
