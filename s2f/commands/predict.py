"""``s2f predict`` (a run → predictions artifact) and ``s2f train-faces`` (a run's face models)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from speech2face.errors import InputError

SKIPPED_SUMMARY = "skipped {n} clip(s) whose audio cannot be decoded; listed in {listed}"
BAD_DURATIONS = "--durations must be comma-separated seconds such as 3,6; got {value!r}"


def parse_durations(value: str) -> tuple[float, ...]:
    """``"3,6"`` → ``(3.0, 6.0)``; anything else is an :class:`InputError`."""
    try:
        durations = tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise InputError(BAD_DURATIONS.format(value=value)) from None
    if not durations:
        raise InputError(BAD_DURATIONS.format(value=value))
    return durations


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``predict`` and ``train-faces``."""
    parser = subparsers.add_parser(
        "predict",
        help="predict faces from a manifest's voices with a trained run",
        description="For every clip and every --durations value: the voice's predicted face "
        "feature, the true face's feature, attributes of the true face and of its "
        "reconstructions from the true feature (F2F) and from the voice (S2F), and their "
        "craniofacial measures. Written in chunks: --resume after a kill repeats nothing. "
        "Runs sharded under `torchrun --nproc-per-node N -m s2f predict ...`.",
    )
    parser.add_argument("--model", required=True, type=Path, metavar="RUN", help="trained run")
    parser.add_argument("--manifest", required=True, type=Path, help="voice manifest with faces")
    parser.add_argument("--out", required=True, type=Path, metavar="PRED", help="artifact folder")
    parser.add_argument(
        "--durations", default="3,6", help="seconds each clip is evaluated at (default 3,6)"
    )
    parser.add_argument("--split", default=None, help="only this split (default: every clip)")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--chunk-size", type=int, default=256, help="clips per resumable chunk")
    parser.add_argument("--model-id", default=None, help="name of the model in reports")
    parser.add_argument(
        "--attribute-models",
        nargs="+",
        type=Path,
        metavar="PATH",
        help="runs without a decoder: `s2f attributes train` classifiers (files or folders) "
        "applied to the predicted (S2F) and true (F2F) features (default: RUN/attribute_models/)",
    )
    parser.add_argument(
        "--faces",
        type=Path,
        metavar="FACES",
        help="runs without a decoder: faces table (`s2f faces`) whose age, gender and landmarks "
        "label the true faces (inferred); else the manifest's labels",
    )
    parser.add_argument(
        "--vggface-weights", type=Path, metavar="FILE", help="override a vggface run's weights path"
    )
    parser.add_argument(
        "--conditions",
        type=Path,
        default=None,
        metavar="CONDITIONS",
        help="conditions table (s2f conditions) whose measures (snr_db, speech_s, ...) are "
        "joined into every predictions row, for s2f audit --adjust-for",
    )
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument(
        "--skip-bad-clips",
        action="store_true",
        help="leave out clips whose audio cannot be decoded and list them (clip_id, path, "
        "reason) in PRED/skipped_clips.csv (default: stop at the first, naming it)",
    )
    parser.add_argument("--resume", action="store_true", help="continue an unfinished --out")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(handler=run_predict)

    faces = subparsers.add_parser(
        "train-faces",
        help="give a run its face encoder, decoder and attribute classifier",
        description="Train RUN/face_models/ on a synthetic corpus's train-split speakers "
        "(plus freshly rendered extra people), or copy another run's with --face-models so "
        "that compared voice models share one face stack. `s2f train --out RUN` and "
        "`s2f predict --model RUN` then use them. A run that has them keeps them.",
    )
    faces.add_argument("--manifest", required=True, type=Path, help="synthetic corpus manifest")
    faces.add_argument("--out", required=True, type=Path, metavar="RUN", help="run folder")
    faces.add_argument(
        "--face-models",
        type=Path,
        default=None,
        metavar="DIR",
        help="copy these face models (a run folder or its face_models/) instead of training",
    )
    faces.add_argument(
        "--extra-identities",
        type=int,
        default=200,
        help="freshly rendered people (in no split) added to the train speakers' faces",
    )
    faces.add_argument("--seed", type=int, default=0)
    faces.set_defaults(handler=run_train_faces)


def run_predict(args: argparse.Namespace) -> int:
    """Handler of ``s2f predict``."""
    import torch

    from speech2face.outputs import check_out
    from speech2face.prediction import PredictionSettings, load_model, predict
    from speech2face.prediction.artifact import META_FILE
    from speech2face.prediction.run import SKIPPED_FILE

    inputs = [p for p in (args.manifest, args.model, args.faces, args.conditions) if p is not None]
    check_out(args.out, "predictions", inputs=inputs)
    if args.threads is not None:
        if args.threads < 1:
            raise InputError(f"--threads must be positive, got {args.threads}")
        torch.set_num_threads(args.threads)
    settings = PredictionSettings(
        durations=parse_durations(args.durations),
        split=args.split,
        batch_size=args.batch_size,
        chunk_size=args.chunk_size,
        faces=None if args.faces is None else str(args.faces),
        skip_bad_clips=args.skip_bad_clips,
        conditions=None if args.conditions is None else str(args.conditions),
    )
    model = load_model(
        args.model,
        model_id=args.model_id,
        attribute_models=args.attribute_models,
        vggface_weights=args.vggface_weights,
    )
    out = predict(
        model,
        args.manifest,
        args.out,
        settings=settings,
        resume=args.resume,
        progress=args.progress,
    )
    summary = {"predictions": str(out), "model_id": model.model_id}
    if args.skip_bad_clips:
        skipped = json.loads((out / META_FILE).read_text())["skipped_clips"]
        summary["skipped_clips"] = skipped
        print(SKIPPED_SUMMARY.format(n=skipped, listed=out / SKIPPED_FILE), file=sys.stderr)
    print(json.dumps(summary), file=sys.stdout)
    return 0


def run_train_faces(args: argparse.Namespace) -> int:
    """Handler of ``s2f train-faces``."""
    from speech2face.training.face_config import FaceStageConfig
    from speech2face.training.face_stage import prepare_face_stage

    if args.extra_identities < 0:
        raise InputError(f"--extra-identities must be 0 or more, got {args.extra_identities}")
    stage = prepare_face_stage(
        args.manifest,
        args.out,
        face_models=args.face_models,
        seed=args.seed,
        config=FaceStageConfig(extra_identities=args.extra_identities),
    )
    print(
        json.dumps(
            {
                "face_encoder": str(stage.face_encoder),
                "face_decoder": str(stage.face_decoder),
                "attribute_classifier": str(stage.attribute_classifier),
            }
        ),
        file=sys.stdout,
    )
    return 0
