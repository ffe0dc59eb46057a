"""The paper's Figure 1 style on this machine: a ResNet-56 (landscape.models) trained briefly on
CIFAR-shaped synthetic data, its filter-normalized loss surface on a 51×51 grid over [-1, 1]²,
drawn as contour lines (the paper's levels) and as a 3-D surface.

    python docs/paper_figure.py   # about 50 min on 2 CPU cores (1.15-1.3 s a point, 2026-11-25); resumes if stopped

No download: the data are 10 classes of 32×32 colour images, each class a fixed random
low-frequency pattern plus noise, so the network has something to learn in a few epochs.
Writes outputs/paper/resnet56.pt, outputs/paper/resnet56.surface.h5 and
docs/paper.resnet56.{contour,surface}.png.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import landscape as ls  # noqa: E402
from landscape import plot  # noqa: E402
from landscape.models import resnet56  # noqa: E402

OUT = ROOT / "outputs" / "paper"
TRAIN, EVAL, EPOCHS = 4000, 500, 4


def cifar_like(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, 32, 32) images: a class's smooth template (fixed by seed 0) plus per-image noise."""
    templates = F.interpolate(torch.randn(10, 3, 4, 4, generator=torch.Generator().manual_seed(0)), size=32,
                              mode="bicubic", align_corners=False)
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = templates[y] + 1.5 * torch.randn(n, 3, 32, 32, generator=g)
    return x, y


def train() -> Path:
    path = OUT / "resnet56.pt"
    if path.exists():
        return path
    torch.manual_seed(0)
    model = resnet56()
    x, y = cifar_like(TRAIN, seed=1)
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    for epoch in range(EPOCHS):
        model.train()
        order = torch.randperm(TRAIN, generator=torch.Generator().manual_seed(epoch))
        t0, total = time.perf_counter(), 0.0
        for s in range(0, TRAIN, 64):
            idx = order[s : s + 64]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss) * len(idx)
        print(f"epoch {epoch + 1}: loss {total / TRAIN:.3f} ({time.perf_counter() - t0:.0f} s)", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": model.state_dict(), "epoch": EPOCHS}, path)
    return path


def main() -> None:
    ckpt = train()
    x, y = cifar_like(EVAL, seed=2)
    data_file = OUT / "eval.pt"
    torch.save({"x": x, "y": y}, data_file)
    job = ls.ComputeJob(ckpt, ls.Grid.linspace((-1, 1, 51), (-1, 1, 51)), OUT / "resnet56.surface.h5",
                        ls.ModelSpec("landscape.models:resnet56"), ls.DataSpec(str(data_file)))
    t0 = time.perf_counter()
    result = ls.compute(job, on_note=lambda m: print(f"note: {m}", flush=True))
    print(f"{result.computed} points in {time.perf_counter() - t0:.0f} s; plan: {result.plan.to_dict()}")
    surface = ls.read_surface(result.path)
    written = plot.render_file(surface, plot.PlotOptions(kinds=("contour", "surface"), dpi=110), OUT)
    for p in written:
        target = ROOT / "docs" / f"paper.{p.name}"  # docs/paper.resnet56.contour.png, ...
        target.write_bytes(p.read_bytes())
        print(f"wrote {target}")


if __name__ == "__main__":
    main()
