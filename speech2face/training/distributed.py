"""Data-parallel training under ``torchrun``: process group, batch shards, reductions.

Launched by ``torchrun --nproc-per-node N``, each process reads ``RANK``,
``WORLD_SIZE`` and ``LOCAL_RANK`` from the environment and joins a process group
(NCCL on CUDA, gloo on CPU). Every rank draws the same permutation of the
training set per (seed, epoch); each global batch is split across ranks, so N
processes see exactly the batches one process would.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from speech2face.errors import InputError

BATCH_NOT_DIVISIBLE = "--batch-size {batch_size} does not split over {world_size} processes"
TOO_FEW_CLIPS = "{n_items} training clips are fewer than one batch of {batch_size}"


@dataclass(frozen=True)
class DistributedContext:
    """Where this process sits among the training processes."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        """True on the process that writes checkpoints, metrics and the progress bar."""
        return self.rank == 0

    @property
    def is_distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device_type: str) -> DistributedContext:
    """Join the ``torchrun`` process group if there is one; a single-process context if not."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size == 1:
        return DistributedContext()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device_type == "cuda" else "gloo")
    return DistributedContext(
        rank=dist.get_rank(),
        world_size=dist.get_world_size(),
        local_rank=int(os.environ.get("LOCAL_RANK", "0")),
    )


def shutdown_distributed(context: DistributedContext) -> None:
    """Leave the process group that :func:`init_distributed` joined."""
    if context.is_distributed and dist.is_initialized():
        dist.destroy_process_group()


def epoch_batches(
    n_items: int, *, batch_size: int, epoch: int, seed: int, context: DistributedContext
) -> list[list[int]]:
    """This rank's share of each global batch of one epoch (last partial batch dropped)."""
    if batch_size % context.world_size:
        raise InputError(
            BATCH_NOT_DIVISIBLE.format(batch_size=batch_size, world_size=context.world_size)
        )
    if n_items < batch_size:
        raise InputError(TOO_FEW_CLIPS.format(n_items=n_items, batch_size=batch_size))
    generator = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
    order = torch.randperm(n_items, generator=generator).tolist()
    n_batches = n_items // batch_size
    return [
        order[start : start + batch_size][context.rank :: context.world_size]
        for start in range(0, n_batches * batch_size, batch_size)
    ]


def wrap_for_training(model: nn.Module, context: DistributedContext) -> nn.Module:
    """DDP around ``model`` when distributed (SyncBatchNorm on CUDA); ``model`` otherwise.

    PyTorch's SyncBatchNorm needs a GPU, so on CPU each rank normalises with
    its own share of the batch: the loss curve then matches one process only
    approximately.
    """
    if not context.is_distributed:
        return model
    device = next(model.parameters()).device
    if device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[device.index])
    return DistributedDataParallel(model)


def sum_across_ranks(values: torch.Tensor, context: DistributedContext) -> torch.Tensor:
    """Element-wise sum of ``values`` over every rank (identity on one process)."""
    if context.is_distributed:
        values = values.clone()
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def gather_lists(items: list[str], context: DistributedContext) -> list[str]:
    """The concatenation of every rank's ``items``."""
    if not context.is_distributed:
        return items
    gathered: list[list[str] | None] = [None] * context.world_size
    dist.all_gather_object(gathered, items)
    return [item for part in gathered for item in part or []]


def barrier(context: DistributedContext) -> None:
    """Wait for every rank (no-op on one process)."""
    if context.is_distributed:
        dist.barrier()
