"""``s2f validate`` and ``s2f import``."""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from speech2face.errors import InputError
from speech2face.importers import IMPORTERS
from speech2face.vocabulary import LABEL_SOURCES, SPLITS

OPTIONS = (
    "audio_root",
    "image_root",
    "labels",
    "labels_source",
    "age_binning",
    "split",
    "split_fractions",
    "val_fraction",
)
"""Every importer option; each dataset takes the subset listed in :data:`IMPORTERS`."""
METADATA_IMPORTERS = ("voxceleb1", "voxceleb2", "commonvoice", "avspeech")
"""The importers that can write a metadata-only manifest (speakers, no audio)."""
OPTION_NOT_FOR = "{option} does not apply to {dataset} (it applies to {allowed})"
IMPORTED_INVALID = "{path}: written, but {count} problem(s) remain (listed above)"

IMPORTER_OPTIONS: dict[str, tuple[str, ...]] = {
    "voxceleb1": ("audio_root", "split", "val_fraction"),
    "voxceleb2": ("audio_root", "split", "val_fraction"),
    "avspeech": tuple(o for o in OPTIONS if o != "image_root"),
    "commonvoice": ("audio_root", "age_binning", "split", "split_fractions", "val_fraction"),
    "fairface": ("image_root", "age_binning", "split", "val_fraction"),
    "utkface": ("age_binning", "split", "split_fractions"),
}
"""The options each dataset's importer (:data:`speech2face.importers.IMPORTERS`) takes."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``validate`` and ``import``."""
    validate = subparsers.add_parser(
        "validate",
        help="list every problem of a manifest (file, row, column)",
        description="Print every problem of MANIFEST as FILE:row N:column C: message "
        "(rows count from 0, the first data row); exit 2 when there is any.",
    )
    validate.add_argument("manifest", metavar="MANIFEST", help="manifest (.parquet, .csv, .tsv)")
    validate.add_argument(
        "--allow-speaker-leakage",
        action="store_true",
        help="accept a speaker in more than one split",
    )
    validate.add_argument(
        "--no-check-files",
        dest="check_files",
        action="store_false",
        help="do not check that audio/face files exist",
    )
    validate.add_argument(
        "--metadata-only",
        action="store_true",
        help="check a metadata-only manifest (s2f import ... --metadata-only: one row per "
        "speaker, no audio_path)",
    )
    validate.set_defaults(handler=run_validate)

    importer = subparsers.add_parser(
        "import",
        help="turn a dataset's metadata into a manifest",
        description="Read a dataset's own metadata, map its categories onto the toolkit's "
        "vocabulary (docs/importers.md) and write a Parquet manifest.",
    )
    importer.add_argument("dataset", choices=IMPORTERS.names(), help="dataset family")
    importer.add_argument(
        "source",
        metavar="SRC",
        help="vox1_meta.csv / vox2_meta.csv / avspeech_*.csv / a Common Voice .tsv / "
        "fairface_label_*.csv / a folder of UTKFace images",
    )
    importer.add_argument("--out", required=True, metavar="MANIFEST", help="output .parquet")
    importer.add_argument("--audio-root", metavar="DIR", help="folder holding the audio")
    importer.add_argument("--image-root", metavar="DIR", help="FairFace: folder of train/, val/")
    importer.add_argument("--labels", metavar="CSV", help="AVSpeech: demographic labels file")
    importer.add_argument(
        "--labels-source",
        choices=LABEL_SOURCES,
        help="AVSpeech: provenance of the labels (default: inferred)",
    )
    importer.add_argument(
        "--age-binning",
        metavar="BINS",
        help="paper (default), fairface, or edges in years such as 18,30,45,65",
    )
    importer.add_argument("--split", choices=SPLITS, help="put every row in this split")
    importer.add_argument(
        "--split-fractions",
        metavar="T,V,E",
        help="train,val,test fractions by speaker where the source has no split "
        "(default 0.8,0.1,0.1)",
    )
    importer.add_argument(
        "--val-fraction",
        type=float,
        metavar="F",
        help="move this fraction of the source's training speakers to val (default 0)",
    )
    importer.add_argument(
        "--metadata-only",
        action="store_true",
        help="voxceleb1, voxceleb2, commonvoice, avspeech: the speakers of the metadata, one "
        "row each, without looking for audio (composition before download: s2f validate "
        "--metadata-only, s2f dataset-report; train and predict refuse it)",
    )
    importer.set_defaults(handler=run_import)


def run_validate(args: argparse.Namespace) -> int:
    """Print every problem; 2 when there is any."""
    from speech2face.manifest.io import read_manifest
    from speech2face.manifest.schema import manifest_kind
    from speech2face.manifest.validate import validate_manifest

    path = Path(args.manifest)
    frame = read_manifest(path)
    problems = validate_manifest(
        frame,
        source=path,
        base_dir=path.parent,
        allow_speaker_leakage=args.allow_speaker_leakage,
        check_files=args.check_files,
        metadata_only=args.metadata_only,
    )
    for problem in problems:
        print(problem)
    if problems:
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 2
    print(f"{path}: valid {manifest_kind(frame)} manifest, {len(frame)} row(s)")
    return 0


def run_import(args: argparse.Namespace) -> int:
    """Import, print the importer's warnings, write the manifest, check it."""
    from speech2face.importers import ImporterWarning
    from speech2face.manifest.io import write_manifest
    from speech2face.manifest.validate import validate_manifest

    function, allowed = IMPORTERS.get(args.dataset), IMPORTER_OPTIONS[args.dataset]
    options = {}
    for option in OPTIONS:
        value = getattr(args, option)
        if value is None:
            continue
        if option not in allowed:
            flag = "--" + option.replace("_", "-")
            shown = ", ".join("--" + name.replace("_", "-") for name in allowed)
            raise InputError(
                OPTION_NOT_FOR.format(option=flag, dataset=args.dataset, allowed=shown)
            )
        options[option] = value
    if args.metadata_only:
        if args.dataset not in METADATA_IMPORTERS:
            shown = ", ".join(METADATA_IMPORTERS)
            raise InputError(f"--metadata-only applies to {shown}, not {args.dataset}")
        options["metadata_only"] = True
    out = Path(args.out)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ImporterWarning)
        frame = function(args.source, manifest_dir=out.parent, **options)
    for warning in caught:
        if issubclass(warning.category, ImporterWarning):
            print(f"s2f import: warning: {warning.message}", file=sys.stderr)
    write_manifest(frame, out)
    problems = validate_manifest(
        frame, source=out, base_dir=out.parent, check_files=False, metadata_only=None
    )
    for problem in problems:
        print(problem)
    if problems:
        print(IMPORTED_INVALID.format(path=out, count=len(problems)), file=sys.stderr)
        return 2
    print(f"{out}: {len(frame)} row(s), {frame['speaker_id'].nunique()} speaker(s)")
    return 0
