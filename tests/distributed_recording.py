"""Run under torchrun (2 CPU ranks, gloo) by tests/test_callbacks_distributed.py: the digits CNN
trained with a Recorder under DDP and under FSDP2 (`fully_shard`), into FOLDER/ddp and FOLDER/fsdp.
Each rank also writes what it saw to FOLDER/rank<R>.json."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F

from landscape.callbacks import Recorder
from landscape.models import DigitsCNN


def train(model, folder: Path, sharpness: bool) -> Recorder:
    g = torch.Generator().manual_seed(dist.get_rank())
    x, y = torch.randn(64, 1, 8, 8, generator=g), torch.randint(0, 10, (64,), generator=g)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    rec = Recorder(folder, every=2, sharpness_every=2 if sharpness else None, batch=(x[:16], y[:16]), quiet=True,
                   model_kwargs={"width": 4})
    rec.start(model, opt)
    for k in range(4):
        loss = F.cross_entropy(model(x[16 * k:16 * k + 16]), y[16 * k:16 * k + 16])
        opt.zero_grad()
        loss.backward()
        opt.step()
        rec.step(model, opt)
    rec.close(model)
    return rec


def main() -> None:
    folder = Path(sys.argv[1])
    dist.init_process_group("gloo")
    rank = dist.get_rank()
    torch.manual_seed(0)
    ddp = torch.nn.parallel.DistributedDataParallel(DigitsCNN(width=4))
    train(ddp, folder / "ddp", sharpness=True)
    from torch.distributed.fsdp import fully_shard

    torch.manual_seed(0)
    net = DigitsCNN(width=4)
    fully_shard(net)
    train(net, folder / "fsdp", sharpness=False)
    full = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in net.state_dict().items()}  # collective
    if rank == 0:
        torch.save(full, folder / "fsdp_final.pt")
    (folder / f"rank{rank}.json").write_text(json.dumps({"rank": rank}))
    dist.barrier()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
