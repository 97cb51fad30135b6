"""``s2f synth``: generate the synthetic voice–face corpus with a planted imbalance."""

from __future__ import annotations

import argparse

from speech2face.synth.corpus import (
    DEFAULT_SPEAKERS,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    FACE_SIZES,
    generate_corpus,
)
from speech2face.synth.presets import PRESETS


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``synth`` subcommand."""
    parser = subparsers.add_parser(
        "synth",
        help="generate the synthetic multilingual voice-face corpus with known, plantable bias",
        description=(
            "Generate a synthetic corpus: espeak-ng voices, procedural faces, demographic "
            "ground truth and a manifest. Same settings and seed give a byte-identical corpus; "
            "a second run with the same settings returns at once."
        ),
    )
    parser.add_argument("--out", required=True, help="corpus folder (created or replaced)")
    parser.add_argument("--speakers", type=int, default=DEFAULT_SPEAKERS, help="number of speakers")
    parser.add_argument("--clips-per-speaker", type=int, default=4, help="clips per speaker")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument(
        "--imbalance",
        default="balanced",
        metavar="NAME|CONFIG.json",
        help=f"train-split imbalance: one of {', '.join(PRESETS)}, or a JSON config file",
    )
    parser.add_argument(
        "--face-size", type=int, default=64, choices=FACE_SIZES, help="face image size (pixels)"
    )
    parser.add_argument(
        "--renders-per-speaker", type=int, default=4, help="varied face renders per speaker"
    )
    parser.add_argument(
        "--test-fraction",
        type=float,
        default=DEFAULT_TEST_FRACTION,
        help="share of speakers in the (balanced) test split",
    )
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=DEFAULT_VAL_FRACTION,
        help="share of speakers in the val split (train distribution)",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    """Generate the corpus and print its manifest path."""
    manifest = generate_corpus(
        args.out,
        speakers=args.speakers,
        clips_per_speaker=args.clips_per_speaker,
        seed=args.seed,
        imbalance=args.imbalance,
        face_size=args.face_size,
        renders_per_speaker=args.renders_per_speaker,
        test_fraction=args.test_fraction,
        val_fraction=args.val_fraction,
        workers=args.workers,
    )
    print(manifest)
    return 0
