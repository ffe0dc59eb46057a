"""`landscape demo --schedules`: the stories the field tells with loss landscapes about learning-
rate schedules, measured on the bundled digits in a few minutes on a laptop's CPU.

The digits CNN is trained four times from the same initial weights on the same batch order,
each recorded by a `Recorder` (a checkpoint per epoch, sharpness every few steps):
- constant: SGD with momentum at one learning rate;
- step: the same, divided by 10 at half and at three quarters of training;
- cosine restarts: cosine annealing with warm restarts (Loshchilov & Hutter 2017), three cycles;
- swa: the constant rate, then from 60% of training a low constant rate while the weights of
  each epoch are averaged (stochastic weight averaging, Izmailov et al. 2018, arXiv:1704.00109),
  BatchNorm statistics recomputed for the average.
Then: all paths on one PCA plane around the SWA average (`trajectory_job`), a table of each
final model's and of the average's numbers (train and test loss, test accuracy, top Hessian
eigenvalue, ε-sharpness), and the sharpness of each run over training. Whatever the numbers
show is what is reported: nothing here is tuned to a story.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import SWALR, AveragedModel, update_bn

from landscape.callbacks.recorder import Recorder
from landscape.curvature.sharpness import SharpnessSettings, sharpness
from landscape.curvature.spectrum import HessianSettings
from landscape.engine.functional import evaluate
from landscape.inputs.checkpoint import ModelSpec, load_model
from landscape.inputs.data import DataSpec, Split, load_data
from landscape.inputs.objective import batch_loss, cross_entropy
from landscape.models import DigitsCNN
from landscape.plane.directions import Track
from landscape.plane.grid import Grid
from landscape.run.compute import ComputeResult, compute
from landscape.run.job import ComputeJob, trajectory_job

SCHEDULES = ("constant", "step", "cosine-restarts", "swa")
MODEL = "landscape.models:DigitsCNN"
BATCH = 32


@dataclass(frozen=True)
class SchedulesSettings:
    out_dir: Path = Path("outputs/schedules")
    epochs: int = 15
    lr: float = 0.05
    swa_lr: float = 0.01
    swa_start: float = 0.6  # the share of epochs before averaging starts
    sharpness_every: int = 10  # steps
    sharpness_samples: int = 256  # the fixed batch
    seed: int = 0
    resolution: int = 25
    table_samples: int | None = None  # training images the table's λmax and ε-sharpness use (None: all 1,438)


@dataclass
class ScheduleRow:
    """One model's numbers in the table."""

    name: str
    train_loss: float
    test_loss: float
    test_accuracy: float
    top_eigenvalue: float
    eps_sharpness: float  # Keskar's φ, percent


@dataclass
class SchedulesResult:
    folders: list[Path]
    swa: Path
    rows: list[ScheduleRow]
    plane: ComputeResult
    figures: list[Path] = field(default_factory=list)


def _schedule(name: str, opt: torch.optim.Optimizer, steps_per_epoch: int, settings: SchedulesSettings):
    """(a per-step scheduler, or None; the epoch SWA starts at, or None)."""
    total = settings.epochs * steps_per_epoch
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(opt, [total // 2, (3 * total) // 4], 0.1), None
    if name == "cosine-restarts":
        return torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(opt, max(1, total // 3)), None
    if name == "swa":
        return None, max(1, int(round(settings.swa_start * settings.epochs)))
    return None, None


def train_run(name: str, settings: SchedulesSettings, on_epoch: Callable[[str, int, float], None] | None = None
              ) -> tuple[Path, Path | None]:
    """Train one schedule, recorded into out_dir/NAME; returns the folder and the SWA average's file."""
    torch.manual_seed(settings.seed)
    train = load_data(DataSpec("digits", Split.train))
    model = DigitsCNN()
    opt = torch.optim.SGD(model.parameters(), lr=settings.lr, momentum=0.9, weight_decay=5e-4)
    steps_per_epoch = math.ceil(len(train) / BATCH)
    scheduler, swa_from = _schedule(name, opt, steps_per_epoch, settings)
    fixed = torch.randperm(len(train), generator=torch.Generator().manual_seed(settings.seed + 1))
    fixed = fixed[: settings.sharpness_samples]
    rec = Recorder(settings.out_dir / name, every=steps_per_epoch, sharpness_every=settings.sharpness_every,
                   batch=(train.x[fixed], train.y[fixed]), model=MODEL, data="digits",
                   total_steps=settings.epochs * steps_per_epoch, quiet=True)
    rec.start(model, opt, scheduler)
    average = swa_scheduler = None
    gen = torch.Generator().manual_seed(settings.seed)
    for epoch in range(1, settings.epochs + 1):
        model.train()
        order = torch.randperm(len(train), generator=gen)
        total = 0.0
        for s in range(0, len(order), BATCH):
            idx = order[s:s + BATCH]
            loss = F.cross_entropy(model(train.x[idx]), train.y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            rec.step(model, opt, scheduler, epoch=epoch, loss=loss)
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(idx)
        if swa_from is not None and epoch >= swa_from:
            average = average or AveragedModel(model)
            average.update_parameters(model)
            swa_scheduler.step()
        elif swa_from is not None and epoch == swa_from - 1:  # the low rate from the next epoch on
            swa_scheduler = SWALR(opt, settings.swa_lr, anneal_epochs=1)
        rec.epoch_end(model, epoch)
        if on_epoch is not None:
            on_epoch(name, epoch, total / len(train))
    swa_path = None
    if average is not None:
        update_bn([(train.x[s:s + BATCH],) for s in range(0, len(train), BATCH)], average)
        swa_path = rec.save(average.module, "swa")
    rec.close(model)
    return rec.folder, swa_path


def table_row(name: str, path: Path, settings: SchedulesSettings) -> ScheduleRow:
    """The numbers of one model: its losses, its top Hessian eigenvalue and ε-sharpness on the
    training data."""
    model = load_model(path, ModelSpec(MODEL))
    train = load_data(DataSpec("digits", Split.train, settings.table_samples))
    test = load_data(DataSpec("digits", Split.test))
    fn = batch_loss(cross_entropy, True)
    batches = [(train.x, train.y)]
    row = sharpness(model, batches, fn, SharpnessSettings(
        directions=0, seed=settings.seed, hessian=HessianSettings(top_k=1, trace=False, seed=settings.seed)), name)
    t = evaluate(model, [(test.x, test.y)], fn)
    return ScheduleRow(name, row.loss, t.loss, t.accuracy, row.top_eigenvalue, row.eps_sharpness)


def run_schedules(settings: SchedulesSettings = SchedulesSettings(),
                  on_epoch: Callable[[str, int, float], None] | None = None,
                  progress: Callable[[str], Callable[[int, int], None] | None] = lambda name: None,
                  draw: Callable[[Path], list[Path]] | None = None, draw_logs: Callable[[list[Path]], list[Path]] | None = None,
                  command: str = "") -> SchedulesResult:
    """Train the four schedules, compute their common plane around the SWA average, and measure
    the table; with `draw` and `draw_logs`, the plane's figures and the sharpness figure."""
    folders, swa = [], None
    for name in SCHEDULES:
        folder, average = train_run(name, settings, on_epoch)
        folders.append(folder)
        swa = average or swa
    assert swa is not None
    from landscape.inputs.runs import read_run

    runs = [read_run(f).checkpoints for f in folders]
    template = ComputeJob(checkpoint=swa, grid=Grid((0.0,)), out=settings.out_dir / "schedules.trajectory.h5",
                          model=ModelSpec(MODEL), data=DataSpec("digits"), overwrite=True, command=command)
    job = trajectory_job(template, runs, list(SCHEDULES), final=swa,
                         resolution=settings.resolution)
    job.plane.directions.tracks["models"] = Track(np.zeros(1), np.zeros(1), ["SWA average"], [None])  # the centre
    plane = compute(job, progress=progress("plane"))
    rows = [table_row(name, runs[k][-1], settings) for k, name in enumerate(SCHEDULES)]
    rows.append(table_row("swa average", swa, settings))
    figures = list(draw(plane.path)) if draw is not None else []
    if draw_logs is not None:
        figures += draw_logs([f / "training.h5" for f in folders])
    return SchedulesResult(folders, swa, rows, plane, figures)


def table_text(rows: list[ScheduleRow]) -> str:
    """The table as Markdown."""
    head = "| model | train loss | test loss | test acc. (%) | top eigenvalue | ε-sharpness (%) |\n|---|---:|---:|---:|---:|---:|\n"
    return head + "".join(f"| {r.name} | {r.train_loss:.4f} | {r.test_loss:.4f} | {r.test_accuracy:.1f} | "
                          f"{r.top_eigenvalue:.3g} | {r.eps_sharpness:.3g} |\n" for r in rows)
