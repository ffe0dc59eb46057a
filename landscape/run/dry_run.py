"""What `compute` would do, without writing anything: the plan, the points, an estimate of the
time from a few timed points, and of the file size."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from landscape import store
from landscape.engine import Compile, Evaluator, Plan, plan_for, profile_of, resolve_device
from landscape.engine.probe import check_objective
from landscape.errors import as_python
from landscape.inputs.loading import checkpoint_sha256
from landscape.plane.grid import Grid
from landscape.run.job import ComputeJob, Note, make_plane
from landscape.run.provenance import fingerprint, model_sha256
from landscape.run.resume import load, matching_file, two


@dataclass
class DryRun:
    """What `compute` would do: the plan, the points it would compute, how long, how big a file."""

    plan: Plan
    device: str
    points: int  # to compute
    total: int
    seconds: float  # estimated, from a few timed points
    file_bytes: int
    resumes: bool
    notes: list[str] = field(default_factory=list)


def dry_run(job: ComputeJob, on_note: Note | None = None, render: Callable[[str], str] = as_python) -> DryRun:
    """Check the job and time a few points as `compute` would evaluate them; writes nothing."""
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(as_python(message))
        if on_note is not None:
            on_note(render(message))

    device = resolve_device(job.evaluation.device)
    checkpoint, model, data, objective = load(job)
    out = Path(job.out)
    missing, resumes = None, False
    if out.exists() and not job.overwrite:
        settings = fingerprint(job, checkpoint_sha256(job.checkpoint), model_sha256(model, job.model), data, objective)
        before, plan = matching_file(out, job, settings, None)
        directions = store.read_directions(out)
        grid = before.grid
        if not grid.is_2d:
            directions.y = None
        objective = check_objective(model, data, objective)
        missing, resumes = int((~before.computed).sum()), True
    else:
        directions = make_plane(job.plane, model, two=two(job.grid), trust=job.trust_checkpoint)
        grid = job.grid if isinstance(job.grid, Grid) else Grid.linspace((-1, 1, job.grid.nx),
                                                                          (-1, 1, job.grid.ny) if job.grid.ny else None)
        plan, objective = plan_for(model, data, objective, job.evaluation, device, grid.size)
    timed = dataclasses.replace(plan, compile=Compile.off)  # time eagerly; a compile is estimated
    ev = Evaluator(model, data, directions, objective, timed, device if plan.device == device.type else
                   torch.device(plan.device), note)
    sample = grid.coords(np.arange(min(3, grid.size)))
    ev.evaluate(sample[:1])  # warm-up
    t0 = time.perf_counter()
    ev.evaluate(sample)
    per_point = (time.perf_counter() - t0) / len(sample)
    points = grid.size if missing is None else missing
    seconds = per_point * points
    if plan.compile != Compile.off:
        profile = profile_of(ev.device)
        seconds = seconds * (1 - profile.compile_saving) + profile.compile_seconds
    if job.eigen_map:
        note("the eigenvalue map's Hessian work is not in the estimate")
    tensors = sum(t.numel() for d in (directions.x, directions.y) if d is not None for t in d.values())
    file_bytes = 4 * tensors + grid.size * (8 * 2 + 1) + 16_384
    return DryRun(plan, str(ev.device), points, grid.size, seconds, file_bytes, resumes, notes)
