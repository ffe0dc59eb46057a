"""Points of a model sharded with PyTorch's FSDP (`fully_shard`) across the ranks of torchrun:
for models that do not fit one device.

Every rank holds its shard of θ, d1 and d2 (the directions are the full tensors a single
process makes for the same seed, each rank keeping its slice), writes θ + a·d1 + b·d2 into its
shard of the weights before a point (from θ every time: exact, nothing drifts), and lets FSDP
gather each transformer block's weights as its forward runs. Every rank evaluates every point
on its share of the data, the same number of forward passes on each (FSDP's gathers are
collective), and the sums are all-reduced by the caller.
"""

from __future__ import annotations

import copy
import inspect
import math
import torch
from torch import nn

from landscape.engine.lean import named_tensors
from landscape.errors import LandscapeError, arg

Tensors = dict[str, torch.Tensor]


def blocks(model: nn.Module) -> list[nn.Module]:
    """The repeated blocks of a network, each sharded on its own: the entries of its longest
    ModuleList (a transformer's layers). [] when it has none (the whole model is one unit)."""
    lists = [m for m in model.modules() if isinstance(m, nn.ModuleList) and len(m) > 0]
    return list(max(lists, key=len)) if lists else []


def shard(model: nn.Module, device: torch.device) -> nn.Module:
    """A copy of `model` in eval mode with each block and then the whole sharded by `fully_shard`
    over every rank of the default process group (the caller's model is not changed)."""
    try:
        from torch.distributed.device_mesh import init_device_mesh
        from torch.distributed.fsdp import fully_shard
        from torch.distributed.tensor import distribute_tensor

        if "src_data_rank" not in inspect.signature(distribute_tensor).parameters:
            raise ImportError
    except ImportError:
        raise LandscapeError(f"{arg('fsdp', True)} needs PyTorch 2.6 or newer (fully_shard), this is "
                             f"{torch.__version__}") from None

    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    mesh = init_device_mesh(device.type, (torch.distributed.get_world_size(),))
    for block in blocks(net):
        fully_shard(block, mesh=mesh)
    fully_shard(net, mesh=mesh)
    return net


def local(t: torch.Tensor) -> torch.Tensor:
    """This rank's part of a tensor: the local shard of a DTensor, else the tensor (a buffer)."""
    return t.to_local() if hasattr(t, "to_local") else t


def slice_like(full: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """This rank's slice of `full`, laid out as the (possibly sharded) tensor `like`."""
    full = full.to(device=local(like).device, dtype=like.dtype)
    if not hasattr(like, "to_local"):
        return full
    from torch.distributed.tensor import distribute_tensor

    # every rank holds the same full tensor (read from the file), so each takes its slice: no communication
    return distribute_tensor(full, like.device_mesh, like.placements, src_data_rank=None).to_local().clone()


class ShardedWeights:
    """θ, d1, d2 of this rank's shards, and the write of a point into the sharded weights."""

    def __init__(self, net: nn.Module, d1: Tensors, d2: Tensors | None):
        from torch.distributed.fsdp import FSDPModule

        tensors = named_tensors(net)
        self.net = net
        self.units = [m for m in net.modules() if isinstance(m, FSDPModule)]
        self.base = {n: local(tensors[n]).detach().clone() for n in d1}
        self.d1 = {n: slice_like(d1[n], tensors[n]) for n in d1}
        self.d2 = {n: slice_like(d2[n], tensors[n]) for n in d1} if d2 is not None else None

    @torch.no_grad()
    def write(self, a: float, b: float) -> None:
        """θ + a·d1 + b·d2 into every moving shard, rounded as the plain point model rounds it.
        Gathered weights are dropped first (the root module keeps its own after a forward pass),
        so the next forward gathers the new point."""
        for module in self.units:
            module.reshard()
        tensors = named_tensors(self.net)  # looked up each time: FSDP may re-home a shard on its first gather
        for n, base in self.base.items():
            t = torch.add(base, self.d1[n], alpha=a)
            if self.d2 is not None and b != 0.0:
                t.add_(self.d2[n], alpha=b)
            local(tensors[n]).copy_(t)  # the storage FSDP gathers from


def most_batches(count: int, device: torch.device) -> int:
    """The largest number of batches of any rank: each rank runs as many forward passes."""
    import torch.distributed as dist

    t = torch.tensor([count], dtype=torch.int64, device=device if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return int(t.item())


def batches_of(samples: int, batch: int) -> int:
    return math.ceil(samples / batch) if batch > 0 else 0
