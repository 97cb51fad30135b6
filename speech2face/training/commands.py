"""``s2f train``: train a voice encoder on a manifest against frozen face models."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from speech2face.audio import SpectrogramConfig
from speech2face.errors import InputError
from speech2face.models.registry import available_models, get_config, get_model
from speech2face.training.voice import FaceHeads, TrainingConfig, train_voice_encoder

FEATURE_DIM_MISMATCH = (
    "--preset {preset} outputs {voice_dim}-D features but the face encoder's are "
    "{face_dim}-D; pick the matching preset"
)
CUDA_UNAVAILABLE = "--device {device}: CUDA is not available on this machine"
NOT_POSITIVE = "{option} must be positive, got {value}"


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``train``."""
    parser = subparsers.add_parser(
        "train",
        help="train the voice encoder (Speech2Face) on a manifest",
        description="Train a voice encoder so that its feature of each clip matches the frozen "
        "face encoder's feature of the speaker's face, with the paper's three-term loss. "
        "Writes RUN/checkpoint.pt and RUN/metrics.jsonl; --resume continues exactly. "
        "The face models come from `s2f train-faces --manifest M --out RUN` (or --face-models). "
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
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--workers", type=int, default=0, help="data loader processes")
    parser.add_argument("--seed", type=int, default=0)
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


def run_train(args: argparse.Namespace) -> int:
    """Handler of ``s2f train``."""
    from speech2face.training.face_stage import find_face_models
    from speech2face.training.faces import load_face_model
    from speech2face.training.voice_data import load_training_data

    _check_positive(args)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(CUDA_UNAVAILABLE.format(device=args.device))
    face_models = find_face_models(args.face_models or args.out)
    face_encoder = load_face_model(face_models.face_encoder, kind="face_encoder")
    face_decoder = load_face_model(face_models.face_decoder, kind="face_decoder")
    voice_dim = get_config(args.preset).out_dim
    if voice_dim != face_encoder.feature_dim:
        raise InputError(
            FEATURE_DIM_MISMATCH.format(
                preset=args.preset, voice_dim=voice_dim, face_dim=face_encoder.feature_dim
            )
        )
    data = load_training_data(
        args.manifest,
        face_encoder=face_encoder,
        spectrogram_config=SpectrogramConfig(duration_s=args.duration),
    )
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
    )
    torch.manual_seed(args.seed)
    result = train_voice_encoder(
        get_model(args.preset),
        preset=args.preset,
        train_set=data.train,
        val_set=data.val,
        heads=FaceHeads.from_models(face_encoder, face_decoder),
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
    }
    if result.is_main:
        print(json.dumps(summary), file=sys.stdout)
    return 0
