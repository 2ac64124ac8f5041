"""Data-parallel training across processes and machines with torch.distributed, started by
torchrun (the launcher people already use):

    torchrun --nproc-per-node 2 -m convnet train ...                    # one machine, 2 processes
    torchrun --nnodes 2 --node-rank R --master-addr HOST --master-port 29500 \\
             --nproc-per-node 8 -m convnet train ...                     # two machines

torchrun sets RANK, WORLD_SIZE, LOCAL_RANK and the rendezvous address; this module joins the
group (gloo on CPUs, NCCL on GPUs, each process on GPU LOCAL_RANK). Every process builds the same
model from the same seed and reads its shard of each epoch's order (data/batches.py `shard`);
after each backward pass the gradients are averaged across processes (one all-reduce of all of
them flattened), so every process takes the same step and the weights stay equal; batch-norm
statistics are taken from process 0 at the end of each epoch. Process 0 alone writes the run
directory and prints; `--seed` gives the same result for a given number of processes."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from convnet.errors import ConfigError


@dataclass
class Group:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def join(device: str) -> Group:
    """The process group torchrun asks for (Group() without torchrun)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return Group()
    import torch.distributed as dist

    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    cuda = device.startswith("cuda") or device == "auto" and torch.cuda.is_available()
    if not dist.is_initialized():
        if cuda:
            torch.cuda.set_device(local)
        dist.init_process_group("nccl" if cuda else "gloo")
    return Group(rank, world, local)


def leave(group: Group) -> None:
    if group.active:
        import torch.distributed as dist

        if dist.is_initialized():
            dist.destroy_process_group()


def shard(batches, group: Group):
    if not group.active:
        return batches
    if not hasattr(batches, "shard"):
        raise ConfigError("this task's batches cannot be split across processes; train it in one process")
    return batches.shard(group.rank, group.world)


def average_gradients(model: torch.nn.Module, group: Group) -> None:
    """Every process's gradients replaced by their mean: one all-reduce of them all flattened."""
    import torch.distributed as dist

    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= group.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def sync_buffers(model: torch.nn.Module, group: Group) -> None:
    """Batch-norm running statistics from process 0 (each process saw other examples)."""
    import torch.distributed as dist

    for b in model.buffers():
        dist.broadcast(b, 0)


def total(values: list[float], group: Group) -> list[float]:
    """Sums over the processes (the epoch's loss and counts, for the logged figures)."""
    if not group.active:
        return values
    import torch.distributed as dist

    t = torch.tensor(values, dtype=torch.float64)
    dist.all_reduce(t)
    return t.tolist()


def share(value, group: Group):
    """Process 0's value (e.g. the run directory it claimed) in every process."""
    if not group.active:
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=0)      # between this run's own processes only
    return box[0]
