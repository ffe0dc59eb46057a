"""The plane stored in a file, matched to a model: an earlier surface file, a direction file of
the paper's code (unnamed tensors, matched by position), or a Hessian file's top eigenvectors
(unit norm, or scaled to the norm of the weights)."""

from __future__ import annotations

import math
from pathlib import Path

from torch import nn

from landscape.choices import Scale
from landscape.errors import LandscapeError, arg
from landscape.plane.directions import DirType, Directions, base_tensors, check_compatible
from landscape.store.surface_file import read_directions


def read_plane(path: Path, model: nn.Module, two: bool = True, scale: Scale = Scale.unit) -> Directions:
    """The plane of an earlier surface file, a direction file of the paper's code (unnamed
    tensors, matched by position to `model.parameters()` or `model.state_dict()`) or a Hessian
    file (top eigenvectors; `scale` "weights" rescales each to the norm of the weights)."""
    path = Path(path)
    if not path.is_file():
        raise LandscapeError(f"{arg('path')} {str(path)!r} is not a file; give an earlier surface file or a "
                             "Hessian file", field="path")
    dirs = read_directions(path)
    if dirs.names == [str(i) for i in range(len(dirs.names))]:
        dirs = _by_position(dirs, model, path)
    check_compatible(dirs, base_tensors(model, dirs.dir_type), f"{arg('path')} {path}")
    if not two:
        dirs.y = None
    elif dirs.y is None:
        raise LandscapeError(f"{arg('path')} {path} holds one direction; omit {arg('y')} for a 1-D run",
                             field="path")
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
        raise LandscapeError(f"{arg('scale')} applies to a Hessian file's eigenvectors only",
                             field="scale")
    return dirs


def _by_position(dirs: Directions, model: nn.Module, where: Path) -> Directions:
    for dir_type in (DirType.weights, DirType.states):
        base = base_tensors(model, dir_type)
        shapes = [tuple(t.shape) for t in base.values()]
        if shapes == [tuple(t.shape) for t in dirs.x.values()]:
            rename = lambda d: dict(zip(base, d.values())) if d is not None else None  # noqa: E731
            return Directions(rename(dirs.x), rename(dirs.y), dir_type, dirs.kind, dirs.labels, dirs.extra)
    raise LandscapeError(f"{arg('path')} {where}: its {len(dirs.x)} unnamed tensors match neither the model's "
                         "parameters nor its state dict in order and shape; use directions made for this architecture")
