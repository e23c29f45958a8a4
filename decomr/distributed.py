"""Several processes (GPUs or machines): process groups and a resumable sharded batch sampler.

The same ``decomr-train`` command runs alone or under ``torchrun``; :func:`init_distributed`
reads torchrun's environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``,
``MASTER_PORT``) and joins the group with NCCL on GPUs and gloo on CPUs.

:class:`ShardedBatchSampler` fixes the data order of a whole run from ``(seed, epoch)`` alone:
step ``s`` of an epoch consumes the global batch ``perm[s G:(s + 1) G]`` of that epoch's
permutation (G the global batch), and rank ``r`` of ``W`` takes its ``r``-th slice of ``G / W``
samples. So the union of the ranks' batches is the batch a single process would see, and a
resumed run starts at any step without replaying the earlier ones.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
from torch.utils.data import Sampler

__all__ = ["DistributedContext", "init_distributed", "shutdown_distributed", "resolve_device",
           "ShardedBatchSampler", "all_true", "epoch_seed"]


@dataclass
class DistributedContext:
    """This process's place in the run.

    Attributes
    ----------
    rank, world_size, local_rank : int
    device : torch.device
    backend : str or None
        ``nccl`` or ``gloo`` when a process group is up; None for a single process.
    """

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        """True on rank 0 (the process that writes checkpoints and logs)."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; ``cuda`` ->
    ``cuda:LOCAL_RANK``; ``cpu`` and ``cuda:N`` as given. Raises ``ValueError`` when CUDA is
    asked for but absent."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cpu":
        return torch.device("cpu")
    if not name.startswith("cuda"):
        raise ValueError(f"unknown device {name!r}; valid choices: auto, cpu, cuda, cuda:N")
    if not torch.cuda.is_available():
        raise ValueError(f"device {name!r} asked for, but CUDA is not available on this machine")
    index = local_rank if name == "cuda" else int(name.split(":", 1)[1])
    return torch.device("cuda", index)


def init_distributed(device: str = "auto") -> DistributedContext:
    """Join the process group when launched by ``torchrun`` (``WORLD_SIZE`` > 1), else return
    a single-process context. Backend: NCCL for CUDA devices, gloo for CPU."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    torch_device = resolve_device(device, local_rank)
    if world_size <= 1:
        return DistributedContext(device=torch_device)
    backend = "nccl" if torch_device.type == "cuda" else "gloo"
    if torch_device.type == "cuda":
        torch.cuda.set_device(torch_device)
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size)
    return DistributedContext(rank=rank, world_size=world_size, local_rank=local_rank, device=torch_device,
                              backend=backend)


def shutdown_distributed(context: DistributedContext) -> None:
    """Leave the process group (when this process joined one)."""
    if context.distributed and dist.is_initialized():
        dist.destroy_process_group()


def all_true(flag: bool, context: DistributedContext) -> bool:
    """True when ``flag`` is true on every rank (one all-reduce; no-op for a single process)."""
    if not context.distributed:
        return bool(flag)
    device = context.device if context.backend == "nccl" else torch.device("cpu")
    value = torch.tensor([1 if flag else 0], dtype=torch.int32, device=device)
    dist.all_reduce(value)  # a sum: every rank's flag is set when it equals the world size
    return int(value.item()) == context.world_size


def epoch_seed(seed: int, epoch: int) -> int:
    """A 63-bit seed for one epoch of one run (the same on every rank)."""
    return (int(seed) * 1_000_003 + int(epoch) * 7_919 + 12_345) % (1 << 63)


class ShardedBatchSampler(Sampler[list[int]]):
    """Per-rank batches of a permutation fixed by ``(seed, epoch)``, resumable at any step.

    Parameters
    ----------
    length : int
        dataset size N.
    global_batch : int
        G, samples per step over all ranks; a multiple of ``world_size``.
    seed : int
    rank, world_size : int
    shuffle : bool
        False: the identity order (evaluation, debugging).

    An epoch has ``N // G`` steps (the incomplete tail is dropped, so every rank takes the same
    number of steps). Call :meth:`set_epoch` before iterating.
    """

    def __init__(self, length: int, global_batch: int, seed: int = 0, rank: int = 0, world_size: int = 1,
                 shuffle: bool = True):
        if global_batch < 1 or global_batch % world_size:
            raise ValueError(f"the global batch {global_batch} must be a positive multiple of the "
                             f"number of processes {world_size}")
        if length < global_batch:
            raise ValueError(f"the dataset has {length} samples, fewer than one global batch of {global_batch}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside 0..{world_size - 1}")
        self.length = int(length)
        self.global_batch = int(global_batch)
        self.local_batch = self.global_batch // world_size
        self.seed = int(seed)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.shuffle = bool(shuffle)
        self.epoch = 0
        self.start_step = 0

    @property
    def steps_per_epoch(self) -> int:
        return self.length // self.global_batch

    def set_epoch(self, epoch: int, start_step: int = 0) -> None:
        """Select the epoch's permutation and skip its first ``start_step`` steps."""
        if not 0 <= start_step <= self.steps_per_epoch:
            raise ValueError(f"start_step {start_step} outside 0..{self.steps_per_epoch}")
        self.epoch = int(epoch)
        self.start_step = int(start_step)

    def permutation(self) -> torch.Tensor:
        """(N,) int64: this epoch's order (identical on every rank)."""
        if not self.shuffle:
            return torch.arange(self.length)
        generator = torch.Generator().manual_seed(epoch_seed(self.seed, self.epoch))
        return torch.randperm(self.length, generator=generator)

    def __iter__(self) -> Iterator[list[int]]:
        order = self.permutation()
        for step in range(self.start_step, self.steps_per_epoch):
            begin = step * self.global_batch + self.rank * self.local_batch
            yield order[begin:begin + self.local_batch].tolist()

    def __len__(self) -> int:
        return self.steps_per_epoch - self.start_step
