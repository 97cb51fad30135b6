"""``s2f train``: train a voice encoder on a manifest against a frozen face stack.

The face stack (:mod:`speech2face.training.face_targets`) is a run's synthetic face models,
the manifest's stored face features, or the user's VGG-Face; ``RUN/face_stack.json`` records
which, and what each loss term was computed on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from speech2face.artifacts import SKIPPED_CLIPS_FILE as SKIPPED_FILE
from speech2face.audio import SpectrogramConfig
from speech2face.errors import InputError
from speech2face.models.registry import available_models, get_config, get_model
from speech2face.training.voice import TrainingConfig, train_voice_encoder

if TYPE_CHECKING:
    from speech2face.audio.dataset import BadClip
    from speech2face.training.voice_data import TrainingData

FACE_ENCODERS = {
    "face-models": "face_models",
    "stored": "stored_features",
    "vggface": "vggface",
}
WEIGHTS_WITHOUT_VGGFACE = "--vggface-weights is only read with --face-encoder vggface"
NO_FACE_STACK = (
    "{error}; or give every train and val clip a face_feature_path (s2f face-features) "
    "to train on stored face features"
)
CUDA_UNAVAILABLE = "--device {device}: CUDA is not available on this machine"
NOT_POSITIVE = "{option} must be positive, got {value}"
BAD_DECAY = "--average-weights must be between 0 and 1 (e.g. 0.99), not {value}"
"""``RUN/skipped_clips.csv``: clip_id, path, reason of every clip ``--skip-bad-clips`` left out."""
SKIPPED_SUMMARY = "skipped {n} clip(s) whose audio cannot be decoded; listed in {listed}"


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
        "Runs data-parallel under `torchrun --nproc-per-node N -m audit.cli train ...`.",
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
    parser.add_argument("--resume", action="store_true", help="continue RUN's checkpoint")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    parser.set_defaults(handler=run_train)


def _check_positive(args: argparse.Namespace) -> None:
    for option in ("epochs", "batch_size", "lr", "eval_every", "checkpoint_every", "duration"):
        value = getattr(args, option)
        if value <= 0:
            raise InputError(
                NOT_POSITIVE.format(option="--" + option.replace("_", "-"), value=value)
            )
    decay = args.average_weights
    if decay is not None and not 0 < decay < 1:
        raise InputError(BAD_DECAY.format(value=decay))


def _face_stack(args: argparse.Namespace):
    """The face stack the options (or, by default, the run and manifest) call for."""
    from speech2face.training import face_targets
    from speech2face.training.face_stage import find_face_models

    choice = FACE_ENCODERS.get(args.face_encoder) if args.face_encoder else None
    if choice != face_targets.VGGFACE and args.vggface_weights is not None:
        raise InputError(WEIGHTS_WITHOUT_VGGFACE)
    if choice == face_targets.VGGFACE:
        if args.vggface_weights is None:
            raise InputError(face_targets.NO_VGGFACE_WEIGHTS)
        return face_targets.vggface_stack(args.vggface_weights)
    if choice == face_targets.FACE_MODELS or args.face_models is not None:
        return face_targets.face_models_stack(args.face_models or args.out)
    rows = face_targets.training_rows(args.manifest)
    if choice is None:
        try:
            find_face_models(args.out)
        except InputError as error:
            if not face_targets.all_have_features(rows):
                raise InputError(NO_FACE_STACK.format(error=error)) from None
        else:
            return face_targets.face_models_stack(args.out)
    dim = face_targets.stored_feature_dim(rows, manifest=args.manifest) if len(rows) else 0
    return face_targets.features_stack(dim)


def skip_bad_clips(
    data: TrainingData, *, run_dir: Path, workers: int = 0
) -> tuple[TrainingData, list[BadClip]]:
    """``data`` without its undecodable clips, which rank 0 lists in ``RUN/skipped_clips.csv``.

    Every clip is decoded once up front, so batches keep their size, every process sees the
    same clips and a resumed run the same epochs. Returns the data and the skipped clips.
    """
    from speech2face.audio.dataset import find_bad_clips, write_bad_clips

    kept, skipped = {}, []
    for split in ("train", "val"):
        pairs = getattr(data, split)
        if pairs is None:
            kept[split] = None
            continue
        bad = find_bad_clips(pairs.clips, num_workers=workers)
        skipped += [bad[index] for index in sorted(bad)]
        good = [index for index in range(len(pairs)) if index not in bad]
        kept[split] = pairs.subset(good) if good or split == "train" else None
    if int(os.environ.get("RANK", "0")) == 0:
        listed = run_dir / SKIPPED_FILE
        write_bad_clips(listed, skipped)
        print(SKIPPED_SUMMARY.format(n=len(skipped), listed=listed), file=sys.stderr)
    return dataclasses.replace(data, **kept), skipped


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``s2f train``."""
    from speech2face.training.face_targets import check_dim, load_targets, record_face_stack
    from speech2face.training.voice import CHECKPOINT_FILE, RUN_EXISTS

    _check_positive(args)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(CUDA_UNAVAILABLE.format(device=args.device))
    if not args.resume and (args.out / CHECKPOINT_FILE).exists():
        raise InputError(RUN_EXISTS.format(path=args.out / CHECKPOINT_FILE))
    stack = _face_stack(args)
    check_dim(stack, preset=args.preset, voice_dim=get_config(args.preset).out_dim)
    torch.manual_seed(args.seed)
    model = get_model(args.preset)  # before the slow part: a missing extra stops here
    data = load_targets(
        args.manifest,
        stack=stack,
        spectrogram_config=SpectrogramConfig(duration_s=args.duration),
    )
    record_face_stack(args.out, stack, resume=args.resume)
    skipped = None
    if args.skip_bad_clips:
        data, skipped = skip_bad_clips(data, run_dir=args.out, workers=args.workers)
    config = TrainingConfig(
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
    result = train_voice_encoder(
        model,
        preset=args.preset,
        train_set=data.train,
        val_set=data.val,
        heads=stack.heads,
        config=config,
        out_dir=args.out,
        manifest_hash=data.manifest_hash,
        resume=args.resume,
        progress=args.progress,
    )
    summary = {
        "step": result.step,
        "val_loss": result.val_loss,
        "checkpoint": str(result.checkpoint),
        "face_stack": stack.kind,
        "loss_terms": stack.heads.loss_terms(),
    }
    if skipped is not None:
        summary["skipped_clips"] = len(skipped)
    if result.is_main:
        print(json.dumps(summary), file=sys.stdout)
    return 0
