"""One voice-training run, as ``s2f train`` and ``s2f demo`` both start it.

:class:`VoiceRun` holds every option of a run and checks them before anything slow;
:func:`train_run` resolves the face stack, loads the clips and their targets, optionally
leaves out undecodable clips and rebalances the train split, and trains.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from speech2face.artifacts import REBALANCE_FILE
from speech2face.artifacts import SKIPPED_CLIPS_FILE as SKIPPED_FILE
from speech2face.atomic import write_json
from speech2face.errors import InputError
from speech2face.limits import SEED_LIMIT
from speech2face.outputs import open_folder
from speech2face.vocabulary import UNKNOWN

if TYPE_CHECKING:
    from speech2face.audio.dataset import BadClip
    from speech2face.training.face_targets import FaceStack
    from speech2face.training.voice import TrainingConfig
    from speech2face.training.voice_data import TrainingData

FACE_ENCODERS = {
    "face-models": "face_models",
    "stored": "stored_features",
    "vggface": "vggface",
}
"""``--face-encoder`` choices and the face stack each names."""
WEIGHTS_WITHOUT_VGGFACE = "--vggface-weights is only read with --face-encoder vggface"
NO_FACE_STACK = (
    "{error}; or give every train and val clip a face_feature_path (s2f face-features) "
    "to train on stored face features"
)
CUDA_UNAVAILABLE = "--device {device}: CUDA is not available on this machine"
NOT_POSITIVE = "{option} must be a positive finite number, got {value}"
BAD_WORKERS = "--workers must be 0 or more, got {value}"
BAD_SEED = "--seed must be an integer in [0, 2**32), got {value}"
BAD_DEVICE = "--device must be cpu, cuda, cuda:N or mps, got {value!r}"
DEVICE_PATTERN = re.compile(r"cpu|mps|cuda(:\d+)?")
BAD_DECAY = "--average-weights must be between 0 and 1 (e.g. 0.99), not {value}"
SKIPPED_SUMMARY = "skipped {n} clip(s) whose audio cannot be decoded; listed in {listed}"
DEFAULT_REBALANCE_ON = ("ethnicity", "gender")
RESAMPLE, REWEIGHT = "resample", "reweight"
METHODS = (REWEIGHT, RESAMPLE)
"""Ways to rebalance the train split (:mod:`speech2face.training.rebalance`)."""
UNKNOWN_METHOD = "rebalance method must be one of {methods}, got {value!r}"


@dataclass(frozen=True, kw_only=True)
class VoiceRun:
    """Everything one voice-training run depends on besides the optimiser settings."""

    manifest: Path
    out: Path
    preset: str = "small"
    face_models: Path | None = None
    face_encoder: str | None = None
    """A :data:`FACE_ENCODERS` key; None: RUN's face models when there, else stored features."""
    vggface_weights: Path | None = None
    duration_s: float = 6.0
    rebalance: str | None = None
    """``reweight`` or ``resample`` the train split over :attr:`rebalance_on`; None: as is."""
    rebalance_on: tuple[str, ...] = DEFAULT_REBALANCE_ON
    skip_bad_clips: bool = False
    hash_speaker_ids: bool = False
    """Record the training speakers as SHA-256 hashes in ``RUN/training_speakers.json``."""
    resume: bool = False
    progress: bool = True
    training: TrainingConfig = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.training is None:
            from speech2face.training.voice import TrainingConfig

            object.__setattr__(self, "training", TrainingConfig())
        object.__setattr__(self, "manifest", Path(self.manifest))
        object.__setattr__(self, "out", Path(self.out))
        object.__setattr__(self, "rebalance_on", tuple(self.rebalance_on))
        _check_positive(self)
        if self.rebalance is not None and self.rebalance not in METHODS:
            raise InputError(
                UNKNOWN_METHOD.format(methods=", ".join(METHODS), value=self.rebalance)
            )
        if self.face_encoder is not None and self.face_encoder not in FACE_ENCODERS:
            raise InputError(f"--face-encoder must be one of {', '.join(FACE_ENCODERS)}")


def _check_positive(run: VoiceRun) -> None:
    config = run.training
    options = {
        "--epochs": config.epochs,
        "--batch-size": config.batch_size,
        "--lr": config.lr,
        "--eval-every": config.eval_every,
        "--checkpoint-every": config.checkpoint_every,
        "--duration": run.duration_s,
    }
    for option, value in options.items():
        if not (value > 0 and math.isfinite(value)):
            raise InputError(NOT_POSITIVE.format(option=option, value=value))
    if config.num_workers < 0:
        raise InputError(BAD_WORKERS.format(value=config.num_workers))
    if not 0 <= config.seed < SEED_LIMIT:
        raise InputError(BAD_SEED.format(value=config.seed))
    if not DEVICE_PATTERN.fullmatch(config.device):
        raise InputError(BAD_DEVICE.format(value=config.device))
    decay = config.weight_average
    if decay is not None and not 0 < decay < 1:
        raise InputError(BAD_DECAY.format(value=decay))


def resolve_face_stack(run: VoiceRun) -> FaceStack:
    """The face stack the options (or, by default, the run and manifest) call for."""
    from speech2face.training import face_targets
    from speech2face.training.face_stage import find_face_models

    choice = FACE_ENCODERS.get(run.face_encoder) if run.face_encoder else None
    if choice != face_targets.VGGFACE and run.vggface_weights is not None:
        raise InputError(WEIGHTS_WITHOUT_VGGFACE)
    if choice == face_targets.VGGFACE:
        if run.vggface_weights is None:
            raise InputError(face_targets.NO_VGGFACE_WEIGHTS)
        return face_targets.vggface_stack(run.vggface_weights)
    if choice == face_targets.FACE_MODELS or run.face_models is not None:
        return face_targets.face_models_stack(run.face_models or run.out)
    rows = face_targets.training_rows(run.manifest)
    if choice is None:
        try:
            find_face_models(run.out)
        except InputError as error:
            if not face_targets.all_have_features(rows):
                raise InputError(NO_FACE_STACK.format(error=error)) from None
        else:
            return face_targets.face_models_stack(run.out)
    dim = face_targets.stored_feature_dim(rows, manifest=run.manifest) if len(rows) else 0
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
    if is_main_process():
        listed = run_dir / SKIPPED_FILE
        write_bad_clips(listed, skipped)
        print(SKIPPED_SUMMARY.format(n=len(skipped), listed=listed), file=sys.stderr)
    return dataclasses.replace(data, **kept), skipped


def rebalanced_train_set(data: TrainingData, run: VoiceRun) -> Any:
    """The train split as a ``Subset`` in the rebalanced order; ``RUN/rebalance.json`` says how.

    ``reweight`` draws as many clips as the run will see (its steps × batch, or its epochs of
    the train split); ``resample`` gives each group as many clips as the split has in all.
    """
    from torch.utils.data import Subset

    from speech2face.manifest.load import load_manifest
    from speech2face.manifest.schema import CLIP_ID
    from speech2face.training.rebalance import group_labels, group_shares, rebalanced_indices

    config = run.training
    manifest_rows = load_manifest(run.manifest).set_index(CLIP_ID)
    groups = group_labels(manifest_rows.loc[data.train.rows[CLIP_ID]], run.rebalance_on)
    n_draws = (
        config.max_steps * config.batch_size
        if config.max_steps is not None
        else config.epochs * len(groups)
    )
    indices = rebalanced_indices(groups, method=run.rebalance, n_draws=n_draws, seed=config.seed)
    if is_main_process():
        record = {
            "method": run.rebalance,
            "columns": list(run.rebalance_on),
            "clips_before": len(groups),
            "clips_after": len(indices),
            "shares_before": group_shares(groups),
            "shares_after": group_shares(groups, indices),
        }
        write_json(run.out / REBALANCE_FILE, record, indent=2, sort_keys=True, default=str)
    return Subset(data.train, indices.tolist())


def record_speakers(run: VoiceRun) -> None:
    """Write ``RUN/training_speakers.json`` and warn (stderr) about too few speakers.

    Every speaker of the manifest's train and val rows counts, clips skipped as undecodable
    included: a speaker the run may have heard is not an unseen speaker. The languages of
    the train rows are recorded too (the languages the model heard).
    """
    from speech2face.manifest.io import read_manifest
    from speech2face.training.speakers import (
        TrainingSpeakers,
        record_training_speakers,
        speaker_warnings,
    )

    frame = read_manifest(run.manifest)
    split = frame["split"].astype(str)
    languages = None
    if "language" in frame.columns:
        heard = frame.loc[split == "train", "language"].dropna().astype(str)
        languages = heard[heard != UNKNOWN].unique()
    speakers = TrainingSpeakers.of(
        frame.loc[split == "train", "speaker_id"].unique(),
        frame.loc[split == "val", "speaker_id"].unique(),
        hashed=run.hash_speaker_ids,
        languages=languages,
    )
    if not is_main_process():
        return
    record_training_speakers(run.out, speakers)
    for warning in speaker_warnings(speakers):
        print(f"s2f train: {warning}", file=sys.stderr)


def train_run(run: VoiceRun) -> dict[str, Any]:
    """Train the voice encoder of ``run``; returns the summary ``s2f train`` prints."""
    import torch

    from speech2face.audio import SpectrogramConfig
    from speech2face.models.registry import get_config, get_model
    from speech2face.training.face_targets import check_dim, load_targets, record_face_stack
    from speech2face.training.voice import CHECKPOINT_FILE, RUN_EXISTS, train_voice_encoder

    config = run.training
    if config.device.startswith("cuda") and not torch.cuda.is_available():
        raise InputError(CUDA_UNAVAILABLE.format(device=config.device))
    if not run.resume and (run.out / CHECKPOINT_FILE).exists():
        raise InputError(RUN_EXISTS.format(path=run.out / CHECKPOINT_FILE))
    from speech2face.manifest.io import read_manifest
    from speech2face.manifest.load import refuse_metadata_only

    refuse_metadata_only(run.manifest, read_manifest(run.manifest))
    open_folder(run.out, "run", inputs=[run.manifest])
    stack = resolve_face_stack(run)
    check_dim(stack, preset=run.preset, voice_dim=get_config(run.preset).out_dim)
    torch.manual_seed(config.seed)
    model = get_model(run.preset)  # before the slow part: a missing extra stops here
    data = load_targets(
        run.manifest, stack=stack, spectrogram_config=SpectrogramConfig(duration_s=run.duration_s)
    )
    record_face_stack(run.out, stack, resume=run.resume)
    if is_main_process():
        from speech2face.training.face_domain import record_face_domain

        record_face_domain(run.out, stack.kind, run.manifest)
    record_speakers(run)
    skipped = None
    if run.skip_bad_clips:
        data, skipped = skip_bad_clips(data, run_dir=run.out, workers=config.num_workers)
    train_set = data.train if run.rebalance is None else rebalanced_train_set(data, run)
    result = train_voice_encoder(
        model,
        preset=run.preset,
        train_set=train_set,
        val_set=data.val,
        heads=stack.heads,
        config=config,
        out_dir=run.out,
        manifest_hash=data.manifest_hash,
        resume=run.resume,
        progress=run.progress,
    )
    summary: dict[str, Any] = {
        "step": result.step,
        "val_loss": result.val_loss,
        "checkpoint": str(result.checkpoint),
        "face_stack": stack.kind,
        "loss_terms": stack.heads.loss_terms(),
    }
    if skipped is not None:
        summary["skipped_clips"] = len(skipped)
    return summary


def is_main_process() -> bool:
    """Whether this process is rank 0 (or not under ``torchrun``)."""
    return int(os.environ.get("RANK", "0")) == 0
