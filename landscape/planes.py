"""Plane makers: every way to choose the directions of a surface returns the same `Directions`.

Here: random filter-normalized directions (from directions.py), toward target models, and the
plane of an earlier surface file, of a direction file of the paper's code, or of a Hessian file's
top eigenvectors. The PCA plane of training runs is in trajectory.py, the plane through models
in interpolation.py.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from . import store
from .checkpoint import load_state_for
from .directions import (Directions, DirType, base_tensors, check_compatible, chosen, random_direction,
                         random_directions, target_direction)
from .choices import Scale
from .errors import LandscapeError

if TYPE_CHECKING:
    from .surface import ComputeJob




def make_directions(job: "ComputeJob", model: nn.Module, two: bool) -> Directions:
    """The plane of the job: precomputed, from an earlier file, toward target models, or random;
    a user error if it moves nothing or is a line (see `check_plane`)."""
    return check_plane(_directions(job, model, two), two)


def check_plane(plane: Directions, two: bool) -> Directions:
    """A plane that moves no tensor draws a flat surface, and two parallel directions draw a
    line as a plane: either is refused in one line that says why."""
    if not plane.moving():
        raise LandscapeError(
            "the directions move no tensor, so the surface would be flat: the model has no floating-point "
            "parameters, or --params/--trainable-only choose only 1-D tensors (biases, BatchNorm) that --ignore "
            "biasbn keeps still (add --no-ignore, or choose weights), or a target is the model itself")
    def norm(d: dict) -> float:  # float64 sums without float64 copies of the tensors, one host sync
        return float(torch.stack([torch.linalg.vector_norm(t.detach(), dtype=torch.float64).cpu()
                                  for t in d.values()]).norm()) if d else 0.0

    norm_x = norm(plane.x)
    if norm_x == 0:
        raise LandscapeError("the first direction is zero (--x-target is the same model as the checkpoint?); "
                             "choose another target")
    if two and plane.y is not None:
        norm_y = norm(plane.y)
        if norm_y == 0:
            raise LandscapeError("the second direction is zero (--y-target is the same model as the checkpoint?); "
                                 "choose another target, or omit --y for a 1-D run")
        dot = float(torch.stack([torch.sum(plane.x[n].detach() * plane.y[n].detach(), dtype=torch.float64).cpu()
                                 for n in plane.x]).sum())
        if abs(dot) >= (1 - 1e-6) * norm_x * norm_y:
            raise LandscapeError("the two directions are parallel, so the plane is a line (--x-target and --y-target "
                                 "the same model?); give two different targets, or omit --y for a 1-D run")
    return plane


def _directions(job: "ComputeJob", model: nn.Module, two: bool) -> Directions:
    if job.plane is not None:
        return job.plane
    base = base_tensors(model, job.directions.dir_type)
    if job.directions_file is not None:
        return read_plane(job.directions_file, model, two, job.direction_scale)
    if job.y_target is not None and job.x_target is None:
        raise LandscapeError("--y-target needs --x-target")
    if job.x_target is not None:
        only = chosen(model, job.directions)
        dx = target_direction(base, load_state_for(model, job.x_target, job.trust_checkpoint), only)
        labels = [f"toward {job.x_target.name} (θ₂ − θ)", "direction 2"]
        dy = None
        if two:
            if job.y_target is not None:
                dy = target_direction(base, load_state_for(model, job.y_target, job.trust_checkpoint), only)
                labels[1] = f"toward {job.y_target.name} (θ₃ − θ)"
            else:
                gen = torch.Generator().manual_seed(job.directions.seed)
                dy = random_direction(base, job.directions, gen, only)
                labels[1] = f"random direction, {job.directions.norm.value}-normalized"
        elif job.y_target is not None:
            raise LandscapeError("--y-target needs a 2-D grid: add --y")
        extra = {"subset": job.directions.describe_subset()} if only is not None else {}
        return Directions(dx, dy, job.directions.dir_type, "target", (labels[0], labels[1]), extra)
    return random_directions(model, job.directions, two=two)


def read_plane(path: Path, model: nn.Module, two: bool = True, scale: Scale = Scale.unit) -> Directions:
    """The plane of an earlier surface file, a direction file of the paper's code (unnamed
    tensors, matched by position to `model.parameters()` or `model.state_dict()`) or a Hessian
    file (top eigenvectors; `scale` "weights" rescales each to the norm of the weights)."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"--directions {str(path)!r} is not a file; give an earlier surface file or a Hessian file")
    dirs = store.read_directions(path)
    if dirs.names == [str(i) for i in range(len(dirs.names))]:
        dirs = _by_position(dirs, model, path)
    check_compatible(dirs, base_tensors(model, dirs.dir_type), f"--directions {path}")
    if not two:
        dirs.y = None
    elif dirs.y is None:
        raise LandscapeError(f"--directions {path} holds one direction; omit --y for a 1-D run")
    scale = Scale(scale)
    if dirs.kind == "hessian":
        base = base_tensors(model, dirs.dir_type)
        theta = math.sqrt(sum(float((t.double() ** 2).sum()) for t in base.values() if t.is_floating_point()))
        factor = theta if scale == Scale.weights else 1.0
        if factor != 1.0:
            dirs.x = {n: t * factor for n, t in dirs.x.items()}
            dirs.y = {n: t * factor for n, t in dirs.y.items()} if dirs.y is not None else None
        dirs.extra = {**dirs.extra, "scale": "to the norm of the weights" if scale == Scale.weights else "unit norm"}
        note = ("Hessian eigenvectors, " + ("each scaled to |θ|" if scale == Scale.weights else "unit norm")
                + ", not filter-normalized")
        dirs.extra["note"] = note
    elif scale != Scale.unit:
        raise LandscapeError("--direction-scale applies to a Hessian file's eigenvectors only")
    return dirs


def _by_position(dirs: Directions, model: nn.Module, where: Path) -> Directions:
    for dir_type in (DirType.weights, DirType.states):
        base = base_tensors(model, dir_type)
        shapes = [tuple(t.shape) for t in base.values()]
        if shapes == [tuple(t.shape) for t in dirs.x.values()]:
            rename = lambda d: dict(zip(base, d.values())) if d is not None else None  # noqa: E731
            return Directions(rename(dirs.x), rename(dirs.y), dir_type, dirs.kind, dirs.labels, dirs.extra)
    raise LandscapeError(f"--directions {where}: its {len(dirs.x)} unnamed tensors match neither the model's "
                         "parameters nor its state dict in order and shape; use directions made for this architecture")
