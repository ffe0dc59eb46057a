"""Computing a surface: checkpoint + data → directions → plan → grid evaluation → surface file.

`evaluate` is the in-memory version for notebooks (model, data, plane, grid in; a `Surface`
out); `compute` is what `landscape compute` runs: it writes the file as it goes and resumes an
interrupted run, in one process or under torchrun (one fill loop for both); `dry_run` says
what `compute` would do without writing anything.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch.nn.functional as F
from torch import nn

from landscape import store
from landscape.engine import EvalSettings, Evaluator, Plan, plan_for, resolve_device
from landscape.errors import LandscapeError, arg, as_python
from landscape.inputs.data import materialize
from landscape.inputs.objective import EvalFn, LossFn, Objective
from landscape.plane.directions import Directions
from landscape.plane.grid import Grid
from landscape.run import distributed
from landscape.run.fill import fill
from landscape.run.job import ComputeJob, Note, Progress
from landscape.run.resume import Prepared, attach, open_surface, output_path
from landscape.store import journal


@dataclass
class ComputeResult:
    path: Path
    computed: int  # points computed by this run
    total: int
    nonfinite: int  # computed points (in the whole file) whose loss is inf or NaN
    seconds: float
    plan: Plan | None = None
    notes: list[str] = field(default_factory=list)


def evaluate(
    model: nn.Module,
    data: Any,
    plane: Directions,
    grid: Grid,
    loss: LossFn = F.cross_entropy,
    eval: EvalFn | None = None,  # noqa: A002 (the --eval form: fn(model, batch) -> (loss sum, count[, correct]))
    settings: EvalSettings = EvalSettings(),
    on_note: Note | None = None,
    render: Callable[[str], str] = as_python,
) -> store.Surface:
    """The loss (and accuracy) of `model` over `grid` in the plane of `plane`, in memory.

    `data`: an (x, y) pair of tensors, a Dataset, a DataLoader, or (with `eval`) any iterable of
    batches. `loss(outputs, targets)` returns the batch mean; `eval(model, batch)` returns (loss
    sum, count[, correct]) for models that are not f(x) -> outputs. The model is left as it was.
    Returns the same `Surface` that `read_surface` gives for a file, ready for `plot.draw`.
    Notes reach `on_note` as `render` writes them (Python argument names; the CLI passes its flags).
    """
    data = materialize(data)
    objective = Objective(eval_fn=eval) if eval is not None else Objective(loss=loss)
    device = resolve_device(settings.device)
    plan, objective = plan_for(model, data, objective, settings, device, grid.size)
    ev = Evaluator(model, data, plane, objective, plan, device,
                   (lambda m: on_note(render(m))) if on_note is not None else (lambda m: None))
    loss_v, acc_v = ev.evaluate(grid.coords(np.arange(grid.size)))
    names = store.value_names(data.split, objective.classification)  # the file's names, from the same rule
    values = dict(zip(names, (loss_v.reshape(grid.shape), acc_v.reshape(grid.shape))))
    attrs = {k: store.plain(store.attribute(v)) for k, v in store.plane_attrs(plane, data.split).items()}
    return store.Surface(None, np.asarray(grid.x, dtype=np.float64),
                         None if grid.y is None else np.asarray(grid.y, dtype=np.float64), values,
                         np.ones(grid.shape, dtype=bool), attrs, dict(plane.tracks), plan.to_dict())


def compute(job: ComputeJob, progress: Progress | None = None, on_note: Note | None = None,
            render: Callable[[str], str] = as_python) -> ComputeResult:
    """Compute (or finish) the surface file of `job`; returns what was done.

    The file is created atomically and every chunk of points is flushed as it finishes;
    running the same job again computes only the points still missing, with identical
    values. Under torchrun the points are shared among the ranks (see distributed.py).
    """
    t0 = time.perf_counter()
    notes: list[str] = []

    def note(message: str) -> None:
        notes.append(as_python(message))
        if on_note is not None:
            on_note(render(message))

    world = distributed.join(job.evaluation.device)
    if job.fsdp and world.size == 1:
        note(f"{arg('fsdp', True)} shards the model across torchrun's processes; in one process it is evaluated whole")
        job = dataclasses.replace(job, fsdp=False)
    elif job.fsdp:  # every rank evaluates every point on its share of the data
        job = dataclasses.replace(job, split_data=True)
    try:
        with ExitStack() as stack:
            out, error, plan = None, None, None
            prepared: Prepared | None = None
            if world.is_writer:  # checks, plan, directions and the file, once
                try:
                    out = output_path(job.out, note, job.overwrite)
                    store.check_writable(out)
                    stack.enter_context(journal.Lock(out))
                    prepared = open_surface(job, out, world, note)
                    plan = prepared.plan
                except LandscapeError as e:
                    error = (e.message, e.field)
            error, out, plan = world.share((error, out, plan))  # type: ignore[misc]
            if error is not None:
                raise LandscapeError(*error)
            if not world.is_writer:
                try:
                    prepared = attach(job, out, world, plan, lambda m: None)
                except LandscapeError as e:
                    error = (f"rank {world.rank}: {e.message}", e.field)
            errors = [e for e in world.all_gather(error) if e is not None]
            if errors:  # every rank stops, and rank 0 says why
                raise LandscapeError(*errors[0])
            assert prepared is not None
            computed, total = fill(out, prepared, world, progress, note)
    finally:
        distributed.leave(world)
    nonfinite = 0
    if world.is_writer:
        s = store.read_surface(out)
        nonfinite = int((~np.isfinite(s.metric("loss")[1][s.computed])).sum())
    return ComputeResult(out, computed, total, nonfinite, time.perf_counter() - t0, prepared.plan, notes)
