"""Data-parallel plumbing on `torch.distributed`: the process group `torchrun` describes, and the few collectives the
Trainer needs (barriers, gathering Python values such as eval predictions, RNG states and losses).

Launch with `torchrun --nproc_per_node=N script.py`: every process runs the same script; the `Trainer` reads
`RANK` / `LOCAL_RANK` / `WORLD_SIZE`, joins the group (gloo on CPU, nccl on GPU), wraps the model in
`DistributedDataParallel` and shards batches. Without those variables everything here is a no-op.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

from ..errors import ConfigError


@dataclass(frozen=True)
class ProcessContext:
    """Where this process stands: its rank among `world_size` processes and the device it computes on."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes checkpoints, logs and progress bars."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"the environment variable {name}={value!r} is not an integer; it is set by torchrun") from None


def setup(use_cpu: bool = False, backend: str | None = None) -> ProcessContext:
    """The context of this process, joining the process group when launched by torchrun (WORLD_SIZE > 1)."""
    cuda = torch.cuda.is_available() and not use_cpu
    world_size = _env_int("WORLD_SIZE", 1)
    if world_size <= 1:
        return ProcessContext(device=torch.device("cuda") if cuda else torch.device("cpu"))
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if backend == "nccl" and not cuda:
        raise ConfigError("ddp_backend='nccl' needs GPUs; use 'gloo' (or leave it None) to train on CPUs")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend or ("nccl" if cuda else "gloo"), rank=rank, world_size=world_size)
    return ProcessContext(rank=rank, local_rank=local_rank, world_size=world_size, device=device)


def barrier(context: ProcessContext) -> None:
    if context.distributed:
        dist.barrier()


def gather_objects(context: ProcessContext, value: Any) -> list[Any]:
    """`value` from every rank, in rank order (a one-item list outside distributed runs).

    The objects travel between our own processes only (never through a file), so arbitrary Python values such as
    numpy arrays of variable shape can be exchanged without padding.
    """
    if not context.distributed:
        return [value]
    gathered: list[Any] = [None] * context.world_size
    dist.all_gather_object(gathered, value)
    return gathered


def mean_across(context: ProcessContext, value: float) -> float:
    """The mean of a float over ranks (for logging a loss every process computed on its own shard)."""
    values = gather_objects(context, float(value))
    return sum(values) / len(values)
