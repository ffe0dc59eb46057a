"""`landscape demo`: train a small CNN on the bundled digits, then compute its landscape: the
surface around the last epoch, the training path in its PCA plane and the line from the first
epoch to the last. Drawing belongs to the caller (`draw`): the run never imports plotting."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from landscape.inputs.checkpoint import ModelSpec
from landscape.inputs.data import DataSpec, Split, load_data
from landscape.models import DigitsCNN
from landscape.plane.directions import DirType, DirectionSpec
from landscape.plane.grid import Grid
from landscape.run.compute import ComputeResult, compute
from landscape.run.job import ComputeJob

DEMO_MODEL = "landscape.models:digits_cnn"


@dataclass(frozen=True)
class DemoSettings:
    out_dir: Path = Path("outputs/demo")
    epochs: int = 8
    seed: int = 0
    grid: Grid = Grid.linspace((-1, 1, 31), (-1, 1, 31))
    trajectory_resolution: int = 21


@dataclass
class DemoResult:
    checkpoints: list[Path]
    test_accuracy: float
    surface: ComputeResult
    trajectory: ComputeResult
    interpolation: ComputeResult
    figures: list[Path] = field(default_factory=list)


def train(settings: DemoSettings, on_epoch: Callable[[int, float, float], None] | None = None) -> tuple[list[Path], float]:
    """SGD on the digits' training split, one checkpoint per epoch: outputs/demo/epoch_N.pt."""
    torch.manual_seed(settings.seed)
    train_data = load_data(DataSpec("digits", Split.train))
    test_data = load_data(DataSpec("digits", Split.test))
    model = DigitsCNN()
    opt = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(settings.seed)
    settings.out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    acc = 0.0
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = torch.randperm(len(train_data), generator=gen)
        total = 0.0
        for s in range(0, len(order), 32):
            idx = order[s : s + 32]
            loss = F.cross_entropy(model(train_data.x[idx]), train_data.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        model.eval()
        with torch.no_grad():
            acc = 100.0 * float((model(test_data.x).argmax(1) == test_data.y).float().mean())
        path = settings.out_dir / f"epoch_{epoch}.pt"
        torch.save({"state_dict": model.state_dict(), "epoch": epoch, "model": DEMO_MODEL}, path)
        paths.append(path)
        if on_epoch:
            on_epoch(epoch, total / len(train_data), acc)
    return paths, acc


def run_demo(
    settings: DemoSettings = DemoSettings(),
    on_epoch: Callable[[int, float, float], None] | None = None,
    progress: Callable[[str], Callable[[int, int], None] | None] = lambda name: None,
    draw: Callable[[Path], list[Path]] | None = None,
    command: str = "",
) -> DemoResult:
    """Train; compute the surface around the last epoch, the training path in its PCA plane and
    the line from the first epoch to the last; with `draw`, the default figures of each.

    `progress(name)` may return a (done, total) callback for the named computation; `draw(path)`
    draws a surface file's default figures and returns their paths (the command line passes
    `plot.render_file`); `command` is the command line the three files record (the CLI's).
    """
    from landscape.plane.sources import RandomPlane
    from landscape.run.job import interpolation_job, trajectory_job

    paths, acc = train(settings, on_epoch)
    template = ComputeJob(checkpoint=paths[-1], grid=settings.grid, out=settings.out_dir / "demo.surface.h5",
                          model=ModelSpec(DEMO_MODEL), data=DataSpec("digits"), overwrite=True, command=command)
    jobs = {
        "surface": template,
        "trajectory": trajectory_job(dataclasses.replace(template, out=settings.out_dir / "demo.trajectory.h5"),
                                     [paths], resolution=settings.trajectory_resolution),
        "interpolation": interpolation_job(
            dataclasses.replace(template, out=settings.out_dir / "demo.interpolation.h5",
                                plane=RandomPlane(DirectionSpec(DirType.states))),
            [paths[0], paths[-1]]),
    }
    results = {name: compute(job, progress=progress(name)) for name, job in jobs.items()}
    figures = [f for r in results.values() for f in draw(r.path)] if draw is not None else []
    return DemoResult(paths, acc, results["surface"], results["trajectory"], results["interpolation"], figures)
