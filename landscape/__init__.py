"""landscape: loss-landscape surfaces of trained neural networks (Li et al., arXiv:1712.09913).

A notebook user's path through the package:

    import landscape as ls
    data = ls.load_data(ls.DataSpec("digits"))
    dirs = ls.random_directions(model, ls.DirectionSpec(seed=0))
    loss, acc = ls.evaluate_grid(model, data, dirs, ls.Grid.parse("-1:1:21", "-1:1:21"))
"""

__version__ = "0.1.0"

from .checkpoint import ModelSpec, load_model  # noqa: E402
from .data import DataSpec, Split, TensorData, load_data  # noqa: E402
from .directions import Directions, DirectionSpec, DirType, Norm, random_directions, target_direction  # noqa: E402
from .engine import EvalSettings, Evaluator, Launch, Precision  # noqa: E402
from .errors import LandscapeError  # noqa: E402
from .grid import Grid  # noqa: E402
from .metrics import Loss  # noqa: E402
from .store import Surface, read_surface  # noqa: E402
from .surface import ComputeJob, compute, evaluate_grid  # noqa: E402

__all__ = [
    "ComputeJob", "DataSpec", "DirType", "DirectionSpec", "Directions", "EvalSettings", "Evaluator", "Grid",
    "LandscapeError", "Launch", "Loss", "ModelSpec", "Norm", "Precision", "Split", "Surface", "TensorData",
    "compute", "evaluate_grid", "load_data", "load_model", "random_directions", "read_surface", "target_direction",
]
