"""Train the voice encoder against frozen face features (the paper's setup).

The trainer sees pairs ``(clip_id, spectrogram, v_f)`` where ``v_f`` is the
feature a frozen face encoder gave the speaker's face, and two frozen heads:
the face decoder's first layer and the face encoder's fc8 classifier (the
protocol: a face encoder exposes ``.fc8``, a face decoder ``.first_layer``).

Every run is reproducible from its seed; a checkpoint every
``checkpoint_every`` steps lets ``resume=True`` continue to bit-identical
weights; validation loss goes to ``metrics.jsonl``. With ``weight_average``
the checkpoint's ``model`` (what prediction loads, and what validation scores) is
the running average of the weights (:mod:`speech2face.training.averaging`), and
``training_model`` the weights training continues from.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from speech2face.artifacts import CHECKPOINT_FILE, METRICS_FILE
from speech2face.errors import InputError
from speech2face.models.loss import Speech2FaceLoss, speech2face_loss
from speech2face.models.voice_config import config_to_dict
from speech2face.models.voice_encoder import VoiceEncoder
from speech2face.training.averaging import WeightAverage
from speech2face.training.checkpoint import (
    load_checkpoint,
    restore_rng_states,
    rng_states,
    save_checkpoint,
)
from speech2face.training.distributed import (
    TOO_FEW_CLIPS,
    DistributedContext,
    barrier,
    epoch_batches,
    gather_lists,
    init_distributed,
    shutdown_distributed,
    sum_across_ranks,
    wrap_for_training,
)

NON_FINITE_BATCH = (
    "non-finite loss at step {step} from clip(s) {clips}; training stopped, "
    "last good checkpoint kept in {checkpoint}"
)
TRAINING_WEIGHTS = "training_model"
AVERAGE_STATE = "weight_average"
RUN_EXISTS = "{path} already exists; pass --resume to continue it or choose a new run folder"
OUT_OF_MEMORY = (
    "out of memory on {device} at batch size {batch_size} ({per_rank} per process); "
    "try --batch-size {smaller}"
)
LOSS_TERMS = ("total", "decoder_l1", "feature_l2", "distillation")


@dataclass(frozen=True)
class TrainingConfig:
    """Optimisation settings; defaults are the paper's (Adam β₁ 0.5, ε 1e-4, batch 8)."""

    batch_size: int = 8
    lr: float = 1e-3
    beta1: float = 0.5
    beta2: float = 0.999
    eps: float = 1e-4
    lr_decay: float = 0.95
    lr_decay_every: int = 10_000
    epochs: int = 1
    max_steps: int | None = None
    eval_every: int = 100
    checkpoint_every: int = 100
    log_every: int = 10
    lambda1: float = 0.025
    lambda2: float = 200.0
    temperature: float = 2.0
    seed: int = 0
    device: str = "cpu"
    num_workers: int = 0
    weight_average: float | None = None
    """Decay of an exponential moving average of the weights (e.g. 0.99); None: last weights."""


class FaceEncoderLike(Protocol):
    fc8: nn.Module


class FaceDecoderLike(Protocol):
    first_layer: nn.Module


@dataclass(frozen=True)
class FaceHeads:
    """The frozen face-side layers the loss needs; ``None`` where the face stack has none.

    No decoder: the loss's first term is the L1 distance of the features themselves. No fc8:
    the distillation term is dropped (see :func:`speech2face.models.loss.speech2face_loss`).
    """

    decoder_head: nn.Module | None
    fc8_head: nn.Module | None

    @classmethod
    def from_models(
        cls,
        face_encoder: FaceEncoderLike | None = None,
        face_decoder: FaceDecoderLike | None = None,
    ) -> FaceHeads:
        """Take ``face_decoder.first_layer`` and ``face_encoder.fc8`` of the models given."""
        return cls(
            decoder_head=None if face_decoder is None else face_decoder.first_layer,
            fc8_head=None if face_encoder is None else face_encoder.fc8,
        )

    def loss_terms(self) -> dict[str, str]:
        """What each loss term is computed on, for the run's record."""
        return {
            "decoder_l1": "face decoder's first layer"
            if self.decoder_head is not None
            else "the feature itself (no face decoder)",
            "feature_l2": "unit-normalised features",
            "distillation": "face encoder's fc8"
            if self.fc8_head is not None
            else "dropped (no fc8 head)",
        }

    def frozen_on(self, device: torch.device) -> FaceHeads:
        """Copies in eval mode, without gradients, on ``device``."""
        heads = [
            None if head is None else head.to(device).eval().requires_grad_(False)
            for head in (self.decoder_head, self.fc8_head)
        ]
        return FaceHeads(decoder_head=heads[0], fc8_head=heads[1])


class FeaturePairs(Dataset):
    """In-memory ``(clip_id, spectrogram, v_f)`` pairs."""

    def __init__(
        self, clip_ids: Sequence[str], spectrograms: torch.Tensor, face_features: torch.Tensor
    ) -> None:
        if not len(clip_ids) == len(spectrograms) == len(face_features):
            raise ValueError("clip_ids, spectrograms and face_features differ in length")
        self.clip_ids = list(clip_ids)
        self.spectrograms = spectrograms
        self.face_features = face_features

    def __len__(self) -> int:
        return len(self.clip_ids)

    def __getitem__(self, index: int) -> tuple[str, torch.Tensor, torch.Tensor]:
        return self.clip_ids[index], self.spectrograms[index], self.face_features[index]


def collate_pairs(
    items: list[tuple[str, torch.Tensor, torch.Tensor]],
) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Stack pairs into ``(clip_ids, spectrograms, face_features)``."""
    clip_ids, spectrograms, features = zip(*items, strict=True)
    return list(clip_ids), torch.stack(spectrograms), torch.stack(features)


@dataclass(frozen=True)
class TrainingResult:
    """Where a run ended and what it wrote; ``is_main`` on the process that wrote it."""

    is_main: bool
    step: int
    val_loss: float | None
    checkpoint: Path
    metrics: Path


class MetricsLog:
    """Append-only JSON lines; on resume, cut back to the checkpoint's step so nothing repeats."""

    def __init__(self, path: Path, *, enabled: bool) -> None:
        self.path = path
        self.enabled = enabled

    def start(self, *, from_step: int) -> None:
        if not self.enabled:
            return
        kept = []
        if from_step and self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut short when the run was killed
                    continue
                if record["step"] <= from_step:
                    kept.append(line)
        self.path.write_text("".join(f"{line}\n" for line in kept))

    def write(self, **record: Any) -> None:
        if self.enabled:
            with self.path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")


def _terms(loss: Speech2FaceLoss) -> torch.Tensor:
    return torch.stack([getattr(loss, name).detach().float() for name in LOSS_TERMS])


def _is_out_of_memory(error: RuntimeError) -> bool:
    """True for CUDA's OutOfMemoryError and the CPU allocator's refusal."""
    message = str(error)
    return isinstance(error, torch.OutOfMemoryError) or "can't allocate memory" in message


def _bad_clips(clip_ids: list[str], *tensors: torch.Tensor) -> list[str]:
    """Clips with NaN or infinity in the first of ``tensors`` that has any; all if none has."""
    for tensor in tensors:
        finite = tensor.detach().flatten(1).isfinite().all(dim=1).tolist()
        bad = [clip for clip, ok in zip(clip_ids, finite, strict=True) if not ok]
        if bad:
            return bad
    return clip_ids


def _set_epoch(dataset: Dataset, epoch: int, *, seed: int) -> None:
    """Key a dataset's per-epoch random crops (through ``Subset`` wrappers), if it has any."""
    while isinstance(dataset, Subset):
        dataset = dataset.dataset
    set_epoch = getattr(dataset, "set_epoch", None)
    if set_epoch is not None:
        set_epoch(epoch, seed=seed)


class VoiceTrainer:
    """One training run of a voice encoder; see :func:`train_voice_encoder`."""

    def __init__(
        self,
        model: VoiceEncoder,
        *,
        preset: str,
        heads: FaceHeads,
        config: TrainingConfig,
        out_dir: Path,
        manifest_hash: str,
        progress: bool,
    ) -> None:
        self.config = config
        self.preset = preset
        self.manifest_hash = manifest_hash
        self.context: DistributedContext = init_distributed(torch.device(config.device).type)
        self.device = self._device()
        self.on_gpu = self.device.type == "cuda"
        self.model = model.to(self.device)
        if self.on_gpu:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.wrapped = wrap_for_training(self.model, self.context)
        self.average = (
            None
            if config.weight_average is None
            else WeightAverage(self.model, decay=config.weight_average)
        )
        self.heads = heads.frozen_on(self.device)
        self.optimizer = torch.optim.Adam(
            self.model.parameters(),
            lr=config.lr,
            betas=(config.beta1, config.beta2),
            eps=config.eps,
        )
        self.scheduler = torch.optim.lr_scheduler.StepLR(
            self.optimizer, step_size=config.lr_decay_every, gamma=config.lr_decay
        )
        self.step = 0
        self.checkpoint_path = out_dir / CHECKPOINT_FILE
        self.metrics = MetricsLog(out_dir / METRICS_FILE, enabled=self.context.is_main)
        self.progress = progress and self.context.is_main

    def _device(self) -> torch.device:
        device = torch.device(self.config.device)
        if device.type == "cuda" and device.index is None:
            device = torch.device("cuda", self.context.local_rank)
        if device.type == "cuda":
            torch.cuda.set_device(device)
        return device

    def _autocast(self) -> torch.autocast:
        return torch.autocast(
            device_type=self.device.type, dtype=torch.bfloat16, enabled=self.on_gpu
        )

    def _to_device(self, spectrograms: torch.Tensor, targets: torch.Tensor):
        spectrograms = spectrograms.to(self.device, non_blocking=True)
        return spectrograms, targets.to(self.device, non_blocking=True).float()

    def _loss(self, network: nn.Module, spectrograms: torch.Tensor, targets: torch.Tensor):
        with self._autocast():
            v_s = network(spectrograms)
        loss = speech2face_loss(
            v_s.float(),
            targets,
            decoder_head=self.heads.decoder_head,
            fc8_head=self.heads.fc8_head,
            lambda1=self.config.lambda1,
            lambda2=self.config.lambda2,
            temperature=self.config.temperature,
        )
        return v_s, loss

    def resume(self) -> None:
        """Load the run's checkpoint: weights, optimiser, scheduler, step and RNG states."""
        payload = load_checkpoint(
            self.checkpoint_path, preset=self.preset, manifest_hash=self.manifest_hash
        )
        self.model.load_state_dict(payload.get(TRAINING_WEIGHTS, payload["model"]))
        if self.average is not None:
            self.average.load_state_dict(
                payload.get(AVERAGE_STATE, {"weights": payload["model"], "updates": 0})
            )
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        self.step = payload["step"]
        restore_rng_states(payload["rng"])

    def save(self) -> None:
        """Write the checkpoint (main process only), then wait for every rank."""
        if self.context.is_main:
            save_checkpoint(
                self.checkpoint_path,
                {
                    "preset": self.preset,
                    "encoder_config": config_to_dict(self.model.config),
                    "training_config": asdict(self.config),
                    "manifest_hash": self.manifest_hash,
                    "step": self.step,
                    "model": self.scored_model.state_dict(),
                    **self._averaging_state(),
                    "optimizer": self.optimizer.state_dict(),
                    "scheduler": self.scheduler.state_dict(),
                    "rng": rng_states(),
                },
            )
        barrier(self.context)

    @property
    def scored_model(self) -> nn.Module:
        """The weights validation scores and the checkpoint's ``model`` holds."""
        return self.model if self.average is None else self.average.model

    def _averaging_state(self) -> dict[str, Any]:
        if self.average is None:
            return {}
        return {TRAINING_WEIGHTS: self.model.state_dict(), AVERAGE_STATE: self.average.state_dict()}

    def _loader(self, dataset: Dataset, batches: list[list[int]]) -> DataLoader:
        return DataLoader(
            dataset,
            batch_sampler=batches,
            collate_fn=collate_pairs,
            num_workers=self.config.num_workers,
            pin_memory=self.on_gpu,
        )

    def train_step(self, clip_ids: list[str], spectrograms: torch.Tensor, targets: torch.Tensor):
        """One optimiser step on one batch; returns the loss terms averaged over ranks."""
        self.wrapped.train()
        spectrograms, targets = self._to_device(spectrograms, targets)
        # A bad batch also poisons BatchNorm's running statistics: keep them to undo it.
        buffers = [buffer.clone() for buffer in self.model.buffers()]
        try:
            v_s, loss = self._loss(self.wrapped, spectrograms, targets)
            self._stop_if_not_finite(loss, clip_ids, spectrograms, targets, v_s, buffers)
            self.optimizer.zero_grad(set_to_none=True)
            loss.total.backward()
        except RuntimeError as error:  # torch.OutOfMemoryError is one
            if not _is_out_of_memory(error):
                raise
            raise InputError(
                OUT_OF_MEMORY.format(
                    device=self.device,
                    batch_size=self.config.batch_size,
                    per_rank=self.config.batch_size // self.context.world_size,
                    smaller=max(self.config.batch_size // 2, self.context.world_size),
                )
            ) from error
        self.optimizer.step()
        self.scheduler.step()
        if self.average is not None:
            self.average.update(self.model)
        self.step += 1
        return sum_across_ranks(_terms(loss).cpu(), self.context) / self.context.world_size

    def _stop_if_not_finite(
        self,
        loss: Speech2FaceLoss,
        clip_ids: list[str],
        spectrograms: torch.Tensor,
        targets: torch.Tensor,
        v_s: torch.Tensor,
        buffers: list[torch.Tensor],
    ) -> None:
        """On NaN/inf on any rank: undo the batch's BatchNorm updates, checkpoint, stop."""
        finite = torch.tensor([float(loss.total.isfinite())], device=self.device)
        bad = [] if finite.item() else _bad_clips(clip_ids, spectrograms, targets, v_s)
        if sum_across_ranks(finite, self.context).item() == self.context.world_size:
            return
        for buffer, kept in zip(self.model.buffers(), buffers, strict=True):
            buffer.copy_(kept)
        self.save()
        raise InputError(
            NON_FINITE_BATCH.format(
                step=self.step + 1,
                clips=", ".join(gather_lists(bad, self.context)),
                checkpoint=self.checkpoint_path,
            )
        )

    @torch.no_grad()
    def evaluate(self, dataset: Dataset) -> dict[str, float]:
        """Mean loss terms over ``dataset`` (every clip once, shared across ranks)."""
        model = self.scored_model.eval()
        shard = list(range(len(dataset)))[self.context.rank :: self.context.world_size]
        batches = [
            shard[start : start + self.config.batch_size]
            for start in range(0, len(shard), self.config.batch_size)
        ]
        sums = torch.zeros(len(LOSS_TERMS) + 1)
        for _, spectrograms, targets in self._loader(dataset, batches):
            spectrograms, targets = self._to_device(spectrograms, targets)
            _, loss = self._loss(model, spectrograms, targets)
            sums[:-1] += _terms(loss).cpu() * len(targets)
            sums[-1] += len(targets)
        sums = sum_across_ranks(sums, self.context)
        return {name: (sums[i] / sums[-1]).item() for i, name in enumerate(LOSS_TERMS)}

    def fit(self, train_set: Dataset, val_set: Dataset | None) -> TrainingResult:
        """Train from ``self.step`` to the configured end; checkpoint and log on the way."""
        config = self.config
        steps_per_epoch = len(train_set) // config.batch_size
        if steps_per_epoch == 0:
            raise InputError(
                TOO_FEW_CLIPS.format(n_items=len(train_set), batch_size=config.batch_size)
            )
        total_steps = config.epochs * max(steps_per_epoch, 1)
        if config.max_steps is not None:
            total_steps = config.max_steps
        self.metrics.start(from_step=self.step)
        val_loss = None
        bar = tqdm(total=total_steps, initial=self.step, disable=not self.progress, file=sys.stderr)
        while self.step < total_steps:
            epoch, offset = divmod(self.step, steps_per_epoch)
            batches = epoch_batches(
                len(train_set),
                batch_size=config.batch_size,
                epoch=epoch,
                seed=config.seed,
                context=self.context,
            )[offset:][: total_steps - self.step]
            _set_epoch(train_set, epoch, seed=config.seed)
            for clip_ids, spectrograms, targets in self._loader(train_set, batches):
                terms = self.train_step(clip_ids, spectrograms, targets)
                bar.update(1)
                bar.set_postfix(loss=f"{terms[0].item():.4g}")
                at_end = self.step == total_steps
                if self.step % config.log_every == 0 or at_end:
                    self.metrics.write(
                        step=self.step,
                        epoch=epoch,
                        split="train",
                        lr=self.scheduler.get_last_lr()[0],
                        **dict(zip(LOSS_TERMS, terms.tolist(), strict=True)),
                    )
                if val_set is not None and (self.step % config.eval_every == 0 or at_end):
                    evaluation = self.evaluate(val_set)
                    val_loss = evaluation["total"]
                    self.metrics.write(step=self.step, epoch=epoch, split="val", **evaluation)
                if self.step % config.checkpoint_every == 0 or at_end:
                    self.save()
        bar.close()
        return TrainingResult(
            is_main=self.context.is_main,
            step=self.step,
            val_loss=val_loss,
            checkpoint=self.checkpoint_path,
            metrics=self.metrics.path,
        )


def train_voice_encoder(
    model: VoiceEncoder,
    *,
    preset: str,
    train_set: Dataset,
    val_set: Dataset | None,
    heads: FaceHeads,
    config: TrainingConfig,
    out_dir: str | Path,
    manifest_hash: str,
    resume: bool = False,
    progress: bool = True,
) -> TrainingResult:
    """Train ``model`` on ``(clip_id, spectrogram, v_f)`` pairs; write checkpoint and metrics.

    Seed the global generator before building ``model`` for a reproducible
    start; with ``resume=True`` everything (weights, optimiser, schedule, data
    order, generators) continues from ``out_dir``'s checkpoint.
    """
    out_dir = Path(out_dir)
    if not resume and (out_dir / CHECKPOINT_FILE).exists():
        raise InputError(RUN_EXISTS.format(path=out_dir / CHECKPOINT_FILE))
    out_dir.mkdir(parents=True, exist_ok=True)
    trainer = VoiceTrainer(
        model,
        preset=preset,
        heads=heads,
        config=config,
        out_dir=out_dir,
        manifest_hash=manifest_hash,
        progress=progress,
    )
    try:
        if resume:
            trainer.resume()
        return trainer.fit(train_set, val_set)
    finally:
        shutdown_distributed(trainer.context)
