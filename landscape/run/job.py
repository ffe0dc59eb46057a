"""A surface run as one value (`ComputeJob`), and the jobs of the two views built from
checkpoints: a training trajectory's PCA plane and the line or plane through models."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from landscape.engine import EvalSettings
from landscape.errors import LandscapeError, arg
from landscape.inputs.checkpoint import ModelSpec, load_state_for
from landscape.inputs.loading import load_model
from landscape.inputs.checkpoints import order_checkpoints
from landscape.inputs.data import DataSpec
from landscape.inputs.objective import Loss
from landscape.plane.directions import DirectionSpec, Directions
from landscape.plane.grid import AutoRange, Grid
from landscape.plane.interpolation import LINE, models_plane
from landscape.plane.sources import (FilePlane, GivenPlane, PlaneSource, RandomPlane, TargetPlane, check_plane,
                                     directions_of)
from landscape.plane.trajectory import fitted_axis, fitted_grid, trajectory_plane
from landscape.store.planes import read_plane

Progress = Callable[[int, int], None]  # (points done, points in total)
Note = Callable[[str], None]  # a message for the user (with `errors.arg` markers; the CLI renders them)


@dataclass(frozen=True)
class ComputeJob:
    """Everything `landscape compute` needs, as values; built once by the CLI or a notebook.

    `plane` says where the directions come from (`RandomPlane`, `TargetPlane`, `FilePlane`,
    `GivenPlane`); `command` is the command line the file records as its origin (the CLI
    passes its own; a notebook may leave it empty)."""

    checkpoint: Path
    grid: Grid | AutoRange
    out: Path
    model: ModelSpec = ModelSpec()
    data: DataSpec = DataSpec()
    plane: PlaneSource = RandomPlane()
    loss: Loss = Loss()
    evaluation: EvalSettings = EvalSettings()
    trust_checkpoint: bool = False
    overwrite: bool = False
    split_data: bool = False  # under torchrun: every rank evaluates every point on its shard of the data
    eigen_map: bool = False  # the largest and smallest Hessian eigenvalue at every point
    fsdp: bool = False  # under torchrun: the model sharded across the ranks (FSDP), each rank a share of the data
    command: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "checkpoint", Path(self.checkpoint))
        object.__setattr__(self, "out", Path(self.out))
        if not isinstance(self.plane, (RandomPlane, TargetPlane, FilePlane, GivenPlane)):
            raise TypeError(f"plane must be a RandomPlane, TargetPlane, FilePlane or GivenPlane, "
                            f"not {type(self.plane).__name__}")

    @property
    def spec(self) -> DirectionSpec:
        """The direction settings of the run (dir type, norm, seed, the tensors that move)."""
        return self.plane.spec


def make_plane(source: PlaneSource, model: nn.Module, two: bool, trust: bool = False) -> Directions:
    """The directions of any plane source for `model` (a plane if `two`, else a line): random,
    toward targets, given, or read from a file; a user error if they move nothing or are
    parallel. `trust` lets checkpoints that need code load (`trust_checkpoint`)."""
    if isinstance(source, FilePlane):
        return check_plane(read_plane(source.path, model, two, source.scale), two)
    return directions_of(source, model, two, trust)


def trajectory_job(
    template: ComputeJob,
    runs: list[list[Path]],
    run_names: list[str] | None = None,
    final: Path | None = None,
    x: tuple[float, ...] | None = None,
    y: tuple[float, ...] | None = None,
    resolution: int = 31,
    ignore_biasbn: bool = True,
) -> ComputeJob:
    """A job over the PCA plane of one or several training runs (each a list of checkpoints),
    centred on `final` (default: the first run's last checkpoint).

    `template` carries the model spec, data, loss, evaluation and output settings, and in its
    plane's spec the dir type and the tensors that take part; each axis is fitted around the
    projected paths unless `x`/`y` give its coordinates.
    """
    if not runs or not all(runs):
        raise LandscapeError("a trajectory needs checkpoints", field="checkpoints")
    ordered = [order_checkpoints(run) for run in runs]
    final = Path(final) if final is not None else ordered[0][0][-1]
    spec = template.spec
    model = load_model(final, template.model, template.trust_checkpoint)
    plane = trajectory_plane(model, [p for p, _ in ordered], [e for _, e in ordered], run_names, spec.dir_type,
                             ignore_biasbn, template.trust_checkpoint, spec.select)
    fitted = fitted_grid(plane.tracks["trajectory"], resolution)
    grid = Grid(x if x is not None else fitted.x, y if y is not None else fitted.y)
    return dataclasses.replace(template, checkpoint=final, grid=grid, plane=GivenPlane(plane, spec))


def interpolation_job(template: ComputeJob, models: list[Path], x: tuple[float, ...] | None = None,
                      y: tuple[float, ...] | None = None, resolution: int = 31) -> ComputeJob:
    """A job over the line A→B (two models) or the plane through A, B, C (three models).

    `template` carries the model spec, data, loss, evaluation and output settings, and the
    dir type (states, the default of the CLI, makes the endpoints exact). Axes: `x`/`y`
    coordinates, else x from -0.5 to 1.5 for a line, or fitted around the models for a plane.
    """
    if len(models) not in (2, 3):
        raise LandscapeError(f"interpolate takes two or three checkpoints, got {len(models)}", field="models")
    a, b, c = Path(models[0]), Path(models[1]), (Path(models[2]) if len(models) > 2 else None)
    if c is None and y is not None:
        raise LandscapeError(f"{arg('y')} needs a third model: the line between two models is 1-D", field="y")
    if c is not None and resolution < 2:
        raise LandscapeError(f"{arg('resolution')} must be at least 2, got {resolution}", field="resolution")
    spec = template.spec
    model = load_model(a, template.model, template.trust_checkpoint)
    state = lambda p: load_state_for(model, p, template.trust_checkpoint)  # noqa: E731
    plane = models_plane(model, state(b), state(c) if c is not None else None,
                         tuple(Path(p).name for p in models), spec.dir_type)
    track = plane.tracks["models"]
    if c is None:
        grid = Grid(x) if x is not None else Grid.linspace(LINE)
    else:
        grid = Grid(x if x is not None else fitted_axis(track.x, resolution),
                    y if y is not None else fitted_axis(track.y, resolution))
    return dataclasses.replace(template, checkpoint=a, grid=grid, plane=GivenPlane(plane, spec))
