"""``s2f conditions``: recording conditions per clip (speech time, SNR, loudness, bandwidth)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


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

    from speech2face.audio.conditions_table import build_conditions_table, check_request, summary
    from speech2face.manifest.load import load_manifest

    check_request(args.out, args.workers)
    manifest = load_manifest(args.manifest, check_files=False, allow_speaker_leakage=True)
    bars: list[tqdm] = []

    def advance(count: int) -> None:
        """Update the bar, drawn at the first count: a bad earlier table stays a one-line error."""
        if not bars:
            bars.append(tqdm(total=len(manifest), unit="clip", file=sys.stderr, desc="conditions"))
        bars[0].update(count)

    try:
        table = build_conditions_table(
            manifest,
            base_dir=args.manifest.parent,
            out=args.out,
            workers=args.workers,
            progress=None if args.no_progress else advance,
        )
    finally:
        for bar in bars:
            bar.close()
    print(f"{args.out}: {summary(table)}")
    return 0
