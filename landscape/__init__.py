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

from ._version import __version__
from .errors import LandscapeError

# public name -> the module that defines it
_WHERE = {
    "ModelSpec": "checkpoint", "load_model": "checkpoint",
    "BatchData": "data", "DataSpec": "data", "Split": "data", "TensorData": "data", "load_data": "data",
    "Directions": "directions", "DirectionSpec": "directions", "DirType": "directions", "Norm": "directions",
    "Track": "directions", "random_directions": "directions", "target_direction": "directions",
    "Compile": "engine", "EvalSettings": "engine", "Evaluator": "engine", "Launch": "engine", "Plan": "engine",
    "Precision": "engine",
    "Grid": "grid",
    "models_plane": "interpolation",
    "Loss": "metrics", "Objective": "metrics",
    "Surface": "store", "read_surface": "store",
    "read_plane": "planes",
    "AutoRange": "surface", "ComputeJob": "surface", "compute": "surface", "dry_run": "surface",
    "evaluate": "surface",
    "trajectory_plane": "trajectory",
}
_MODULES = ("plot", "hessian", "sharpness", "basins", "export")  # `ls.plot`, ... as modules

__all__ = sorted([*_WHERE, "LandscapeError", "__version__"], key=str.lower)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
        globals()[name] = value  # once
        return value
    if name in _MODULES or (not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None):
        return importlib.import_module(f".{name}", __name__)  # `ls.plot`, `ls.store`, ... as modules
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_WHERE, *_MODULES])


if TYPE_CHECKING:  # for type checkers and editors: the names as if imported here
    from .checkpoint import ModelSpec, load_model
    from .data import BatchData, DataSpec, Split, TensorData, load_data
    from .directions import Directions, DirectionSpec, DirType, Norm, Track, random_directions, target_direction
    from .engine import Compile, EvalSettings, Evaluator, Launch, Plan, Precision
    from .grid import Grid
    from .interpolation import models_plane
    from .metrics import Loss, Objective
    from .planes import read_plane
    from .store import Surface, read_surface
    from .surface import AutoRange, ComputeJob, compute, dry_run, evaluate
    from .trajectory import trajectory_plane
