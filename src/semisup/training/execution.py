"""How the networks run: device, bf16 autocast, channels_last, `torch.compile`, and data-parallel ranks (DDP).

Every switch is a `train.*` param (off in the `paper` profile, which ran fp32 eagerly on one GPU). Under `torchrun`
(`WORLD_SIZE` > 1) each process is one rank: it reads its own shard of the unlabelled set, gradients are averaged
by `DistributedDataParallel` (gloo on the CPU, NCCL on GPUs) and only rank 0 writes curves, checkpoints and models.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Iterator

import torch
from torch import nn

from ..config import TrainConfig
from ..errors import PipelineError


@dataclass(frozen=True)
class Ranks:
    """This process's place among the data-parallel processes (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def ranks_from_env(env: dict[str, str] | None = None) -> Ranks:
    """What torchrun put in the environment (RANK, WORLD_SIZE, LOCAL_RANK); one rank when it is absent."""
    env = os.environ if env is None else env
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank, local = int(env.get("RANK", "0")), int(env.get("LOCAL_RANK", env.get("RANK", "0")))
    except ValueError:
        raise PipelineError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (set by torchrun)") from None
    if world < 1 or not 0 <= rank < world:
        raise PipelineError(f"RANK {rank} is outside 0..{world - 1} (WORLD_SIZE {world}); start the stage with torchrun")
    return Ranks(rank, world, local)


def join_ranks(ranks: Ranks, device: torch.device) -> None:
    """Initialise the process group once per process (no-op for a single rank)."""
    if not ranks.distributed or torch.distributed.is_initialized():
        return
    backend = "nccl" if device.type == "cuda" else "gloo"
    torch.distributed.init_process_group(backend, rank=ranks.rank, world_size=ranks.world_size)


def leave_ranks() -> None:
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def rank_device(name: str, ranks: Ranks) -> torch.device:
    """Each rank on its own GPU (LOCAL_RANK); the CPU is shared."""
    from ..device import resolve_device

    device = resolve_device(name)
    if device.type == "cuda" and ranks.distributed:
        torch.cuda.set_device(ranks.local_rank)
        device = torch.device("cuda", ranks.local_rank)
    return device


@dataclass(frozen=True)
class Execution:
    """The effective switches for this device: autocast and channels_last only where they pay (CUDA)."""

    device: torch.device
    amp: bool = False
    channels_last: bool = False
    compile: bool = False
    ranks: Ranks = Ranks()

    @classmethod
    def from_config(cls, t: TrainConfig, device: torch.device, ranks: Ranks = Ranks()) -> "Execution":
        cuda = device.type == "cuda"
        return cls(device, amp=t.amp and cuda, channels_last=t.channels_last, compile=t.compile, ranks=ranks)

    def autocast(self) -> contextlib.AbstractContextManager:
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp)

    def place(self, module: nn.Module) -> nn.Module:
        """The module on the device, in channels_last memory format when asked (in place; returns it)."""
        module.to(self.device)
        if self.channels_last:
            module.to(memory_format=torch.channels_last)
        return module

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """A batch in the memory format the networks expect."""
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def trainable(self, module: nn.Module) -> nn.Module:
        """What the training step calls: the module, wrapped in DDP across ranks, then compiled when asked.
        State dicts, EMA and evaluation keep using the plain module."""
        wrapped = module
        if self.ranks.distributed:
            ids = [self.device.index] if self.device.type == "cuda" else None
            wrapped = nn.parallel.DistributedDataParallel(module, device_ids=ids)
        return self.compiled(wrapped)

    def compiled(self, module: nn.Module) -> nn.Module:
        """`torch.compile` of the module when asked, with static shapes: one graph per batch size the step feeds it.

        Why: a step calls one classifier on batches of different sizes (the GAN's published passes: 100 labelled,
        64 unlabelled, 64 generated), and from the second size on torch.compile would trace it with a symbolic
        batch. The one compile failure seen came only with those passes (an H200, torch 2.11, 2026-12-04:
        channels_last + `gan.passes: separate` stopped in `convolution_backward`, a stride assertion: cuDNN returned
        contiguous strides where the op's fake kernel predicted channels_last; that kernel was reworked for
        channels_last after 2.11, pytorch#171622 and #177175). With static shapes every convolution is traced with
        concrete sizes, as eager runs it; it costs one compile per batch size (three here) and is what CUDA graphs
        need. That it clears the failure on CUDA is for the next lent GPU to show (tests/tools/test_gpu.py)."""
        return torch.compile(module, dynamic=False) if self.compile else module


def all_ranks_mean(value: torch.Tensor, ranks: Ranks) -> torch.Tensor:
    """The mean of a tensor over ranks (for logged losses); the tensor itself for one rank."""
    if not ranks.distributed:
        return value
    value = value.clone()
    torch.distributed.all_reduce(value, op=torch.distributed.ReduceOp.SUM)
    return value / ranks.world_size


@contextlib.contextmanager
def ranks_joined(ranks: Ranks, device: torch.device) -> Iterator[Ranks]:
    """`with ranks_joined(...)`: the process group for the body of a stage, torn down afterwards."""
    join_ranks(ranks, device)
    try:
        yield ranks
    finally:
        leave_ranks()
