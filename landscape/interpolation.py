"""Model-to-model views: the 1-D interpolation between two checkpoints (Goodfellow et al. 2015)
and the plane through three (A, B, C)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from .checkpoint import load_model, load_state_for
from .directions import Directions, DirType, base_tensors, plane_of_models
from .errors import LandscapeError
from .grid import Grid
from .store import Track
from .surface import ComputeJob
from .trajectory import fitted_axis

BN_NOTE = ("BatchNorm running statistics are model A's all along (--dir-type weights); a BatchNorm network "
           "looks worse between and at B than it is. --dir-type states interpolates them too")


def interpolation_job(template: ComputeJob, models: list[Path], x: str | None, y: str | None,
                      resolution: int = 31) -> ComputeJob:
    """A job over the line A→B (two models) or the plane through A, B, C (three models).

    `template` carries the model spec, data, loss, evaluation and output settings.
    """
    a, b, c = models[0], models[1], (models[2] if len(models) > 2 else None)
    x, y = (None if v == "auto" else v for v in (x, y))  # "auto": fitted around the points
    if c is None and y is not None:
        raise LandscapeError("--y needs a third model: the line between two models is 1-D")
    if c is not None and resolution < 2:
        raise LandscapeError(f"--resolution must be at least 2, got {resolution}")
    dir_type = template.directions.dir_type
    model = load_model(a, template.model, template.trust_checkpoint)
    base = base_tensors(model, dir_type)
    state = lambda p: load_state_for(model, p, template.trust_checkpoint)  # noqa: E731
    d1, d2, points = plane_of_models(base, state(b), state(c) if c is not None else None)
    names = [p.name for p in models]
    labels = (f"{a.name} → {b.name}", f"toward {c.name} (orthogonalized)" if c is not None else "")
    extra: dict[str, object] = {"note": BN_NOTE} if dir_type == DirType.weights and _has_batchnorm(base) else {}
    plane = Directions(d1, d2, dir_type, "interpolation" if c is None else "plane", labels, extra)
    xs = np.array([p[0] for p in points])
    ys = np.array([p[1] for p in points])
    if c is None:
        grid = Grid.parse(x or "-0.5:1.5:41")
    else:
        grid = Grid(Grid.parse(x).x if x else fitted_axis(xs, resolution),
                    Grid.parse("0:1:2", y).y if y else fitted_axis(ys, resolution))
    out = template.out or Path("outputs") / f"{a.stem}_{b.stem}{'_' + c.stem if c else ''}.interpolation.h5"
    return dataclasses.replace(template, checkpoint=a, grid=grid, plane=plane, out=out,
                               tracks={"models": Track(xs, ys, names, [None] * len(names))})


def _has_batchnorm(base: dict) -> bool:
    return any(n.endswith("running_mean") for n in base) or any("bn" in n for n in base)
