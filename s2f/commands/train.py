"""``s2f train``: train a voice encoder on a manifest (:mod:`speech2face.training.driver`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from speech2face.models.registry import available_models
from speech2face.training.driver import DEFAULT_REBALANCE_ON, FACE_ENCODERS, METHODS


def _columns(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in text.split(",") if part.strip())


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``."""
    parser = subparsers.add_parser(
        "train",
        help="train the voice encoder (Speech2Face) on a manifest",
        description="Train a voice encoder so that its feature of each clip matches the frozen "
        "face encoder's feature of the speaker's face, with the paper's three-term loss. "
        "Writes RUN/checkpoint.pt and RUN/metrics.jsonl; --resume continues exactly. "
        "The face side is, by default, RUN's face models from `s2f train-faces` (or "
        "--face-models) when they exist, else the manifest's stored face_feature_path vectors; "
        "--face-encoder vggface --vggface-weights FILE encodes the face images with VGG-Face "
        "(fc7 targets, for --preset paper). RUN/face_stack.json records the stack and loss terms. "
        "Runs data-parallel under `torchrun --nproc-per-node N -m s2f train ...`.",
    )
    parser.add_argument("--manifest", required=True, type=Path, help="voice manifest with faces")
    parser.add_argument("--out", required=True, type=Path, metavar="RUN", help="run folder")
    parser.add_argument(
        "--face-models",
        type=Path,
        metavar="DIR",
        help="frozen face encoder and decoder: a run folder or its face_models/ "
        "(default: RUN, as `s2f train-faces --out RUN` leaves it)",
    )
    parser.add_argument(
        "--face-encoder",
        choices=sorted(FACE_ENCODERS),
        default=None,
        help="face stack: face-models (small encoder + decoder), stored (face_feature_path "
        "vectors, no face model) or vggface (--vggface-weights); default: face-models when RUN "
        "or --face-models has them, else stored",
    )
    parser.add_argument(
        "--vggface-weights", type=Path, metavar="FILE", help="VGG-Face state_dict (see docs)"
    )
    parser.add_argument("--preset", default="small", choices=available_models())
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--steps", type=int, default=None, help="stop after N steps in all")
    parser.add_argument("--batch-size", type=int, default=8, help="global batch (all processes)")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--lr-decay", type=float, default=0.95)
    parser.add_argument("--lr-decay-every", type=int, default=10_000, metavar="STEPS")
    parser.add_argument("--beta1", type=float, default=0.5)
    parser.add_argument("--eps", type=float, default=1e-4)
    parser.add_argument("--eval-every", type=int, default=100, metavar="STEPS")
    parser.add_argument("--checkpoint-every", type=int, default=100, metavar="STEPS")
    parser.add_argument("--duration", type=float, default=6.0, help="seconds per clip")
    parser.add_argument(
        "--average-weights",
        type=float,
        metavar="DECAY",
        help="keep an exponential moving average of the weights with this decay (e.g. 0.99) "
        "and validate, checkpoint and predict with it (not in the paper; steadier when most "
        "of the target is unpredictable noise)",
    )
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--workers", type=int, default=0, help="data loader processes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--skip-bad-clips",
        action="store_true",
        help="decode every train and val clip once before training; leave out those that "
        "cannot be decoded and list them (clip_id, path, reason) in RUN/skipped_clips.csv "
        "(default: stop at the first, naming it)",
    )
    parser.add_argument(
        "--rebalance",
        choices=METHODS,
        default=None,
        help="give every group of --rebalance-on an equal share of the train clips: reweight "
        "(draw clips by inverse group share) or resample (equal clips per group); "
        "RUN/rebalance.json records the shares before and after",
    )
    parser.add_argument(
        "--rebalance-on",
        type=_columns,
        default=DEFAULT_REBALANCE_ON,
        metavar="COLUMNS",
        help="columns whose combinations are the groups "
        f"(default {','.join(DEFAULT_REBALANCE_ON)})",
    )
    parser.add_argument(
        "--hash-speaker-ids",
        action="store_true",
        help="record the train and val speakers in RUN/training_speakers.json as SHA-256 "
        "hashes, not ids (s2f predict still marks their clips seen_in_training)",
    )
    parser.add_argument("--resume", action="store_true", help="continue RUN's checkpoint")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``s2f train``."""
    from speech2face.training.driver import VoiceRun, is_main_process, train_run
    from speech2face.training.voice import TrainingConfig

    training = TrainingConfig(
        batch_size=args.batch_size,
        lr=args.lr,
        beta1=args.beta1,
        eps=args.eps,
        lr_decay=args.lr_decay,
        lr_decay_every=args.lr_decay_every,
        epochs=args.epochs,
        max_steps=args.steps,
        eval_every=args.eval_every,
        checkpoint_every=args.checkpoint_every,
        seed=args.seed,
        device=args.device,
        num_workers=args.workers,
        weight_average=args.average_weights,
    )
    run = VoiceRun(
        manifest=args.manifest,
        out=args.out,
        preset=args.preset,
        face_models=args.face_models,
        face_encoder=args.face_encoder,
        vggface_weights=args.vggface_weights,
        duration_s=args.duration,
        rebalance=args.rebalance,
        rebalance_on=args.rebalance_on,
        skip_bad_clips=args.skip_bad_clips,
        hash_speaker_ids=args.hash_speaker_ids,
        resume=args.resume,
        progress=args.progress,
        training=training,
    )
    summary = train_run(run)
    if is_main_process():
        print(json.dumps(summary))
    return 0
