"""landscape: loss-landscape surfaces of trained neural networks (Li et al., arXiv:1712.09913).

A notebook user's path through the package:

    import landscape as ls
    plane = ls.random_directions(model, ls.DirectionSpec(seed=0))
    surface = ls.evaluate(model, (x, y), plane, ls.Grid.linspace((-1, 1, 21), (-1, 1, 21)))
    fig = ls.plot.draw(surface, "contour")

Every name loads its module on first use, so `import landscape` (and the command line's
`--help` or `--version`) does not wait for PyTorch or matplotlib.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from landscape._version import __version__
from landscape.errors import LandscapeError

# public name -> the module that defines it
_WHERE = {
    "ModelSpec": "inputs.checkpoint", "load_model": "inputs.checkpoint",
    "BatchData": "inputs.data", "DataSpec": "inputs.data", "Split": "inputs.data", "TensorData": "inputs.data", "load_data": "inputs.data",
    "Directions": "plane.directions", "DirectionSpec": "plane.directions", "DirType": "plane.directions", "Norm": "plane.directions",
    "Track": "plane.directions", "random_directions": "plane.directions", "target_direction": "plane.directions",
    "Compile": "engine", "EvalSettings": "engine", "Evaluator": "engine", "Launch": "engine", "Plan": "engine",
    "Precision": "engine",
    "Grid": "plane.grid",
    "models_plane": "plane.interpolation",
    "Loss": "inputs.objective", "Objective": "inputs.objective",
    "Surface": "store", "read_surface": "store",
    "read_plane": "store.planes",
    "ParamSelection": "inputs.params",
    "RandomPlane": "plane.sources", "TargetPlane": "plane.sources", "FilePlane": "plane.sources",
    "GivenPlane": "plane.sources", "PlaneSource": "plane.sources", "make_plane": "run.job",
    "interpolation_job": "run.job", "trajectory_job": "run.job",
    "AutoRange": "plane.grid", "ComputeJob": "run.job", "compute": "run.compute", "dry_run": "run.dry_run",
    "evaluate": "run.compute",
    "trajectory_plane": "plane.trajectory",
}
# `ls.plot`, `ls.hessian`, ... as modules: the name a notebook uses -> the module it means
_MODULES = {"plot": "plot", "hessian": "curvature", "sharpness": "curvature.sharpness", "basins": "basins",
            "export": "export", "store": "store"}

__all__ = sorted([*_WHERE, "LandscapeError", "__version__"], key=str.lower)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    if name in _MODULES:
        return importlib.import_module(f".{_MODULES[name]}", __name__)
    if not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f".{name}", __name__)  # `ls.plot`, `ls.store`, ... as modules
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE, *_MODULES])


if TYPE_CHECKING:  # for type checkers and editors: the names as if imported here
    from landscape.inputs.checkpoint import ModelSpec
    from landscape.inputs.data import BatchData, DataSpec, Split, TensorData
    from landscape.inputs.loading import load_data, load_model
    from landscape.plane.directions import Directions, DirectionSpec, DirType, Norm, Track, random_directions, target_direction
    from landscape.engine import Compile, EvalSettings, Evaluator, Launch, Plan, Precision
    from landscape.plane.grid import Grid
    from landscape.plane.interpolation import models_plane
    from landscape.inputs.objective import Loss, Objective
    from landscape.store.planes import read_plane
    from landscape.store import Surface, read_surface
    from landscape.inputs.params import ParamSelection
    from landscape.plane.grid import AutoRange
    from landscape.plane.sources import FilePlane, GivenPlane, PlaneSource, RandomPlane, TargetPlane
    from landscape.run.compute import compute, evaluate
    from landscape.run.dry_run import dry_run
    from landscape.run.job import ComputeJob, interpolation_job, make_plane, trajectory_job
    from landscape.plane.trajectory import trajectory_plane
