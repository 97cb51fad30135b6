"""``s2f synth``: generate the synthetic voice–face corpus with a planted imbalance."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from speech2face.artifacts import GROUND_TRUTH_FILE
from speech2face.synth.defaults import (
    DEFAULT_SPEAKERS,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VAL_FRACTION,
    FACE_SIZES,
)
from speech2face.synth.presets import PRESETS
from speech2face.vocabulary import DEMOGRAPHIC_COLUMNS, MIN_GROUP_SPEAKERS

THIN_TEST_GROUPS = (
    "note: test-split groups with fewer than {min_speakers} speakers, which an audit marks "
    "'insufficient evidence': {groups} (raise --speakers or --test-fraction to test them)"
)


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
    parser.add_argument(
        "--conditions-by",
        action="append",
        metavar="COLUMN=GROUP:SETTINGS|RULES.json",
        help="recording conditions of one group's clips, e.g. "
        "ethnicity=group_b:snr=10,bandwidth=3400,segment=2 (white noise at 10 dB SNR, "
        "low-passed to 3400 Hz, cut to 2 s); repeatable; or a JSON file "
        '{"ethnicity=group_b": {"snr": 10, ...}}. Columns: ethnicity, gender, age_group, '
        "language (the speaker's true group). Recorded in ground_truth.json and speakers.parquet",
    )
    parser.add_argument(
        "--unheard-languages",
        default="",
        metavar="LANG,...",
        help="languages held out of training: every speaker of them goes to the test split "
        "(recorded in ground_truth.json's settings), e.g. sw",
    )
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.set_defaults(handler=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    """Generate the corpus and print its manifest path."""
    from speech2face.synth.corpus import generate_corpus

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
        conditions_by=args.conditions_by or (),
        unheard_languages=[x.strip() for x in args.unheard_languages.split(",") if x.strip()],
    )
    thin = thin_test_groups(manifest.parent / GROUND_TRUTH_FILE)
    if thin:
        message = THIN_TEST_GROUPS.format(min_speakers=MIN_GROUP_SPEAKERS, groups=", ".join(thin))
        print(message, file=sys.stderr)
    print(manifest)
    return 0


def thin_test_groups(ground_truth: Path, *, min_speakers: int = MIN_GROUP_SPEAKERS) -> list[str]:
    """Test-split groups of the demographic columns with fewer than ``min_speakers``
    speakers, each as ``column=group (n)``."""
    counts = json.loads(ground_truth.read_text())["counts"].get("test", {})
    return [
        f"{column}={group} ({n})"
        for column in DEMOGRAPHIC_COLUMNS
        for group, n in counts.get(column, {}).items()
        if n < min_speakers
    ]
