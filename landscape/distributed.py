"""Many processes, one surface: `torchrun --nproc-per-node N -m landscape compute ...`.

Rank 0 checks the settings, makes the directions and creates the file; every rank then
reads the plane from that file, so all evaluate the same one. The missing points are dealt
out round-robin (or, with `--split-data`, every rank evaluates every point on its shard of
the data and the sums are all-reduced). After each chunk the results are gathered to rank
0, the only writer, which appends them to the journal: a crash of any rank loses at most
the chunk in flight, and rerunning the same command, with any number of ranks, resumes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import torch
import torch.distributed as dist

from .errors import LandscapeError


@dataclass(frozen=True)
class World:
    rank: int
    size: int
    local_rank: int

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


def world_from_env() -> World | None:
    """The torchrun world, or None in a plain single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return None
    return World(int(os.environ.get("RANK", "0")), size, int(os.environ.get("LOCAL_RANK", "0")))


def init(world: World, device: str) -> str:
    """Join the process group (NCCL for GPUs, gloo for CPUs); returns this rank's device."""
    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        if torch.cuda.device_count() == 0:
            raise LandscapeError("--device cuda under torchrun, but no GPU is visible; use --device cpu")
        device = f"cuda:{world.local_rank % torch.cuda.device_count()}"
        torch.cuda.set_device(torch.device(device))
    else:
        device = "cpu"
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=30))
    return device


def share(obj: object, src: int = 0) -> object:
    """`obj` of rank `src`, on every rank."""
    box = [obj]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def all_gather(obj: object) -> list[object]:
    """Every rank's `obj`, on every rank."""
    out: list[object] = [None] * dist.get_world_size()
    dist.all_gather_object(out, obj)
    return out


def gather(obj: object) -> list[object] | None:
    """Every rank's `obj` on rank 0 (None elsewhere)."""
    out = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def _device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")


def total(value: int) -> int:
    """The sum of `value` over the ranks."""
    t = torch.tensor([value], dtype=torch.int64, device=_device())
    dist.all_reduce(t)
    return int(t.item())


def sum_arrays(a: np.ndarray) -> np.ndarray:
    """Element-wise sum of a float64 array over the ranks (loss sums and correct counts)."""
    t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).to(_device())
    dist.all_reduce(t)
    return t.cpu().numpy()


def barrier() -> None:
    dist.barrier()


def finish() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()
