"""landscape: loss-landscape surfaces of trained neural networks (Li et al., arXiv:1712.09913).

A notebook user's path through the package:

    import landscape as ls
    plane = ls.random_directions(model, ls.DirectionSpec(seed=0))
    surface = ls.evaluate(model, (x, y), plane, ls.Grid.linspace((-1, 1, 21), (-1, 1, 21)))
    fig = ls.plot.draw(surface, "contour")
"""

from ._version import __version__
from .checkpoint import ModelSpec, load_model
from .data import BatchData, DataSpec, Split, TensorData, load_data
from .directions import Directions, DirectionSpec, DirType, Norm, Track, random_directions, target_direction
from .engine import Compile, EvalSettings, Evaluator, Launch, Plan, Precision
from .errors import LandscapeError
from .grid import Grid
from .interpolation import models_plane
from .metrics import Loss, Objective
from .store import Surface, read_surface
from .planes import read_plane
from .surface import AutoRange, ComputeJob, compute, dry_run, evaluate
from .trajectory import trajectory_plane

__all__ = [
    "AutoRange", "BatchData", "Compile", "ComputeJob", "DataSpec", "DirType", "DirectionSpec", "Directions",
    "EvalSettings", "Evaluator", "Grid", "LandscapeError", "Launch", "Loss", "ModelSpec", "Norm", "Objective", "Plan",
    "Precision", "Split", "Surface", "TensorData", "Track", "__version__", "compute", "dry_run", "evaluate",
    "load_data", "load_model", "models_plane", "random_directions", "read_plane", "read_surface",
    "target_direction", "trajectory_plane",
]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    """`ls.plot` and `ls.hessian` on first use (matplotlib and the Hessian code load only when needed)."""
    if name in ("plot", "hessian", "sharpness", "basins", "export"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'landscape' has no attribute {name!r}")
