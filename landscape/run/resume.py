"""Create or resume a surface file: the output path policy, loading the job's model and data,
the one decision whether an existing file matches the job (`matching_file`, shared by `compute`
and `dry_run`), creating a new file with its plan, and, under torchrun, the other ranks' view
of the file rank 0 made (`attach`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from landscape import store
from landscape.engine import Evaluator, Plan, plan_for, resolve_device
from landscape.engine.probe import check_objective
from landscape.errors import LandscapeError, arg
from landscape.inputs import hf
from landscape.inputs.loading import checkpoint_sha256, load_all
from landscape.inputs.checkpoint import resolve_checkpoint
from landscape.inputs.data import Data
from landscape.inputs.objective import Objective, causal_lm
from landscape.plane.grid import AutoRange, Grid
from landscape.plane.sources import FilePlane
from landscape.run import distributed
from landscape.run.autorange import auto_grid, check_centre
from landscape.run.job import ComputeJob, Note, make_plane
from landscape.run.provenance import attributes, fingerprint, model_sha256, settings_difference


def output_path(out: Path, note: Note, overwrite: bool = False) -> Path:
    """The file to write: `out`, or the file a symbolic link at `out` points to (written through,
    so the points it holds are resumed, not lost; never replaced through it)."""
    out = Path(out)
    if out.is_symlink() and overwrite:
        raise LandscapeError(f"{arg('out')} {out} is a symbolic link: with {arg('overwrite', True)} landscape would replace "
                             "the file it points to; give that file's own path", field="out")
    if out.is_symlink():
        target = out.resolve()
        note(f"{out} is a symbolic link: writing through it to {target}")
        return target
    return out


@dataclass
class Prepared:
    """What a rank needs to evaluate: the job as the file has it, the plan, its evaluator."""

    job: ComputeJob
    grid: Grid
    plan: Plan
    evaluator: Evaluator
    eigen: Any = None


def load(job: ComputeJob) -> tuple[Path, nn.Module, Data, Objective]:
    checkpoint = resolve_checkpoint(job.checkpoint)
    model, data, objective = load_all(job.checkpoint, job.model, job.data, job.loss, job.trust_checkpoint,
                                      hf.weights_precision(job.evaluation.precision))
    return checkpoint, model, data, objective


def shard(data: Data, world: distributed.World, split_data: bool) -> Data:
    if not split_data:
        return data
    n = len(data)
    if n < world.size:
        raise LandscapeError(f"{arg('split_data', True)} needs at least one sample per rank: {n} samples, {world.size} ranks",
                             field="split_data")
    return data.subset(world.rank * n // world.size, (world.rank + 1) * n // world.size)


def open_surface(job: ComputeJob, out: Path, world: distributed.World, note: Note) -> Prepared:
    """Rank 0: check everything, then create the file with its plan (or check that the file
    matches, to resume, and take its plan); returns a ready evaluator."""
    device = resolve_device(job.evaluation.device, world.local_rank if world.size > 1 else None)
    if world.size > 1:
        device = torch.device(world.device)
    if job.fsdp and (job.eigen_map or isinstance(job.grid, AutoRange)):
        what = arg("eigen_map", True) if job.eigen_map else "automatic axes"
        raise LandscapeError(f"{arg('fsdp', True)} evaluates plain points of a sharded model: drop {what}"
                             + ("" if job.eigen_map else f", give {arg('x')} MIN:MAX:NUM"), field="fsdp")
    if job.eigen_map and job.split_data:
        raise LandscapeError(f"{arg('eigen_map', True)} needs every sample on every process: drop {arg('split_data', True)}",
                             field="split_data")
    checkpoint, model, data, objective = load(job)
    if isinstance(job.plane, FilePlane) and not job.plane.path.is_file():
        raise LandscapeError(f"{arg('path')} {str(job.plane.path)!r} is not a file; give an earlier surface file",
                             field="path")
    settings = fingerprint(job, checkpoint_sha256(job.checkpoint), model_sha256(model, job.model), data, objective)
    part = shard(data, world, job.split_data)
    if out.exists() and not job.overwrite:
        before, plan = matching_file(out, job, settings, world.size)
        if plan.device == "cuda" and device.type != "cuda":
            raise LandscapeError(f"{out} is being computed on a GPU (its plan says cuda) and none is visible here; "
                                 f"resume where one is, or pass {arg('overwrite', True)} to start again on this device")
        if plan.device == "cpu":
            device = torch.device("cpu")
        grid = before.grid
        directions = store.read_directions(out)
        if not grid.is_2d:
            directions.y = None
        objective = check_objective(model, part, objective)
        prepared = Prepared(job, grid, plan, Evaluator(model, part, directions, objective, plan, device, note))
        if not plan.fsdp:  # sharded, every rank prepares at once (collectively) when the points start
            prepared.evaluator.prepare()
        return prepared
    directions = make_plane(job.plane, model, two=two(job.grid), trust=job.trust_checkpoint)
    grid = job.grid
    if isinstance(grid, AutoRange):
        grid = auto_grid(grid, model, data, directions, objective, job.evaluation, device, note)  # all of it, as one process
    plan, objective = plan_for(model, part, objective, job.evaluation, device, grid.size, world.size,
                               split_data=job.split_data, fsdp=job.fsdp)
    evaluator = Evaluator(model, part, directions, objective, plan, device, note)
    if not plan.fsdp:  # sharded, the ranks prepare together when the points start: rank 0 cannot run alone
        evaluator.prepare()  # fast paths checked before any file is written
        if not isinstance(job.grid, AutoRange):  # (the automatic range measured it already)
            check_centre(evaluator)
        plan = evaluator.plan_now()  # the file records the fast paths kept, not only those planned
    metrics = store.value_names(data.split, objective.classification, job.eigen_map)
    attrs = attributes(job, settings, directions, data)
    if objective.eval_fn is causal_lm:
        attrs["objective"] = hf.describe(model)
    if isinstance(job.grid, AutoRange):
        attrs.update(auto_rise=job.grid.rise, auto_radius_x=max(abs(grid.x[0]), abs(grid.x[-1])),
                     **({"auto_radius_y": max(abs(grid.y[0]), abs(grid.y[-1]))} if grid.y else {}))
    subset = job.spec.select.describe()
    if subset:
        attrs["subset"] = subset
    store.create(out, grid, metrics, directions, attrs, settings, plan.to_dict())
    return Prepared(job, grid, plan, evaluator)


def matching_file(out: Path, job: ComputeJob, settings: dict[str, Any], world: int | None) -> tuple[store.Surface, Plan]:
    """The existing file `out` and its plan, if this job may resume it; else a user error that
    says what differs (the one decision of `compute` and `dry_run`)."""
    try:
        stored_settings = store.read_settings(out)
    except LandscapeError as e:
        raise LandscapeError(f"{arg('out')}: {e.message}; pass {arg('overwrite', True)} to replace it, or choose another "
                             f"{arg('out')}", field="out") from None
    diff = settings_difference(stored_settings, settings)
    if diff is not None:
        raise LandscapeError(f"{out} was computed with other settings ({diff}); pass {arg('overwrite', True)} to replace it, "
                             f"or {arg('out')}", field="out")
    before = store.read_surface(out)
    plan = Plan.from_dict(before.plan)
    if plan.fsdp != job.fsdp:
        how = f"under torchrun with {arg('fsdp', True)}" if plan.fsdp else f"without {arg('fsdp', True)}"
        raise LandscapeError(f"{out} was started with its model {'' if plan.fsdp else 'not '}sharded across processes "
                             f"(FSDP); resume it {how}, or pass {arg('overwrite', True)} to start again", field="fsdp")
    conflict = plan.conflict(job.evaluation, world, job.split_data, job.fsdp)
    if conflict is not None:
        raise LandscapeError(f"{out} was started with another evaluation plan ({conflict}); resume without that "
                             f"option, or pass {arg('overwrite', True)} to start again")
    return before, plan


def two(grid: Grid | AutoRange) -> bool:
    return grid.is_2d if isinstance(grid, Grid) else grid.ny is not None


def attach(job: ComputeJob, out: Path, world: distributed.World, plan: Plan, note: Note) -> Prepared:
    """Ranks other than 0: the model, the data and the plane of the file rank 0 made, and the plan it sent."""
    if not out.exists():
        raise LandscapeError(f"{out} is not visible to every rank: put {arg('out')} on a filesystem that all nodes share",
                             field="out")
    _, model, data, objective = load(job)
    part = shard(data, world, job.split_data)
    surface = store.read_surface(out)
    directions = store.read_directions(out)
    if not surface.is_2d:
        directions.y = None
    objective = check_objective(model, part, objective)
    device = torch.device(world.device if plan.device == "cuda" else "cpu")
    ev = Evaluator(model, part, directions, objective, plan, device, note)
    if not plan.fsdp:
        ev.prepare()
    return Prepared(job, surface.grid, plan, ev)
