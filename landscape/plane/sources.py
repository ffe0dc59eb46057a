"""Where the plane of a surface comes from, as one value (`PlaneSource`), and the makers that
turn it into `Directions`: random filter-normalized directions, directions toward target
models, or directions already made (the PCA plane of training runs in trajectory.py, the
plane through models in interpolation.py). The plane of an earlier file (a surface, a
direction file of the paper's code, a Hessian file's top eigenvectors) is a `FilePlane`,
read by the store (`landscape.store.planes`); `landscape.make_plane` takes every source.

Every source carries the `DirectionSpec` of the run (the dir type, the seed, the tensors that
move), which the file records, so a resumed run can tell whether it is the same job.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Union

import torch
from torch import nn

from landscape.choices import Scale
from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import load_state_for
from landscape.plane.directions import (DirectionSpec, Directions, base_tensors, chosen, filter_axes, random_direction,
                                        random_directions, target_direction)


@dataclass(frozen=True)
class RandomPlane:
    """Random directions drawn and normalized by `spec` (the paper's plane)."""

    spec: DirectionSpec = DirectionSpec()


@dataclass(frozen=True)
class TargetPlane:
    """d1 = θ_x − θ (toward the model in checkpoint `x`); d2 toward `y`, or random by `spec`."""

    x: Path
    y: Path | None = None
    spec: DirectionSpec = DirectionSpec()

    def __post_init__(self) -> None:
        object.__setattr__(self, "x", Path(self.x))
        if self.y is not None:
            object.__setattr__(self, "y", Path(self.y))


@dataclass(frozen=True)
class FilePlane:
    """The plane stored in a file; a Hessian file's eigenvectors are unit norm unless `scale` is
    `Scale.weights` (each scaled to the norm of the weights)."""

    path: Path
    scale: Scale = Scale.unit
    spec: DirectionSpec = DirectionSpec()

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "scale", Scale(self.scale))


@dataclass(frozen=True)
class GivenPlane:
    """Directions already made (`trajectory_plane`, `models_plane`, your own)."""

    directions: Directions = field(compare=False)
    spec: DirectionSpec = DirectionSpec()


PlaneSource = Union[RandomPlane, TargetPlane, FilePlane, GivenPlane]


def directions_of(source: RandomPlane | TargetPlane | GivenPlane, model: nn.Module, two: bool,
                  trust: bool = False) -> Directions:
    """The directions of `source` for `model` (a plane if `two`, else a line); a user error if
    they move nothing or are parallel (see `check_plane`). `trust` lets target checkpoints that
    need code load (`trust_checkpoint`). A `FilePlane` is read from its file by
    `landscape.store.planes.read_plane`; `landscape.make_plane` takes every source."""
    return check_plane(_directions(source, model, two, trust), two)


def check_plane(plane: Directions, two: bool) -> Directions:
    """A plane that moves no tensor draws a flat surface, and two parallel directions draw a
    line as a plane: either is refused in one line that says why."""
    if not plane.moving():
        raise LandscapeError(
            f"the directions move no tensor, so the surface would be flat: the model has no floating-point "
            f"parameters, or {arg('params')}/{arg('trainable_only')} choose only 1-D tensors (biases, BatchNorm) that "
            f"{arg('ignore_biasbn', True)} keeps still (add {arg('ignore_biasbn', False)}, or choose weights), or a "
            "target is the model itself")
    def norm(d: dict) -> float:  # float64 sums without float64 copies of the tensors, one host sync
        return float(torch.stack([torch.linalg.vector_norm(t.detach(), dtype=torch.float64).cpu()
                                  for t in d.values()]).norm()) if d else 0.0

    norm_x = norm(plane.x)
    if norm_x == 0:
        raise LandscapeError(f"the first direction is zero ({arg('x_target')} is the same model as the checkpoint?); "
                             "choose another target", field="x_target")
    if two and plane.y is not None:
        norm_y = norm(plane.y)
        if norm_y == 0:
            raise LandscapeError(f"the second direction is zero ({arg('y_target')} is the same model as the "
                                 f"checkpoint?); choose another target, or omit {arg('y')} for a 1-D run",
                                 field="y_target")
        dot = float(torch.stack([torch.sum(plane.x[n].detach() * plane.y[n].detach(), dtype=torch.float64).cpu()
                                 for n in plane.x]).sum())
        if abs(dot) >= (1 - 1e-6) * norm_x * norm_y:
            raise LandscapeError(f"the two directions are parallel, so the plane is a line ({arg('x_target')} and "
                                 f"{arg('y_target')} the same model?); give two different targets, or omit {arg('y')} "
                                 "for a 1-D run", field="y_target")
    return plane


def _directions(source: PlaneSource, model: nn.Module, two: bool, trust: bool) -> Directions:
    if isinstance(source, GivenPlane):
        return source.directions
    if isinstance(source, FilePlane):
        raise TypeError("a FilePlane is read from its file: use landscape.make_plane or landscape.read_plane")
    if isinstance(source, RandomPlane):
        return random_directions(model, source.spec, two=two)
    if not isinstance(source, TargetPlane):
        raise TypeError(f"not a plane source: {type(source).__name__}")
    spec = source.spec
    base = base_tensors(model, spec.dir_type)
    only = chosen(model, spec)
    dx = target_direction(base, load_state_for(model, source.x, trust), only)
    labels = [f"toward {source.x.name} (θ₂ − θ)", "direction 2"]
    dy = None
    if two:
        if source.y is not None:
            dy = target_direction(base, load_state_for(model, source.y, trust), only)
            labels[1] = f"toward {source.y.name} (θ₃ − θ)"
        else:
            gen = torch.Generator().manual_seed(spec.seed)
            dy = random_direction(base, spec, gen, only, filter_axes(model))
            labels[1] = f"random direction, {spec.norm.value}-normalized"
    elif source.y is not None:
        raise LandscapeError(f"{arg('y_target')} needs a 2-D grid: add {arg('y')}", field="y_target")
    extra = {"subset": spec.select.describe()} if only is not None else {}
    return Directions(dx, dy, spec.dir_type, "target", (labels[0], labels[1]), extra)
