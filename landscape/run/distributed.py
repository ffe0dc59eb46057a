"""The processes that compute one surface: a single process is a world of size one; under
`torchrun --nproc-per-node N -m landscape compute ...` the world is torchrun's.

Rank 0 checks the settings, resolves the evaluation plan, makes the directions and creates
the file; every other rank receives the plan and reads the plane from that file, so all
evaluate alike. The missing points are dealt out round-robin (or, with `--split-data`, every
rank evaluates every point on its shard of the data and the sums are all-reduced). After
each chunk the results are gathered to rank 0, the only writer, which appends them to the
journal: a crash of any rank loses at most the chunk in flight, and rerunning the same
command, with any number of ranks, resumes.

Each process uses the GPU of its LOCAL_RANK; more processes on a node than GPUs is refused
before any work (two processes cannot share a GPU's NCCL communicator).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from landscape.errors import LandscapeError, arg

if TYPE_CHECKING:  # PyTorch and NumPy load when a collective runs: `rank()` is asked before either is needed
    import numpy as np
    import torch


@dataclass(frozen=True)
class World:
    """One process's place among those computing a surface; the collectives are trivial for one."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    device: str = "cpu"  # this process's device under torchrun

    @property
    def is_writer(self) -> bool:
        return self.rank == 0

    def share(self, obj: object, src: int = 0) -> object:
        """`obj` of rank `src`, on every rank."""
        if self.size == 1:
            return obj
        box = [obj]
        _dist().broadcast_object_list(box, src=src)
        return box[0]

    def all_gather(self, obj: object) -> list[object]:
        """Every rank's `obj`, on every rank."""
        if self.size == 1:
            return [obj]
        out: list[object] = [None] * self.size
        _dist().all_gather_object(out, obj)
        return out

    def gather(self, obj: object) -> list[object] | None:
        """Every rank's `obj` on rank 0 (None elsewhere)."""
        if self.size == 1:
            return [obj]
        out = [None] * self.size if self.rank == 0 else None
        _dist().gather_object(obj, out, dst=0)
        return out

    def total(self, value: int) -> int:
        """The sum of `value` over the ranks."""
        if self.size == 1:
            return value
        import torch

        t = torch.tensor([value], dtype=torch.int64, device=self._collective_device())
        _dist().all_reduce(t)
        return int(t.item())

    def minimum(self, value: int) -> int:
        """The smallest `value` over the ranks."""
        if self.size == 1:
            return value
        import torch

        t = torch.tensor([value], dtype=torch.int64, device=self._collective_device())
        _dist().all_reduce(t, op=_dist().ReduceOp.MIN)
        return int(t.item())

    def sum_arrays(self, a: np.ndarray) -> np.ndarray:
        """Element-wise sum of a float64 array over the ranks (loss sums and counts)."""
        if self.size == 1:
            return a
        import numpy as np
        import torch

        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)).to(self._collective_device())
        _dist().all_reduce(t)
        return t.cpu().numpy()

    def barrier(self) -> None:
        if self.size > 1:
            _dist().barrier()

    def _collective_device(self) -> torch.device:
        import torch

        return torch.device(self.device) if _dist().get_backend() == "nccl" else torch.device("cpu")


def _dist():  # type: ignore[no-untyped-def]
    import torch.distributed as dist

    return dist


def launched() -> tuple[int, int, int, int]:
    """(rank, local rank, world size, local world size) of this process as torchrun set them;
    (0, 0, 1, 1) in a plain process. The one place that reads torchrun's environment."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    return (int(os.environ.get("RANK", "0")), int(os.environ.get("LOCAL_RANK", "0")), size,
            int(os.environ.get("LOCAL_WORLD_SIZE", str(size))))


def rank() -> int:
    """This process's rank under torchrun (0 in a plain process): rank 0 alone prints and writes."""
    return launched()[0]


def join(device: str = "auto") -> World:
    """This process's world: size one in a plain process; under torchrun, join its process group
    (NCCL between GPUs, gloo between CPUs) with this process on the GPU of its LOCAL_RANK."""
    rank, local_rank, size, local_size = launched()
    if size <= 1:
        return World()
    import torch

    use_cuda = device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())
    if use_cuda:
        gpus = torch.cuda.device_count()
        if gpus == 0:
            raise LandscapeError(f"{arg('device', 'cuda')} under torchrun, but no GPU is visible; use {arg('device', 'cpu')}",
                                 field="device")
        if local_size > gpus:
            raise LandscapeError(f"torchrun started {local_size} processes on this node but {gpus} GPU(s) are visible: "
                                 f"use --nproc-per-node {gpus}, or {arg('device', 'cpu')} for CPU processes")
        index = int(device.split(":")[1]) + local_rank if ":" in device else local_rank
        if index >= gpus:
            raise LandscapeError(f"{arg('device', device)} with {local_size} processes needs GPU {index}, "
                                 f"but {gpus} are visible")
        dev = f"cuda:{index}"
        torch.cuda.set_device(torch.device(dev))
    else:
        dev = "cpu"
    dist = _dist()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo", timeout=timedelta(minutes=30))
    return World(rank, size, local_rank, dev)


def leave(world: World) -> None:
    if world.size > 1 and _dist().is_initialized():
        _dist().destroy_process_group()
